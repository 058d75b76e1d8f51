"""The credit ledger (every credit movement of a tenant, append-only) and Lemon Squeezy's side of billing."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata, tenant_table

# One row per movement (billing/credits.py `EntryKind`), written in the transaction that changes the
# tenant's balance; `idempotency_key` makes a replayed movement (a retried webhook, a repeated
# status change of the same attempt) a no-op.
credit_ledger = tenant_table(
    "credit_ledger",
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),  # signed: spending is negative
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("item_id", sa.Integer, nullable=True),  # usage: the queue item
    sa.Column("attempt", sa.Integer, nullable=True),
    sa.Column("seconds", sa.Float, nullable=True),  # usage: device seconds measured
    sa.Column("reason", sa.Text, nullable=True),  # what a user or operator reads
    sa.Column("actor_user_id", sa.String(36), nullable=True),  # an operator's adjustment
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_credit_ledger_tenant_entry", "tenant_id", "entry_id"),
    sa.Index("ix_credit_ledger_tenant_item", "tenant_id", "item_id"),
)

# A workspace's Lemon Squeezy subscription as its webhooks last described it. `source_updated_at`
# (the subscription's own `updated_at`) orders deliveries: an older one never rolls state back.
# `binding` says whether it is the workspace's: `bound` (by a valid checkout reference, whose nonce
# is `checkout_nonce`: one subscription per reference), `pending` (its reference is valid but its
# plan not yet proven: it changes nothing) or `refused` (for good; `tenant_id` is the one it named).
subscriptions = tenant_table(
    "subscriptions",
    sa.Column("binding", sa.String(16), nullable=False, server_default="bound"),
    sa.Column("checkout_nonce", sa.String(64), nullable=True, unique=True, index=True),
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("variant_id", sa.String(64), nullable=False),
    sa.Column("plan", sa.String(32), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # Lemon Squeezy's: active, past_due, cancelled, …
    sa.Column("renews_at", sa.DateTime, nullable=True),
    sa.Column("ends_at", sa.DateTime, nullable=True),
    sa.Column("customer_id", sa.String(64), nullable=True),
    sa.Column("source_updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Its payments (subscription invoices). A paid one starts a period once its subscription is known
# (a payment may arrive first); `applied` says its period's credits were granted.
subscription_payments = tenant_table(
    "subscription_payments",
    sa.Column("invoice_id", sa.String(64), primary_key=True),
    sa.Column("subscription_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),  # paid, refunded, failed, …
    sa.Column("billing_reason", sa.String(32), nullable=True),
    sa.Column("source_updated_at", sa.DateTime, nullable=False),
    sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Every webhook delivery applied, by the SHA-256 of its body: a retried delivery is acknowledged
# and changes nothing. A platform table (no row-level security): only the webhook route writes it.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_key", sa.String(64), primary_key=True),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(36), nullable=True),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
)
