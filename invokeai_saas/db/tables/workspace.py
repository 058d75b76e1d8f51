"""A workspace's audit log and its prepared bulk downloads."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

# Who did what to whose content: one row per deletion, move, visibility change, role change,
# removal or API-key change, written in the transaction of the change itself.
tenant_audit = tenant_table(
    "tenant_audit",
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor_user_id", sa.String(36), nullable=True),
    sa.Column("via_api_key_id", sa.String(36), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", sa.String(255), nullable=False),
    sa.Column("owner_user_id", sa.String(36), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_tenant_audit_tenant_entry", "tenant_id", "entry_id"),
)

# A zip prepared by InvokeAI's bulk-download service: whose it is, so any pod can serve it to its
# owner (or the workspace's admins) and no other workspace can fetch it.
bulk_downloads = tenant_table(
    "bulk_downloads",
    sa.Column("item_name", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
