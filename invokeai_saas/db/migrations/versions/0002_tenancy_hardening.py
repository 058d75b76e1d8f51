"""tenancy hardening: invitations can be revoked; row-level security on every table with tenants' rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:00:00

- `tenant_invitations.revoked_at`: owners and admins revoke pending invitations.
- The tenant-isolation policy no longer shows tenant-less (platform) rows to a connection with
  an empty tenant setting: they need `pingvas.platform = on` (an operator's request, a worker
  running a platform item) or system scope. Re-created on every table of 0001.
- Row-level security on the account tables (`tenants`, `users`, `tenant_invitations`,
  `api_keys`), with the same policy.
- The image-move journal (`image_subfolder_move_jobs`, `image_subfolder_move_items`) names
  tenants' images but has no tenant column, so a tenant policy cannot apply: it is visible to
  system scope only (the maintenance code's), and to no tenant.
- Tables without RLS, and why: `models`, `model_relationships` (the platform's model catalog,
  readable by every tenant, written by operators only through operator-only routes),
  `app_settings` (the platform's JWT secret and settings; no tenant data), `alembic_version`.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from invokeai_saas.db.rls import disable_rls, enable_rls

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as of this revision: do not import the current code's lists or conditions here.
RLS_TABLES_0001: list[str] = [
    'shared_boards',
    'client_state',
    'images',
    'boards',
    'board_images',
    'videos',
    'board_videos',
    'session_queue',
    'style_presets',
    'system_prompts',
    'workflow_library',
]
RLS_ACCOUNT_TABLES: list[str] = ['tenants', 'users', 'tenant_invitations', 'api_keys']
RLS_SYSTEM_ONLY_TABLES: list[str] = ['image_subfolder_move_jobs', 'image_subfolder_move_items']
RLS_PUBLIC_READ: dict[str, str] = {
    'style_presets': "tenant_id IS NULL AND type = 'default'",
    'system_prompts': 'tenant_id IS NULL AND is_public = TRUE',
    'workflow_library': "tenant_id IS NULL AND category = 'default'",
}
RLS_TENANT_VISIBLE = (
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND current_setting('pingvas.platform', true) = 'on') OR "
    "current_setting('pingvas.system', true) = 'on'"
)
RLS_SYSTEM_ONLY_VISIBLE = "current_setting('pingvas.system', true) = 'on'"
# 0001's condition, restored on downgrade.
RLS_TENANT_VISIBLE_0001 = (
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND coalesce(current_setting('pingvas.tenant_id', true), '') = '') OR "
    "current_setting('pingvas.system', true) = 'on'"
)


def upgrade() -> None:
    with op.batch_alter_table('tenant_invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        conn = op.get_bind()
        enable_rls(conn, RLS_TABLES_0001 + RLS_ACCOUNT_TABLES, RLS_PUBLIC_READ, RLS_TENANT_VISIBLE)
        enable_rls(conn, RLS_SYSTEM_ONLY_TABLES, {}, RLS_SYSTEM_ONLY_VISIBLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        conn = op.get_bind()
        disable_rls(conn, RLS_ACCOUNT_TABLES + RLS_SYSTEM_ONLY_TABLES)
        enable_rls(conn, RLS_TABLES_0001, RLS_PUBLIC_READ, RLS_TENANT_VISIBLE_0001)

    with op.batch_alter_table('tenant_invitations', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
