"""InvokeAI's system prompts (Expand Prompt) plus `tenant_id`.

The seeded defaults are platform rows (tenant_id NULL, is_public TRUE) that every
tenant may read; a tenant's own public prompts are shared inside that tenant only.
"""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

system_prompts = tenant_table(
    "system_prompts",
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system"),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_system_prompts_tenant_user", "tenant_id", "user_id"),
    public_read_sql="tenant_id IS NULL AND is_public = TRUE",
)
