"""What platform operators did: every action of the operator API, with who, on which workspace and why."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata

# A platform table (no row-level security): only operators' routes, in system scope, read or write it.
operator_audit = sa.Table(
    "operator_audit",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("operator_user_id", sa.String(36), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(36), nullable=True, index=True),
    sa.Column("detail", sa.Text, nullable=True),  # JSON: what changed, the reason given
)
