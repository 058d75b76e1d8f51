"""InvokeAI's image service, reading a gallery page in one transaction instead of one per image.

Stock `get_many` looks up each image's board separately (51 queries for a 50-image page), which
costs nothing on an in-process SQLite file but a round trip each on Postgres. Here the page, its
boards and the count are two queries in one transaction.
"""

from typing import Optional

from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.images.images_common import ImageDTO, image_record_to_dto
from invokeai.app.services.images.images_default import ImageService
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection

from invokeai_saas.db import Database
from invokeai_saas.records.image_records_sql import SqlImageRecordStorage


class SqlImageService(ImageService):
    def __init__(self, db: Database, image_records: SqlImageRecordStorage) -> None:
        super().__init__()
        self._db = db
        self._image_records = image_records

    @property
    def _services(self):  # type: ignore[no-untyped-def]
        return self._ImageService__invoker.services  # type: ignore[attr-defined]

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
