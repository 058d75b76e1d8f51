"""InvokeAI's board records on SQLAlchemy Core, scoped to the current tenant.

Stock visibility rules (owner, shared with the user, Shared/Public boards, admins see all)
apply inside the tenant, so "Public" means public to the tenant's members.
"""

import functools

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from invokeai.app.services.board_records.board_records_base import BoardRecordStorageBase
from invokeai.app.services.board_records.board_records_common import (
    BoardChanges,
    BoardRecord,
    BoardRecordDeleteException,
    BoardRecordNotFoundException,
    BoardRecordOrderBy,
    BoardRecordSaveException,
    BoardVisibility,
)
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.util.misc import uuid_string
from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.prepared import ScopeKind, scope_clause, scope_kind, scope_params
from invokeai_saas.db.tables.boards_sharing import shared_boards
from invokeai_saas.db.tables.media import boards, images
from tenant_middleware.context import current_tenant_id
from tenant_middleware.errors import ErrorCode, ServiceError

Condition = sa.ColumnElement[bool]


class CoverImageNotFound(ServiceError, BoardRecordSaveException):
    """Stock's save error (its contract), read by the app as the 404 it is."""

_RECORD_COLUMNS = [c for c in boards.c if c.name != "tenant_id"]
_VISIBLE_TO_ALL = (BoardVisibility.Shared.value, BoardVisibility.Public.value)


def _to_record(row: RowMapping) -> BoardRecord:
    """Stock's `deserialize_board_record` for a row that has every column (it also evaluates its
    three timestamp defaults on every call, a cost a board list pays per board)."""
    try:
        visibility = BoardVisibility(row["board_visibility"])
    except ValueError:
        visibility = BoardVisibility.Private
    return BoardRecord(**{**row, "board_visibility": visibility})


def _listing_filter(kind: ScopeKind, is_admin: bool, include_archived: bool) -> list[Condition]:
    """The boards `:user_id` may list; built once per shape (see `db/prepared.py`)."""
    where = [scope_clause(boards, kind)]
    if not is_admin:
        user_id = sa.bindparam("user_id")
        shared_with_user = sa.exists().where(
            shared_boards.c.board_id == boards.c.board_id,
            shared_boards.c.user_id == user_id,
            scope_clause(shared_boards, kind),
        )
        where.append(sa.or_(boards.c.user_id == user_id, shared_with_user, boards.c.board_visibility.in_(_VISIBLE_TO_ALL)))
    if not include_archived:
        where.append(boards.c.archived == sa.false())
    return where


def _order(order_by: BoardRecordOrderBy, direction: SQLiteDirection, fold_case: bool) -> list[sa.UnaryExpression]:
    key: sa.ColumnElement = boards.c[order_by.value]
    if fold_case and order_by == BoardRecordOrderBy.Name:
        key = sa.func.lower(key)
    to = sa.desc if direction == SQLiteDirection.Descending else sa.asc
    return [to(key), to(boards.c.board_id)]  # board_id: a stable order for ties


@functools.cache
def _listing(
    kind: ScopeKind, is_admin: bool, include_archived: bool, order_by: BoardRecordOrderBy, direction: SQLiteDirection,
    fold_case: bool,
) -> sa.Select:
    where = _listing_filter(kind, is_admin, include_archived)
    return sa.select(*_RECORD_COLUMNS).where(*where).order_by(*_order(order_by, direction, fold_case))


@functools.cache
def _page(kind: ScopeKind, is_admin: bool, include_archived: bool, order_by: BoardRecordOrderBy, direction: SQLiteDirection) -> sa.Select:
    listing = _listing(kind, is_admin, include_archived, order_by, direction, fold_case=False)
    return listing.limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer))


@functools.cache
def _count(kind: ScopeKind, is_admin: bool, include_archived: bool) -> sa.Select:
    return sa.select(sa.func.count()).select_from(boards).where(*_listing_filter(kind, is_admin, include_archived))


@functools.cache
def _by_id(kind: ScopeKind) -> sa.Select:
    return sa.select(*_RECORD_COLUMNS).where(boards.c.board_id == sa.bindparam("board_id"), scope_clause(boards, kind))


