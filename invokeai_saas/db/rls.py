"""Postgres row-level security: the second wall behind the services' tenant filters.

The app connects as (or `SET ROLE`s to) a role that is not the tables' owner-superuser,
and every transaction sets `pingvas.tenant_id`; rows of another tenant are invisible
even to a query that forgot its filter.
"""

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai_saas.db.tables import TENANT_TABLES
from invokeai_saas.db.tables.base import PUBLIC_READ

# The tenant-isolation condition. Migrations copy it literally (a revision must not change
# meaning when this module changes later); this value is what new revisions are generated with.
TENANT_VISIBLE = (
    # Ordered so a tenant's own row is decided by the first test (one setting read per row).
    # Tenant-less rows are the platform's: visible in platform or system scope only, so a
    # connection with no scope (an empty tenant setting) sees nothing.
    "tenant_id = current_setting('pingvas.tenant_id', true) OR "
    "(tenant_id IS NULL AND current_setting('pingvas.platform', true) = 'on') OR "
    "current_setting('pingvas.system', true) = 'on'"
)
SYSTEM_ONLY_VISIBLE = "current_setting('pingvas.system', true) = 'on'"


def enable_rls(
    conn: Connection,
    tables: Sequence[str] | None = None,
    public_read: Mapping[str, str] | None = None,
    visible: str = TENANT_VISIBLE,
) -> None:
    """ENABLE + FORCE row-level security on `tables`, with the tenant-isolation policy
    (`visible`) and, for tables in `public_read`, a SELECT-only `platform_read` policy.

    Migrations pass all three explicitly (frozen as of their revision); the defaults are the
    current code's TENANT_TABLES / PUBLIC_READ.
    """
    if tables is None:
        tables = TENANT_TABLES
        public_read = PUBLIC_READ if public_read is None else public_read
    public_read = public_read or {}
    for table in tables:
        conn.execute(sa.text(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"'))
        conn.execute(sa.text(f'CREATE POLICY tenant_isolation ON "{table}" USING ({visible}) WITH CHECK ({visible})'))
        conn.execute(sa.text(f'DROP POLICY IF EXISTS platform_read ON "{table}"'))
        if table in public_read:
            conn.execute(sa.text(f'CREATE POLICY platform_read ON "{table}" FOR SELECT USING ({public_read[table]})'))


def disable_rls(conn: Connection, tables: Sequence[str]) -> None:
    """Undo `enable_rls` (for a downgrade that keeps the tables)."""
    for table in tables:
        conn.execute(sa.text(f'DROP POLICY IF EXISTS platform_read ON "{table}"'))
        conn.execute(sa.text(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"'))
        conn.execute(sa.text(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY'))


def grant_app_role(conn: Connection, role: str, schema: str) -> None:
    """Create the non-owner role the app runs as, and give it DML on every table."""
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
    conn.execute(sa.text(f'GRANT "{role}" TO CURRENT_USER'))
    conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
    conn.execute(sa.text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
    conn.execute(sa.text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
