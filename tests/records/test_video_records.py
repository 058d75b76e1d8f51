"""SqlVideoRecordStorage and SqlBoardVideoRecordStorage: the stock contract plus tenant isolation."""

import json
import uuid
from datetime import datetime, timedelta

import pytest
from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException
from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.video_records.video_records_common import (
    VideoRecordChanges,
    VideoRecordNotFoundException,
    VideoRecordSaveException,
)

from invokeai_saas.db import Database
from invokeai_saas.records.board_video_records_sql import SqlBoardVideoRecordStorage
from invokeai_saas.records.video_records_sql import SqlVideoRecordStorage
from tenant_middleware.context import as_tenant
from tests.records.media_rows import add_board, set_video_created_at, video_row

T0 = datetime(2025, 3, 1, 12, 0, 0)


@pytest.fixture
def records(database: Database) -> SqlVideoRecordStorage:
    return SqlVideoRecordStorage(database)


@pytest.fixture
def board_videos(database: Database) -> SqlBoardVideoRecordStorage:
    return SqlBoardVideoRecordStorage(database)


def save(
    records: SqlVideoRecordStorage,
    minutes: int = 0,
    *,
    category: ImageCategory = ImageCategory.GENERAL,
    origin: ResourceOrigin = ResourceOrigin.INTERNAL,
    starred: bool = False,
    is_intermediate: bool = False,
    user_id: str | None = None,
    metadata: str | None = None,
) -> str:
    """Saves a video and pins its created_at to T0 + minutes, so ordering is deterministic."""
    name = f"{uuid.uuid4()}.mp4"
    records.save(
        video_name=name, video_origin=origin, video_category=category, width=320, height=240, duration=2.5,
        fps=24.0, has_workflow=False, is_intermediate=is_intermediate, starred=starred, session_id="s1",
        node_id="n1", metadata=metadata, user_id=user_id,
    )
    set_video_created_at(records._db, name, T0 + timedelta(minutes=minutes))
    return name


# --- single records -------------------------------------------------------------------------------


def test_save_and_get_round_trip(records: SqlVideoRecordStorage, tenant: str) -> None:
    name = f"{uuid.uuid4()}.mp4"
    created = records.save(
        video_name=name, video_origin=ResourceOrigin.EXTERNAL, video_category=ImageCategory.USER, width=640,
        height=360, duration=3, fps=None, has_workflow=True, session_id="sess", node_id="node",
        metadata=json.dumps({"prompt": "a cat"}), user_id="u1", video_subfolder="2025/03",
    )
    assert isinstance(created, datetime)
    record = records.get(name)
    assert record.video_name == name
    assert record.video_origin == ResourceOrigin.EXTERNAL
    assert record.video_category == ImageCategory.USER
    assert (record.width, record.height, record.duration, record.fps) == (640, 360, 3.0, None)
    assert record.has_workflow is True and record.starred is False and record.is_intermediate is False
    assert (record.session_id, record.node_id, record.video_subfolder) == ("sess", "node", "2025/03")
    assert record.created_at == created
    assert records.exists(name)
    assert records.get_user_id(name) == "u1"
    metadata = records.get_metadata(name)
    assert metadata is not None and metadata.root == {"prompt": "a cat"}
    assert video_row(records._db, name)["tenant_id"] == tenant  # type: ignore[index]


def test_save_defaults_user_and_ignores_duplicate_name(records: SqlVideoRecordStorage, tenant: str) -> None:
    name = save(records)
    assert records.get_user_id(name) == "system"
    assert records.get_metadata(name) is None
    again = records.save(
        video_name=name, video_origin=ResourceOrigin.INTERNAL, video_category=ImageCategory.USER, width=1,
        height=1, duration=1, fps=1, has_workflow=False,
    )
    assert again == T0  # INSERT OR IGNORE: the first row stands
    assert records.get(name).video_category == ImageCategory.GENERAL


def test_missing_video(records: SqlVideoRecordStorage, tenant: str) -> None:
    with pytest.raises(VideoRecordNotFoundException):
        records.get("nope.mp4")
    with pytest.raises(VideoRecordNotFoundException):
        records.get_metadata("nope.mp4")
    assert records.exists("nope.mp4") is False
    assert records.get_user_id("nope.mp4") is None
    records.update("nope.mp4", VideoRecordChanges(starred=True))  # no-op, as stock
    records.delete("nope.mp4")


def test_update_changes_fields_and_bumps_updated_at(records: SqlVideoRecordStorage, tenant: str) -> None:
    name = save(records)
    before = records.get(name)
    records.update(
        name,
        VideoRecordChanges(video_category=ImageCategory.MASK, session_id="s2", is_intermediate=True, starred=True),
    )
    after = records.get(name)
    assert (after.video_category, after.session_id, after.is_intermediate, after.starred) == (
        ImageCategory.MASK, "s2", True, True,
    )
    assert after.updated_at >= before.updated_at  # type: ignore[operator]
    records.update(name, VideoRecordChanges(starred=False))
    assert records.get(name).starred is False


