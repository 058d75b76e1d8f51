"""SqlWorkflowRecordsStorage: the stock contract, tenant isolation and platform default workflows."""

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.workflow_records.workflow_records_common import (
    Workflow,
    WorkflowCategory,
    WorkflowMeta,
    WorkflowNotFoundError,
    WorkflowRecordOrderBy,
    WorkflowWithoutID,
)

from invokeai_saas.db import Database
from invokeai_saas.db.tables.workflows import workflow_library
from invokeai_saas.records.workflow_records_sql import DEFAULT_WORKFLOWS_DIR, SqlWorkflowRecordsStorage
from tenant_middleware.context import as_tenant, system_scope

USER = WorkflowCategory.User
DEFAULT = WorkflowCategory.Default
N_DEFAULTS = len(list(DEFAULT_WORKFLOWS_DIR.glob("*.json")))


def _workflow(name: str, tags: str = "", description: str = "", category: WorkflowCategory = USER) -> WorkflowWithoutID:
    return WorkflowWithoutID(
        name=name,
        author="tester",
        description=description,
        version="1.0.0",
        contact="",
        tags=tags,
        notes="",
        exposedFields=[],
        meta=WorkflowMeta(version="3.0.0", category=category),
        nodes=[],
        edges=[],
    )


@pytest.fixture
def store(database: Database) -> Iterator[SqlWorkflowRecordsStorage]:
    s = SqlWorkflowRecordsStorage(database)
    s.sync_default_workflows()  # idempotent; keeps the platform rows present for every test
    yield s


