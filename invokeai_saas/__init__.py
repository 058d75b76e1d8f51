"""Pingvas Studio: InvokeAI as a multi-tenant service."""
