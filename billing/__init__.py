"""Plans, entitlements and (later) the credit ledger."""
