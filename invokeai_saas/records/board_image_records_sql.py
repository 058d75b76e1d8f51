"""InvokeAI's board membership of images on SQLAlchemy Core, scoped to the current tenant."""

from typing import Optional

import sqlalchemy as sa

from invokeai.app.services.board_image_records.board_image_records_base import BoardImageRecordStorageBase
from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException
from invokeai.app.services.image_records.image_records_common import (
    ASSETS_CATEGORIES,
    IMAGE_CATEGORIES,
    ImageCategory,
    ImageRecordNotFoundException,
)
from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import upsert
from invokeai_saas.db.tables.media import board_images, boards, images
from tenant_middleware.context import current_tenant_id

Condition = sa.ColumnElement[bool]


def _category_in(categories: list[ImageCategory]) -> Condition:
    return images.c.image_category.in_(sorted({c.value for c in categories}))


class SqlBoardImageRecordStorage(BoardImageRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def add_image_to_board(self, board_id: str, image_name: str) -> None:
        now = utcnow()
        with self._db.begin() as conn:
            # Stock relies on the foreign keys, which would also accept another tenant's image or
            # board; both must be this tenant's, and are reported as missing otherwise.
            owner = conn.execute(
                sa.select(images.c.user_id).where(images.c.image_name == image_name, tenant_clause(images))
            ).first()
            if owner is None:
                raise ImageRecordNotFoundException
            if not self._visible(conn, boards, boards.c.board_id == board_id):
                raise BoardRecordNotFoundException
            values = {
                "tenant_id": current_tenant_id(),
                "board_id": board_id,
                "image_name": image_name,
                "created_at": now,
                "updated_at": now,
            }
            upsert(conn, board_images, values, key=["image_name"], update=["board_id", "updated_at"])
            audit.record(conn, "moved", "image", [(image_name, owner.user_id)], {"board_id": board_id})

    @staticmethod
    def _visible(conn: sa.Connection, table: sa.Table, match: Condition) -> bool:
        return conn.execute(sa.select(sa.literal(1)).select_from(table).where(match, tenant_clause(table))).first() is not None

    def remove_image_from_board(self, image_name: str, board_id: str) -> int:
        # Scoped to the board the caller authorized against; 0 rows = the image left it meanwhile.
        stmt = sa.delete(board_images).where(
            board_images.c.image_name == image_name,
            board_images.c.board_id == board_id,
            tenant_clause(board_images),
        )
        owner = sa.select(images.c.user_id).where(images.c.image_name == image_name, tenant_clause(images))
        with self._db.begin() as conn:
            removed = conn.execute(stmt).rowcount
            if removed:
                audit.record(conn, "moved", "image", [(image_name, conn.execute(owner).scalar())],
                             {"board_id": None, "from_board_id": board_id})
            return removed

    def get_all_board_image_names_for_board(
        self,
        board_id: str,
        categories: list[ImageCategory] | None,
        is_intermediate: bool | None,
        user_id: Optional[str] = None,
    ) -> list[str]:
        on_board = sa.exists().where(board_images.c.image_name == images.c.image_name, tenant_clause(board_images))
        where = [tenant_clause(images)]
        if board_id == "none":
            where.append(~on_board)
        else:
            where.append(on_board.where(board_images.c.board_id == board_id))
        if categories is not None:
            where.append(_category_in(categories))
        if is_intermediate is not None:
            where.append(images.c.is_intermediate == is_intermediate)
        if user_id is not None:  # admins pass None: every user's images
            where.append(images.c.user_id == user_id)
        with self._db.begin() as conn:
            return list(conn.scalars(sa.select(images.c.image_name).where(*where)))

    def get_board_for_image(self, image_name: str) -> Optional[str]:
        query = sa.select(board_images.c.board_id).where(board_images.c.image_name == image_name, tenant_clause(board_images))
        with self._db.begin() as conn:
            return conn.scalars(query).first()

    def _count_for_board(self, board_id: str, categories: list[ImageCategory]) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(board_images)
            .join(images, images.c.image_name == board_images.c.image_name)
            .where(
                board_images.c.board_id == board_id,
                tenant_clause(board_images),
                tenant_clause(images),
                images.c.is_intermediate == sa.false(),
                _category_in(categories),
            )
        )
        with self._db.begin() as conn:
            return conn.execute(query).scalar_one()

    def get_image_count_for_board(self, board_id: str) -> int:
        return self._count_for_board(board_id, IMAGE_CATEGORIES)

    def get_asset_count_for_board(self, board_id: str) -> int:
        return self._count_for_board(board_id, ASSETS_CATEGORIES)
