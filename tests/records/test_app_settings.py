"""SqlAppSettingsService on both backends; `app_settings` is global, so keys made here are removed after."""

import re
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from invokeai_saas.db import Database
from invokeai_saas.db.tables.tenancy import app_settings
from invokeai_saas.records.app_settings_sql import JWT_SECRET_KEY, SqlAppSettingsService
from tenant_middleware.context import as_tenant


@pytest.fixture
def service(database: Database) -> SqlAppSettingsService:
    return SqlAppSettingsService(database)


@pytest.fixture
def key(database: Database) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    with database.begin() as conn:
        conn.execute(sa.delete(app_settings).where(app_settings.c.key == name))


def test_get_set(service: SqlAppSettingsService, key: str, tenant: str) -> None:
    assert service.get(key) is None
    service.set(key, "one")
    assert service.get(key) == "one"
    service.set(key, "two")
    assert service.get(key) == "two"
    with as_tenant(None):  # global, not tenant-owned
        assert service.get(key) == "two"


def test_get_or_create_keeps_the_first_value(service: SqlAppSettingsService, key: str) -> None:
    assert service.get_or_create(key, lambda: "first") == "first"
    assert service.get_or_create(key, lambda: "second") == "first"
    assert service.get(key) == "first"


def test_concurrent_get_or_create_agree(database: Database, key: str) -> None:
    """Several "processes" (separate engines) starting at once all end up with one value."""
    others = [Database(database.url.render_as_string(hide_password=False), schema=database.schema, app_role=database.app_role) for _ in range(3)]
    barrier = threading.Barrier(len(others))
    results: list[str] = []

    def start(db: Database, n: int) -> None:
        barrier.wait()
        results.append(SqlAppSettingsService(db).get_or_create(key, lambda: f"value-{n}"))

    threads = [threading.Thread(target=start, args=(db, n)) for n, db in enumerate(others)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for db in others:
            db.dispose()
    assert len(results) == len(others) and len(set(results)) == 1


def test_jwt_secret_is_created_once(service: SqlAppSettingsService, database: Database) -> None:
    existed = service.get(JWT_SECRET_KEY) is not None
    try:
        secret = service.get_jwt_secret()
        assert re.fullmatch(r"[0-9a-f]{64}", secret)
        assert SqlAppSettingsService(database).get_jwt_secret() == secret
        assert service.get(JWT_SECRET_KEY) == secret
    finally:
        if not existed:
            with database.begin() as conn:
                conn.execute(sa.delete(app_settings).where(app_settings.c.key == JWT_SECRET_KEY))
