"""SqlStylePresetRecordsStorage: the stock contract, tenant isolation and platform default presets."""

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from invokeai.app.services.style_preset_records.style_preset_records_common import (
    PresetData,
    PresetType,
    StylePresetChanges,
    StylePresetNotFoundError,
    StylePresetWithoutId,
)

from invokeai_saas.db import Database
from invokeai_saas.db.tables.style_presets import style_presets
from invokeai_saas.records.style_preset_records_sql import (
    DEFAULT_STYLE_PRESETS_FILE,
    SqlStylePresetRecordsStorage,
    default_style_preset_id,
)
from tenant_middleware.context import as_tenant, system_scope

DEFAULT_NAMES = sorted((p["name"] for p in json.loads(DEFAULT_STYLE_PRESETS_FILE.read_text())), key=str.lower)


def _preset(name: str, is_public: bool = False, type: PresetType = PresetType.User) -> StylePresetWithoutId:
    data = PresetData(positive_prompt=f"{name} {{prompt}}", negative_prompt="blurry")
    return StylePresetWithoutId(name=name, preset_data=data, type=type, is_public=is_public)


def _changes(**kwargs) -> StylePresetChanges:  # type: ignore[no-untyped-def]
    return StylePresetChanges(type=None, **kwargs)


@pytest.fixture
def store(database: Database) -> Iterator[SqlStylePresetRecordsStorage]:
    s = SqlStylePresetRecordsStorage(database)
    s.sync_default_style_presets()
    yield s


def _user_names(store: SqlStylePresetRecordsStorage, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in store.get_many(type=PresetType.User, **kwargs)]


def test_create_get_update_delete(store: SqlStylePresetRecordsStorage, tenant: str) -> None:
    created = store.create(_preset("Noir"), user_id="u1")
    got = store.get(created.id)
    assert (got.name, got.user_id, got.type, got.is_public) == ("Noir", "u1", PresetType.User, False)
    assert got.preset_data.positive_prompt == "Noir {prompt}"

    new_data = PresetData(positive_prompt="p", negative_prompt="n")
    updated = store.update(created.id, _changes(name="Neo Noir", preset_data=new_data, is_public=True))
    assert (updated.name, updated.preset_data, updated.is_public) == ("Neo Noir", new_data, True)
    assert store.update(created.id, _changes()).name == "Neo Noir"

    store.delete(created.id)
    with pytest.raises(StylePresetNotFoundError):
        store.get(created.id)
    with pytest.raises(StylePresetNotFoundError):
        store.update(created.id, _changes(name="ghost"))
    store.delete(created.id)  # deleting a missing preset is a no-op, as stock


def test_get_many_visibility_order_and_type(store: SqlStylePresetRecordsStorage, tenant: str) -> None:
    store.create_many([_preset("beta"), _preset("Alpha", is_public=True)], user_id="u1")
    store.create(_preset("gamma"), user_id="u2")
    store.create_many([], user_id="u1")

    assert _user_names(store, user_id="u1") == ["Alpha", "beta"]  # own + public, case-insensitive order
    assert _user_names(store, user_id="u2") == ["Alpha", "gamma"]
    assert _user_names(store) == ["Alpha"]  # anonymous: public (and defaults) only
    assert _user_names(store, is_admin=True) == ["Alpha", "beta", "gamma"]

    everything = store.get_many(user_id="u1")
    assert [p.name for p in everything if p.type is PresetType.Default] == DEFAULT_NAMES
    assert len(everything) == len(DEFAULT_NAMES) + 2
    assert [p.name for p in everything] == sorted((p.name for p in everything), key=str.lower)


def test_default_presets_are_platform_rows(store: SqlStylePresetRecordsStorage, tenant: str, other_tenant: str, database: Database) -> None:
    defaults = store.get_many(type=PresetType.Default)
    assert [p.name for p in defaults] == DEFAULT_NAMES
    assert all(p.user_id == "system" and p.id == default_style_preset_id(p.name) for p in defaults)
    with as_tenant(other_tenant):
        assert [p.id for p in store.get_many(type=PresetType.Default)] == [p.id for p in defaults]

    target = defaults[0]
    with pytest.raises(StylePresetNotFoundError):
        store.update(target.id, _changes(name="Hijacked"))
    store.delete(target.id)
    assert store.get(target.id).name == target.name
    if database.is_postgres:  # RLS: a raw write on a platform row affects nothing
        with database.begin() as conn:
            assert conn.execute(sa.update(style_presets).where(style_presets.c.id == target.id).values(name="x")).rowcount == 0
            assert conn.execute(sa.delete(style_presets).where(style_presets.c.id == target.id)).rowcount == 0
    assert store.get(target.id).name == target.name

    # A tenant's own default-typed preset stays inside the tenant.
    own_default = store.create(_preset("Tenant Default", type=PresetType.Default), user_id="u1")
    with as_tenant(other_tenant):
        with pytest.raises(StylePresetNotFoundError):
            store.get(own_default.id)
        assert "Tenant Default" not in [p.name for p in store.get_many(type=PresetType.Default)]


def test_sync_is_stable_and_repairs(store: SqlStylePresetRecordsStorage, database: Database) -> None:
    with system_scope():
        before = {p.id: p for p in store.get_many(type=PresetType.Default, is_admin=True)}
        victim = next(iter(before))
        with database.begin() as conn:
            conn.execute(sa.update(style_presets).where(style_presets.c.id == victim).values(name="Tampered"))
            row = conn.execute(sa.select(style_presets).where(style_presets.c.id == victim)).one()._asdict()
            conn.execute(sa.insert(style_presets).values({**row, "id": "obsolete-default-preset"}))
    store.sync_default_style_presets()
    with system_scope():
        after = {p.id: p for p in store.get_many(type=PresetType.Default, is_admin=True)}
    assert after == before


def test_other_tenant_cannot_see_or_touch_presets(store: SqlStylePresetRecordsStorage, tenant: str, other_tenant: str) -> None:
    created = store.create(_preset("Secret", is_public=True), user_id="u1")
    with as_tenant(other_tenant):
        with pytest.raises(StylePresetNotFoundError):
            store.get(created.id)
        assert _user_names(store, user_id="u1") == []
        assert _user_names(store, is_admin=True) == []
        with pytest.raises(StylePresetNotFoundError):
            store.update(created.id, _changes(name="Hijacked", is_public=False))
        store.delete(created.id)
    after = store.get(created.id)
    assert (after.name, after.is_public) == ("Secret", True)
