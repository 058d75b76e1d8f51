"""InvokeAI's video records on SQLAlchemy Core, scoped to the current tenant."""

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from invokeai.app.invocations.fields import MetadataField, MetadataFieldValidator
from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.video_records.video_records_base import VideoRecordStorageBase
from invokeai.app.services.video_records.video_records_common import (
    VideoNamesResult,
    VideoRecord,
    VideoRecordChanges,
    VideoRecordDeleteException,
    VideoRecordNotFoundException,
    VideoRecordSaveException,
    deserialize_video_record,
)

from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.media import board_videos, videos
from invokeai_saas.money.storage_usage import release
from tenant_middleware.context import current_tenant_id

_RECORD_COLUMNS = [
    videos.c[name]
    for name in (
        "video_name",
        "video_origin",
        "video_category",
        "width",
        "height",
        "duration",
        "fps",
        "session_id",
        "node_id",
        "has_workflow",
        "is_intermediate",
        "created_at",
        "updated_at",
        "deleted_at",
        "starred",
        "video_subfolder",
    )
]


def _to_record(row: sa.Row[Any]) -> VideoRecord:
    return deserialize_video_record(dict(row._mapping))


def _with_board() -> sa.Join:
    """videos LEFT JOIN board_videos, as the stock list queries read them."""
    on = sa.and_(board_videos.c.video_name == videos.c.video_name, tenant_clause(board_videos))
    return videos.outerjoin(board_videos, on)


