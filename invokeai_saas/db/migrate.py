"""Bring a database to the current schema (Alembic owns it)."""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from invokeai_saas.db.database import Database
from invokeai_saas.db.rls import enable_rls, grant_app_role
from invokeai_saas.db.tables import metadata


@contextmanager
def owner_engine(db: Database) -> Iterator[Engine]:
    """An engine connected as the schema owner (the app's own engine may SET ROLE to a restricted role)."""
    if not db.is_postgres:
        yield db.engine
        return
    engine = sa.create_engine(db.url, connect_args={"options": f"-csearch_path={db.schema}"} if db.schema else {})
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(db: Database) -> None:
    # TODO(alembic): replaced by `alembic upgrade head` once the initial revision is generated.
    with owner_engine(db) as engine, engine.begin() as conn:
        if db.is_postgres and db.schema:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        metadata.create_all(conn)
        if db.is_postgres:
            enable_rls(conn)
            if db.app_role:
                grant_app_role(conn, db.app_role, db.schema or "public")


def upgrade_if_empty(db: Database) -> None:
    """`serve` migrates an empty database itself; a non-empty one is upgraded with `pingvas migrate`."""
    with owner_engine(db) as engine:
        has_schema = "tenants" in sa.inspect(engine).get_table_names(schema=db.schema)
    if not has_schema:
        upgrade(db)
