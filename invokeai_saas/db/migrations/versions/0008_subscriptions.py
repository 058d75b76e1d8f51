"""money: Lemon Squeezy subscriptions, their payments, webhook deliveries, a workspace's billing hold, operators' audit log

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 06:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from invokeai_saas.db.rls import disable_rls, enable_rls

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as of this revision: do not import the current code's lists or conditions here.
RLS_TABLES: list[str] = ['subscriptions', 'subscription_payments']
RLS_TENANT_VISIBLE = (
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND current_setting('pingvas.platform', true) = 'on') OR "
    "current_setting('pingvas.system', true) = 'on'"
)


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_hold_at', sa.DateTime(), nullable=True))

    op.create_table('subscriptions',
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('variant_id', sa.String(length=64), nullable=False),
    sa.Column('plan', sa.String(length=32), nullable=False),
    sa.Column('interval', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('renews_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('source_updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.tenant_id'], name=op.f('fk_subscriptions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subscription_id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('subscription_payments',
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('invoice_id', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('billing_reason', sa.String(length=32), nullable=True),
    sa.Column('source_updated_at', sa.DateTime(), nullable=False),
    sa.Column('applied', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.tenant_id'], name=op.f('fk_subscription_payments_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_subscription_payments'))
    )
    with op.batch_alter_table('subscription_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_payments_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_payments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('delivery_key', sa.String(length=64), nullable=False),
    sa.Column('event_name', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_key', name=op.f('pk_webhook_deliveries'))
    )

    op.create_table('operator_audit',
    sa.Column('entry_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('operator_user_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_operator_audit'))
    )
    with op.batch_alter_table('operator_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_audit_tenant_id'), ['tenant_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        enable_rls(op.get_bind(), RLS_TABLES, {}, RLS_TENANT_VISIBLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        disable_rls(op.get_bind(), RLS_TABLES)
    with op.batch_alter_table('operator_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_audit_tenant_id'))
    op.drop_table('operator_audit')
    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('subscription_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_payments_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_subscription_payments_subscription_id'))
    op.drop_table('subscription_payments')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_tenant_id'))
    op.drop_table('subscriptions')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('billing_hold_at')
