"""InvokeAI's image-subfolder move service on SQLAlchemy Core.

The stock `ImageMoveService` has no ABC; this subclass keeps its public API, its exception
types (the router imports them) and all of its filesystem logic, and replaces every method
that touched the SQLite connection. Moving files is platform maintenance, so every database
unit runs in `system_scope()`: it sees every tenant's images (RLS would hide them otherwise).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from logging import Logger
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai.app.services.config import InvokeAIAppConfig
from invokeai.app.services.image_files.image_files_base import ImageFileStorageBase
from invokeai.app.services.image_moves.image_moves_default import (
    ImageMoveJob,
    ImageMoveQueueActive,
    ImageMoveResult,
    ImageMoveService,
    MoveJobState,
    PlannedImageMove,
)
from invokeai.app.services.image_records.image_records_common import ImageCategory
from invokeai_saas.db import Database
from invokeai_saas.core.ttl_cache import TtlCache
from invokeai_saas.db.tables.image_moves import image_subfolder_move_items as items
from invokeai_saas.db.tables.image_moves import image_subfolder_move_jobs as jobs
from invokeai_saas.db.tables.media import images
from tenant_middleware.context import system_scope

_TERMINAL = ("committed", "error")


ACTIVE_JOB_TTL_S = 1.0


class SqlImageMoveService(ImageMoveService):
    def __init__(
        self,
        db: Database,
        image_files: ImageFileStorageBase,
        config: InvokeAIAppConfig,
        logger: Logger,
        recover_on_start: bool = True,
    ) -> None:
        """`recover_on_start=False`: a worker pod, which leaves start-up recovery to the API pods."""
        super().__init__(db, image_files, config, logger)  # type: ignore[arg-type]
        self._database = db
        self._active_job: TtlCache[bool] = TtlCache(ACTIVE_JOB_TTL_S)
        self._recover_on_start = recover_on_start

    def start(self, invoker: Any) -> None:
        """Stock's start runs recovery; with several API pods only the one holding the cluster's
        start-up lock does (the others would move the same files at once)."""
        if not self._recover_on_start:
            self._invoker = invoker
            self._session_queue = getattr(invoker.services, "session_queue", None)
            return
        with self._database.cluster_lock("image-move-recovery") as held:
            if held:
                super().start(invoker)
                return
        self._invoker = invoker
        self._session_queue = getattr(invoker.services, "session_queue", None)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with system_scope(), self._database.begin() as conn:
            yield conn

    def _assert_no_active_queue_work(self) -> None:
        """Stock asks the default queue's status in the caller's scope: an operator's scope sees no
        tenant's items, so moves would start under running generations. Count every tenant and queue."""
        queue = self._session_queue or (self._invoker.services.session_queue if self._invoker else None)
        if queue is None:
            return
        active = queue.active_item_count_all_tenants()
        if active > 0:
            raise ImageMoveQueueActive(f"Cannot start image move while queue work is active ({active} items queued or running)")

    # --- recovery and planning -------------------------------------------------------------

    def startup_recovery(self) -> ImageMoveResult:
        with self._tx() as conn:
            job_ids = list(conn.scalars(sa.select(jobs.c.id).where(jobs.c.state.in_(("planned", "moving", "moved"))).order_by(jobs.c.id)))
        committed = 0
        errors = 0
        for job_id in job_ids:
            try:
                with self.image_mutation_lock():
                    self.complete_partial_filesystem_moves(job_id)
                    self.cleanup_empty_source_dirs(job_id)
                    committed += self.commit_database_updates(job_id)
            except Exception as e:
                if self._is_unrecoverable_error(e):
                    self.mark_job_unrecoverable(job_id, str(e))
                    errors += max(1, self._count_job_errors(job_id))
                else:
                    errors += 1
                    self.record_job_error_message(job_id, str(e))
            else:
                errors += self._count_job_errors(job_id)
        return ImageMoveResult(committed=committed, errors=errors)

    def count_images_needing_move(self) -> int:
        with self._tx() as conn:
            rows = conn.execute(_live_image_rows()).all()
        return sum(1 for row in rows if self._new_subfolder_of(row) != (row.image_subfolder or ""))

    def _plan_batch(self, last_image_name: str, limit: int, record_missing_errors: bool) -> tuple[list[PlannedImageMove], int]:
        query = _live_image_rows().where(images.c.image_name > last_image_name).order_by(images.c.image_name).limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        moves = [
            self._planned_move(row.image_name, row.image_subfolder or "", new_subfolder, bool(row.is_intermediate))
            for row in rows
            if (new_subfolder := self._new_subfolder_of(row)) != (row.image_subfolder or "")
        ]
        errors = 0
        if record_missing_errors:
            moves, errors = self._record_missing_source_errors(moves)
        self.preflight_moves(moves)
        return moves, errors

    def _next_image_name(self, last_image_name: str) -> str | None:
        query = (
            sa.select(images.c.image_name)
            .where(images.c.image_name > last_image_name, images.c.deleted_at.is_(None))
            .order_by(images.c.image_name)
            .limit(1)
        )
        with self._tx() as conn:
            return conn.scalar(query)

    # --- the journal -----------------------------------------------------------------------

    def create_move_job(self, moves: Sequence[PlannedImageMove]) -> int:
        if not moves:
            raise ValueError("Cannot create an image move job with no items")
        with self._tx() as conn:
            if conn.scalar(sa.select(jobs.c.id).where(jobs.c.state.not_in(_TERMINAL)).limit(1)) is not None:
                raise ValueError("Cannot create image move job while another active image move job exists")
            job_id = _insert_job(conn, "planned")
            conn.execute(sa.insert(items), [_item_values(job_id, move, "planned") for move in moves])
        self._active_job.clear()  # this pod sees its own job at once
        return job_id

    def create_error_move_job(self, move: PlannedImageMove, message: str) -> int:
        with self._tx() as conn:
            job_id = _insert_job(conn, "error", message)
            conn.execute(sa.insert(items).values(**_item_values(job_id, move, "error"), error_message=message))
            return job_id

    def commit_database_updates(self, job_id: int) -> int:
        item = items.alias("item")

        def item_column(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
            return sa.select(column).where(item.c.job_id == job_id, item.c.image_name == images.c.image_name).scalar_subquery()

        moved_names = sa.select(items.c.image_name).where(items.c.job_id == job_id, items.c.state == "moved")
        invalid = (
            sa.select(sa.func.count())
            .select_from(items.outerjoin(images, images.c.image_name == items.c.image_name))
            .where(
                items.c.job_id == job_id,
                items.c.state == "moved",
                sa.or_(images.c.image_name.is_(None), images.c.deleted_at.is_not(None), images.c.image_subfolder != items.c.new_subfolder),
            )
        )
        with self._tx() as conn:
            conn.execute(
                sa.update(images)
                .where(images.c.image_name.in_(moved_names), images.c.image_subfolder == item_column(item.c.old_subfolder))
                .values(image_subfolder=item_column(item.c.new_subfolder))
            )
            if conn.scalar(invalid):
                raise RuntimeError(f"Image move job {job_id} failed commit validation")
            moved_count = conn.scalar(sa.select(sa.func.count()).select_from(moved_names.subquery())) or 0
            error_messages = list(
                conn.scalars(
                    sa.select(items.c.error_message).where(items.c.job_id == job_id, items.c.state == "error").order_by(items.c.image_name)
                )
            )
            conn.execute(sa.update(items).where(items.c.job_id == job_id, items.c.state == "moved").values(state="committed"))
            if not error_messages:
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(state="committed", error_message=None))
            else:
                message = "\n".join(m for m in error_messages if m) or "One or more image move items could not be completed"
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(state="error", error_message=message))
        return moved_count

    def _reconcile_destination_subfolder(self, item: PlannedImageMove) -> None:
        old_path = self.image_files.get_path(item.image_name, image_subfolder=item.old_subfolder)
        new_path = self.image_files.get_path(item.image_name, image_subfolder=item.new_subfolder)
        if old_path.exists() or not new_path.exists():
            return
        with self._tx() as conn:
            conn.execute(
                sa.update(images)
                .where(images.c.image_name == item.image_name, images.c.image_subfolder == item.old_subfolder)
                .values(image_subfolder=item.new_subfolder)
            )

    def _count_job_errors(self, job_id: int) -> int:
        with self._tx() as conn:
            return conn.scalar(sa.select(sa.func.count()).where(items.c.job_id == job_id, items.c.state == "error")) or 0

    def mark_item_moved(self, job_id: int, image_name: str) -> None:
        with self._tx() as conn:
            conn.execute(sa.update(items).where(items.c.job_id == job_id, items.c.image_name == image_name).values(state="moved"))

    def record_job_error_message(self, job_id: int, message: str) -> None:
        with self._tx() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(error_message=message))

    def mark_item_unrecoverable(self, job_id: int, image_name: str, message: str) -> None:
        with self._tx() as conn:
            conn.execute(
                sa.update(items)
                .where(items.c.job_id == job_id, items.c.image_name == image_name)
                .values(state="error", error_message=message)
            )

    def mark_job_unrecoverable(self, job_id: int, message: str) -> None:
        with self._tx() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(state="error", error_message=message))
            conn.execute(sa.update(items).where(items.c.job_id == job_id).values(state="error", error_message=message))

    def get_job(self, job_id: int) -> ImageMoveJob:
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs.c.id, jobs.c.state, jobs.c.error_message).where(jobs.c.id == job_id)).first()
        if row is None:
            raise ValueError(f"Image move job not found: {job_id}")
        return _job(row)

    def get_latest_job(self) -> ImageMoveJob | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs.c.id, jobs.c.state, jobs.c.error_message).order_by(jobs.c.id.desc()).limit(1)).first()
        return None if row is None else _job(row)

    def _get_items(self, job_id: int, include_terminal: bool = True) -> list[PlannedImageMove]:
        query = sa.select(items.c.image_name, items.c.old_subfolder, items.c.new_subfolder, items.c.is_intermediate).where(
            items.c.job_id == job_id
        )
        if not include_terminal:
            query = query.where(items.c.state.not_in(_TERMINAL))
        with self._tx() as conn:
            rows = conn.execute(query.order_by(items.c.image_name)).all()
        return [self._planned_move(r.image_name, r.old_subfolder, r.new_subfolder, bool(r.is_intermediate)) for r in rows]

    def _set_job_state(self, job_id: int, state: MoveJobState) -> None:
        with self._tx() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(state=state))

    def _has_active_job_for_image(self, image_name: str) -> bool:
        query = (
            sa.select(sa.literal(1))
            .select_from(items.join(jobs, jobs.c.id == items.c.job_id))
            .where(items.c.image_name == image_name, jobs.c.state.not_in(_TERMINAL))
            .limit(1)
        )
        with self._tx() as conn:
            return conn.scalar(query) is not None

    def is_maintenance_active(self) -> bool:
        """Asked before every image write and enqueue: a job started on another pod is seen within
        ACTIVE_JOB_TTL_S (this pod's own jobs at once, through the in-memory state stock checks first)."""
        with self._future_lock:
            self._refresh_finished_future_locked()
            busy_here = self._future_operation is not None or (self._future is not None and not self._future.done())
        return busy_here or self._active_job.get("active", lambda: self._get_active_job_id() is not None)

    def _get_active_job_id(self) -> int | None:
        with self._tx() as conn:
            return conn.scalar(sa.select(jobs.c.id).where(jobs.c.state.not_in(_TERMINAL)).order_by(jobs.c.id).limit(1))

    # --- helpers ---------------------------------------------------------------------------

    def _new_subfolder_of(self, row: sa.Row[Any]) -> str:
        return self._get_new_subfolder(
            image_name=row.image_name,
            image_category=ImageCategory(row.image_category),
            is_intermediate=bool(row.is_intermediate),
            created_at=row.created_at,
        )

    def _planned_move(self, image_name: str, old_subfolder: str, new_subfolder: str, is_intermediate: bool) -> PlannedImageMove:
        def path(subfolder: str, thumbnail: bool = False):  # type: ignore[no-untyped-def]
            return self.image_files.get_path(image_name, thumbnail=thumbnail, image_subfolder=subfolder)

        return PlannedImageMove(
            image_name=image_name,
            old_subfolder=old_subfolder,
            new_subfolder=new_subfolder,
            is_intermediate=is_intermediate,
            old_path=path(old_subfolder),
            new_path=path(new_subfolder),
            old_thumbnail_path=path(old_subfolder, thumbnail=True),
            new_thumbnail_path=path(new_subfolder, thumbnail=True),
        )


def _live_image_rows() -> sa.Select[Any]:
    return sa.select(
        images.c.image_name, images.c.image_subfolder, images.c.image_category, images.c.is_intermediate, images.c.created_at
    ).where(images.c.deleted_at.is_(None))


def _insert_job(conn: Connection, state: MoveJobState, error_message: str | None = None) -> int:
    result = conn.execute(sa.insert(jobs).values(state=state, error_message=error_message))
    return cast(int, result.inserted_primary_key[0])  # type: ignore[index]


def _item_values(job_id: int, move: PlannedImageMove, state: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "image_name": move.image_name,
        "old_subfolder": move.old_subfolder,
        "new_subfolder": move.new_subfolder,
        "is_intermediate": move.is_intermediate,
        "old_path": str(move.old_path),
        "new_path": str(move.new_path),
        "old_thumbnail_path": str(move.old_thumbnail_path),
        "new_thumbnail_path": str(move.new_thumbnail_path),
        "state": state,
    }


def _job(row: sa.Row[Any]) -> ImageMoveJob:
    return ImageMoveJob(id=row.id, state=cast(MoveJobState, row.state), error_message=row.error_message)
