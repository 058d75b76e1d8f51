"""InvokeAI's image records on SQLAlchemy Core, scoped to the current tenant."""

import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, time, timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from invokeai.app.invocations.fields import MetadataField, MetadataFieldValidator
from invokeai.app.services.image_records.image_records_base import ImageRecordStorageBase
from invokeai.app.services.image_records.image_records_common import (
    IMAGE_DTO_COLS,
    ImageCategory,
    ImageNamesResult,
    ImageRecord,
    ImageRecordChanges,
    ImageRecordDeleteException,
    ImageRecordNotFoundException,
    ImageRecordSaveException,
    ResourceOrigin,
    deserialize_image_record,
)
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.virtual_boards.virtual_boards_common import VirtualSubBoardDTO
from invokeai_saas.accounts import audit
from invokeai_saas.core.running_claim import Claim, current_claim
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import insert_ignore, insert_ignore_statement
from invokeai_saas.db.prepared import ScopeKind, scope_clause, scope_kind, scope_params
from invokeai_saas.db.tables.media import board_images, images
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.money.storage_usage import release
from tenant_middleware.context import current_tenant_id

Condition = sa.ColumnElement[bool]

# The columns stock InvokeAI reads into an ImageRecord (everything but metadata and user_id).
_RECORD_COLUMNS = [images.c[name.removeprefix("images.")] for name in IMAGE_DTO_COLS.split(", ")]
# Bound parameters per IN (...) list, well under every backend's limit.
_CHUNK = 500


def _chunks(names: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(names), _CHUNK):
        yield names[start : start + _CHUNK]


# A worker thread's item reads back the images it just wrote (the next node's input): who owns each
# and where its files are is remembered for the item it runs now, instead of a query per read.
_CREATED_PER_ITEM = 256


class _Created(threading.local):
    """Images this thread created while running one claim: name -> (tenant, user_id, subfolder)."""

    claim: Claim | None = None
    images: dict[str, tuple[str | None, str, str]]

    def __init__(self) -> None:
        self.images = {}


def _record_values(
    image_name: str,
    image_origin: ResourceOrigin,
    image_category: ImageCategory,
    width: int,
    height: int,
    has_workflow: bool,
    is_intermediate: bool | None,
    starred: bool | None,
    session_id: str | None,
    node_id: str | None,
    metadata: str | None,
    user_id: str | None,
    image_subfolder: str,
) -> dict[str, object]:
    now = utcnow()
    return {
        "tenant_id": current_tenant_id(),
        "image_name": image_name,
        "image_origin": image_origin.value,
        "image_category": image_category.value,
        "width": width,
        "height": height,
        "node_id": node_id,
        "session_id": session_id,
        "metadata": metadata,
        "is_intermediate": bool(is_intermediate),
        "starred": bool(starred),
        "has_workflow": has_workflow,
        "user_id": user_id or "system",
        "image_subfolder": image_subfolder,
        "created_at": now,
        "updated_at": now,
    }


def _to_record(row: RowMapping) -> ImageRecord:
    return deserialize_image_record(dict(row))


def _in_any_board() -> Condition:
    # Probe by primary key only: a board_images row shares its image's tenant (add_image_to_board
    # checks both), and a tenant_id term here makes Postgres scan the tenant's whole board index per image.
    return sa.exists().where(board_images.c.image_name == images.c.image_name)


def _pattern(search_term: str) -> str:
    return f"%{search_term.lower()}%"


def _matches(pattern: str | sa.BindParameter[str]) -> Condition:
    # Stock: `metadata LIKE %term% OR created_at LIKE %term%`, case-insensitive as SQLite's LIKE is.
    return sa.or_(images.c.metadata.ilike(pattern), sa.cast(images.c.created_at, sa.Text).ilike(pattern))


def _category_in(categories: list[ImageCategory]) -> Condition:
    return images.c.image_category.in_(sorted({c.value for c in categories}))


def _gallery_order(
    starred_first: bool, order_dir: SQLiteDirection, cols: sa.ColumnCollection | None = None
) -> list[sa.UnaryExpression]:
    c = images.c if cols is None else cols
    direction = sa.desc if order_dir == SQLiteDirection.Descending else sa.asc
    # image_name breaks created_at ties so pages never overlap or skip.
    keys = [direction(c.created_at), direction(c.image_name)]
    return [c.starred.desc(), *keys] if starred_first else keys


def _owner_filter(user_id: Optional[str], is_admin: bool) -> list[Condition]:
    return [images.c.user_id == user_id] if user_id is not None and not is_admin else []


