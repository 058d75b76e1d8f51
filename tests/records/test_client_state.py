"""SqlClientStatePersistence: per-user key/value state, isolated per tenant."""

import time

import pytest
from sqlalchemy.exc import DBAPIError

from invokeai_saas.db import Database
from invokeai_saas.records.client_state_sql import ClientStateTenantMismatchError, SqlClientStatePersistence
from tenant_middleware.context import as_tenant


@pytest.fixture
def store(database: Database) -> SqlClientStatePersistence:
    return SqlClientStatePersistence(database)


def _user(tenant: str, name: str) -> str:
    return f"{name}-{tenant[:8]}"  # user ids are global; keep them unique per test tenant


def test_set_get_overwrite(store: SqlClientStatePersistence, tenant: str) -> None:
    u1, u2 = _user(tenant, "u1"), _user(tenant, "u2")
    assert store.set_by_key(u1, "theme", "dark") == "dark"
    store.set_by_key(u2, "theme", "light")
    assert store.get_by_key(u1, "theme") == "dark"
    assert store.get_by_key(u2, "theme") == "light"
    store.set_by_key(u1, "theme", "solarized")
    assert store.get_by_key(u1, "theme") == "solarized"
    assert store.get_by_key(u1, "missing") is None


def test_keys_by_prefix_are_literal_and_newest_first(store: SqlClientStatePersistence, tenant: str) -> None:
    u1 = _user(tenant, "u1")
    store.set_by_key(u1, "canvas_a", "1")
    time.sleep(0.01)
    store.set_by_key(u1, "canvasXb", "2")  # `_` must not act as a wildcard
    time.sleep(0.01)
    store.set_by_key(u1, "canvas_c", "3")
    time.sleep(0.01)
    store.set_by_key(u1, "canvas_a", "4")  # touching a key makes it the newest
    store.set_by_key(_user(tenant, "u2"), "canvas_z", "5")
    assert store.get_keys_by_prefix(u1, "canvas_") == ["canvas_a", "canvas_c"]
    assert store.get_keys_by_prefix(u1, "CANVAS") == ["canvas_a", "canvas_c", "canvasXb"]  # case-insensitive, as stock
    assert store.get_keys_by_prefix(u1, "%") == []


def test_delete_by_key_and_delete_user(store: SqlClientStatePersistence, tenant: str) -> None:
    u1, u2 = _user(tenant, "u1"), _user(tenant, "u2")
    for key in ("a", "b"):
        store.set_by_key(u1, key, "x")
    store.set_by_key(u2, "a", "y")
    store.delete_by_key(u1, "a")
    assert store.get_by_key(u1, "a") is None and store.get_by_key(u1, "b") == "x"
    store.delete(u1)
    assert store.get_keys_by_prefix(u1, "") == []
    assert store.get_by_key(u2, "a") == "y"


def test_other_tenant_cannot_read_or_change_state(store: SqlClientStatePersistence, tenant: str, other_tenant: str) -> None:
    u1 = _user(tenant, "u1")
    store.set_by_key(u1, "secret", "mine")
    with as_tenant(other_tenant):
        assert store.get_by_key(u1, "secret") is None
        assert store.get_keys_by_prefix(u1, "") == []
        store.delete_by_key(u1, "secret")
        store.delete(u1)
        # SQLite: the service refuses; Postgres: row-level security refuses the update first.
        with pytest.raises((ClientStateTenantMismatchError, DBAPIError)):
            store.set_by_key(u1, "secret", "theirs")
    assert store.get_by_key(u1, "secret") == "mine"
    assert store.get_keys_by_prefix(u1, "") == ["secret"]
