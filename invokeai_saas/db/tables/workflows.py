"""InvokeAI's workflow library plus `tenant_id`.

Default workflows shipped with InvokeAI are platform rows (tenant_id NULL) that every
tenant may read. The stock table derives category/name/description/tags from the JSON
with generated columns; here the service writes them alongside the JSON.
"""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

workflow_library = tenant_table(
    "workflow_library",
    sa.Column("workflow_id", sa.String(255), primary_key=True),
    sa.Column("workflow", sa.Text, nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=True),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system"),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("opened_at", sa.DateTime, nullable=True),
    sa.Index("ix_workflow_library_tenant_category", "tenant_id", "category", "updated_at"),
    sa.Index("ix_workflow_library_tenant_user", "tenant_id", "user_id"),
    sa.Index("ix_workflow_library_tenant_opened", "tenant_id", "opened_at"),
    public_read_sql="tenant_id IS NULL AND category = 'default'",
)
