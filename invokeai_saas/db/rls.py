"""Postgres row-level security: the second wall behind the services' tenant filters.

The app connects as (or `SET ROLE`s to) a role that is not the tables' owner-superuser,
and every transaction sets `pingvas.tenant_id`; rows of another tenant are invisible
even to a query that forgot its filter.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai_saas.db.tables import TENANT_TABLES
from invokeai_saas.db.tables.base import PUBLIC_READ

_VISIBLE = (
    "current_setting('pingvas.system', true) = 'on' OR "
    "tenant_id IS NOT DISTINCT FROM NULLIF(current_setting('pingvas.tenant_id', true), '')"
)


def enable_rls(conn: Connection, tables: list[str] | None = None) -> None:
    for table in tables if tables is not None else TENANT_TABLES:
        conn.execute(sa.text(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"'))
        conn.execute(sa.text(f'CREATE POLICY tenant_isolation ON "{table}" USING ({_VISIBLE}) WITH CHECK ({_VISIBLE})'))
        conn.execute(sa.text(f'DROP POLICY IF EXISTS platform_read ON "{table}"'))
        if table in PUBLIC_READ:
            conn.execute(sa.text(f'CREATE POLICY platform_read ON "{table}" FOR SELECT USING ({PUBLIC_READ[table]})'))


def grant_app_role(conn: Connection, role: str, schema: str) -> None:
    """Create the non-owner role the app runs as, and give it DML on every table."""
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
    conn.execute(sa.text(f'GRANT "{role}" TO CURRENT_USER'))
    conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
    conn.execute(sa.text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
    conn.execute(sa.text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
