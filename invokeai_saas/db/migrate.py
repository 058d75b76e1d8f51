"""Bring a database to the current schema (Alembic owns it)."""

import sqlalchemy as sa

from invokeai_saas.db.database import Database
from invokeai_saas.db.rls import enable_rls, grant_app_role
from invokeai_saas.db.tables import metadata


def upgrade(db: Database) -> None:
    # TODO(alembic): replaced by `alembic upgrade head` once the initial revision is generated.
    owner_engine = sa.create_engine(db.url, connect_args=_owner_connect_args(db)) if db.is_postgres else db.engine
    with owner_engine.begin() as conn:
        if db.is_postgres and db.schema:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        metadata.create_all(conn)
        if db.is_postgres:
            enable_rls(conn)
            if db.app_role:
                grant_app_role(conn, db.app_role, db.schema or "public")
    if owner_engine is not db.engine:
        owner_engine.dispose()


def _owner_connect_args(db: Database) -> dict[str, str]:
    return {"options": f"-csearch_path={db.schema}"} if db.schema else {}


def upgrade_if_empty(db: Database) -> None:
    """`serve` migrates an empty database itself; a non-empty one is upgraded with `pingvas migrate`."""
    if "tenants" not in sa.inspect(db.engine).get_table_names(schema=db.schema):
        upgrade(db)