def test_delete_and_delete_many(
    records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str
) -> None:
    a, b, c = save(records), save(records), save(records)
    board = add_board(records._db)
    board_videos.add_video_to_board(board, a)
    records.delete(a)
    assert not records.exists(a)
    assert board_videos.get_board_for_video(a) is None  # membership cascades
    records.delete_many([b, c])
    assert not records.exists(b) and not records.exists(c)
    records.delete_many([])


# --- lists ----------------------------------------------------------------------------------------


def test_get_many_orders_starred_first_and_paginates(records: SqlVideoRecordStorage, tenant: str) -> None:
    old, mid, new = save(records, 1), save(records, 2), save(records, 3)
    starred = save(records, 0, starred=True)
    page = records.get_many(offset=0, limit=3)
    assert [r.video_name for r in page.items] == [starred, new, mid]
    assert (page.total, page.offset, page.limit) == (4, 0, 3)
    assert [r.video_name for r in records.get_many(offset=3, limit=3).items] == [old]
    plain = records.get_many(limit=10, starred_first=False)
    assert [r.video_name for r in plain.items] == [new, mid, old, starred]
    asc = records.get_many(limit=10, starred_first=False, order_dir=SQLiteDirection.Ascending)
    assert [r.video_name for r in asc.items] == [starred, old, mid, new]


def test_same_timestamp_breaks_ties_by_name(records: SqlVideoRecordStorage, tenant: str) -> None:
    names = [save(records, 5) for _ in range(3)]
    got = [r.video_name for r in records.get_many(limit=10).items]
    assert got == sorted(names, reverse=True)
    assert records.get_video_names(order_dir=SQLiteDirection.Ascending).video_names == sorted(names)


def test_get_many_filters(records: SqlVideoRecordStorage, tenant: str) -> None:
    general = save(records, 1, user_id="alice", metadata=json.dumps({"prompt": "A Purple Fox"}))
    mask = save(records, 2, category=ImageCategory.MASK, user_id="alice")
    external = save(records, 3, origin=ResourceOrigin.EXTERNAL, user_id="bob")
    temp = save(records, 4, is_intermediate=True, user_id="bob")

    def names(**kwargs: object) -> set[str]:
        return {r.video_name for r in records.get_many(limit=100, **kwargs).items}  # type: ignore[arg-type]

    assert names() == {general, mask, external, temp}
    assert names(categories=[ImageCategory.MASK, ImageCategory.USER]) == {mask}
    assert names(video_origin=ResourceOrigin.EXTERNAL) == {external}
    assert names(is_intermediate=False) == {general, mask, external}
    assert names(is_intermediate=True) == {temp}
    assert names(user_id="alice") == {general, mask}
    assert names(user_id="alice", is_admin=True) == {general, mask, external, temp}
    assert names(search_term="purple fox") == {general}  # case-insensitive, as SQLite's LIKE
    assert names(search_term="2025-03-01 12:03") == {external}  # matches the created_at text
    assert records.get_many(limit=1, user_id="bob").total == 2


def test_board_filters(records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str) -> None:
    board = add_board(records._db)
    on_board = save(records, 1, user_id="alice")
    theirs_on_board = save(records, 2, user_id="bob")
    loose_mine, loose_theirs = save(records, 3, user_id="alice"), save(records, 4, user_id="bob")
    board_videos.add_video_to_board(board, on_board)
    board_videos.add_video_to_board(board, theirs_on_board)

    on = records.get_many(limit=10, board_id=board, user_id="alice")
    assert {r.video_name for r in on.items} == {on_board, theirs_on_board} and on.total == 2
    none = records.get_many(limit=10, board_id="none", user_id="alice")
    assert [r.video_name for r in none.items] == [loose_mine] and none.total == 1
    admin_none = records.get_video_names(board_id="none", user_id="alice", is_admin=True)
    assert admin_none.video_names == [loose_theirs, loose_mine]


def test_get_video_names(records: SqlVideoRecordStorage, tenant: str) -> None:
    a, b = save(records, 1), save(records, 2)
    s1, s2 = save(records, 0, starred=True), save(records, 3, starred=True)
    result = records.get_video_names()
    assert result.video_names == [s2, s1, b, a]
    assert (result.starred_count, result.total_count) == (2, 4)
    unstarred = records.get_video_names(starred_first=False, order_dir=SQLiteDirection.Ascending)
    assert unstarred.video_names == [s1, a, b, s2] and unstarred.starred_count == 0
    assert records.get_video_names(categories=[ImageCategory.USER]).total_count == 0