class SqlBoardRecordStorage(BoardRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def delete(self, board_id: str) -> None:
        try:
            with self._db.begin() as conn:
                gone = conn.execute(
                    sa.delete(boards).where(boards.c.board_id == board_id, tenant_clause(boards))
                    .returning(boards.c.board_id, boards.c.user_id)
                ).all()
                audit.record(conn, "deleted", "board", [tuple(r) for r in gone])
        except sa.exc.SQLAlchemyError as e:
            raise BoardRecordDeleteException from e

    def save(self, board_name: str, user_id: str) -> BoardRecord:
        board_id = uuid_string()
        now = utcnow()
        try:
            with self._db.begin() as conn:
                conn.execute(
                    sa.insert(boards).values(
                        tenant_id=current_tenant_id(),
                        board_id=board_id,
                        board_name=board_name,
                        user_id=user_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.SQLAlchemyError as e:
            raise BoardRecordSaveException from e
        return self.get(board_id)

    def get(self, board_id: str) -> BoardRecord:
        with self._db.read() as conn:
            row = conn.execute(_by_id(scope_kind()), {"board_id": board_id, **scope_params()}).mappings().first()
        if row is None:
            raise BoardRecordNotFoundException
        return _to_record(row)

    def update(self, board_id: str, changes: BoardChanges) -> BoardRecord:
        values: dict[str, object] = {}
        if changes.board_name is not None:
            values["board_name"] = changes.board_name
        if changes.cover_image_name is not None:
            values["cover_image_name"] = changes.cover_image_name
        if changes.archived is not None:
            values["archived"] = changes.archived
        if changes.board_visibility is not None:
            values["board_visibility"] = changes.board_visibility.value
        if values:
            try:
                with self._db.begin() as conn:
                    if changes.cover_image_name is not None and not self._image_visible(conn, changes.cover_image_name):
                        # Stock fails on the foreign key (a 500); the key alone would accept another tenant's image.
                        raise CoverImageNotFound(ErrorCode.NOT_FOUND, "Cover image not found")
                    before = conn.execute(
                        sa.select(boards.c.user_id, boards.c.board_visibility)
                        .where(boards.c.board_id == board_id, tenant_clause(boards))
                    ).first()
                    conn.execute(
                        sa.update(boards)
                        .where(boards.c.board_id == board_id, tenant_clause(boards))
                        .values(**values, updated_at=utcnow())
                    )
                    if before is not None and values.get("board_visibility", before.board_visibility) != before.board_visibility:
                        audit.record(conn, "visibility_changed", "board", [(board_id, before.user_id)],
                                     {"from": before.board_visibility, "to": values["board_visibility"]})
            except sa.exc.SQLAlchemyError as e:
                raise BoardRecordSaveException from e
        return self.get(board_id)

    @staticmethod
    def _image_visible(conn: sa.Connection, image_name: str) -> bool:
        query = sa.select(images.c.image_name).where(images.c.image_name == image_name, tenant_clause(images))
        return conn.execute(query).first() is not None

    def get_many(
        self,
        user_id: str,
        is_admin: bool,
        order_by: BoardRecordOrderBy,
        direction: SQLiteDirection,
        offset: int = 0,
        limit: int = 10,
        include_archived: bool = False,
    ) -> OffsetPaginatedResults[BoardRecord]:
        kind, params = scope_kind(), {"user_id": user_id, "limit": limit, "offset": offset, **scope_params()}
        with self._db.begin() as conn:
            page = _page(kind, is_admin, include_archived, order_by, direction)
            rows = conn.execute(page, params).mappings().all()
            total = conn.execute(_count(kind, is_admin, include_archived), params).scalar_one()
        return OffsetPaginatedResults[BoardRecord](items=[_to_record(r) for r in rows], offset=offset, limit=limit, total=total)

    def get_all(
        self,
        user_id: str,
        is_admin: bool,
        order_by: BoardRecordOrderBy,
        direction: SQLiteDirection,
        include_archived: bool = False,
    ) -> list[BoardRecord]:
        # Stock sorts by LOWER(board_name) here but by raw board_name in get_many; kept as is.
        query = _listing(scope_kind(), is_admin, include_archived, order_by, direction, fold_case=True)
        with self._db.read() as conn:
            return [_to_record(r) for r in conn.execute(query, {"user_id": user_id, **scope_params()}).mappings()]
