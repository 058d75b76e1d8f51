"""The credit ledger: every credit movement of a tenant, append-only."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

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
