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

from PIL.Image import Image as PILImageType

from invokeai.app.services.image_files.image_files_common import ImageFileSaveException
from invokeai.app.services.image_files.image_subfolder_strategy import create_subfolder_strategy
from invokeai.app.services.image_records.image_records_common import (
    ImageCategory,
    ImageRecordNotFoundException,
    ImageRecordSaveException,
    InvalidImageCategoryException,
    InvalidOriginException,
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

    def create(
        self,
        image: PILImageType,
        image_origin: ResourceOrigin,
        image_category: ImageCategory,
        node_id: str | None = None,
        session_id: str | None = None,
        board_id: str | None = None,
        is_intermediate: bool | None = False,
        metadata: str | None = None,
        workflow: str | None = None,
        graph: str | None = None,
        user_id: str | None = None,
    ) -> ImageDTO:
        """Stock's create (record, board, files, in that order, under the image-mutation lock), in two
        transactions: the record (one INSERT), then its size admitted against the quota while this
        worker's claim holds. Its DTO is built from what was written, not read back."""
        if image_origin not in ResourceOrigin:
            raise InvalidOriginException
        if image_category not in ImageCategory:
            raise InvalidImageCategoryException
        if image_origin == ResourceOrigin.EXTERNAL:
            with self._db.begin() as conn:
                check_quota(conn, current_tenant_id())
        services = self._services
        image_name = services.names.create_image_name()
        strategy = create_subfolder_strategy(services.configuration.image_subfolder_strategy)
        subfolder = strategy.get_subfolder(image_name, image_category, is_intermediate or False)
        width, height = image.size
        try:
            with self._image_mutation_lock():  # see stock: the record commits before its files exist
                record = self._image_records.insert_new(
                    image_name=image_name,
                    image_origin=image_origin,
                    image_category=image_category,
                    width=width,
                    height=height,
                    has_workflow=workflow is not None or graph is not None,
                    is_intermediate=is_intermediate,
                    node_id=node_id,
                    metadata=metadata,
                    session_id=session_id,
                    user_id=user_id,
                    image_subfolder=subfolder,
                )
                on_board = self._add_to_board(board_id, image_name)
                services.image_files.save(
                    image_name=image_name, image=image, metadata=metadata, workflow=workflow, graph=graph,
                    image_subfolder=subfolder,
                )
        except ImageRecordSaveException:
            services.logger.error("Failed to save image record")
            raise
        except ImageFileSaveException:
            services.logger.error("Failed to save image file")
            self._ImageService__clean_up_failed_save(image_name, subfolder)  # type: ignore[attr-defined]
            raise
        self._keep(image_name, subfolder)
        urls = services.urls
        dto = image_record_to_dto(
            image_record=record,
            image_url=urls.get_image_url(image_name),
            thumbnail_url=urls.get_image_url(image_name, True),
            board_id=on_board,
        )
        self._on_changed(dto)
        return dto

    def _add_to_board(self, board_id: str | None, image_name: str) -> str | None:
        """The board the new image is on: `board_id` once added; as stock, a failure only warns."""
        if board_id is None:
            return None
        try:
            self._services.board_image_records.add_image_to_board(board_id=board_id, image_name=image_name)
        except Exception as e:
            self._services.logger.warning(f"Failed to add image to board {board_id}: {e}")
            return None
        return board_id

    def _keep(self, image_name: str, subfolder: str) -> None:
        """Counts a written image's bytes against the quota (see `admit`); one refused or saved under a
        lost claim is deleted and the refusal raised."""
        files = self._services.image_files
        size = files_size(lambda thumb: files.get_path(image_name, thumb, image_subfolder=subfolder))
        try:
            with self._db.begin() as conn:
                if not admit(conn, images, "image_name", image_name, size, current_claim()):
                    _check_claim(conn)
        except Exception:
            self._discard(image_name)
            raise

    def get_pil_image(self, image_name: str) -> PILImageType:
        # The next node reading the image this item just saved: its subfolder is known, no query.
        created = self._image_records.created_here(image_name)
        if created is None:
            return super().get_pil_image(image_name)
        return self._services.image_files.get(image_name, image_subfolder=created[1])

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
                if not admit(conn, videos, "video_name", dto.video_name, size, current_claim()):
                    _check_claim(conn)
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
