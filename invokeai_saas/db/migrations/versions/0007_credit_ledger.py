"""money: credit balances and stored bytes on tenants, the credit ledger, each queue item's estimate, media sizes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from invokeai_saas.db.rls import disable_rls, enable_rls

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as of this revision: do not import the current code's lists or conditions here.
RLS_TABLES: list[str] = ['credit_ledger']
RLS_TENANT_VISIBLE = (
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND current_setting('pingvas.platform', true) = 'on') OR "
    "current_setting('pingvas.system', true) = 'on'"
)


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credits_period', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('credits_extra', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('trial_ends_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('storage_bytes', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('overrides', sa.Text(), nullable=True))
    for table in ('images', 'videos'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False))
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('estimate_credits', sa.Integer(), server_default='0', nullable=False))

    op.create_table('credit_ledger',
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('entry_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_user_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.tenant_id'], name=op.f('fk_credit_ledger_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_credit_ledger')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_credit_ledger_idempotency_key'))
    )
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_ledger_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_credit_ledger_tenant_entry', ['tenant_id', 'entry_id'], unique=False)
        batch_op.create_index('ix_credit_ledger_tenant_item', ['tenant_id', 'item_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        enable_rls(op.get_bind(), RLS_TABLES, {}, RLS_TENANT_VISIBLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        disable_rls(op.get_bind(), RLS_TABLES)
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_ledger_tenant_item')
        batch_op.drop_index('ix_credit_ledger_tenant_entry')
        batch_op.drop_index(batch_op.f('ix_credit_ledger_tenant_id'))
    op.drop_table('credit_ledger')
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.drop_column('estimate_credits')
    for table in ('videos', 'images'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('size_bytes')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('overrides')
        batch_op.drop_column('storage_bytes')
        batch_op.drop_column('trial_ends_at')
        batch_op.drop_column('credits_extra')
        batch_op.drop_column('credits_period')
