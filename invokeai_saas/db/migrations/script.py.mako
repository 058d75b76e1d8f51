"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
% if rls_constants:

${rls_constants}
% endif


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
% if rls_constants:

    if op.get_bind().dialect.name == "postgresql":
        enable_rls(op.get_bind(), RLS_TABLES, RLS_PUBLIC_READ, RLS_TENANT_VISIBLE)
% endif


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
