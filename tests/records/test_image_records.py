"""SqlImageRecordStorage: the stock contract on SQLite and Postgres, plus tenant isolation."""

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from invokeai.app.services.image_records.image_records_common import (
    ImageCategory,
    ImageRecordChanges,
    ImageRecordNotFoundException,
    ImageRecordSaveException,
    ResourceOrigin,
)
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai_saas.db import Database
from invokeai_saas.db.tables.media import images
from invokeai_saas.records.board_image_records_sql import SqlBoardImageRecordStorage
from invokeai_saas.records.board_records_sql import SqlBoardRecordStorage
from invokeai_saas.records.image_records_sql import SqlImageRecordStorage
from tenant_middleware.context import as_tenant

DAY = datetime(2024, 3, 18, 9, 0, 0)


@pytest.fixture
def store(database: Database) -> SqlImageRecordStorage:
    return SqlImageRecordStorage(database)


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}.png"


def _save(
    store: SqlImageRecordStorage,
    label: str,
    *,
    at: datetime | None = None,
    category: ImageCategory = ImageCategory.GENERAL,
    user_id: str = "alice",
    starred: bool = False,
    intermediate: bool = False,
    metadata: str | None = None,
) -> str:
    name = _name(label)
    store.save(
        image_name=name,
        image_origin=ResourceOrigin.INTERNAL,
        image_category=category,
        width=64,
        height=32,
        has_workflow=False,
        is_intermediate=intermediate,
        starred=starred,
        metadata=metadata,
        user_id=user_id,
    )
    if at is not None:
        with store._db.begin() as conn:
            conn.execute(sa.update(images).where(images.c.image_name == name).values(created_at=at))
    return name


def _gallery(store: SqlImageRecordStorage, n: int) -> list[str]:
    """n general images, one minute apart, oldest first."""
    return [_save(store, f"g{i}", at=DAY + timedelta(minutes=i)) for i in range(n)]


def test_save_and_read_back(store: SqlImageRecordStorage, tenant: str) -> None:
    name = _name("one")
    created = store.save(
        image_name=name,
        image_origin=ResourceOrigin.EXTERNAL,
        image_category=ImageCategory.USER,
        width=640,
        height=480,
        has_workflow=True,
        session_id="s1",
        node_id="n1",
        metadata='{"positive_prompt": "a cat"}',
        user_id="alice",
        image_subfolder="2024/03",
    )
    assert isinstance(created, datetime)
    record = store.get(name)
    assert (record.image_origin, record.image_category, record.width, record.height) == (
        ResourceOrigin.EXTERNAL,
        ImageCategory.USER,
        640,
        480,
    )
    assert record.has_workflow and not record.starred and not record.is_intermediate
    assert (record.session_id, record.node_id, record.image_subfolder) == ("s1", "n1", "2024/03")
    assert record.created_at == created
    assert store.exists(name) and store.get_user_id(name) == "alice"
    metadata = store.get_metadata(name)
    assert metadata is not None and metadata.root == {"positive_prompt": "a cat"}
    # Stock is INSERT OR IGNORE: a second save keeps the first row and reports its creation time.
    again = store.save(name, ResourceOrigin.INTERNAL, ImageCategory.GENERAL, 1, 1, False, user_id="bob")
    assert again == created and store.get(name).width == 640 and store.get_user_id(name) == "alice"


def test_missing_image(store: SqlImageRecordStorage, tenant: str) -> None:
    with pytest.raises(ImageRecordNotFoundException):
        store.get("nope.png")
    with pytest.raises(ImageRecordNotFoundException):
        store.get_metadata("nope.png")
    assert not store.exists("nope.png") and store.get_user_id("nope.png") is None
    assert store.get_metadata(_save(store, "nometa")) is None


def test_update(store: SqlImageRecordStorage, tenant: str) -> None:
    name = _save(store, "u")
    before = store.get(name)
    store.update(name, ImageRecordChanges(image_category=ImageCategory.MASK, session_id="s9", is_intermediate=True, starred=True))
    after = store.get(name)
    assert (after.image_category, after.session_id, after.is_intermediate, after.starred) == (ImageCategory.MASK, "s9", True, True)
    assert after.updated_at >= before.updated_at
    store.update("nope.png", ImageRecordChanges(starred=True))  # stock: silently nothing


def test_get_many_orders_starred_first_and_paginates(store: SqlImageRecordStorage, tenant: str) -> None:
    names = _gallery(store, 7)
    store.update(names[1], ImageRecordChanges(starred=True))
    page1 = store.get_many(offset=0, limit=3, is_intermediate=False)
    page2 = store.get_many(offset=3, limit=3, is_intermediate=False)
    page3 = store.get_many(offset=6, limit=3, is_intermediate=False)
    listed = [r.image_name for p in (page1, page2, page3) for r in p.items]
    assert listed == [names[1], names[6], names[5], names[4], names[3], names[2], names[0]]
    assert (page1.total, page1.limit, page2.offset, len(page3.items)) == (7, 3, 3, 1)
    unstarred = store.get_many(limit=10, starred_first=False, order_dir=SQLiteDirection.Ascending)
    assert [r.image_name for r in unstarred.items] == names


