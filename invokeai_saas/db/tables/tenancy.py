"""Tenants, users (InvokeAI's columns + tenant membership), invitations, API keys, app settings."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import TENANT_TABLES, metadata

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("plan", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The credit balance (billing/credits.py): the period allowance and extra credits, each changed
    # only in the transaction that writes its ledger entry.
    sa.Column("credits_period", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_extra", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("trial_ends_at", sa.DateTime, nullable=True),  # a trial's credits lapse then
    sa.Column("billing_hold_at", sa.DateTime, nullable=True),  # a payment failed: generation refused from then
    sa.Column("storage_bytes", sa.BigInteger, nullable=False, server_default="0"),  # invokeai_saas/money/storage_usage.py
    sa.Column("overrides", sa.Text, nullable=True),  # an enterprise contract's overrides (JSON, billing/entitlements.py)
    # What the current period (or trial) started with, and whether its owners were told credits ran below 10 % of it.
    sa.Column("period_allowance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("low_credits_noticed", sa.Boolean, nullable=False, server_default=sa.false()),
)

# InvokeAI's users table plus the one tenant a user belongs to and their role in it.
# Platform operators (is_admin) have no tenant.
users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("token_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("last_login_at", sa.DateTime, nullable=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=True, index=True),
    sa.Column("tenant_role", sa.String(16), nullable=True),
    sa.Column("email_verified_at", sa.DateTime, nullable=True),  # None: the address is not verified yet
    sa.Column("muted_notices", sa.Text, nullable=True),  # JSON list of the notice kinds this user turned off
)

# Single-use links sent by e-mail (`accounts/email_links.py`): verify an address, reset a password.
# Stored hashed; `email` is the address the link proves (a changed address is written only once proven).
# A platform table: only system scope reads or writes it.
account_tokens = sa.Table(
    "account_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False),  # verify_email, reset_password
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used_at", sa.DateTime, nullable=True),
)

tenant_invitations = sa.Table(
    "tenant_invitations",
    metadata,
    sa.Column("invitation_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("invited_by", sa.String(36), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("accepted_at", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("api_key_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime, nullable=True),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)

app_settings = sa.Table(
    "app_settings",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Row-level security on the account tables too: a tenant's scope sees its own workspace, members,
# invitations and keys; operators (tenant_id NULL) are the platform's; sign-in lookups run in system scope.
TENANT_TABLES.extend(["tenants", "users", "tenant_invitations", "api_keys"])
