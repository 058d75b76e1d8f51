"""SqlGalleryService: the images + videos stream, name lists, date boards, board summaries, isolation."""

import json
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from invokeai.app.services.gallery.gallery_common import BoardMediaSummary, GalleryItemKind
from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.urls.urls_default import LocalUrlService

from invokeai_saas.db import Database
from invokeai_saas.records.board_video_records_sql import SqlBoardVideoRecordStorage
from invokeai_saas.records.gallery_sql import SqlGalleryService
from invokeai_saas.records.video_records_sql import SqlVideoRecordStorage
from tenant_middleware.context import as_tenant
from tests.records.media_rows import add_board, add_image, set_video_created_at

T0 = datetime(2025, 3, 1, 12, 0, 0)


class Media:
    """Creates this test's images and videos at T0 + minutes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.videos = SqlVideoRecordStorage(db)
        self.board_videos = SqlBoardVideoRecordStorage(db)

    def image(self, minutes: float, **kwargs: object) -> str:
        return add_image(self.db, T0 + timedelta(minutes=minutes), **kwargs)  # type: ignore[arg-type]

    def video(
        self,
        minutes: float,
        *,
        board_id: str | None = None,
        starred: bool = False,
        category: ImageCategory = ImageCategory.GENERAL,
        origin: ResourceOrigin = ResourceOrigin.INTERNAL,
        is_intermediate: bool = False,
        user_id: str | None = None,
        metadata: str | None = None,
    ) -> str:
        name = f"{uuid.uuid4()}.mp4"
        self.videos.save(
            video_name=name, video_origin=origin, video_category=category, width=320, height=240, duration=2.5,
            fps=24.0, has_workflow=False, is_intermediate=is_intermediate, starred=starred, metadata=metadata,
            user_id=user_id,
        )
        set_video_created_at(self.db, name, T0 + timedelta(minutes=minutes))
        if board_id is not None:
            self.board_videos.add_video_to_board(board_id, name)
        return name

    def board(self) -> str:
        return add_board(self.db)


@pytest.fixture
def gallery(database: Database) -> SqlGalleryService:
    service = SqlGalleryService(database)
    # start() reads only invoker.services.urls
    service.start(SimpleNamespace(services=SimpleNamespace(urls=LocalUrlService())))  # type: ignore[arg-type]
    return service


@pytest.fixture
def media(database: Database) -> Media:
    return Media(database)


def test_list_items_interleaves_images_and_videos(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    board = media.board()
    i1 = media.image(1, board_id=board, width=100, height=50)
    v2 = media.video(2)
    i3 = media.image(3)
    v4 = media.video(4, board_id=board)

    page = gallery.list_items(limit=10)
    assert [(item.kind, item.name) for item in page.items] == [
        (GalleryItemKind.VIDEO, v4), (GalleryItemKind.IMAGE, i3), (GalleryItemKind.VIDEO, v2), (GalleryItemKind.IMAGE, i1),
    ]
    assert page.total == 4
    video, image = page.items[0], page.items[3]
    assert video.full_url == f"api/v1/videos/i/{v4}/full"
    assert video.thumbnail_url == f"api/v1/videos/i/{v4}/thumbnail"
    assert (video.duration, video.fps, video.width, video.height, video.board_id) == (2.5, 24.0, 320, 240, board)
    assert image.full_url == f"api/v1/images/i/{i1}/full"
    assert image.thumbnail_url == f"api/v1/images/i/{i1}/thumbnail"
    assert (image.duration, image.fps, image.width, image.height, image.board_id) == (None, None, 100, 50, board)
    assert image.category == ImageCategory.GENERAL and image.starred is False and image.is_intermediate is False
    assert image.created_at == T0 + timedelta(minutes=1)
    assert page.items[1].board_id is None


def test_ordering_starred_first_pagination_and_ties(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    old_image = media.image(1)
    starred_video = media.video(0, starred=True)
    starred_image = media.image(2, starred=True)
    # same timestamp: kind then name break the tie, in the requested direction
    tie_image, tie_video = media.image(5), media.video(5)

    expected = [starred_image, starred_video, tie_video, tie_image, old_image]
    assert [i.name for i in gallery.list_items(limit=10).items] == expected
    first, second = gallery.list_items(offset=0, limit=2), gallery.list_items(offset=2, limit=2)
    third = gallery.list_items(offset=4, limit=2)
    assert [i.name for i in first.items + second.items + third.items] == expected
    assert first.total == second.total == third.total == 5

    plain = gallery.list_items(limit=10, starred_first=False)
    assert [i.name for i in plain.items] == [tie_video, tie_image, starred_image, old_image, starred_video]
    asc = gallery.list_items(limit=10, starred_first=False, order_dir=SQLiteDirection.Ascending)
    assert [i.name for i in asc.items] == [starred_video, old_image, starred_image, tie_image, tie_video]


def test_filters(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    image = media.image(1, user_id="alice", metadata=json.dumps({"prompt": "A Purple Fox"}))
    mask_image = media.image(2, category="mask", user_id="alice")
    external_video = media.video(3, origin=ResourceOrigin.EXTERNAL, user_id="bob", metadata='{"prompt": "purple fox"}')
    temp_video = media.video(4, is_intermediate=True, user_id="alice")

    def names(**kwargs: object) -> set[str]:
        return {i.name for i in gallery.list_items(limit=100, **kwargs).items}  # type: ignore[arg-type]

    assert names() == {image, mask_image, external_video, temp_video}
    assert names(categories=[ImageCategory.MASK]) == {mask_image}
    assert names(origin=ResourceOrigin.EXTERNAL) == {external_video}
    assert names(is_intermediate=True) == {temp_video}
    assert names(is_intermediate=False) == {image, mask_image, external_video}
    assert names(user_id="alice") == {image, mask_image, temp_video}
    assert names(user_id="alice", is_admin=True) == {image, mask_image, external_video, temp_video}
    assert names(search_term="PURPLE fox") == {image, external_video}
    assert names(search_term="2025-03-01 12:02") == {mask_image}
    assert gallery.list_items(limit=1, user_id="alice").total == 3
    assert set(gallery.get_item_names(user_id="bob", categories=[ImageCategory.GENERAL]).item_names) == {
        external_video,
    }


def test_board_filters(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    board, other_board = media.board(), media.board()
    on_image = media.image(1, board_id=board, user_id="bob")
    on_video = media.video(2, board_id=board, user_id="alice")
    media.image(3, board_id=other_board)
    loose_image, loose_video = media.image(4, user_id="alice"), media.video(5, user_id="bob")

    on = gallery.list_items(limit=10, board_id=board, user_id="alice")
    assert [i.name for i in on.items] == [on_video, on_image] and on.total == 2
    assert {i.board_id for i in on.items} == {board}
    assert gallery.get_item_names(board_id=board).item_names == [on_video, on_image]
    none = gallery.list_items(limit=10, board_id="none", user_id="alice")
    assert [i.name for i in none.items] == [loose_image] and none.total == 1
    assert none.items[0].board_id is None
    assert gallery.get_item_names(board_id="none", is_admin=True).item_names == [loose_video, loose_image]


def test_name_lists_match_list_items(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    media.image(1)
    media.video(2, starred=True)
    media.image(3, starred=True)
    media.video(4)
    media.image(4)
    ordered = [i.name for i in gallery.list_items(limit=100).items]

    flat = gallery.get_item_names()
    assert flat.item_names == ordered
    assert (flat.starred_count, flat.total_count) == (2, 5)
    refs = gallery.list_item_names()
    assert [r.name for r in refs.items] == ordered
    assert [r.kind for r in refs.items] == [
        GalleryItemKind.VIDEO if n.endswith(".mp4") else GalleryItemKind.IMAGE for n in ordered
    ]
    assert (refs.starred_count, refs.total_count) == (2, 5)
    assert gallery.get_item_names(starred_first=False).starred_count == 0


def test_created_date_filter(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    today_image, today_video = media.image(1), media.video(2)
    media.image(60 * 24)  # the next day
    assert gallery.get_item_names(created_date="2025-03-01").item_names == [today_video, today_image]
    refs = gallery.list_item_names(created_date="2025-03-02")
    assert refs.total_count == 1 and refs.items[0].kind == GalleryItemKind.IMAGE
    assert gallery.get_item_names(created_date="not-a-date").item_names == []


def test_get_dates(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    day2 = 60 * 24
    media.image(1, user_id="alice")
    media.image(2, category="user", user_id="alice")
    newest_day1 = media.video(3, user_id="bob")
    media.video(4, is_intermediate=True)  # never counted
    media.image(day2 + 1, category="control", user_id="alice")
    newest_day2 = media.image(day2 + 2, user_id="alice")

    dates = gallery.get_dates(is_admin=True)
    assert [d.date for d in dates] == ["2025-03-02", "2025-03-01"]
    day2_board, day1_board = dates
    assert (day1_board.virtual_board_id, day1_board.board_name) == ("by_date:2025-03-01", "2025-03-01")
    assert (day1_board.image_count, day1_board.asset_count, day1_board.video_count) == (1, 1, 1)
    assert (day1_board.cover_video_name, day1_board.cover_image_name) == (newest_day1, None)
    assert (day2_board.image_count, day2_board.asset_count, day2_board.video_count) == (1, 1, 0)
    assert (day2_board.cover_image_name, day2_board.cover_video_name) == (newest_day2, None)

    alices = gallery.get_dates(user_id="alice")
    assert [(d.date, d.image_count, d.asset_count, d.video_count) for d in alices] == [
        ("2025-03-02", 1, 1, 0), ("2025-03-01", 1, 1, 0),
    ]
    assert alices[1].cover_image_name is not None and alices[1].cover_video_name is None


def test_board_media_summaries(gallery: SqlGalleryService, media: Media, tenant: str) -> None:
    board, empty, video_board = media.board(), media.board(), media.board()
    media.image(1, board_id=board)
    media.image(2, board_id=board, category="mask")
    starred_old = media.image(0, board_id=board, starred=True)
    media.video(5, board_id=board)
    media.image(9, board_id=board, is_intermediate=True)  # newest, but intermediate
    cover_video = media.video(1, board_id=video_board)
    media.image(10)  # loose

    summaries = gallery.get_board_media_summaries([board, empty, video_board, "unknown"])
    assert summaries[board] == BoardMediaSummary(
        cover_image_name=starred_old, cover_video_name=None, image_count=2, video_count=1, asset_count=1
    )
    assert summaries[empty] == BoardMediaSummary()
    assert summaries["unknown"] == BoardMediaSummary()
    assert summaries[video_board] == BoardMediaSummary(cover_video_name=cover_video, video_count=1)
    assert gallery.get_board_media_summaries([]) == {}


def test_other_tenant_sees_nothing(
    gallery: SqlGalleryService, media: Media, tenant: str, other_tenant: str
) -> None:
    board = media.board()
    image = media.image(1, board_id=board)
    video = media.video(2, board_id=board)
    media.image(3)

    with as_tenant(other_tenant):
        their_image = media.image(4)
        listed = gallery.list_items(limit=100, is_admin=True)
        assert [i.name for i in listed.items] == [their_image] and listed.total == 1
        assert gallery.list_items(limit=100, board_id=board, is_admin=True).total == 0
        assert gallery.list_items(limit=100, board_id="none", is_admin=True).total == 1
        assert gallery.get_item_names(is_admin=True).item_names == [their_image]
        assert gallery.get_item_names(board_id=board).item_names == []
        assert gallery.list_item_names(created_date="2025-03-01").total_count == 1
        dates = gallery.get_dates(is_admin=True)
        assert [(d.image_count, d.video_count, d.cover_image_name) for d in dates] == [(1, 0, their_image)]
        assert gallery.get_board_media_summaries([board]) == {board: BoardMediaSummary()}

    mine = gallery.list_items(limit=100, is_admin=True)
    assert their_image not in {i.name for i in mine.items} and mine.total == 3
    assert gallery.get_board_media_summaries([board])[board] == BoardMediaSummary(
        cover_video_name=video, image_count=1, video_count=1
    )
    assert image in gallery.get_item_names(board_id=board).item_names