def _list_filters(
    video_origin: Optional[ResourceOrigin],
    categories: Optional[list[ImageCategory]],
    is_intermediate: Optional[bool],
    board_id: Optional[str],
    search_term: Optional[str],
    user_id: Optional[str],
    is_admin: bool,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions shared by `get_many` and `get_video_names` (over `_with_board()`)."""
    conditions = [tenant_clause(videos)]
    if video_origin is not None:
        conditions.append(videos.c.video_origin == video_origin.value)
    if categories is not None:
        conditions.append(videos.c.video_category.in_({c.value for c in categories}))
    if is_intermediate is not None:
        conditions.append(videos.c.is_intermediate == is_intermediate)
    if board_id == "none":
        conditions.append(board_videos.c.board_id.is_(None))
    elif board_id is not None:
        conditions.append(board_videos.c.board_id == board_id)
    # With an explicit board the caller's board access was checked; otherwise a non-admin sees only their own.
    if user_id is not None and not is_admin and (board_id is None or board_id == "none"):
        conditions.append(videos.c.user_id == user_id)
    if search_term:
        pattern = f"%{search_term.lower()}%"
        # ilike: SQLite's LIKE (what stock relies on) is case-insensitive, Postgres' is not.
        conditions.append(
            sa.or_(videos.c.metadata.ilike(pattern), sa.cast(videos.c.created_at, sa.String).ilike(pattern))
        )
    return conditions


def _ordering(starred_first: bool, order_dir: SQLiteDirection) -> list[sa.UnaryExpression[Any]]:
    direction = sa.desc if order_dir == SQLiteDirection.Descending else sa.asc
    order = [direction(videos.c.created_at), direction(videos.c.video_name)]
    return [videos.c.starred.desc(), *order] if starred_first else order


class SqlVideoRecordStorage(VideoRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def _one(self, *columns: sa.ColumnElement[Any], video_name: str) -> Optional[sa.Row[Any]]:
        query = sa.select(*columns).where(videos.c.video_name == video_name, tenant_clause(videos))
        with self._db.begin() as conn:
            return conn.execute(query).first()

    def get(self, video_name: str) -> VideoRecord:
        row = self._one(*_RECORD_COLUMNS, video_name=video_name)
        if row is None:
            raise VideoRecordNotFoundException
        return _to_record(row)

    def exists(self, video_name: str) -> bool:
        return self._one(sa.literal(1), video_name=video_name) is not None

    def get_user_id(self, video_name: str) -> Optional[str]:
        row = self._one(videos.c.user_id, video_name=video_name)
        return None if row is None else row.user_id

    def get_metadata(self, video_name: str) -> Optional[MetadataField]:
        row = self._one(videos.c.metadata, video_name=video_name)
        if row is None:
            raise VideoRecordNotFoundException
        return None if row.metadata is None else MetadataFieldValidator.validate_json(row.metadata)

    def get_most_recent_video_for_board(self, board_id: str) -> Optional[VideoRecord]:
        on = sa.and_(board_videos.c.video_name == videos.c.video_name, tenant_clause(board_videos))
        query = (
            sa.select(*_RECORD_COLUMNS)
            .select_from(videos.join(board_videos, on))
            .where(board_videos.c.board_id == board_id, videos.c.is_intermediate.is_(False), tenant_clause(videos))
            .order_by(*_ordering(True, SQLiteDirection.Descending))
            .limit(1)
        )
        with self._db.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else _to_record(row)

    def update(self, video_name: str, changes: VideoRecordChanges) -> None:
        values: dict[str, Any] = {}
        if changes.video_category is not None:
            values["video_category"] = changes.video_category.value
        if changes.session_id is not None:
            values["session_id"] = changes.session_id
        if changes.is_intermediate is not None:
            values["is_intermediate"] = changes.is_intermediate
        if changes.starred is not None:
            values["starred"] = changes.starred
        if not values:
            return
        values["updated_at"] = utcnow()  # stock: trigger tg_videos_updated_at
        query = sa.update(videos).where(videos.c.video_name == video_name, tenant_clause(videos)).values(values)
        try:
            with self._db.begin() as conn:
                conn.execute(query)
        except sa.exc.SQLAlchemyError as e:
            raise VideoRecordSaveException from e

    def get_many(
        self,
        offset: int = 0,
        limit: int = 10,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        video_origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> OffsetPaginatedResults[VideoRecord]:
        conditions = _list_filters(
            video_origin, categories, is_intermediate, board_id, search_term, user_id, is_admin
        )
        page = (
            sa.select(*_RECORD_COLUMNS)
            .select_from(_with_board())
            .where(*conditions)
            .order_by(*_ordering(starred_first, order_dir))
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(_with_board()).where(*conditions)
        with self._db.begin() as conn:
            items = [_to_record(row) for row in conn.execute(page)]
            total = conn.execute(count).scalar_one()
        return OffsetPaginatedResults(items=items, offset=offset, limit=limit, total=total)

    def get_video_names(
        self,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        video_origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> VideoNamesResult:
        conditions = _list_filters(
            video_origin, categories, is_intermediate, board_id, search_term, user_id, is_admin
        )
        names_query = (
            sa.select(videos.c.video_name)
            .select_from(_with_board())
            .where(*conditions)
            .order_by(*_ordering(starred_first, order_dir))
        )
        starred_query = (
            sa.select(sa.func.count()).select_from(_with_board()).where(videos.c.starred.is_(True), *conditions)
        )
        with self._db.begin() as conn:
            names = list(conn.execute(names_query).scalars())
            starred_count = conn.execute(starred_query).scalar_one() if starred_first else 0
        return VideoNamesResult(video_names=names, starred_count=starred_count, total_count=len(names))

    def delete(self, video_name: str) -> None:
        self.delete_many([video_name])

    def delete_many(self, video_names: list[str]) -> None:
        query = (
            sa.delete(videos).where(videos.c.video_name.in_(video_names), tenant_clause(videos))
            .returning(videos.c.video_name, videos.c.user_id, videos.c.tenant_id, videos.c.size_bytes)
        )
        try:
            with self._db.begin() as conn:
                gone = conn.execute(query).all()
                audit.record(conn, "deleted", "video", [(r.video_name, r.user_id) for r in gone])
                release(conn, [(r.tenant_id, r.size_bytes) for r in gone])
        except sa.exc.SQLAlchemyError as e:
            raise VideoRecordDeleteException from e

    def save(
        self,
        video_name: str,
        video_origin: ResourceOrigin,
        video_category: ImageCategory,
        width: int,
        height: int,
        duration: float,
        fps: Optional[float],
        has_workflow: bool,
        is_intermediate: Optional[bool] = False,
        starred: Optional[bool] = False,
        session_id: Optional[str] = None,
        node_id: Optional[str] = None,
        metadata: Optional[str] = None,
        user_id: Optional[str] = None,
        video_subfolder: str = "",
    ) -> datetime:
        now = utcnow()
        row = {
            "tenant_id": current_tenant_id(),
            "video_name": video_name,
            "video_origin": video_origin.value,
            "video_category": video_category.value,
            "width": width,
            "height": height,
            "duration": float(duration),
            "fps": float(fps) if fps is not None else None,
            "node_id": node_id,
            "session_id": session_id,
            "metadata": metadata,
            "is_intermediate": bool(is_intermediate),
            "starred": bool(starred),
            "has_workflow": has_workflow,
            "user_id": user_id or "system",
            "video_subfolder": video_subfolder,
            "created_at": now,
            "updated_at": now,
        }
        created_at = sa.select(videos.c.created_at).where(videos.c.video_name == video_name, tenant_clause(videos))
        try:
            with self._db.begin() as conn:
                insert_ignore(conn, videos, row, key=["video_name"])  # stock: INSERT OR IGNORE
                saved = conn.execute(created_at).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as e:
            raise VideoRecordSaveException from e
        if saved is None:  # the name is taken by another tenant's video
            raise VideoRecordSaveException
        return saved
