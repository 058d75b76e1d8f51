"""Alembic owns the schema: head matches the metadata, RLS is on, downgrade/upgrade round-trips.

Each test makes its own fresh database (the session `database` fixture is already migrated).
`test_head_matches_metadata` is the one that fails when a table module changes without a
migration: generate one with
    .venv/bin/alembic -c invokeai_saas/db/alembic.ini -x url=sqlite:////tmp/pingvas-at-head.db revision --autogenerate -m "…"
against a SQLite database first brought to head with `upgrade head` (same -c/-x).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from invokeai_saas.db import Database
from invokeai_saas.db.migrate import (
    VERSION_TABLE,
    current_revision,
    downgrade,
    head_revision,
    include_name,
    owner_engine,
    upgrade,
    upgrade_if_empty,
)
from invokeai_saas.db.tables import TENANT_TABLES, metadata
from tests.db_fixtures import APP_ROLE, create_pg_database, drop_pg_database, pg_url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of each backend, for this test only."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield db
        db.dispose()
        return
    yield from _fresh_pg()


@pytest.fixture
def fresh_pg() -> Iterator[Database]:
    """An empty Postgres database (row-level security exists only there)."""
    yield from _fresh_pg()


def _fresh_pg() -> Iterator[Database]:
    name = create_pg_database()
    db = Database(pg_url(name), schema="pingvas", app_role=APP_ROLE)
    try:
        yield db
    finally:
        db.dispose()
        drop_pg_database(name)


def _schema_diffs(db: Database) -> list:  # type: ignore[type-arg]
    with owner_engine(db) as engine, engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name, "compare_type": True})
        return compare_metadata(ctx, metadata)


def _tables(db: Database, schema: str | None = None) -> set[str]:
    with owner_engine(db) as engine:
        return set(sa.inspect(engine).get_table_names(schema=schema or (db.schema if db.is_postgres else None)))


def _rls_flags(db: Database) -> dict[str, tuple[bool, bool]]:
    with owner_engine(db) as engine, engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
            ),
            {"s": db.schema or "public"},
        )
        return {r.relname: (r.relrowsecurity, r.relforcerowsecurity) for r in rows}


def test_head_matches_metadata(fresh_db: Database) -> None:
    assert current_revision(fresh_db) is None
    upgrade(fresh_db)
    assert current_revision(fresh_db) == head_revision() is not None
    assert _schema_diffs(fresh_db) == [], "the table modules changed without a migration (see module docstring)"
    assert set(metadata.tables) | {VERSION_TABLE} == _tables(fresh_db)


def test_rls_enabled_and_forced_on_every_tenant_table(fresh_pg: Database) -> None:
    fresh_db = fresh_pg
    upgrade(fresh_db)
    flags = _rls_flags(fresh_db)
    assert TENANT_TABLES
    for table in TENANT_TABLES:
        assert flags[table] == (True, True), table
    with owner_engine(fresh_db) as engine, engine.connect() as conn:
        policies = {
            (r.tablename, r.policyname)
            for r in conn.execute(sa.text("SELECT tablename, policyname FROM pg_policies WHERE schemaname = :s"), {"s": fresh_db.schema})
        }
    assert {(t, "tenant_isolation") for t in TENANT_TABLES} <= policies
    assert {("workflow_library", "platform_read"), ("style_presets", "platform_read"), ("system_prompts", "platform_read")} <= policies


def test_downgrade_to_base_and_upgrade_again(fresh_db: Database) -> None:
    upgrade(fresh_db)
    downgrade(fresh_db, "base")
    assert current_revision(fresh_db) is None
    assert _tables(fresh_db) - {VERSION_TABLE} == set()
    upgrade(fresh_db)
    assert current_revision(fresh_db) == head_revision()
    assert _schema_diffs(fresh_db) == []


def test_upgrade_if_empty_migrates_once(fresh_db: Database) -> None:
    upgrade_if_empty(fresh_db)
    assert current_revision(fresh_db) == head_revision()
    upgrade_if_empty(fresh_db)  # at head: nothing to do
    downgrade(fresh_db, "base")  # alembic_version remains, tenants does not
    upgrade_if_empty(fresh_db)
    assert current_revision(fresh_db) == head_revision()


def test_schema_per_environment() -> None:
    """dev and prod share one Postgres database, each in its own schema with its own version table."""
    name = create_pg_database()
    dev = Database(pg_url(name), schema="dev", app_role=APP_ROLE)
    prod = Database(pg_url(name), schema="prod", app_role=APP_ROLE)
    try:
        upgrade(dev)
        assert current_revision(dev) == head_revision()
        assert current_revision(prod) is None
        assert _tables(prod) == set()
        upgrade(prod)
        for db in (dev, prod):
            assert _tables(db) == set(metadata.tables) | {VERSION_TABLE}
            assert _schema_diffs(db) == []
            assert all(flags == (True, True) for t, flags in _rls_flags(db).items() if t in TENANT_TABLES)
        assert _tables(dev, schema="public") == set()  # nothing leaked into the default schema
        downgrade(dev, "base")
        assert current_revision(dev) is None and _tables(dev) == {VERSION_TABLE}
        assert current_revision(prod) == head_revision()
        assert _tables(prod) == set(metadata.tables) | {VERSION_TABLE}
        # The app role (restricted, RLS applies) can use prod's tables.
        from invokeai_saas.db.tables.tenancy import tenants
        from tenant_middleware.context import system_scope

        with system_scope(), prod.begin() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tenants)).scalar_one() == 0
    finally:
        dev.dispose()
        prod.dispose()
        drop_pg_database(name)
