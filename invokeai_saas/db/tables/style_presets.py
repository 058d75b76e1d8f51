"""InvokeAI's style presets plus `tenant_id`; shipped `default` presets are platform rows."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

style_presets = tenant_table(
    "style_presets",
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("preset_data", sa.Text, nullable=False),
    sa.Column("type", sa.String(16), nullable=False, server_default="user"),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system"),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_style_presets_tenant_user", "tenant_id", "user_id"),
    sa.Index("ix_style_presets_tenant_type", "tenant_id", "type"),
    public_read_sql="tenant_id IS NULL AND type = 'default'",
)