def _names(store: SqlWorkflowRecordsStorage, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    args = {"order_by": WorkflowRecordOrderBy.Name, "direction": SQLiteDirection.Ascending, "categories": [USER], **kwargs}
    return [w.name for w in store.get_many(**args).items]


def test_create_get_roundtrip(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    created = store.create(_workflow("Alpha", tags="a, b"), user_id="u1", is_public=True)
    got = store.get(created.workflow_id)
    assert got.workflow.name == "Alpha" and got.workflow.id == created.workflow_id
    assert got.user_id == "u1" and got.is_public is True and got.opened_at is None
    assert got.created_at and got.updated_at
    with pytest.raises(WorkflowNotFoundError):
        store.get("nope")
    with pytest.raises(ValueError):
        store.create(_workflow("Sneaky", category=DEFAULT))


def test_pagination_and_ordering(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    for name in ["c", "a", "e", "b", "d"]:
        store.create(_workflow(name))
    page = store.get_many(WorkflowRecordOrderBy.Name, SQLiteDirection.Ascending, [USER], page=1, per_page=2)
    assert [w.name for w in page.items] == ["c", "d"]
    assert (page.total, page.pages, page.per_page, page.page) == (5, 3, 2, 1)
    assert _names(store, direction=SQLiteDirection.Descending) == ["e", "d", "c", "b", "a"]
    everything = store.get_many(WorkflowRecordOrderBy.Name, SQLiteDirection.Ascending, [USER])
    assert (everything.total, everything.pages, everything.per_page) == (5, 1, 5)
    by_created = store.get_many(WorkflowRecordOrderBy.CreatedAt, SQLiteDirection.Ascending, [USER])
    assert [w.name for w in by_created.items] == ["c", "a", "e", "b", "d"]


def test_filters(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    mine = store.create(_workflow("Portrait Maker", tags="faces, photo", description="makes portraits"), user_id="u1")
    store.create(_workflow("Landscape", tags="nature"), user_id="u2", is_public=True)
    store.create(_workflow("Upscaler", description="Sharper PHOTOS"), user_id="u2")

    assert _names(store, query="  portrait ") == ["Portrait Maker"]
    assert _names(store, query="photos") == ["Upscaler"]  # description, case-insensitive
    assert _names(store, tags=["nature", "faces"]) == ["Landscape", "Portrait Maker"]
    assert _names(store, user_id="u1") == ["Portrait Maker"]
    assert _names(store, is_public=True) == ["Landscape"]
    assert _names(store, is_public=False) == ["Portrait Maker", "Upscaler"]

    store.update_opened_at(mine.workflow_id)
    assert _names(store, has_been_opened=True) == ["Portrait Maker"]
    assert _names(store, has_been_opened=False) == ["Landscape", "Upscaler"]
    assert store.get(mine.workflow_id).opened_at is not None

    # A user filter always keeps the default workflows in (as stock).
    with_defaults = store.get_many(WorkflowRecordOrderBy.Name, SQLiteDirection.Ascending, None, user_id="u1")
    assert with_defaults.total == N_DEFAULTS + 1


def test_opened_at_ordering_puts_unopened_first_ascending(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    first = store.create(_workflow("first"))
    store.create(_workflow("never"))
    second = store.create(_workflow("second"))
    store.update_opened_at(first.workflow_id)
    time.sleep(0.01)
    store.update_opened_at(second.workflow_id)
    asc = _names(store, order_by=WorkflowRecordOrderBy.OpenedAt)
    desc = _names(store, order_by=WorkflowRecordOrderBy.OpenedAt, direction=SQLiteDirection.Descending)
    assert asc == ["never", "first", "second"]
    assert desc == ["second", "first", "never"]


def test_counts_and_tags(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    store.create(_workflow("one", tags="alpha, beta"), user_id="u1")
    store.create(_workflow("two", tags="beta"), user_id="u2", is_public=True)
    store.create(_workflow("three"), user_id="u2")

    assert store.counts_by_category([USER]) == {"user": 3}
    assert store.counts_by_category([USER, DEFAULT]) == {"user": 3, "default": N_DEFAULTS}
    assert store.counts_by_category([USER], user_id="u2") == {"user": 2}
    assert store.counts_by_category([USER], is_public=True) == {"user": 1}
    assert store.counts_by_tag(["alpha", "beta", "gamma"], categories=[USER]) == {"alpha": 1, "beta": 2, "gamma": 0}
    assert store.counts_by_tag(["beta"], categories=[USER], user_id="u1") == {"beta": 1}
    assert store.counts_by_tag([]) == {}
    assert store.get_all_tags(categories=[USER]) == ["alpha", "beta"]
    assert store.get_all_tags(categories=[USER], is_public=True) == ["beta"]
    default_tags = store.get_all_tags(categories=[DEFAULT])
    assert default_tags and "alpha" not in default_tags


def test_update_delete_and_is_public(store: SqlWorkflowRecordsStorage, tenant: str) -> None:
    created = store.create(_workflow("Draft", tags="wip"), user_id="u1")
    changed = Workflow(**{**created.workflow.model_dump(), "name": "Final"})

    assert store.update(changed, user_id="someone-else").workflow.name == "Draft"  # scoped to the owner
    updated = store.update(changed, user_id="u1")
    assert updated.name == "Final" and updated.workflow.name == "Final"
    assert _names(store, query="final") == ["Final"]
    with pytest.raises(ValueError):
        store.update(Workflow(**{**changed.model_dump(), "meta": {"version": "3.0.0", "category": "default"}}))

    shared = store.update_is_public(created.workflow_id, True, user_id="u1")
    assert shared.is_public is True and shared.workflow.tags == "wip, shared"
    unshared = store.update_is_public(created.workflow_id, False)
    assert unshared.is_public is False and unshared.workflow.tags == "wip"

    store.delete(created.workflow_id, user_id="someone-else")
    assert store.get(created.workflow_id)
    store.delete(created.workflow_id, user_id="u1")
    with pytest.raises(WorkflowNotFoundError):
        store.get(created.workflow_id)
    with pytest.raises(WorkflowNotFoundError):
        store.delete(created.workflow_id)


def test_default_workflows_are_readable_by_every_tenant_but_not_writable(
    store: SqlWorkflowRecordsStorage, tenant: str, other_tenant: str, database: Database
) -> None:
    for scope in (tenant, other_tenant):
        with as_tenant(scope):
            defaults = store.get_many(WorkflowRecordOrderBy.Name, SQLiteDirection.Ascending, [DEFAULT])
            assert defaults.total == N_DEFAULTS > 0
    default = store.get(defaults.items[0].workflow_id)
    assert default.workflow.meta.category is DEFAULT and default.user_id == "system"

    with pytest.raises(ValueError):
        store.delete(default.workflow_id)
    with pytest.raises(ValueError):
        store.update(default.workflow)
    disguised = Workflow(**{**default.workflow.model_dump(), "name": "Hijacked", "meta": {"version": "3.0.0", "category": "user"}})
    assert store.update(disguised).name == default.name
    assert store.update_is_public(default.workflow_id, True).is_public is False
    store.update_opened_at(default.workflow_id)
    assert store.get(default.workflow_id).opened_at is None

    # Postgres RLS is the second wall: a raw write on a platform row affects nothing.
    if database.is_postgres:
        with database.begin() as conn:
            raw = sa.update(workflow_library).where(workflow_library.c.workflow_id == default.workflow_id)
            assert conn.execute(raw.values(name="Hijacked")).rowcount == 0
    assert store.get(default.workflow_id).name == default.name


def test_sync_repairs_changed_and_removes_obsolete_defaults(store: SqlWorkflowRecordsStorage, database: Database) -> None:
    fake_id = "default_obsolete-test"
    with system_scope():
        some_default = store.get_many(WorkflowRecordOrderBy.Name, SQLiteDirection.Ascending, [DEFAULT], per_page=1).items[0]
        original = store.get(some_default.workflow_id).workflow
        with database.begin() as conn:
            tampered = original.model_copy(update={"name": "Tampered"})
            conn.execute(
                sa.update(workflow_library)
                .where(workflow_library.c.workflow_id == original.id)
                .values(workflow=tampered.model_dump_json(), name="Tampered")
            )
            obsolete = original.model_copy(update={"id": fake_id})
            row = conn.execute(sa.select(workflow_library).where(workflow_library.c.workflow_id == original.id)).one()._asdict()
            conn.execute(sa.insert(workflow_library).values({**row, "workflow_id": fake_id, "workflow": obsolete.model_dump_json()}))

    store.sync_default_workflows()
    with system_scope():
        assert store.get(original.id).workflow == original
        with pytest.raises(WorkflowNotFoundError):
            store.get(fake_id)
        assert store.counts_by_category([DEFAULT]) == {"default": N_DEFAULTS}


def test_other_tenant_cannot_see_or_touch_rows(store: SqlWorkflowRecordsStorage, tenant: str, other_tenant: str) -> None:
    created = store.create(_workflow("Secret", tags="private-tag"), user_id="u1", is_public=True)
    with as_tenant(other_tenant):
        with pytest.raises(WorkflowNotFoundError):
            store.get(created.workflow_id)
        assert _names(store) == []
        assert _names(store, is_public=True) == []
        assert store.counts_by_category([USER]) == {"user": 0}
        assert store.counts_by_tag(["private-tag"]) == {"private-tag": 0}
        assert "private-tag" not in store.get_all_tags()
        hijack = Workflow(**{**created.workflow.model_dump(), "name": "Hijacked"})
        with pytest.raises(WorkflowNotFoundError):
            store.update(hijack)
        with pytest.raises(WorkflowNotFoundError):
            store.update_is_public(created.workflow_id, False)
        with pytest.raises(WorkflowNotFoundError):
            store.delete(created.workflow_id)
        store.update_opened_at(created.workflow_id)
        # The other tenant's own rows are independent.
        store.create(_workflow("Theirs"))
        assert _names(store) == ["Theirs"]
    after = store.get(created.workflow_id)
    assert (after.name, after.is_public, after.opened_at) == ("Secret", True, None)
    assert _names(store) == ["Secret"]
