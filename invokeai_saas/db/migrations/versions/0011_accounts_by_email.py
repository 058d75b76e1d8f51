"""accounts: verified addresses, single-use e-mail links, notice preferences, the low-credits notice

Users who exist before this revision are taken as verified (their addresses were trusted when they signed up).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('muted_notices', sa.Text(), nullable=True))
    op.execute(sa.text('UPDATE users SET email_verified_at = created_at'))
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period_allowance', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('low_credits_noticed', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'account_tokens',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_account_tokens_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_account_tokens')),
    )
    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_tokens_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_tokens_user_id'))
    op.drop_table('account_tokens')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('low_credits_noticed')
        batch_op.drop_column('period_allowance')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('muted_notices')
        batch_op.drop_column('email_verified_at')
