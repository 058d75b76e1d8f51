"""Bring a database to the current schema: Alembic owns it.

The Alembic environment lives in `invokeai_saas/db/migrations/` (configured from Python here;
`invokeai_saas/db/alembic.ini` exists only for the `alembic` command line, e.g. to generate a
revision). `upgrade(db)` runs `alembic upgrade head` on a connection of the schema owner and then
grants the app's restricted role DML on the tables (grants are deployment, not schema).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from invokeai_saas.db.database import Database
from invokeai_saas.db.rls import grant_app_role

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


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


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:  # type: ignore[type-arg]
    """Autogenerate/compare filter: Alembic's own version table is not part of the metadata."""
    return not (type_ == "table" and name == VERSION_TABLE)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def alembic_config(db: Database, connection: Connection | None = None) -> Config:
    """An Alembic config for `db`; env.py runs on `connection` (which the caller commits)."""
    cfg = _config()
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = db.schema if db.is_postgres else None
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


@contextmanager
def _owner_transaction(db: Database) -> Iterator[Connection]:
    """One transaction as the schema owner. On SQLite, foreign keys are off while it runs (batch
    migrations recreate tables, and dropping a referenced table with them on would cascade), and
    checked before commit."""
    with owner_engine(db) as engine, engine.connect() as conn:
        if not db.is_sqlite:
            with conn.begin():
                yield conn
            return
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys = OFF")  # autocommit here: a no-op inside a transaction
        try:
            with conn.begin():
                yield conn
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise RuntimeError(f"migration left foreign-key violations: {bad[:10]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


def upgrade(db: Database, revision: str = "head") -> None:
    """`alembic upgrade <revision>`, then (Postgres) grant the app role DML on every table. Pods
    starting together on an empty database take turns (a cluster lock): the first migrates, the
    others find the schema at head."""
    with owner_engine(db) as engine, db.cluster_lock("schema", wait=True, engine=engine), _owner_transaction(db) as conn:
        command.upgrade(alembic_config(db, conn), revision)
        if db.is_postgres and db.app_role:
            grant_app_role(conn, db.app_role, db.schema or "public")


def downgrade(db: Database, revision: str) -> None:
    """`alembic downgrade <revision>` (e.g. "base" drops every table)."""
    with _owner_transaction(db) as conn:
        command.downgrade(alembic_config(db, conn), revision)


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None: never migrated, or downgraded to base)."""
    with owner_engine(db) as engine, engine.connect() as conn:
        opts = {"version_table_schema": db.schema} if db.is_postgres and db.schema else {}
        return MigrationContext.configure(conn, opts=opts).get_current_revision()


def upgrade_if_empty(db: Database) -> bool:
    """`serve` brings an embedded (SQLite) database to head itself, and migrates an empty Postgres
    database; a Postgres database at an older revision is upgraded with `pingvas migrate` (one
    migration job, not every pod at once), and a pod refuses to start on it."""
    if db.is_sqlite:
        upgrade(db)
        return True
    with owner_engine(db) as engine:
        tables = set(sa.inspect(engine).get_table_names(schema=db.schema))
    if VERSION_TABLE not in tables or "tenants" not in tables:
        upgrade(db)
        return True
    current, head = current_revision(db), head_revision()
    if current != head:
        raise RuntimeError(f"The database is at revision {current}, the code needs {head}: run `pingvas migrate` first")
