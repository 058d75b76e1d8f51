"""money: a subscription is bound to its workspace by a signed checkout reference

Subscriptions recorded before this revision keep their workspace (`binding` defaults to `bound`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 08:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('binding', sa.String(length=16), server_default='bound', nullable=False))
        batch_op.add_column(sa.Column('checkout_nonce', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_subscriptions_checkout_nonce'), ['checkout_nonce'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_checkout_nonce'))
        batch_op.drop_column('checkout_nonce')
        batch_op.drop_column('binding')