@dataclass(frozen=True)
class _Filter:
    """Which gallery filters apply. It decides a statement's text; the values are its parameters."""

    kind: ScopeKind
    origin: bool = False
    categories: bool = False
    intermediate: bool = False
    board: str = "any"  # "any", "none" (on no board) or "one" (the `board_id` parameter's)
    owner: bool = False
    search: bool = False


def _gallery_filter(
    image_origin: Optional[ResourceOrigin],
    categories: Optional[list[ImageCategory]],
    is_intermediate: Optional[bool],
    board_id: Optional[str],
    search_term: Optional[str],
    user_id: Optional[str],
    is_admin: bool,
) -> tuple[_Filter, dict[str, object]]:
    """Stock's gallery filters as a shape and its parameters ("none": images on no board, per user unless admin)."""
    board = "any" if board_id is None else "none" if board_id == "none" else "one"
    owner = user_id is not None and not is_admin and board != "one"
    shape = _Filter(scope_kind(), image_origin is not None, categories is not None, is_intermediate is not None, board,
                    owner, bool(search_term))
    params: dict[str, object] = {
        **scope_params(),
        "origin": image_origin.value if image_origin is not None else None,
        "categories": sorted({c.value for c in categories or []}),
        "is_intermediate": is_intermediate,
        "board_id": board_id,
        "user_id": user_id,
        "pattern": _pattern(search_term) if search_term else None,
    }
    return shape, params


def _where(f: _Filter) -> list[Condition]:
    where = [scope_clause(images, f.kind)]
    if f.origin:
        where.append(images.c.image_origin == sa.bindparam("origin"))
    if f.categories:
        where.append(images.c.image_category.in_(sa.bindparam("categories", expanding=True)))
    if f.intermediate:
        where.append(images.c.is_intermediate == sa.bindparam("is_intermediate"))
    if f.board == "none":
        where.append(~_in_any_board())
    elif f.board == "one":
        where.append(sa.exists().where(
            board_images.c.image_name == images.c.image_name,
            board_images.c.board_id == sa.bindparam("board_id"),
            scope_clause(board_images, f.kind),
        ))
    if f.owner:
        where.append(images.c.user_id == sa.bindparam("user_id"))
    if f.search:
        where.append(_matches(sa.bindparam("pattern")))
    return where


@functools.lru_cache(maxsize=256)
def _page_query(f: _Filter, starred_first: bool, order_dir: SQLiteDirection) -> sa.Select:
    """A gallery page with each image's board and the filter's total, built once per shape (`db/prepared.py`)."""
    where = _where(f)
    # Names first (an index-only walk that stops after the page), then the page's full rows:
    # otherwise Postgres fetches and sorts every matching row to return fifty.
    names = (
        sa.select(images.c.image_name).where(*where).order_by(*_gallery_order(starred_first, order_dir))
        .limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer))
        .subquery("names")
    )
    page = (
        sa.select(*_RECORD_COLUMNS, board_images.c.board_id.label("page_board_id"))
        .join(names, names.c.image_name == images.c.image_name)
        .outerjoin(board_images, board_images.c.image_name == images.c.image_name)
    ).subquery("page")
    total = sa.select(sa.func.count().label("page_total")).select_from(images).where(*where).subquery("total")
    # The count rides along on every row (and alone on one row when the page is empty).
    return (
        sa.select(total.c.page_total, *page.c)
        .select_from(total.outerjoin(page, sa.true()))
        .order_by(*_gallery_order(starred_first, order_dir, page.c))
    )


