"""InvokeAI's board↔video membership on SQLAlchemy Core, scoped to the current tenant."""

from typing import Optional

import sqlalchemy as sa
from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException
from invokeai.app.services.board_video_records.board_video_records_base import BoardVideoRecordStorageBase
from invokeai.app.services.image_records.image_records_common import ImageCategory
from invokeai.app.services.video_records.video_records_common import VideoRecordNotFoundException

from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import upsert
from invokeai_saas.db.tables.media import board_videos, boards, videos
from tenant_middleware.context import current_tenant_id


def _videos_with_board(inner: bool) -> sa.Join:
    on = sa.and_(board_videos.c.video_name == videos.c.video_name, tenant_clause(board_videos))
    return videos.join(board_videos, on) if inner else videos.outerjoin(board_videos, on)


class SqlBoardVideoRecordStorage(BoardVideoRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def add_video_to_board(self, board_id: str, video_name: str) -> None:
        # Stock relies on foreign keys to reject a missing board or video; those would accept another
        # tenant's rows, so both are looked up in scope first.
        board_found = sa.select(boards.c.board_id).where(boards.c.board_id == board_id, tenant_clause(boards))
        now = utcnow()
        with self._db.begin() as conn:
            if conn.execute(board_found).first() is None:
                raise BoardRecordNotFoundException
            owner = conn.execute(
                sa.select(videos.c.user_id).where(videos.c.video_name == video_name, tenant_clause(videos))
            ).first()
            if owner is None:
                raise VideoRecordNotFoundException
            audit.record(conn, "moved", "video", [(video_name, owner.user_id)], {"board_id": board_id})
            upsert(
                conn,
                board_videos,
                {"tenant_id": current_tenant_id(), "board_id": board_id, "video_name": video_name,
                 "created_at": now, "updated_at": now},
                key=["video_name"],
                update=["board_id", "updated_at"],
            )

    def remove_video_from_board(self, video_name: str) -> None:
        query = sa.delete(board_videos).where(board_videos.c.video_name == video_name, tenant_clause(board_videos))
        owner = sa.select(videos.c.user_id).where(videos.c.video_name == video_name, tenant_clause(videos))
        with self._db.begin() as conn:
            if conn.execute(query).rowcount:
                audit.record(conn, "moved", "video", [(video_name, conn.execute(owner).scalar())], {"board_id": None})

    def get_all_board_video_names_for_board(
        self,
        board_id: str,
        categories: list[ImageCategory] | None,
        is_intermediate: bool | None,
        user_id: Optional[str] = None,
    ) -> list[str]:
        conditions = [tenant_clause(videos)]
        if board_id == "none":
            conditions.append(board_videos.c.board_id.is_(None))
        else:
            conditions.append(board_videos.c.board_id == board_id)
        if categories is not None:
            conditions.append(videos.c.video_category.in_({c.value for c in categories}))
        if is_intermediate is not None:
            conditions.append(videos.c.is_intermediate == is_intermediate)
        if user_id is not None:
            conditions.append(videos.c.user_id == user_id)
        query = sa.select(videos.c.video_name).select_from(_videos_with_board(inner=False)).where(*conditions)
        with self._db.begin() as conn:
            return list(conn.execute(query).scalars())

    def get_board_for_video(self, video_name: str) -> Optional[str]:
        query = sa.select(board_videos.c.board_id).where(
            board_videos.c.video_name == video_name, tenant_clause(board_videos)
        )
        with self._db.begin() as conn:
            return conn.execute(query).scalar_one_or_none()

    def get_video_count_for_board(self, board_id: str) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(_videos_with_board(inner=True))
            .where(board_videos.c.board_id == board_id, videos.c.is_intermediate.is_(False), tenant_clause(videos))
        )
        with self._db.begin() as conn:
            return conn.execute(query).scalar_one()