def test_most_recent_video_for_board(
    records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str
) -> None:
    board = add_board(records._db)
    assert records.get_most_recent_video_for_board(board) is None
    old, new, temp = save(records, 1), save(records, 2), save(records, 9, is_intermediate=True)
    for name in (old, new, temp):
        board_videos.add_video_to_board(board, name)
    save(records, 10)  # newer, but not on the board
    assert records.get_most_recent_video_for_board(board).video_name == new  # type: ignore[union-attr]
    records.update(old, VideoRecordChanges(starred=True))
    assert records.get_most_recent_video_for_board(board).video_name == old  # type: ignore[union-attr]


# --- board membership -----------------------------------------------------------------------------


def test_board_membership(records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str) -> None:
    first, second = add_board(records._db), add_board(records._db)
    general = save(records, 1, user_id="alice")
    mask = save(records, 2, category=ImageCategory.MASK, user_id="bob")
    temp = save(records, 3, is_intermediate=True, user_id="alice")
    loose = save(records, 4)
    for name in (general, mask, temp):
        board_videos.add_video_to_board(first, name)

    assert board_videos.get_board_for_video(general) == first
    assert board_videos.get_board_for_video(loose) is None
    assert board_videos.get_video_count_for_board(first) == 2  # intermediates don't count
    assert set(board_videos.get_all_board_video_names_for_board(first, None, None)) == {general, mask, temp}
    assert board_videos.get_all_board_video_names_for_board(first, [ImageCategory.MASK], None) == [mask]
    assert set(board_videos.get_all_board_video_names_for_board(first, None, False)) == {general, mask}
    assert set(board_videos.get_all_board_video_names_for_board(first, None, None, user_id="alice")) == {general, temp}
    assert board_videos.get_all_board_video_names_for_board("none", None, None) == [loose]

    board_videos.add_video_to_board(second, general)  # moves it: one board per video
    assert board_videos.get_board_for_video(general) == second
    assert board_videos.get_video_count_for_board(first) == 1
    board_videos.remove_video_from_board(general)
    assert board_videos.get_board_for_video(general) is None
    assert board_videos.get_video_count_for_board(second) == 0


def test_add_to_missing_board_or_video(
    records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str
) -> None:
    board, video = add_board(records._db), save(records)
    with pytest.raises(BoardRecordNotFoundException):
        board_videos.add_video_to_board("no-such-board", video)
    with pytest.raises(VideoRecordNotFoundException):
        board_videos.add_video_to_board(board, "no-such-video.mp4")
    assert board_videos.get_board_for_video(video) is None


# --- tenant isolation -----------------------------------------------------------------------------


def test_other_tenant_cannot_see_or_touch_videos(
    records: SqlVideoRecordStorage, board_videos: SqlBoardVideoRecordStorage, tenant: str, other_tenant: str
) -> None:
    board = add_board(records._db)
    video = save(records, 1, metadata=json.dumps({"prompt": "secret"}))
    board_videos.add_video_to_board(board, video)

    with as_tenant(other_tenant):
        with pytest.raises(VideoRecordNotFoundException):
            records.get(video)
        with pytest.raises(VideoRecordNotFoundException):
            records.get_metadata(video)
        assert records.exists(video) is False
        assert records.get_user_id(video) is None
        listed = records.get_many(limit=100, is_admin=True)
        assert listed.items == [] and listed.total == 0
        assert records.get_many(limit=100, board_id=board, is_admin=True).total == 0
        assert records.get_video_names(is_admin=True).total_count == 0
        assert records.get_most_recent_video_for_board(board) is None
        assert board_videos.get_board_for_video(video) is None
        assert board_videos.get_video_count_for_board(board) == 0
        assert board_videos.get_all_board_video_names_for_board(board, None, None) == []
        records.update(video, VideoRecordChanges(starred=True, video_category=ImageCategory.MASK))
        board_videos.remove_video_from_board(video)
        records.delete(video)
        records.delete_many([video])
        # their own board can't take our video, and our board can't take their video
        their_board = add_board(records._db)
        with pytest.raises(VideoRecordNotFoundException):
            board_videos.add_video_to_board(their_board, video)
        their_video = save(records, 2)
        with pytest.raises(BoardRecordNotFoundException):
            board_videos.add_video_to_board(board, their_video)
        # a save under our video's name neither succeeds nor overwrites it
        with pytest.raises(VideoRecordSaveException):
            records.save(
                video_name=video, video_origin=ResourceOrigin.EXTERNAL, video_category=ImageCategory.USER,
                width=1, height=1, duration=1, fps=None, has_workflow=False,
            )

    record = records.get(video)
    assert (record.starred, record.video_category, record.video_origin) == (
        False, ImageCategory.GENERAL, ResourceOrigin.INTERNAL,
    )
    assert board_videos.get_board_for_video(video) == board
    assert board_videos.get_video_count_for_board(board) == 1
    assert records.get_many(limit=100).total == 1  # their video isn't ours either
    assert not records.exists(their_video)
