"""InvokeAI's polymorphic gallery (images UNION ALL videos) on SQLAlchemy Core, scoped to the current tenant."""

import functools
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa
from invokeai.app.services.gallery.gallery_base import GalleryServiceABC
from invokeai.app.services.gallery.gallery_common import (
    BoardMediaSummary,
    GalleryItem,
    GalleryItemKind,
    GalleryItemNames,
    GalleryItemNamesResult,
    GalleryItemRef,
)
from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.shared.pagination import OffsetPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.urls.urls_base import UrlServiceBase
from invokeai.app.services.virtual_boards.virtual_boards_common import VirtualSubBoardDTO

from invokeai_saas.db import Database, tenant_clause
from invokeai_saas.db.prepared import ScopeKind, scope_clause, scope_kind, scope_params
from invokeai_saas.db.tables.media import board_images, board_videos, images, videos


@dataclass(frozen=True)
class _Media:
    """One half of the union: a media table, its board-membership table and its column names."""

    kind: GalleryItemKind
    table: sa.Table
    board_table: sa.Table
    prefix: str  # "image" -> image_name, image_category, image_origin

    def col(self, suffix: str) -> sa.Column[Any]:
        return self.table.c[f"{self.prefix}_{suffix}"]

    def membership(self, kind: ScopeKind | None = None) -> sa.ColumnElement[bool]:
        """Board rows of this item in the current scope, or in any scope of `kind` (a statement built once)."""
        name = f"{self.prefix}_name"
        scope = tenant_clause(self.board_table) if kind is None else scope_clause(self.board_table, kind)
        return sa.and_(self.board_table.c[name] == self.table.c[name], scope)

    def kind_column(self) -> sa.ColumnElement[str]:
        return sa.literal_column(f"'{self.kind.value}'", sa.String).label("kind")


_IMAGES = _Media(GalleryItemKind.IMAGE, images, board_images, "image")
_VIDEOS = _Media(GalleryItemKind.VIDEO, videos, board_videos, "video")


@dataclass(frozen=True)
class _Filters:
    origin: Optional[ResourceOrigin] = None
    categories: Optional[list[ImageCategory]] = None
    is_intermediate: Optional[bool] = None
    board_id: Optional[str] = None
    search_term: Optional[str] = None
    user_id: Optional[str] = None
    is_admin: bool = False
    created_date: Optional[str] = None