class SqlImageRecordStorage(ImageRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db
        self._created = _Created()
        self._insert_new: dict[str, sa.Insert] = {}  # per dialect: built once

    def _remember(self, image_name: str, user_id: str, subfolder: str) -> None:
        claim = current_claim()
        if claim is None:
            return
        created = self._created
        if created.claim != claim or len(created.images) >= _CREATED_PER_ITEM:
            created.claim, created.images = claim, {}
        created.images[image_name] = (current_tenant_id(), user_id, subfolder)

    def _forget(self, image_names: Sequence[str]) -> None:
        for name in image_names:
            self._created.images.pop(name, None)

    def created_here(self, image_name: str) -> tuple[str, str] | None:
        """(user_id, subfolder) of an image this worker thread created for the queue item it runs
        now, in the current tenant; None for any other image (read it from the database)."""
        claim = current_claim()
        created = self._created
        if claim is None or created.claim != claim:
            return None
        found = created.images.get(image_name)
        if found is None or found[0] != current_tenant_id():
            return None
        return found[1], found[2]

    def _row_with(self, column: sa.ColumnElement, image_name: str) -> Optional[RowMapping]:
        with self._db.begin() as conn:
            return conn.execute(sa.select(column).where(images.c.image_name == image_name, tenant_clause(images))).mappings().first()

    def get(self, image_name: str) -> ImageRecord:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(*_RECORD_COLUMNS).where(images.c.image_name == image_name, tenant_clause(images))).mappings().first()
        if row is None:
            raise ImageRecordNotFoundException
        return _to_record(row)

    def get_user_id(self, image_name: str) -> Optional[str]:
        created = self.created_here(image_name)
        if created is not None:
            return created[0]
        row = self._row_with(images.c.user_id, image_name)
        return None if row is None else row["user_id"]

    def exists(self, image_name: str) -> bool:
        return self._row_with(images.c.image_name, image_name) is not None

    def get_metadata(self, image_name: str) -> Optional[MetadataField]:
        row = self._row_with(images.c.metadata, image_name)
        if row is None:
            raise ImageRecordNotFoundException
        raw = row["metadata"]
        return MetadataFieldValidator.validate_json(raw) if raw is not None else None

    def update(self, image_name: str, changes: ImageRecordChanges) -> None:
        values: dict[str, object] = {}
        if changes.image_category is not None:
            values["image_category"] = changes.image_category.value
        if changes.session_id is not None:
            values["session_id"] = changes.session_id
        if changes.is_intermediate is not None:
            values["is_intermediate"] = changes.is_intermediate
        if changes.starred is not None:
            values["starred"] = changes.starred
        if not values:
            return
        self._forget([image_name])
        try:
            with self._db.begin() as conn:
                conn.execute(
                    sa.update(images)
                    .where(images.c.image_name == image_name, tenant_clause(images))
                    .values(**values, updated_at=utcnow())
                )
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordSaveException from e

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
    ) -> OffsetPaginatedResults[ImageRecord]:
        page, _boards = self.get_page_with_boards(
            offset, limit, starred_first, order_dir, image_origin, categories, is_intermediate, board_id, search_term,
            user_id, is_admin,
        )
        return page

    def get_page_with_boards(
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
    ) -> tuple[OffsetPaginatedResults[ImageRecord], dict[str, str]]:
        """`get_many`, plus the board of each image on the page: one statement (page, boards, count)."""
        shape, params = _gallery_filter(image_origin, categories, is_intermediate, board_id, search_term, user_id, is_admin)
        with self._db.read() as conn:
            rows = list(conn.execute(_page_query(shape, starred_first, order_dir), {**params, "limit": limit, "offset": offset}).mappings())
        count = rows[0]["page_total"] if rows else 0
        rows = [r for r in rows if r["image_name"] is not None]
        extra = ("page_board_id", "page_total")
        records = [_to_record({k: v for k, v in r.items() if k not in extra}) for r in rows]
        boards = {r["image_name"]: r["page_board_id"] for r in rows if r["page_board_id"] is not None}
        return OffsetPaginatedResults(items=records, offset=offset, limit=limit, total=count), boards

    def delete(self, image_name: str) -> None:
        self._forget([image_name])
        try:
            with self._db.begin() as conn:
                gone = conn.execute(
                    sa.delete(images).where(images.c.image_name == image_name, tenant_clause(images))
                    .returning(images.c.image_name, images.c.user_id, images.c.tenant_id, images.c.size_bytes)
                ).all()
                audit.record(conn, "deleted", "image", [(r.image_name, r.user_id) for r in gone])
                release(conn, [(r.tenant_id, r.size_bytes) for r in gone])
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordDeleteException from e

    def delete_many(self, image_names: list[str]) -> None:
        self._forget(image_names)
        try:
            with self._db.begin() as conn:
                for chunk in _chunks(image_names):
                    gone = conn.execute(
                        sa.delete(images).where(images.c.image_name.in_(chunk), tenant_clause(images))
                        .returning(images.c.image_name, images.c.user_id, images.c.tenant_id, images.c.size_bytes)
                    ).all()
                    audit.record(conn, "deleted", "image", [(r.image_name, r.user_id) for r in gone])
                    release(conn, [(r.tenant_id, r.size_bytes) for r in gone])
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordDeleteException from e

    def lost_attempt_images(self, item_id: int) -> list[str]:
        """The images written by attempts of queue item `item_id` other than its current one: those its
        session generated before the current attempt started (all of them while it waits to start
        again). A new attempt keeps the session id but runs the graph from the start, so no result of
        the item will ever name them. Kept: uploads (a client may tag one with any session id) and
        starred images (a person chose them); an image on a board is not kept for that alone, since
        generations are put on the auto-add board as they are saved. Workflow-call children run as
        items with sessions of their own, so their images are theirs. One statement: an attempt that
        starts meanwhile is either not seen or seen with its start, never half-way."""
        item = session_queue
        query = (
            sa.select(images.c.image_name)
            .join(item, sa.and_(item.c.session_id == images.c.session_id, item.c.tenant_id.is_not_distinct_from(images.c.tenant_id)))
            .where(
                item.c.item_id == item_id,
                images.c.image_origin == ResourceOrigin.INTERNAL.value,
                images.c.starred == sa.false(),
                sa.or_(item.c.started_at.is_(None), images.c.created_at < item.c.started_at),
                tenant_clause(images),
            )
            .order_by(images.c.created_at, images.c.image_name)
        )
        with self._db.begin() as conn:
            return list(conn.scalars(query))

    def get_intermediates_count(self, user_id: Optional[str] = None) -> int:
        where = [tenant_clause(images), images.c.is_intermediate == sa.true()]
        if user_id is not None:
            where.append(images.c.user_id == user_id)
        with self._db.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(images).where(*where)).scalar_one()

    def get_intermediates(self) -> list[tuple[str, str]]:
        query = sa.select(images.c.image_name, images.c.image_subfolder).where(
            tenant_clause(images), images.c.is_intermediate == sa.true()
        )
        with self._db.begin() as conn:
            return [(r.image_name, r.image_subfolder) for r in conn.execute(query)]

    def delete_intermediates_by_names(self, image_names: list[str]) -> list[str]:
        self._forget(image_names)
        # The is_intermediate predicate rides on the DELETE itself, so an image promoted in the
        # meantime keeps its record; RETURNING reports exactly the rows this call removed.
        removed: set[str] = set()
        try:
            with self._db.begin() as conn:
                for chunk in _chunks(image_names):
                    stmt = (
                        sa.delete(images)
                        .where(images.c.image_name.in_(chunk), images.c.is_intermediate == sa.true(), tenant_clause(images))
                        .returning(images.c.image_name, images.c.tenant_id, images.c.size_bytes)
                    )
                    gone = conn.execute(stmt).all()
                    removed.update(r.image_name for r in gone)
                    release(conn, [(r.tenant_id, r.size_bytes) for r in gone])
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordDeleteException from e
        return [name for name in dict.fromkeys(image_names) if name in removed]

    def save(
        self,
        image_name: str,
        image_origin: ResourceOrigin,
        image_category: ImageCategory,
        width: int,
        height: int,
        has_workflow: bool,
        is_intermediate: Optional[bool] = False,
        starred: Optional[bool] = False,
        session_id: Optional[str] = None,
        node_id: Optional[str] = None,
        metadata: Optional[str] = None,
        user_id: Optional[str] = None,
        image_subfolder: str = "",
    ) -> datetime:
        values = _record_values(
            image_name, image_origin, image_category, width, height, has_workflow, is_intermediate, starred,
            session_id, node_id, metadata, user_id, image_subfolder,
        )
        try:
            with self._db.begin() as conn:
                # Stock is INSERT OR IGNORE: saving an existing name keeps the existing row.
                insert_ignore(conn, images, values, key=["image_name"])
                created_at = conn.execute(
                    sa.select(images.c.created_at).where(images.c.image_name == image_name, tenant_clause(images))
                ).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordSaveException from e
        if created_at is None:  # the name is taken by another tenant's image
            raise ImageRecordSaveException
        return created_at

    def insert_new(
        self,
        image_name: str,
        image_origin: ResourceOrigin,
        image_category: ImageCategory,
        width: int,
        height: int,
        has_workflow: bool,
        is_intermediate: bool | None = False,
        session_id: str | None = None,
        node_id: str | None = None,
        metadata: str | None = None,
        user_id: str | None = None,
        image_subfolder: str = "",
    ) -> ImageRecord:
        """`save` for a freshly named image, in one statement: the record as stored, built from what
        was written rather than read back. A name already taken falls back to `save`'s semantics
        (the existing row is kept; another tenant's name is refused)."""
        values = _record_values(
            image_name, image_origin, image_category, width, height, has_workflow, is_intermediate, False,
            session_id, node_id, metadata, user_id, image_subfolder,
        )
        try:
            with self._db.one_statement() as conn:
                inserted = conn.execute(self._insert_statement(conn), values).first() is not None
        except sa.exc.SQLAlchemyError as e:
            raise ImageRecordSaveException from e
        if not inserted:
            try:
                return self.get(image_name)
            except ImageRecordNotFoundException as e:  # the name is taken by another tenant's image
                raise ImageRecordSaveException from e
        self._remember(image_name, values["user_id"], image_subfolder)
        return _to_record({**values, "deleted_at": None})  # type: ignore[arg-type]

    def _insert_statement(self, conn: sa.Connection) -> sa.Insert:
        stmt = self._insert_new.get(conn.dialect.name)
        if stmt is None:
            stmt = insert_ignore_statement(conn, images, ["image_name"])
            self._insert_new[conn.dialect.name] = stmt
        return stmt

    def get_most_recent_image_for_board(self, board_id: str) -> Optional[ImageRecord]:
        query = (
            sa.select(*_RECORD_COLUMNS)
            .join(board_images, board_images.c.image_name == images.c.image_name)
            .where(
                board_images.c.board_id == board_id,
                images.c.is_intermediate == sa.false(),
                tenant_clause(images),
                tenant_clause(board_images),
            )
            .order_by(images.c.starred.desc(), images.c.created_at.desc(), images.c.image_name.desc())
            .limit(1)
        )
        with self._db.begin() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _to_record(row)

    def _names_result(
        self, where: list[Condition], starred_first: bool, order_dir: SQLiteDirection, params: dict[str, object] | None = None
    ) -> ImageNamesResult:
        names_query = sa.select(images.c.image_name).where(*where).order_by(*_gallery_order(starred_first, order_dir))
        starred_query = sa.select(sa.func.count()).select_from(images).where(images.c.starred == sa.true(), *where)
        with self._db.begin() as conn:
            starred_count = conn.execute(starred_query, params).scalar_one() if starred_first else 0
            names = list(conn.scalars(names_query, params))
        return ImageNamesResult(image_names=names, starred_count=starred_count, total_count=len(names))

    def get_image_names(
        self,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        image_origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> ImageNamesResult:
        shape, params = _gallery_filter(image_origin, categories, is_intermediate, board_id, search_term, user_id, is_admin)
        return self._names_result(_where(shape), starred_first, order_dir, params)

    def get_image_dates(self, user_id: Optional[str] = None, is_admin: bool = False) -> list[VirtualSubBoardDTO]:
        day = sa.func.date(images.c.created_at)  # 'YYYY-MM-DD' text on SQLite, a date on Postgres
        general = images.c.image_category == ImageCategory.GENERAL.value
        per_day = (
            sa.select(
                day.label("day"),
                sa.func.sum(sa.case((general, 1), else_=0)).label("image_count"),
                sa.func.sum(sa.case((general, 0), else_=1)).label("asset_count"),
            )
            .where(tenant_clause(images), images.c.is_intermediate == sa.false(), *_owner_filter(user_id, is_admin))
            .group_by(day)
            .subquery()
        )
        # As stock, the cover is the day's newest image of anyone (in the tenant), not only the user's.
        cover = (
            sa.select(images.c.image_name)
            .where(tenant_clause(images), images.c.is_intermediate == sa.false(), day == per_day.c.day)
            .order_by(images.c.created_at.desc(), images.c.image_name.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = sa.select(per_day, cover.label("cover_image_name")).order_by(per_day.c.day.desc())
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        return [
            VirtualSubBoardDTO(
                virtual_board_id=f"by_date:{r.day}",
                board_name=str(r.day),
                date=str(r.day),
                image_count=r.image_count,
                asset_count=r.asset_count,
                cover_image_name=r.cover_image_name,
            )
            for r in rows
        ]

    def get_image_names_by_date(
        self,
        date: str,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        categories: Optional[list[ImageCategory]] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> ImageNamesResult:
        try:
            start = datetime.combine(Date.fromisoformat(date), time())
        except ValueError:  # stock compares DATE(created_at) to the string: a malformed date matches nothing
            return ImageNamesResult(image_names=[], starred_count=0, total_count=0)
        # A half-open range on created_at (not DATE(created_at) = ?) so the index serves it.
        where = [
            tenant_clause(images),
            images.c.created_at >= start,
            images.c.created_at < start + timedelta(days=1),
            images.c.is_intermediate == sa.false(),
            *_owner_filter(user_id, is_admin),
        ]
        if categories is not None:
            where.append(_category_in(categories))
        if search_term:
            where.append(_matches(_pattern(search_term)))
        return self._names_result(where, starred_first, order_dir)
