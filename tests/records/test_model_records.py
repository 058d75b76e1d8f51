"""SqlModelRecordService and SqlModelRelationshipRecordStorage on both backends.

The model catalog is global and shared by the test session: every model here has a unique
key, path and name, assertions look only at those, and the rows are deleted after each test.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from math import ceil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from invokeai.app.services.model_records.model_records_base import (
    DuplicateModelException,
    ModelRecordChanges,
    ModelRecordOrderBy,
    UnknownModelException,
)
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.backend.model_manager.configs.factory import AnyModelConfig
from invokeai.backend.model_manager.configs.lora import LoRA_LyCORIS_SD1_Config
from invokeai.backend.model_manager.configs.main import (
    Main_Diffusers_SD1_Config,
    Main_Diffusers_SDXL_Config,
    MainModelDefaultSettings,
)
from invokeai.backend.model_manager.taxonomy import (
    BaseModelType,
    ModelFormat,
    ModelSourceType,
    ModelType,
    ModelVariantType,
    SchedulerPredictionType,
)
from pydantic import ValidationError

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.models import model_relationships, models
from invokeai_saas.records.model_records_sql import SqlModelRecordService
from invokeai_saas.records.model_relationship_records_sql import SqlModelRelationshipRecordStorage
from tenant_middleware.context import as_tenant

AddModel = Callable[..., AnyModelConfig]


@pytest.fixture
def store(database: Database) -> SqlModelRecordService:
    return SqlModelRecordService(database, logging.getLogger("test_model_records"))


@pytest.fixture
def relationships(database: Database) -> SqlModelRelationshipRecordStorage:
    return SqlModelRelationshipRecordStorage(database)


@pytest.fixture
def keys(database: Database) -> Iterator[list[str]]:
    """Keys of the rows this test made; deleted after it (relationships cascade)."""
    made: list[str] = []
    yield made
    with database.begin() as conn:
        conn.execute(sa.delete(models).where(models.c.id.in_(made)))


def _fields(tag: str, **overrides: Any) -> dict[str, Any]:
    path = f"/models/{tag}"
    return {"key": f"k-{tag}", "hash": f"blake3:{tag}", "path": path, "file_size": 1000, "name": tag, "source": path, "source_type": ModelSourceType.Path} | overrides


def sd1_main(tag: str, **overrides: Any) -> Main_Diffusers_SD1_Config:
    return Main_Diffusers_SD1_Config(
        **_fields(tag, **overrides), prediction_type=SchedulerPredictionType.Epsilon, variant=ModelVariantType.Normal
    )


def sd1_lora(tag: str, **overrides: Any) -> LoRA_LyCORIS_SD1_Config:
    return LoRA_LyCORIS_SD1_Config(**_fields(tag, **overrides))


@pytest.fixture
def add(store: SqlModelRecordService, keys: list[str]) -> AddModel:
    def add_model(config: AnyModelConfig) -> AnyModelConfig:
        keys.append(config.key)
        return store.add_model(config)

    return add_model


def _tag() -> str:
    return uuid.uuid4().hex[:12]


def test_add_get_exists_delete(store: SqlModelRecordService, add: AddModel) -> None:
    config = sd1_main(_tag(), description="a model", trigger_phrases={"cat"})
    stored = add(config)
    assert stored == config and isinstance(stored, Main_Diffusers_SD1_Config)
    assert store.get_model(config.key) == config
    assert store.exists(config.key)
    store.del_model(config.key)
    assert not store.exists(config.key)
    with pytest.raises(UnknownModelException):
        store.get_model(config.key)
    with pytest.raises(UnknownModelException):
        store.del_model(config.key)


def test_models_are_global(store: SqlModelRecordService, add: AddModel, tenant: str, other_tenant: str) -> None:
    config = add(sd1_main(_tag()))
    with as_tenant(other_tenant):
        assert store.get_model(config.key) == config
    with as_tenant(None):
        assert store.search_by_attr(model_name=config.name) == [config]


def test_duplicates_are_refused(store: SqlModelRecordService, add: AddModel, database: Database) -> None:
    first = add(sd1_main(_tag()))
    with pytest.raises(DuplicateModelException, match="key"):
        store.add_model(sd1_main(_tag(), key=first.key))
    with pytest.raises(DuplicateModelException, match="path"):
        store.add_model(sd1_main(_tag(), path=first.path))
    # the failed insert does not spoil a surrounding transaction
    with database.begin():
        with pytest.raises(DuplicateModelException):
            store.add_model(sd1_main(_tag(), path=first.path))
        assert store.exists(first.key)
    second = add(sd1_main(_tag()))
    with pytest.raises(DuplicateModelException, match="path"):
        store.update_model(second.key, ModelRecordChanges(path=first.path))
    assert store.get_model(second.key).path == second.path


def test_update_model(store: SqlModelRecordService, add: AddModel, database: Database) -> None:
    tag = _tag()
    config = add(sd1_main(tag))
    with database.begin() as conn:
        added_at = conn.execute(sa.select(models.c.updated_at).where(models.c.id == config.key)).scalar_one()
    new_name = f"renamed-{tag}"
    changes = ModelRecordChanges(name=new_name, default_settings=MainModelDefaultSettings(steps=12), file_size=5)
    updated = store.update_model(config.key, changes)
    assert updated.name == new_name and updated.default_settings.steps == 12  # type: ignore[union-attr]
    assert store.get_model(config.key) == updated
    assert store.search_by_attr(model_name=new_name) == [updated]
    assert store.search_by_attr(model_name=tag) == []
    with database.begin() as conn:
        row = conn.execute(sa.select(models.c.updated_at, models.c.file_size).where(models.c.id == config.key)).one()
    assert row.updated_at >= added_at and row.file_size == 5
    with pytest.raises(ValidationError):  # a different base means a different class
        store.update_model(config.key, ModelRecordChanges(base=BaseModelType.StableDiffusionXL))
    with pytest.raises(UnknownModelException):
        store.update_model("no-such-key", ModelRecordChanges(name="x"))


def test_update_model_changing_class(store: SqlModelRecordService, add: AddModel) -> None:
    config = add(sd1_main(_tag()))
    updated = store.update_model(config.key, ModelRecordChanges(base=BaseModelType.StableDiffusionXL), allow_class_change=True)
    assert isinstance(updated, Main_Diffusers_SDXL_Config) and updated.key == config.key
    assert store.search_by_attr(model_name=config.name, base_model=BaseModelType.StableDiffusionXL) == [updated]
    assert store.search_by_attr(model_name=config.name, base_model=BaseModelType.StableDiffusion1) == []


def test_replace_model(store: SqlModelRecordService, add: AddModel) -> None:
    tag = _tag()
    config = add(sd1_main(tag))
    replacement = sd1_main(tag, hash=f"blake3:new-{tag}")
    assert store.replace_model(config.key, replacement) == replacement
    assert store.get_model_by_hash(replacement.hash) == replacement
    assert store.search_by_hash(config.hash) == []
    with pytest.raises(ValueError, match="key does not match"):
        store.replace_model("other-key", replacement)
    with pytest.raises(UnknownModelException):
        store.replace_model("no-such-key", sd1_main(_tag(), key="no-such-key"))


def test_search_by_path_and_hash(store: SqlModelRecordService, add: AddModel) -> None:
    shared_hash = f"blake3:{_tag()}"
    one = add(sd1_main(_tag(), hash=shared_hash))
    two = add(sd1_lora(_tag(), hash=shared_hash))
    assert store.search_by_path(one.path) == [one]
    assert store.search_by_path(Path(two.path)) == [two]
    assert store.search_by_path("/models/nowhere") == []
    assert {c.key for c in store.search_by_hash(shared_hash)} == {one.key, two.key}
    assert store.get_model_by_hash(shared_hash).key in {one.key, two.key}
    with pytest.raises(UnknownModelException):
        store.get_model_by_hash("blake3:missing")


def test_search_by_attr_filters_and_orders(store: SqlModelRecordService, add: AddModel) -> None:
    tag = _tag()
    main = add(sd1_main(f"{tag}-main", name=f"Beta-{tag}", file_size=30))
    lora_a = add(sd1_lora(f"{tag}-la", name=f"alpha-{tag}", file_size=20))
    lora_c = add(sd1_lora(f"{tag}-lc", name=f"Gamma-{tag}", file_size=10))
    mine = {main.key, lora_a.key, lora_c.key}

    def ordered(**kwargs: Any) -> list[str]:
        return [c.key for c in store.search_by_attr(**kwargs) if c.key in mine]

    assert store.search_by_attr(model_name=main.name) == [main]
    assert ordered(base_model=BaseModelType.StableDiffusion1, model_type=ModelType.LoRA) == [lora_a.key, lora_c.key]
    assert ordered(model_type=ModelType.Main, model_format=ModelFormat.Diffusers) == [main.key]
    assert ordered(model_format=ModelFormat.LyCORIS, model_name=lora_c.name) == [lora_c.key]
    assert ordered(base_model=BaseModelType.StableDiffusionXL) == []
    # names compare case-insensitively, as with COLLATE NOCASE
    assert ordered(order_by=ModelRecordOrderBy.Name) == [lora_a.key, main.key, lora_c.key]
    assert ordered(order_by=ModelRecordOrderBy.Name, direction=SQLiteDirection.Descending) == [lora_c.key, main.key, lora_a.key]
    assert ordered(order_by=ModelRecordOrderBy.Size) == [lora_c.key, lora_a.key, main.key]
    # default: type, then base, then name (lora sorts before main)
    assert ordered() == [lora_a.key, lora_c.key, main.key]
    assert ordered(direction=SQLiteDirection.Descending) == [main.key, lora_c.key, lora_a.key]
    assert ordered(order_by=ModelRecordOrderBy.DateAdded) == [main.key, lora_a.key, lora_c.key]
    assert set(ordered(order_by=ModelRecordOrderBy.Path)) == mine
    assert {c.key for c in store.all_models()} >= mine
    assert store.model_info_by_name(main.name, BaseModelType.StableDiffusion1, ModelType.Main) == main
    with pytest.raises(UnknownModelException):
        store.model_info_by_name(main.name, BaseModelType.StableDiffusion1, ModelType.LoRA)


def test_unreadable_config_is_skipped(store: SqlModelRecordService, keys: list[str], database: Database, caplog: pytest.LogCaptureFixture) -> None:
    tag = _tag()
    now = utcnow()
    with database.begin() as conn:
        conn.execute(
            sa.insert(models).values(
                id=f"k-{tag}", hash="h", base="sd-1", type="main", path=f"/models/{tag}", format="diffusers", name=tag,
                source="s", source_type="path", file_size=1, config='{"type": "main", "base": "sd-1", "name": "' + tag + '"}',
                created_at=now, updated_at=now,
            )
        )
    keys.append(f"k-{tag}")
    with caplog.at_level(logging.WARNING, logger="test_model_records"):
        assert store.search_by_attr(model_name=tag) == []
    assert f"Skipping invalid model config in the database with name {tag}" in caplog.text


def test_list_models_pages(store: SqlModelRecordService, add: AddModel) -> None:
    tag = _tag()
    mine = [add(sd1_main(f"{tag}-{n}", name=f"{tag}-{n}", description="d" if n == 0 else None)) for n in range(3)]
    first = store.list_models(page=0, per_page=2, order_by=ModelRecordOrderBy.Name)
    total = first.total
    assert total >= 3 and first.pages == ceil(total / 2) and first.per_page == 2 and len(first.items) == 2
    seen: list[str] = []
    for page in range(first.pages):
        result = store.list_models(page=page, per_page=2, order_by=ModelRecordOrderBy.Name)
        assert result.total == total and result.page == page
        seen += [item.key for item in result.items]
    assert len(seen) == total and len(set(seen)) == total
    assert [k for k in seen if k in {c.key for c in mine}] == [c.key for c in mine]
    summary = next(item for p in range(first.pages) for item in store.list_models(page=p, per_page=2).items if item.key == mine[0].key)
    assert (summary.name, summary.base, summary.type, summary.format) == (mine[0].name, BaseModelType.StableDiffusion1, ModelType.Main, ModelFormat.Diffusers)
    assert summary.description == "d" and summary.tags == set()


def test_relationships(relationships: SqlModelRelationshipRecordStorage, store: SqlModelRecordService, add: AddModel, database: Database) -> None:
    tag = _tag()
    a, b, c = (add(sd1_main(f"{tag}-{n}")).key for n in "abc")
    relationships.add_model_relationship(b, a)
    relationships.add_model_relationship(a, b)  # same pair again: no-op
    relationships.add_model_relationship(a, c)
    with database.begin() as conn:
        pairs = conn.execute(sa.select(model_relationships.c.model_key_1, model_relationships.c.model_key_2).where(model_relationships.c.model_key_1 == a)).all()
    assert sorted(tuple(p) for p in pairs) == [(a, b), (a, c)]
    assert relationships.get_related_model_keys(a) == sorted([b, c])
    assert relationships.get_related_model_keys(b) == [a]
    assert relationships.get_related_model_keys_batch([b, c]) == [a]
    assert relationships.get_related_model_keys_batch([a, b]) == sorted([a, b, c])
    assert relationships.get_related_model_keys_batch([]) == []
    with pytest.raises(ValueError, match="itself"):
        relationships.add_model_relationship(a, a)
    with pytest.raises(ValueError, match="unknown"):
        relationships.add_model_relationship(a, "no-such-model")
    relationships.remove_model_relationship(b, a)
    assert relationships.get_related_model_keys(a) == [c]
    store.del_model(c)  # deleting a model drops its relationships
    assert relationships.get_related_model_keys(a) == []
