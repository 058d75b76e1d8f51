"""workspace administration: audit log and bulk downloads kept per tenant in the database

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from invokeai_saas.db.rls import disable_rls, enable_rls

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as of this revision: do not import the current code's lists or conditions here.
RLS_TABLES: list[str] = ['tenant_audit', 'bulk_downloads']
RLS_TENANT_VISIBLE = (
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND current_setting('pingvas.platform', true) = 'on') OR "
    "current_setting('pingvas.system', true) = 'on'"
)


def upgrade() -> None:
    op.create_table('tenant_audit',
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('entry_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_user_id', sa.String(length=36), nullable=True),
    sa.Column('via_api_key_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('owner_user_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.tenant_id'], name=op.f('fk_tenant_audit_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_tenant_audit'))
    )
    with op.batch_alter_table('tenant_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tenant_audit_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_tenant_audit_tenant_entry', ['tenant_id', 'entry_id'], unique=False)

    op.create_table('bulk_downloads',
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('item_name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.tenant_id'], name=op.f('fk_bulk_downloads_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_name', name=op.f('pk_bulk_downloads'))
    )
    with op.batch_alter_table('bulk_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_downloads_tenant_id'), ['tenant_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        enable_rls(op.get_bind(), RLS_TABLES, {}, RLS_TENANT_VISIBLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        disable_rls(op.get_bind(), RLS_TABLES)
    with op.batch_alter_table('bulk_downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_downloads_tenant_id'))
    op.drop_table('bulk_downloads')
    with op.batch_alter_table('tenant_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_audit_tenant_entry')
        batch_op.drop_index(batch_op.f('ix_tenant_audit_tenant_id'))
    op.drop_table('tenant_audit')
