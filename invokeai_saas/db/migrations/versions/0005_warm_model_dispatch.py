"""cluster: warm-model dispatch (an item's model keys, a passed-over tenant's turn)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_keys', sa.Text(), nullable=True))
        batch_op.create_index(
            'ix_session_queue_tenant_head', ['status', 'tenant_id', sa.literal_column('priority DESC'), 'item_id'], unique=False
        )
    with op.batch_alter_table('queue_turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('passed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('queue_turns', schema=None) as batch_op:
        batch_op.drop_column('passed_at')
    with op.batch_alter_table('session_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_session_queue_tenant_head')
        batch_op.drop_column('model_keys')