def test_get_many_ties_on_created_at_never_overlap(store: SqlImageRecordStorage, tenant: str) -> None:
    names = {_save(store, f"t{i}", at=DAY) for i in range(5)}
    pages = [store.get_many(offset=o, limit=2).items for o in (0, 2, 4)]
    assert {r.image_name for p in pages for r in p} == names


def test_get_many_filters(store: SqlImageRecordStorage, tenant: str, database: Database) -> None:
    boards = SqlBoardRecordStorage(database)
    board_images = SqlBoardImageRecordStorage(database)
    board = boards.save("B", "alice").board_id
    loose = _save(store, "loose", metadata='{"prompt": "A Red Fox"}', at=DAY)
    boarded = _save(store, "boarded", at=DAY + timedelta(minutes=1))
    bobs = _save(store, "bobs", user_id="bob", at=DAY + timedelta(minutes=2))
    mask = _save(store, "mask", category=ImageCategory.MASK, at=DAY + timedelta(minutes=3))
    temp = _save(store, "temp", intermediate=True, at=DAY + timedelta(minutes=4))
    board_images.add_image_to_board(board, boarded)
    board_images.add_image_to_board(board, bobs)

    def names(**kw: object) -> list[str]:
        result = store.get_many(limit=50, **kw)  # type: ignore[arg-type]
        assert result.total == len(result.items)
        return [r.image_name for r in result.items]

    general = [ImageCategory.GENERAL]
    assert names(board_id="none", categories=general, is_intermediate=False, user_id="alice") == [loose]
    assert names(board_id="none", user_id="alice") == [temp, mask, loose]
    assert names(board_id="none", user_id="alice", is_admin=True) == [temp, mask, loose]
    assert names(board_id="none", user_id="bob") == []
    assert names(board_id=board, user_id="alice") == [bobs, boarded]  # a board's images: anyone's
    assert names(board_id=board, categories=general, is_intermediate=False) == [bobs, boarded]
    assert names(user_id="bob") == [bobs]
    assert names(categories=[ImageCategory.MASK, ImageCategory.USER]) == [mask]
    assert names(is_intermediate=True) == [temp]
    assert names(image_origin=ResourceOrigin.EXTERNAL) == []
    assert names(search_term="RED fox") == [loose]
    assert names(search_term="2024-03-18 09:02") == [bobs]
    assert names(board_id="none", categories=[]) == []


def test_get_image_names(store: SqlImageRecordStorage, tenant: str) -> None:
    names = _gallery(store, 4)
    store.update(names[0], ImageRecordChanges(starred=True))
    result = store.get_image_names(is_intermediate=False)
    assert result.image_names == [names[0], names[3], names[2], names[1]]
    assert (result.starred_count, result.total_count) == (1, 4)
    plain = store.get_image_names(starred_first=False, order_dir=SQLiteDirection.Ascending)
    assert (plain.image_names, plain.starred_count) == (names, 0)
    assert store.get_image_names(user_id="bob").image_names == []
    assert store.get_image_names(user_id="bob", is_admin=True).total_count == 4


def test_dates(store: SqlImageRecordStorage, tenant: str) -> None:
    a = _save(store, "a", at=DAY)
    b = _save(store, "b", at=DAY + timedelta(hours=2), category=ImageCategory.CONTROL, starred=True)
    c = _save(store, "c", at=DAY + timedelta(days=1), user_id="bob")
    _save(store, "t", at=DAY + timedelta(days=1, hours=1), intermediate=True)
    dates = store.get_image_dates(user_id="alice")
    assert [(d.date, d.image_count, d.asset_count, d.cover_image_name) for d in dates] == [("2024-03-18", 1, 1, b)]
    assert dates[0].virtual_board_id == "by_date:2024-03-18" and dates[0].board_name == "2024-03-18"
    all_dates = store.get_image_dates(user_id="alice", is_admin=True)
    assert [(d.date, d.image_count, d.cover_image_name) for d in all_dates] == [("2024-03-19", 1, c), ("2024-03-18", 1, b)]

    by_day = store.get_image_names_by_date("2024-03-18")
    assert (by_day.image_names, by_day.starred_count, by_day.total_count) == ([b, a], 1, 2)
    assert store.get_image_names_by_date("2024-03-18", categories=[ImageCategory.GENERAL]).image_names == [a]
    assert store.get_image_names_by_date("2024-03-19", user_id="alice").image_names == []
    assert store.get_image_names_by_date("2024-03-19", user_id="alice", is_admin=True).image_names == [c]
    assert store.get_image_names_by_date("not-a-date").image_names == []