class SqlGalleryService(GalleryServiceABC):
    """Images and videos in one time-sorted stream: the same filters on each half of a UNION ALL."""

    _urls: UrlServiceBase

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def start(self, invoker: Invoker) -> None:
        self._urls = invoker.services.urls

    def _day(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
        """The ISO date ('YYYY-MM-DD') of a timestamp column, as text on both backends."""
        if self._db.is_postgres:
            return sa.func.to_char(column, sa.literal_column("'YYYY-MM-DD'"), type_=sa.String)
        return sa.func.date(column, type_=sa.String)

    def _half(self, media: _Media, f: _Filters, names_only: bool) -> sa.Select[Any]:
        table, board_table = media.table, media.board_table
        no_board = sa.cast(sa.null(), sa.String(36))
        if f.board_id == "none" or (f.board_id is None and names_only):
            source: sa.FromClause = table
            board_id = no_board
        elif f.board_id is not None:
            source = board_table.join(table, media.membership())
            board_id = board_table.c.board_id
        else:
            source = table.outerjoin(board_table, media.membership())
            board_id = board_table.c.board_id

        columns: list[sa.ColumnElement[Any]] = [
            media.kind_column(),
            media.col("name").label("name"),
            table.c.starred.label("starred"),
            table.c.created_at.label("created_at"),
        ]
        if not names_only:
            is_video = media.kind == GalleryItemKind.VIDEO
            columns += [
                table.c.width.label("width"),
                table.c.height.label("height"),
                media.col("category").label("category"),
                table.c.is_intermediate.label("is_intermediate"),
                board_id.label("board_id"),
                (table.c.duration if is_video else sa.cast(sa.null(), sa.Float)).label("duration"),
                (table.c.fps if is_video else sa.cast(sa.null(), sa.Float)).label("fps"),
            ]

        conditions = [tenant_clause(table)]
        if f.origin is not None:
            conditions.append(media.col("origin") == f.origin.value)
        if f.categories is not None:
            conditions.append(media.col("category").in_({c.value for c in f.categories}))
        if f.is_intermediate is not None:
            conditions.append(table.c.is_intermediate == f.is_intermediate)
        if f.created_date is not None:
            conditions.append(self._day(table.c.created_at) == f.created_date)
        if f.board_id == "none":
            conditions.append(~sa.exists().where(media.membership()))
        elif f.board_id is not None:
            conditions.append(board_table.c.board_id == f.board_id)
        # With an explicit board the caller's board access was checked; otherwise a non-admin sees only their own.
        if f.user_id is not None and not f.is_admin and (f.board_id is None or f.board_id == "none"):
            conditions.append(table.c.user_id == f.user_id)
        if f.search_term:
            pattern = f"%{f.search_term.lower()}%"
            # ilike: SQLite's LIKE (what stock relies on) is case-insensitive, Postgres' is not.
            conditions.append(
                sa.or_(table.c.metadata.ilike(pattern), sa.cast(table.c.created_at, sa.String).ilike(pattern))
            )
        return sa.select(*columns).select_from(source).where(*conditions)

    def _union(self, f: _Filters, names_only: bool) -> sa.Subquery:
        return sa.union_all(self._half(_IMAGES, f, names_only), self._half(_VIDEOS, f, names_only)).subquery("items")

    @staticmethod
    def _ordering(items: sa.Subquery, starred_first: bool, order_dir: SQLiteDirection) -> list[Any]:
        """created_at, then kind and name as tie-breakers following `order_dir` (so ASC mirrors DESC)."""
        direction = sa.desc if order_dir == SQLiteDirection.Descending else sa.asc
        order = [direction(items.c.created_at), direction(items.c.kind), direction(items.c.name)]
        return [items.c.starred.desc(), *order] if starred_first else order

    def list_items(
        self,
        offset: int = 0,
        limit: int = 10,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> OffsetPaginatedResults[GalleryItem]:
        f = _Filters(origin, categories, is_intermediate, board_id, search_term, user_id, is_admin)
        items = self._union(f, names_only=False)
        page = sa.select(items).order_by(*self._ordering(items, starred_first, order_dir)).limit(limit).offset(offset)
        with self._db.begin() as conn:
            rows = conn.execute(page).all()
            total = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
        return OffsetPaginatedResults[GalleryItem](
            items=[self._to_item(row) for row in rows], offset=offset, limit=limit, total=total
        )

    def _name_rows(self, starred_first: bool, order_dir: SQLiteDirection, f: _Filters) -> tuple[list[sa.Row[Any]], int]:
        """The ordered name rows plus the starred count, shared by both name-list shapes."""
        items = self._union(f, names_only=True)
        query = sa.select(items.c.kind, items.c.name, items.c.starred).order_by(
            *self._ordering(items, starred_first, order_dir)
        )
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        starred_count = sum(1 for row in rows if row.starred) if starred_first else 0
        return rows, starred_count

    def list_item_names(
        self,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
        created_date: Optional[str] = None,
    ) -> GalleryItemNamesResult:
        f = _Filters(origin, categories, is_intermediate, board_id, search_term, user_id, is_admin, created_date)
        rows, starred_count = self._name_rows(starred_first, order_dir, f)
        refs = [GalleryItemRef(kind=GalleryItemKind(row.kind), name=row.name) for row in rows]
        return GalleryItemNamesResult(items=refs, starred_count=starred_count, total_count=len(refs))

    def get_item_names(
        self,
        starred_first: bool = True,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        origin: Optional[ResourceOrigin] = None,
        categories: Optional[list[ImageCategory]] = None,
        is_intermediate: Optional[bool] = None,
        board_id: Optional[str] = None,
        search_term: Optional[str] = None,
        user_id: Optional[str] = None,
        is_admin: bool = False,
        created_date: Optional[str] = None,
    ) -> GalleryItemNames:
        f = _Filters(origin, categories, is_intermediate, board_id, search_term, user_id, is_admin, created_date)
        rows, starred_count = self._name_rows(starred_first, order_dir, f)
        names = [row.name for row in rows]
        return GalleryItemNames(item_names=names, starred_count=starred_count, total_count=len(names))

    def get_dates(self, user_id: Optional[str] = None, is_admin: bool = False) -> list[VirtualSubBoardDTO]:
        def half(media: _Media) -> sa.Select[Any]:
            table = media.table
            query = sa.select(
                table.c.created_at.label("created_at"),
                self._day(table.c.created_at).label("day"),
                media.kind_column(),
                media.col("name").label("name"),
                media.col("category").label("category"),
            ).where(tenant_clause(table), table.c.is_intermediate.is_(False))
            if user_id is not None and not is_admin:
                query = query.where(table.c.user_id == user_id)
            return query

        items = sa.union_all(half(_IMAGES), half(_VIDEOS)).subquery("items")
        is_image = items.c.kind == GalleryItemKind.IMAGE.value
        is_general = items.c.category == ImageCategory.GENERAL.value
        counts = (
            sa.select(
                items.c.day,
                _count_where(sa.and_(is_image, is_general)).label("image_count"),
                _count_where(sa.and_(is_image, ~is_general)).label("asset_count"),
                _count_where(~is_image).label("video_count"),
            )
            .group_by(items.c.day)
            .order_by(items.c.day.desc())
        )
        # The cover is the newest item of each date; kind/name tie-breakers keep it stable across refetches.
        ranked = sa.select(
            items.c.day,
            items.c.kind,
            items.c.name,
            sa.func.row_number()
            .over(partition_by=items.c.day, order_by=[items.c.created_at.desc(), items.c.kind.desc(), items.c.name.desc()])
            .label("rn"),
        ).subquery("ranked")
        covers_query = sa.select(ranked.c.day, ranked.c.kind, ranked.c.name).where(ranked.c.rn == 1)

        with self._db.begin() as conn:
            count_rows = conn.execute(counts).all()
            covers = {row.day: (row.kind, row.name) for row in conn.execute(covers_query)}

        boards: list[VirtualSubBoardDTO] = []
        for row in count_rows:
            cover_kind, cover_name = covers.get(row.day, (None, None))
            boards.append(
                VirtualSubBoardDTO(
                    virtual_board_id=f"by_date:{row.day}",
                    board_name=row.day,
                    date=row.day,
                    image_count=row.image_count,
                    asset_count=row.asset_count,
                    video_count=row.video_count,
                    cover_image_name=cover_name if cover_kind == GalleryItemKind.IMAGE.value else None,
                    cover_video_name=cover_name if cover_kind == GalleryItemKind.VIDEO.value else None,
                )
            )
        return boards

    def get_board_media_summaries(self, board_ids: list[str]) -> dict[str, BoardMediaSummary]:
        summaries = {board_id: BoardMediaSummary() for board_id in board_ids}
        if not board_ids:
            return summaries
        query = _board_summaries_query(scope_kind())
        with self._db.read() as conn:
            for row in conn.execute(query, {"board_ids": board_ids, **scope_params()}):
                summaries[row.board_id] = BoardMediaSummary(
                    cover_image_name=row.cover_image_name,
                    cover_video_name=row.cover_video_name,
                    image_count=row.image_count,
                    video_count=row.video_count,
                    asset_count=row.asset_count,
                )
        return summaries

    def _to_item(self, row: sa.Row[Any]) -> GalleryItem:
        kind = GalleryItemKind(row.kind)
        url = self._urls.get_image_url if kind == GalleryItemKind.IMAGE else self._urls.get_video_url
        is_video = kind == GalleryItemKind.VIDEO
        return GalleryItem(
            kind=kind,
            name=row.name,
            full_url=url(row.name),
            thumbnail_url=url(row.name, thumbnail=True),
            width=row.width,
            height=row.height,
            category=ImageCategory(row.category),
            starred=bool(row.starred),
            is_intermediate=bool(row.is_intermediate),
            board_id=row.board_id,
            created_at=row.created_at,
            duration=row.duration if is_video else None,
            fps=row.fps if is_video else None,
        )


@functools.cache
def _board_summaries_query(kind: ScopeKind) -> sa.Select[Any]:
    """Per board of `:board_ids`: counts by kind and the cover (starred first, then newest; kind/name break ties)."""

    def half(media: _Media) -> sa.Select[Any]:
        table, board_table = media.table, media.board_table
        return (
            sa.select(
                board_table.c.board_id.label("board_id"),
                media.kind_column(),
                media.col("name").label("name"),
                media.col("category").label("category"),
                table.c.starred.label("starred"),
                table.c.created_at.label("created_at"),
            )
            .select_from(board_table.join(table, media.membership(kind)))
            .where(
                scope_clause(table, kind),
                table.c.is_intermediate.is_(False),
                board_table.c.board_id.in_(sa.bindparam("board_ids", expanding=True)),
            )
        )

    items = sa.union_all(half(_IMAGES), half(_VIDEOS)).subquery("items")
    rank = (
        sa.func.row_number()
        .over(
            partition_by=items.c.board_id,
            order_by=[items.c.starred.desc(), items.c.created_at.desc(), items.c.kind.desc(), items.c.name.desc()],
        )
        .label("rank")
    )
    ranked = sa.select(items, rank).subquery("ranked")
    is_image = ranked.c.kind == GalleryItemKind.IMAGE.value
    is_general = ranked.c.category == ImageCategory.GENERAL.value
    is_cover = ranked.c.rank == 1
    return sa.select(
        ranked.c.board_id,
        _count_where(sa.and_(is_image, is_general)).label("image_count"),
        _count_where(sa.and_(is_image, ~is_general)).label("asset_count"),
        _count_where(~is_image).label("video_count"),
        sa.func.max(sa.case((sa.and_(is_cover, is_image), ranked.c.name))).label("cover_image_name"),
        sa.func.max(sa.case((sa.and_(is_cover, ~is_image), ranked.c.name))).label("cover_video_name"),
    ).group_by(ranked.c.board_id)


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    """COUNT of the rows meeting `condition` (the stock SUM(CASE … 1 ELSE 0) as a portable integer)."""
    return sa.func.count(sa.case((condition, 1)))
