"""Real databases for tests: a SQLite file and a throwaway Postgres database."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from billing.credits import EntryKind
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.migrate import upgrade
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.money.ledger import CreditLedger
from tenant_middleware.context import as_tenant, system_scope

PG_ADMIN_DSN = os.environ.get("PINGVAS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_ROLE = "pingvas_app"


def create_pg_database() -> str:
    name = f"pingvas_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    base = sa.engine.make_url(PG_ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://", 1))
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database of each backend, shared by the session; tests isolate by tenant."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "pingvas.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        yield db
        db.dispose()
        return
    name = create_pg_database()
    db = Database(pg_url(name), schema="pingvas", app_role=APP_ROLE)
    upgrade(db)
    yield db
    db.dispose()
    drop_pg_database(name)


def make_tenant(db: Database, name: str = "Acme", plan: str = "starter", credits: int = 1_000_000) -> str:
    tenant_id = str(uuid.uuid4())
    with system_scope(), db.begin() as conn:
        now = utcnow()
        conn.execute(sa.insert(tenants).values(tenant_id=tenant_id, name=name, plan=plan, status="active", created_at=now, updated_at=now))
        if credits:  # enough to run whatever a test queues, unless it is about credits
            CreditLedger(db).post(conn, tenant_id, EntryKind.GRANT, credits, f"test-grant:{tenant_id}", reason="test credits")
    return tenant_id


@pytest.fixture
def tenant(database: Database) -> Iterator[str]:
    """A fresh tenant, entered as the current scope for the test's duration."""
    tenant_id = make_tenant(database)
    with as_tenant(tenant_id):
        yield tenant_id


@pytest.fixture
def other_tenant(database: Database) -> str:
    """A second tenant (not entered); use `as_tenant(other_tenant)` to act as it."""
    return make_tenant(database, name="Rival")