def test_intermediates(store: SqlImageRecordStorage, tenant: str) -> None:
    t1 = _save(store, "t1", intermediate=True)
    t2 = _save(store, "t2", intermediate=True, user_id="bob")
    kept = _save(store, "kept")
    assert store.get_intermediates_count() == 2 and store.get_intermediates_count(user_id="bob") == 1
    assert sorted(store.get_intermediates()) == sorted([(t1, ""), (t2, "")])
    store.update(t2, ImageRecordChanges(is_intermediate=False))  # promoted before the purge
    assert store.delete_intermediates_by_names([t1, t2, kept, "gone.png"]) == [t1]
    assert not store.exists(t1) and store.exists(t2) and store.exists(kept)


def test_delete(store: SqlImageRecordStorage, tenant: str) -> None:
    names = [_save(store, f"d{i}") for i in range(3)]
    store.delete(names[0])
    store.delete_many(names[1:] + ["gone.png"])
    assert not any(store.exists(n) for n in names)
    store.delete("gone.png")


def test_most_recent_image_for_board(store: SqlImageRecordStorage, tenant: str, database: Database) -> None:
    board = SqlBoardRecordStorage(database).save("B", "alice").board_id
    links = SqlBoardImageRecordStorage(database)
    assert store.get_most_recent_image_for_board(board) is None
    old, new = _save(store, "old", at=DAY), _save(store, "new", at=DAY + timedelta(hours=1))
    temp = _save(store, "temp", intermediate=True, at=DAY + timedelta(hours=2))
    for name in (old, new, temp):
        links.add_image_to_board(board, name)
    cover = store.get_most_recent_image_for_board(board)
    assert cover is not None and cover.image_name == new
    store.update(old, ImageRecordChanges(starred=True))
    cover = store.get_most_recent_image_for_board(board)
    assert cover is not None and cover.image_name == old


def test_page_with_boards_gives_each_images_board(store: SqlImageRecordStorage, tenant: str, database: Database) -> None:
    board = SqlBoardRecordStorage(database).save("B", "alice").board_id
    on_board, loose = _save(store, "on", at=DAY), _save(store, "loose", at=DAY + timedelta(minutes=1))
    SqlBoardImageRecordStorage(database).add_image_to_board(board, on_board)
    page, boards = store.get_page_with_boards(0, 10, True, SQLiteDirection.Descending, None, None, False, None, None, "alice", False)
    assert [r.image_name for r in page.items] == [loose, on_board] and page.total == 2
    assert boards == {on_board: board}
    loose_page, loose_boards = store.get_page_with_boards(0, 10, True, SQLiteDirection.Descending, None, None, False, "none", None, "alice", False)
    assert [r.image_name for r in loose_page.items] == [loose] and loose_boards == {}


def test_page_past_the_end_still_reports_the_total(store: SqlImageRecordStorage, tenant: str) -> None:
    _gallery(store, 3)
    page = store.get_many(offset=10, limit=5, user_id="alice")
    assert page.items == [] and page.total == 3
    assert store.get_many(offset=0, limit=5, user_id="nobody").total == 0


def test_other_tenant_sees_nothing(store: SqlImageRecordStorage, tenant: str, other_tenant: str, database: Database) -> None:
    board = SqlBoardRecordStorage(database).save("B", "alice").board_id
    mine = _save(store, "mine", metadata='{"a": 1}', starred=True, at=DAY)
    temp = _save(store, "temp", intermediate=True)
    SqlBoardImageRecordStorage(database).add_image_to_board(board, mine)

    with as_tenant(other_tenant):
        with pytest.raises(ImageRecordNotFoundException):
            store.get(mine)
        with pytest.raises(ImageRecordNotFoundException):
            store.get_metadata(mine)
        assert not store.exists(mine) and store.get_user_id(mine) is None
        assert store.get_many(limit=50).total == 0
        assert store.get_many(board_id=board).items == []
        assert store.get_image_names(is_admin=True).total_count == 0
        assert store.get_image_dates(is_admin=True) == []
        assert store.get_image_names_by_date("2024-03-18", is_admin=True).total_count == 0
        assert store.get_intermediates_count() == 0 and store.get_intermediates() == []
        assert store.get_most_recent_image_for_board(board) is None
        store.update(mine, ImageRecordChanges(starred=False, image_category=ImageCategory.MASK))
        assert store.delete_intermediates_by_names([temp]) == []
        store.delete(mine)
        store.delete_many([mine, temp])
        with pytest.raises(ImageRecordSaveException):  # the name is taken, by a row it may not touch
            store.save(mine, ResourceOrigin.INTERNAL, ImageCategory.GENERAL, 1, 1, False, user_id="mallory")

    record = store.get(mine)
    assert record.starred and record.image_category == ImageCategory.GENERAL and record.width == 64
    assert store.get_user_id(mine) == "alice" and store.exists(temp)
    assert store.get_many(limit=50).total == 2
