"""storage: the S3 media stores' delete journal in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 03:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('file_deletes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('owner_name', sa.String(length=255), nullable=False),
    sa.Column('object_key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_file_deletes'))
    )
    with op.batch_alter_table('file_deletes', schema=None) as batch_op:
        batch_op.create_index('ix_file_deletes_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('file_deletes', schema=None) as batch_op:
        batch_op.drop_index('ix_file_deletes_created')
    op.drop_table('file_deletes')
