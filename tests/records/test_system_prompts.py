"""SqlSystemPromptRecordsStorage: the stock contract, tenant isolation and the platform's seeded prompts."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from invokeai.app.services.shared.sqlite_migrator.migrations.migration_2026_07_10_create_system_prompts import (
    DEFAULT_SYSTEM_PROMPTS,
)
from invokeai.app.services.system_prompt_records.system_prompt_records_common import (
    SystemPromptChanges,
    SystemPromptNotFoundError,
    SystemPromptWithoutId,
)

from invokeai_saas.db import Database
from invokeai_saas.db.tables.system_prompts import system_prompts
from invokeai_saas.records.system_prompt_records_sql import SqlSystemPromptRecordsStorage
from tenant_middleware.context import as_tenant, system_scope

DEFAULT_IDS = {prompt_id for prompt_id, _, _ in DEFAULT_SYSTEM_PROMPTS}


@pytest.fixture
def store(database: Database) -> Iterator[SqlSystemPromptRecordsStorage]:
    s = SqlSystemPromptRecordsStorage(database)
    s.seed_default_system_prompts()
    yield s


def _prompt(name: str) -> SystemPromptWithoutId:
    return SystemPromptWithoutId(name=name, content=f"You write {name} prompts.")


def _own_names(store: SqlSystemPromptRecordsStorage, user_id: str | None = None) -> list[str]:
    return [p.name for p in store.get_many(user_id=user_id) if p.id not in DEFAULT_IDS]


def test_create_get_update_delete(store: SqlSystemPromptRecordsStorage, tenant: str) -> None:
    created = store.create(_prompt("Cinematic"), user_id="u1")
    got = store.get(created.id)
    assert (got.name, got.user_id, got.is_public) == ("Cinematic", "u1", False)
    assert got.created_at == got.updated_at

    updated = store.update(created.id, SystemPromptChanges(content="Be brief.", is_public=True), user_id="u1")
    assert (updated.name, updated.content, updated.is_public) == ("Cinematic", "Be brief.", True)
    assert updated.updated_at >= got.updated_at
    assert store.update(created.id, SystemPromptChanges(name="Film")).name == "Film"  # unscoped (admin)
    with pytest.raises(SystemPromptNotFoundError):
        store.update(created.id, SystemPromptChanges(name="Mine now"), user_id="u2")
    with pytest.raises(SystemPromptNotFoundError):
        store.delete(created.id, user_id="u2")

    store.delete(created.id, user_id="u1")
    with pytest.raises(SystemPromptNotFoundError):
        store.get(created.id)
    with pytest.raises(SystemPromptNotFoundError):
        store.delete(created.id)
    with pytest.raises(SystemPromptNotFoundError):
        store.update(created.id, SystemPromptChanges(name="ghost"))


def test_get_many_visibility_and_order(store: SqlSystemPromptRecordsStorage, tenant: str) -> None:
    store.create(_prompt("beta"), user_id="u1")
    store.create(_prompt("Alpha"), user_id="u2", is_public=True)
    store.create(_prompt("gamma"), user_id="u2")

    assert _own_names(store, "u1") == ["Alpha", "beta"]  # own + public, case-insensitive order
    assert _own_names(store) == ["Alpha", "beta", "gamma"]  # admin view: everything in the tenant
    names = [p.name for p in store.get_many()]
    assert names == sorted(names, key=str.lower)


def test_seeded_defaults_are_platform_rows(store: SqlSystemPromptRecordsStorage, tenant: str, other_tenant: str, database: Database) -> None:
    for scope in (tenant, other_tenant):
        with as_tenant(scope):
            assert {p.id for p in store.get_many(user_id="u1")} >= DEFAULT_IDS
    default_id = next(iter(DEFAULT_IDS))
    seeded = store.get(default_id)
    assert seeded.user_id == "system" and seeded.is_public

    with pytest.raises(SystemPromptNotFoundError):
        store.update(default_id, SystemPromptChanges(name="Hijacked"))
    with pytest.raises(SystemPromptNotFoundError):
        store.delete(default_id)
    if database.is_postgres:  # RLS: a raw write on a platform row affects nothing
        with database.begin() as conn:
            assert conn.execute(sa.delete(system_prompts).where(system_prompts.c.id == default_id)).rowcount == 0
    assert store.get(default_id).name == seeded.name

    # Seeding happens once: a default the operators deleted is not brought back.
    with system_scope(), database.begin() as conn:
        row = conn.execute(sa.select(system_prompts).where(system_prompts.c.id == default_id)).one()._asdict()
        conn.execute(sa.delete(system_prompts).where(system_prompts.c.id == default_id))
    try:
        store.seed_default_system_prompts()
        with pytest.raises(SystemPromptNotFoundError):
            store.get(default_id)
    finally:
        with system_scope(), database.begin() as conn:
            conn.execute(sa.insert(system_prompts).values(row))


def test_other_tenant_cannot_see_or_touch_prompts(store: SqlSystemPromptRecordsStorage, tenant: str, other_tenant: str) -> None:
    created = store.create(_prompt("Secret"), user_id="u1", is_public=True)
    with as_tenant(other_tenant):
        with pytest.raises(SystemPromptNotFoundError):
            store.get(created.id)
        assert _own_names(store) == []
        assert _own_names(store, "u1") == []
        with pytest.raises(SystemPromptNotFoundError):
            store.update(created.id, SystemPromptChanges(name="Hijacked"))
        with pytest.raises(SystemPromptNotFoundError):
            store.delete(created.id)
        store.create(_prompt("Theirs"), user_id="u9")
        assert _own_names(store) == ["Theirs"]
    after = store.get(created.id)
    assert (after.name, after.is_public) == ("Secret", True)
    assert _own_names(store) == ["Secret"]
