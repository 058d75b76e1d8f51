"""cluster: queue claims with leases, live workers, tenant turns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 23:58:55.468546

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('queue_turns',
    sa.Column('turn_key', sa.String(length=36), nullable=False),
    sa.Column('last_claimed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('turn_key', name=op.f('pk_queue_turns'))
    )
    op.create_table('queue_workers',
    sa.Column('worker_id', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.Column('models', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_queue_workers'))
    )
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_session_queue_status_lease', ['status', 'lease_expires_at'], unique=False)
        batch_op.create_index('ix_session_queue_status_tenant', ['status', 'tenant_id', 'item_id'], unique=False)
        batch_op.create_index('ix_session_queue_worker', ['worker_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_session_queue_worker')
        batch_op.drop_index('ix_session_queue_status_tenant')
        batch_op.drop_index('ix_session_queue_status_lease')
        batch_op.drop_column('attempt')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('worker_id')

    op.drop_table('queue_workers')
    op.drop_table('queue_turns')
