"""InvokeAI's image and video services, with the workspace's stored bytes counted and its quota kept.

Stock `get_many` looks up each image's board separately (51 queries for a 50-image page), which
costs nothing on an in-process SQLite file but a round trip each on Postgres. Here the page, its
boards and the count are two queries in one transaction.

Once its files are written, a new image's or video's size is admitted against the workspace's quota
(`storage_usage.admit`) in the transaction that keeps it; a refused one (403 storage_quota_exceeded)
is deleted at once, so parallel uploads and generations store at most one object over the quota. An
upload is also refused before anything is written once the workspace is full; a generation is
refused at enqueue, and its image that finds the workspace full fails its node.

A queue item whose attempt was lost (its worker died, or a stopping worker handed it back) starts
over from its graph under the same session id, so the images that attempt wrote are shown by no
result: `discard_lost_attempts` deletes them (records, files, their bytes on the counter). A worker
that lost its claim but still runs (a stalled pod) keeps none of the images it saves afterwards.
"""

import inspect
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Optional

import sqlalchemy as sa

from invokeai.app.services.image_records.image_records_common import (
    ImageCategory,
    ImageRecordNotFoundException,
    ResourceOrigin,
)
from invokeai.app.services.images.images_common import ImageDTO, image_record_to_dto
from invokeai.app.services.images.images_default import ImageService
from invokeai.app.services.videos.videos_common import VideoDTO
from invokeai.app.services.videos.videos_default import VideoService
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection

from invokeai_saas.db import Database
from invokeai_saas.db.tables.media import images, videos
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.core.running_claim import current_claim, fence
from invokeai_saas.records.image_records_sql import SqlImageRecordStorage
from invokeai_saas.money.storage_usage import admit, check_quota
from tenant_middleware.context import current_tenant_id

logger = logging.getLogger("pingvas.media")


class ClaimLost(RuntimeError):
    """A worker saved an output of a queue item it no longer holds: that attempt was lost, the image is not kept."""


class SqlImageService(ImageService):
    def __init__(self, db: Database, image_records: SqlImageRecordStorage) -> None:
        super().__init__()
        self._db = db
        self._image_records = image_records

    @property
    def _services(self):  # type: ignore[no-untyped-def]
        return self._ImageService__invoker.services  # type: ignore[attr-defined]

    def create(self, *args: Any, **kwargs: Any) -> ImageDTO:
        origin = _argument(ImageService.create, self, args, kwargs, "image_origin")
        if origin == ResourceOrigin.EXTERNAL:
            with self._db.begin() as conn:
                check_quota(conn, current_tenant_id())
        dto = super().create(*args, **kwargs)
        files = self._services.image_files
        size = files_size(lambda thumb: files.get_path(dto.image_name, thumb, image_subfolder=dto.image_subfolder))
        try:
            with self._db.begin() as conn:
                _check_claim(conn)
                admit(conn, images, "image_name", dto.image_name, size)
        except Exception:
            self._discard(dto.image_name)
            raise
        return dto

    def _discard(self, image_name: str) -> None:
        """Deletes an image that was written but not kept (records first, files through the delete journal)."""
        try:
            self.delete(image_name)
        except ImageRecordNotFoundException:
            pass  # deleted meanwhile
        except Exception:  # its record stays at 0 bytes: `recount-storage` measures it, a delete removes it
            logger.warning("could not delete image %s that was not kept", image_name, exc_info=True)

    def discard_lost_attempt(self, item_id: int) -> list[str]:
        """Deletes the images queue item `item_id`'s lost attempts wrote (see `lost_attempt_images`); their names."""
        names = self._image_records.lost_attempt_images(item_id)
        for name in names:
            self._discard(name)
        return names

    def get_dto(self, image_name: str) -> ImageDTO:
        with self._db.begin():
            return super().get_dto(image_name)

    def get_many(
        self,
        offset: int = 0,
        limit: int = 10,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        image_origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> OffsetPaginatedResults[ImageDTO]:
        urls = self._services.urls
        page, boards = self._image_records.get_page_with_boards(
            offset, limit, starred_first, order_dir, image_origin, categories, is_intermediate, board_id,
            search_term, user_id, is_admin,
        )
        items = [
            image_record_to_dto(
                image_record=r,
                image_url=urls.get_image_url(r.image_name),
                thumbnail_url=urls.get_image_url(r.image_name, True),
                board_id=boards.get(r.image_name),
            )
            for r in page.items
        ]
        return OffsetPaginatedResults[ImageDTO](items=items, offset=page.offset, limit=page.limit, total=page.total)


class SqlVideoService(VideoService):
    """Stock's video service, with uploads refused over quota and each video's size counted."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def create(self, *args: Any, **kwargs: Any) -> VideoDTO:
        if _argument(VideoService.create, self, args, kwargs, "video_origin") == ResourceOrigin.EXTERNAL:
            with self._db.begin() as conn:
                check_quota(conn, current_tenant_id())
        dto = super().create(*args, **kwargs)
        files = self._VideoService__invoker.services.video_files  # type: ignore[attr-defined]
        size = files_size(lambda thumb: files.get_path(dto.video_name, thumb, video_subfolder=dto.video_subfolder))
        try:
            with self._db.begin() as conn:
                _check_claim(conn)
                admit(conn, videos, "video_name", dto.video_name, size)
        except Exception:
            try:
                self.delete(dto.video_name)
            except Exception:
                logger.warning("could not delete video %s that was not kept", dto.video_name, exc_info=True)
            raise
        return dto


def discard_lost_attempts(images: object, item_ids: Iterable[int]) -> None:
    """For the queue, once items went back to pending after a lost attempt: their orphan images go.
    Never raises (the items are back in the queue either way); a failure leaves the images in place."""
    if not isinstance(images, SqlImageService):
        return
    for item_id in item_ids:
        try:
            names = images.discard_lost_attempt(item_id)
        except Exception:
            logger.warning("could not delete the images of queue item %s's lost attempt", item_id, exc_info=True)
            continue
        if names:
            logger.info("deleted %d image(s) of queue item %s's lost attempt", len(names), item_id)


def _check_claim(conn: sa.Connection) -> None:
    """In a worker thread running a queue item: refuses an output once this thread's claim on the item
    is no longer current (its lease expired and the item went back to the queue, or it was handed back)."""
    claim = current_claim()
    if claim is None:
        return
    held = conn.execute(
        sa.select(session_queue.c.item_id).where(session_queue.c.item_id == claim.item_id, fence(claim))
    ).first()
    if held is None:
        raise ClaimLost(f"This worker no longer holds queue item {claim.item_id}; its output is not kept")


def files_size(path_of: Callable[[bool], Path]) -> int:
    """Bytes of a media file and its thumbnail (either may be missing)."""
    total = 0
    for thumbnail in (False, True):
        try:
            total += path_of(thumbnail).stat().st_size
        except (FileNotFoundError, OSError):
            pass
    return total


def _argument(function: Callable[..., Any], self: object, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return inspect.signature(function).bind(self, *args, **kwargs).arguments.get(name)
