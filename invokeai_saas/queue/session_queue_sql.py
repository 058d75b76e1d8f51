"""InvokeAI's session queue on SQLAlchemy Core, scoped to tenants.

Scopes:
- Route-facing methods (everything keyed by `queue_id`, plus `get_queue_item`, `cancel_queue_item`,
  `delete_queue_item`) see only the caller's tenant: another tenant's item is "not found".
- `dequeue()` claims across every tenant (system scope), skipping suspended tenants' items;
  `tenant_of()` tells the runner which tenant to enter while it runs the item.
- Processor-only transitions (`complete/fail/suspend/resume_queue_item`, `set/save_queue_item_session`,
  `enqueue_workflow_call_child`, `cancel_workflow_call_children`) act as the item's tenant when the
  caller has no tenant scope (the processor thread); a caller scoped to a tenant stays filtered to it.
- Every event is emitted with the owning tenant as the current scope, and the queue status it
  carries counts only that tenant's items.
- Many processes share the table: `dequeue` claims through `dispatch.claims.Dispatcher` (leases,
  tier order, tenant fairness, plan concurrency), a worker's own transitions are fenced by its
  claim, and every change a worker must hear about (new work, a cancel) is published as a
  `dispatch.signals` signal in the transaction that makes it. Start-up cancels nothing.
"""

import asyncio
import functools
import json
import logging
import math
from types import SimpleNamespace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Coroutine, Optional

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy.engine import Connection, Row

from invokeai.app.services.invoker import Invoker
from invokeai.app.services.session_queue.session_queue_base import SessionQueueBase
from invokeai.app.services.session_queue.session_queue_common import (
    DEFAULT_QUEUE_ID,
    QUEUE_ITEM_STATUS,
    Batch,
    BatchStatus,
    CancelAllExceptCurrentResult,
    CancelByBatchIDsResult,
    CancelByDestinationResult,
    CancelByQueueIDResult,
    ClearResult,
    DeleteAllExceptCurrentResult,
    DeleteByDestinationResult,
    EnqueueBatchResult,
    IsEmptyResult,
    IsFullResult,
    ItemIdsResult,
    NodeFieldValue,
    PruneResult,
    RetryItemsResult,
    SessionQueueCountsByDestination,
    SessionQueueItem,
    SessionQueueItemNotFoundError,
    SessionQueueItemSummary,
    SessionQueueStatus,
    TooManySessionsError,
    calc_session_count,
    prepare_values_to_insert,
)
from invokeai.app.services.shared.graph import GraphExecutionState
from invokeai.app.services.shared.pagination import CursorPaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai_saas.db.database import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import upsert
from invokeai_saas.db.prepared import ScopeKind, scope_clause, scope_kind, scope_params
from invokeai_saas.queue.claims import RACED, Claimed, Deferred, Dispatcher, Raced, Reaped
from invokeai_saas.core.running_claim import Claim, current_worker_id, held_claim, hold
from invokeai_saas.money import metering
from invokeai_saas.media.images import discard_lost_attempts
from tenant_middleware.errors import ErrorCode, ServiceError
from invokeai_saas.money.gating import Assessment, EnqueueGate, WorkspaceState, assess, workspace_state
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.core.metrics import ITEM_SECONDS, WORKER_ERRORS
from invokeai_saas.queue.warm import cached_model_keys, model_keys
from invokeai_saas.queue.signals import CANCEL, PAUSE, RESUME, WAKE, QueueSignals, Signal
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import app_settings, users
from tenant_middleware.context import as_tenant, current_tenant_id, is_system_scope, system_scope

TERMINAL = ("completed", "failed", "canceled")
CREDITS_EXHAUSTED = "credits_exhausted"  # a running item canceled because its workspace's balance was spent
PAUSED_KEY = "queue_paused"
# Keeps `IN (...)` lists under SQLite's lowest bind-parameter limit, as stock does.
MAX_IDS_PER_STATEMENT = 900
# Column order of stock's `ValueToInsertTuple`.
_INSERT_KEYS = (
    "queue_id",
    "session",
    "session_id",
    "batch_id",
    "field_values",
    "priority",
    "workflow",
    "origin",
    "destination",
    "retried_from_item_id",
    "user_id",
)
_ITEM_COLUMNS = [c for c in sq.c if c.name != "tenant_id"]
_STATUS_FIELDS = ("status", "status_sequence", "error_type", "error_message", "error_traceback")
_STATUS_FIELDS += ("created_at", "updated_at", "started_at", "completed_at", "device")


def _found_select(item_id: int) -> sa.Select:
    """What a status change reads of an item before it moves it (the caller's scope)."""
    return sa.select(sq.c.item_id, sq.c.status, sq.c.tenant_id, sq.c.worker_id, sq.c.attempt, sq.c.started_at).where(
        sq.c.item_id == item_id, tenant_clause(sq)
    )


def _update_unless_finished(
    conn: Connection, item_id: int, claim: Claim | None, values: dict[str, Any]
) -> tuple[Any, Any]:
    """Postgres: moves the item (locked, in the caller's scope) unless it is finished or this thread's
    claim on it was lost, in one statement; returns (the item as it was, its new status fields), or
    (None, None) when nothing moved (missing, finished or lost: the caller reads which)."""
    plain = {k: v for k, v in values.items() if k != "status_sequence"}  # that one is `_NEXT_STATUS_SEQUENCE`
    stmt = _transition_statement(scope_kind(), claim is not None, tuple(sorted(plain)))
    params = {"t_item": item_id, **{f"v_{k}": v for k, v in plain.items()}, **scope_params()}
    if claim is not None:
        params |= {"c_worker": claim.worker_id, "c_attempt": claim.attempt}
    row = conn.execute(stmt, params).first()
    if row is None:
        return None, None
    found = SimpleNamespace(**{name: row._mapping[f"old_{name}"] for name in _FOUND_FIELDS})
    return found, {name: row._mapping[name] for name in _STATUS_FIELDS}


_NEXT_STATUS_SEQUENCE = sa.func.coalesce(sq.c.status_sequence, 0) + 1
_FOUND_FIELDS = ("item_id", "status", "tenant_id", "worker_id", "attempt", "started_at")


@functools.cache
def _transition_statement(kind: ScopeKind, fenced: bool, plain: tuple[str, ...]) -> sa.Update:
    """`_update_unless_finished`'s statement, built once per shape: the item's row locked in a
    subquery, the guard on what it was, the new values, and both back."""
    old = (
        sa.select(*(sq.c[name] for name in _FOUND_FIELDS))
        .where(sq.c.item_id == sa.bindparam("t_item"), scope_clause(sq, kind))
        .with_for_update()
        .subquery("old")
    )
    guard = [sq.c.item_id == old.c.item_id, *(old.c.status != done for done in TERMINAL)]  # no IN list to expand per call
    if fenced:
        guard += [old.c.worker_id == sa.bindparam("c_worker"), old.c.attempt == sa.bindparam("c_attempt")]
    values: dict[str, Any] = {k: sa.bindparam(f"v_{k}", type_=sq.c[k].type) for k in plain}
    values["status_sequence"] = _NEXT_STATUS_SEQUENCE
    return (
        sa.update(sq)
        .where(*guard)
        .values(**values)
        .returning(*(old.c[name].label(f"old_{name}") for name in _FOUND_FIELDS), *(sq.c[name] for name in _STATUS_FIELDS))
    )


def _not_found(item_id: int) -> SessionQueueItemNotFoundError:
    return SessionQueueItemNotFoundError(f"No queue item with id {item_id}")


def _observe_finished(status: str, error_type: str | None, started_at: Any) -> None:
    ITEM_SECONDS.labels(status).observe(max((utcnow() - started_at).total_seconds(), 0.0))
    if status == "failed":
        WORKER_ERRORS.labels(error_type or "unknown").inc()


def _lost(claim: Claim | None, row: Row) -> bool:
    """True when this thread claimed the item but its claim is no longer the item's current one."""
    return claim is not None and (row.worker_id, row.attempt) != (claim.worker_id, claim.attempt)


def _status_values(status: str) -> dict[str, Any]:
    """What stock's triggers and UPDATEs set when an item moves to `status`."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "status_sequence": _NEXT_STATUS_SEQUENCE,
        "updated_at": now,
    }
    if status == "in_progress":
        values["started_at"] = now
    if status in TERMINAL:
        values["completed_at"] = now
    if status != "in_progress":
        values["lease_expires_at"] = None
    if status in ("pending", "waiting"):
        values["worker_id"] = None  # nobody holds a waiting parent or a resumed item
    return values


def _item_select() -> sa.Select:
    """Items with their owner's display name and e-mail, within the caller's scope."""
    return (
        sa.select(*_ITEM_COLUMNS, users.c.display_name.label("user_display_name"), users.c.email.label("user_email"))
        .select_from(sq.outerjoin(users, sq.c.user_id == users.c.user_id))
        .where(tenant_clause(sq))
    )


def _to_item(row: Row) -> SessionQueueItem:
    return SessionQueueItem.queue_item_from_dict(dict(row._mapping))


_EVENT_STATUSES = sa.text("SELECT pingvas_event_statuses(:tenant, :queue, :batch, :user)")


def queue_item_tenant() -> str | None:
    """The tenant whose items an event's statuses count: the current scope's (platform items: None)."""
    return None if is_system_scope() else current_tenant_id()


def _statuses_from(statuses: dict[str, Any], item: SessionQueueItem) -> tuple[BatchStatus, SessionQueueStatus]:
    """An event's batch and queue status from `pingvas_event_statuses` (Postgres, one statement), as
    `get_batch_status` and `get_queue_status` compute them for the item's owner."""
    current = statuses["current"]
    shown = current is not None and (item.user_id is None or current["user_id"] == item.user_id)
    batch = BatchStatus(
        batch_id=item.batch_id,
        origin=statuses["origin"],
        destination=statuses["destination"],
        queue_id=item.queue_id,
        **_status_counts(statuses["batch_counts"]),
    )
    user_counts = statuses["user_counts"]
    queue = SessionQueueStatus(
        queue_id=item.queue_id,
        item_id=current["item_id"] if shown else None,
        session_id=current["session_id"] if shown else None,
        batch_id=current["batch_id"] if shown else None,
        **_status_counts(statuses["counts"]),
        user_pending=user_counts.get("pending", 0) if item.user_id is not None else None,
        user_in_progress=user_counts.get("in_progress", 0) if item.user_id is not None else None,
    )
    return batch, queue


def _counts(conn: Connection, where: sa.ColumnElement[bool]) -> dict[str, int]:
    rows = conn.execute(sa.select(sq.c.status, sa.func.count()).where(where, tenant_clause(sq)).group_by(sq.c.status))
    return {status: count for status, count in rows}


def _counts_with_user(
    conn: Connection, where: sa.ColumnElement[bool], user_id: str | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts by status of the scope's items, and of one user's among them, in one statement."""
    mine = sa.func.count().filter(sq.c.user_id == user_id) if user_id is not None else sa.literal(0)
    rows = conn.execute(
        sa.select(sq.c.status, sa.func.count(), mine).where(where, tenant_clause(sq)).group_by(sq.c.status)
    ).all()
    return {status: total for status, total, _ in rows}, {status: own for status, _, own in rows}


def _status_counts(counts: dict[str, int]) -> dict[str, int]:
    statuses = ("pending", "in_progress", "waiting", "completed", "failed", "canceled")
    return {s: counts.get(s, 0) for s in statuses} | {"total": sum(counts.values())}


def _not_finished() -> sa.ColumnElement[bool]:
    return sq.c.status.not_in(TERMINAL)


def _cancelable_backlog() -> sa.ColumnElement[bool]:
    # In-progress items are canceled one by one (see _cancel_in_progress) so each worker is signaled.
    return sa.and_(_not_finished(), sq.c.status != "in_progress")


def _without_nul(text: str | None) -> str | None:
    return text.replace("\x00", "\\0") if text is not None else None


def refuse_non_finite(batch: Batch) -> None:
    """NaN and infinities are not numbers JSON can carry: a graph holding one is malformed input (422)."""
    found = _non_finite_path(batch.model_dump(mode="python", warnings=False))
    if found is not None:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"{found} is not a finite number (NaN and infinity are refused)")


def _non_finite_path(value: Any, path: str = "batch") -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, inner in items:
        found = _non_finite_path(inner, f"{path}.{key}")
        if found is not None:
            return found
    return None


def refuse_unloadable(session_json: str) -> None:
    """A graph that does not validate once stored (a required value sent as null, which storing
    drops) would fail every worker that claims it: malformed input (422)."""
    try:
        GraphExecutionState.model_validate_json(session_json)
    except ValueError as e:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"The graph is malformed once stored (a required value is null?): {e}"[:2000]) from e


class UnsavableSession(ValueError):
    """A session whose JSON would not load again (an infinite result a node computed, say): the item
    fails with this error instead of storing what could not be read back."""


def session_to_json(session: GraphExecutionState) -> str:
    """The session as stored: JSON that validates back into the same session. exclude_none: nulls in
    the graph fail validation when it is loaded again; a value JSON cannot carry (inf becomes null)
    fails the round trip here, where the worker can still fail the item, not when it is read."""
    session_json = session.model_dump_json(warnings=False, exclude_none=True)
    try:
        GraphExecutionState.model_validate_json(session_json)
    except ValueError as e:
        raise UnsavableSession(
            f"The session's results could not be saved (a value such as an infinite or NaN number cannot be stored): {e}"
        ) from e
    return session_json


_RUNNING_ATTEMPT = (
    sa.select(sq.c.tenant_id)
    .where(sq.c.item_id == sa.bindparam("r_item"), sq.c.attempt == sa.bindparam("r_attempt"), sq.c.status == "in_progress")
    .with_for_update()
)


# The item whose session this worker thread runs (see `SqlSessionQueue.running`).
_running_item: ContextVar[SessionQueueItem | None] = ContextVar("pingvas_running_item", default=None)


@functools.cache
def _save_session_statement(kind: ScopeKind, fenced: bool) -> sa.Update:
    """A worker saves each item's session: built once per kind of scope (see `db.prepared`)."""
    where = [sq.c.item_id == sa.bindparam("s_item"), scope_clause(sq, kind)]
    if fenced:
        where += [sq.c.worker_id == sa.bindparam("c_worker"), sq.c.attempt == sa.bindparam("c_attempt")]
    return (
        sa.update(sq)
        .where(*where)
        .values(session=sa.bindparam("s_session"), updated_at=sa.bindparam("s_now"))
        .returning(*(sq.c[name] for name in _STATUS_FIELDS))
    )


@functools.cache
def _status_of_statement(kind: ScopeKind) -> sa.Select:
    return sa.select(sq.c.status).where(sq.c.item_id == sa.bindparam("s_item"), scope_clause(sq, kind))


class LeaseLost(SessionQueueItemNotFoundError):
    """A worker wrote to an item it no longer holds (its lease expired and the item went back to the queue)."""


class SqlSessionQueue(SessionQueueBase):
    _invoker: Invoker

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher | None = None,
        signals: QueueSignals | None = None,
        single_process: bool = False,
        ledger: CreditLedger | None = None,
    ) -> None:
        """`single_process`: this process is the only one using the database (the embedded SQLite
        studio), so at start-up whatever is in progress was left by a crash and is returned at once.
        `ledger`: enqueues are gated by plan and credits and attempts are charged (None: neither)."""
        super().__init__()
        self._db = db
        self.ledger = ledger
        self._gate = EnqueueGate(ledger) if ledger is not None else None
        self.dispatcher = dispatcher or Dispatcher(db)
        self.signals = signals or QueueSignals()
        self._single_process = single_process
        self._stopping = False

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self._stopping = False
        config = invoker.services.configuration
        with system_scope():
            if self._single_process:
                self._announce_reaped(self.dispatcher.reap(expire_all=True, on_lost=self._refund_lost_attempt))
            if config.clear_queue_on_startup:
                invoker.services.logger.warning("clear_queue_on_startup is ignored: other pods share this queue")
            if config.max_queue_history is not None:
                deleted = self._prune_terminal_to_limit(DEFAULT_QUEUE_ID, config.max_queue_history)
                if deleted > 0:
                    invoker.services.logger.info(
                        f"Pruned {deleted} completed/failed/canceled queue items (kept up to {config.max_queue_history})"
                    )

    def stop_claiming(self) -> None:
        """A stopping worker claims nothing more (its items are handed back by its processor)."""
        self._stopping = True

    # region shared control (system scope)

    def is_paused(self) -> bool:
        with system_scope(), self._db.begin() as conn:
            value = conn.execute(sa.select(app_settings.c.value).where(app_settings.c.key == PAUSED_KEY)).scalar()
        return value == "true"

    def set_paused(self, paused: bool) -> None:
        """Pauses or resumes every worker: the flag they read, and the signal that tells them now."""
        with system_scope(), self._db.begin() as conn:
            upsert(conn, app_settings, {"key": PAUSED_KEY, "value": "true" if paused else "false"}, key=["key"], update=["value"])
            self.signals.publish(conn, Signal(PAUSE if paused else RESUME))

    # endregion

    # region leases (system scope)

    def reap(self) -> list[Reaped]:
        """Returns items of dead workers to the queue (or fails them after too many attempts)."""
        with system_scope():
            reaped = self.dispatcher.reap(on_lost=self._refund_lost_attempt)
            self._announce_reaped(reaped)
        return reaped

    def hand_back(self, worker_ids: list[str], uncounted: set[int] | None = None) -> list[Reaped]:
        with system_scope():
            returned = self.dispatcher.hand_back(worker_ids, uncounted, on_lost=self._refund_lost_attempt)
            self._announce_reaped(returned)
        return returned

    def _refund_lost_attempt(self, conn: Connection, item_id: int, tenant_id: str | None, attempt: int) -> None:
        """A lost attempt is the platform's failure: what it was charged while it ran comes back."""
        metering.forget({item_id})
        if self.ledger is not None:
            self.ledger.refund_lost_attempt(conn, tenant_id, item_id, attempt)

    def _announce_reaped(self, reaped: list[Reaped]) -> None:
        # An item back in the queue starts over: the images its lost attempt wrote go first.
        discard_lost_attempts(self._invoker.services.images, [r.item_id for r in reaped if r.status == "pending"])
        for item in reaped:
            with as_tenant(item.tenant_id):
                try:
                    self._emit_status_changed(self.get_queue_item(item.item_id))
                except SessionQueueItemNotFoundError:
                    continue
        if any(r.status == "pending" for r in reaped):
            self.signals.publish(None, Signal(WAKE))

    # endregion

    # region scopes

    def active_item_count_all_tenants(self) -> int:
        """Pending and running items of every tenant in every queue: platform maintenance asks this."""
        with system_scope(), self._db.begin() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(sq.c.status.in_(("pending", "in_progress")))
            ).scalar_one()

    def tenant_of(self, item_id: int) -> str | None:
        """The tenant owning an item (None if missing or a platform item). Do not call inside an open transaction."""
        with system_scope(), self._db.begin() as conn:
            return conn.execute(sa.select(sq.c.tenant_id).where(sq.c.item_id == item_id)).scalar_one_or_none()

    @contextmanager
    def _owner_scope(self, find_tenant: Callable[[], str | None]) -> Iterator[None]:
        """For processor-only calls: with no tenant scope, act as the item's tenant; else stay in the caller's."""
        if current_tenant_id() is not None and not is_system_scope():
            yield
            return
        with as_tenant(find_tenant()):
            yield

    def _item_owner_scope(self, item_id: int) -> Any:
        return self._owner_scope(lambda: self.tenant_of(item_id))

    # endregion

    # region enqueue / dequeue

    def enqueue_batch(
        self, queue_id: str, batch: Batch, prepend: bool, user_id: str = "system"
    ) -> Coroutine[Any, Any, EnqueueBatchResult]:
        # asyncio.to_thread copies the caller's context, so the tenant scope goes along.
        return asyncio.to_thread(self._enqueue_batch, queue_id, batch, prepend, user_id)

    def _enqueue_batch(self, queue_id: str, batch: Batch, prepend: bool, user_id: str) -> EnqueueBatchResult:
        refuse_non_finite(batch)
        # One transaction for the size check and the insert: fewer round trips, and the check holds.
        with self._db.begin() as conn:
            tenant_id = current_tenant_id()
            # Gated: the workspace's row is locked first, and the same read counts its pending items.
            state = self._gate.lock(conn, tenant_id, queue_id) if self._gate is not None and tenant_id is not None else None
            pending = state.pending if state is not None else self._pending_count(queue_id)
            max_new_queue_items = self._invoker.services.configuration.max_queue_size - pending
            priority = self._highest_pending_priority(queue_id) + 1 if prepend else 0
            values = prepare_values_to_insert(
                queue_id=queue_id, batch=batch, priority=priority, max_new_queue_items=max_new_queue_items, user_id=user_id
            )
            if values:  # every session of a batch has the same graph: the first one proves they all load again
                refuse_unloadable(values[0][_INSERT_KEYS.index("session")])
            inserted = self._insert_items(conn, [dict(zip(_INSERT_KEYS, v, strict=True)) for v in values], state)
            if inserted:
                self.signals.publish(conn, Signal(WAKE))
        item_ids = sorted(inserted, reverse=True)
        result = EnqueueBatchResult(
            queue_id=queue_id,
            requested=calc_session_count(batch=batch),
            enqueued=len(values),
            batch=batch,
            priority=priority,
            item_ids=list(item_ids),
        )
        self._invoker.services.events.emit_batch_enqueued(result, user_id=user_id)
        return result

    def estimate_batch(self, queue_id: str, batch: Batch) -> Assessment:
        """What enqueuing `batch` now would cost the caller's workspace, and whether it would be
        refused; nothing is written."""
        tenant_id = current_tenant_id()
        if tenant_id is None:
            raise ServiceError(ErrorCode.NOT_FOUND, "Operators' own items are not billed")
        # Every session of a batch runs the same nodes and models (batch data sets only scalar fields),
        # so one session's graph prices them all, without building each one.
        session = json.dumps({"graph": batch.graph.model_dump(mode="json", warnings=False)})
        row = {"session": session, "model_keys": model_keys(session)}
        sessions = min(calc_session_count(batch), self._invoker.services.configuration.max_queue_size)
        with self._db.begin() as conn:
            return assess(conn, workspace_state(conn, tenant_id), [row], repeat=sessions)

    def _insert_items(self, conn: Connection, rows: list[dict[str, Any]], state: WorkspaceState | None = None) -> list[int]:
        """Insert queue items; returns their ids."""
        if not rows:
            return []
        now = utcnow()
        tenant_id = current_tenant_id()
        stamp = {"tenant_id": tenant_id, "created_at": now, "updated_at": now}
        rows = [row | stamp | {"model_keys": model_keys(row["session"])} for row in rows]
        if self._gate is not None:  # refuses before anything is written
            estimates = self._gate.check(conn, tenant_id, rows, state)
            rows = [row | {"estimate_credits": estimate} for row, estimate in zip(rows, estimates, strict=True)]
        return list(conn.scalars(sa.insert(sq).returning(sq.c.item_id), rows))

    def _pending_count(self, queue_id: str) -> int:
        with self._db.begin() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(sq.c.queue_id == queue_id, sq.c.status == "pending", tenant_clause(sq))
            ).scalar_one()

    def _highest_pending_priority(self, queue_id: str) -> int:
        with self._db.begin() as conn:
            highest = conn.execute(
                sa.select(sa.func.max(sq.c.priority)).where(
                    sq.c.queue_id == queue_id, sq.c.status == "pending", tenant_clause(sq)
                )
            ).scalar_one()
        return highest or 0

    def dequeue(self, device: Optional[str] = None) -> Optional[SessionQueueItem]:
        """Claims the next item in dispatch order for this thread's worker (see `queue.claims`), with
        what its status-changed event carries: on Postgres in one statement, on SQLite in one transaction."""
        if self._stopping:
            return None
        if self._db.is_postgres:
            return self._dequeue_postgres(device)
        with system_scope():
            with self._db.begin() as conn:
                claim = self.dispatcher.claim(conn, current_worker_id(), device, self._warm_models())
                if isinstance(claim, Claim):
                    with as_tenant(claim.tenant_id):
                        queue_item = self.get_queue_item(claim.item_id)
                        statuses = self._statuses_of(queue_item)
            if isinstance(claim, Claim | Deferred):
                self.dispatcher.pass_over(claim.passed)
            if not isinstance(claim, Claim):
                return self._claimed_nothing(claim)
            hold(claim)
            with as_tenant(claim.tenant_id):
                self._invoker.services.events.emit_queue_item_status_changed(queue_item, *statuses)
        return queue_item

    def _dequeue_postgres(self, device: Optional[str]) -> Optional[SessionQueueItem]:
        claimed = self.dispatcher.claim_postgres(current_worker_id(), device, self._warm_models())
        if not isinstance(claimed, Claimed):
            return self._claimed_nothing(claimed)
        hold(claimed.claim)
        queue_item = SessionQueueItem.queue_item_from_dict(claimed.row)
        with as_tenant(claimed.claim.tenant_id):
            self._invoker.services.events.emit_queue_item_status_changed(
                queue_item, *_statuses_from(claimed.statuses, queue_item)
            )
        return queue_item

    def _claimed_nothing(self, outcome: "Raced | Deferred | None") -> None:
        if outcome is RACED:  # there is work, others just got to it first: no idle wait for the poll
            self.signals.publish(None, Signal(WAKE))
        elif isinstance(outcome, Deferred):  # the work waits for warmer workers, at most until then
            self.signals.wake_later(outcome.seconds)
        hold(None)
        return None

    def record_warm_models(self, **_: Any) -> None:
        """A session runner's after-node callback: once a node has loaded its models (and the cache
        evicted others), other workers' claims see what this worker really holds. A hint for
        dispatch only: failing to record it must not fail the item."""
        try:
            warm = self._warm_models()
            if warm is not None:
                self.dispatcher.record_models(current_worker_id(), warm)
        except Exception:
            logging.getLogger("pingvas.dispatch").warning("could not record this worker's models", exc_info=True)

    def _warm_models(self) -> frozenset[str] | None:
        """The models this worker thread's device cache holds (warm-model dispatch), or None when off."""
        if self.dispatcher.warm_wait.total_seconds() <= 0:
            return None
        return cached_model_keys(self._invoker.services.model_manager.load.ram_cache)

    # endregion

    # region reads

    def get_queue_item(self, item_id: int) -> SessionQueueItem:
        with self._db.begin() as conn:
            row = conn.execute(_item_select().where(sq.c.item_id == item_id)).first()
        if row is None:
            raise _not_found(item_id)
        return _to_item(row)

    def get_next(self, queue_id: str) -> Optional[SessionQueueItem]:
        query = (
            _item_select()
            .where(sq.c.queue_id == queue_id, sq.c.status == "pending")
            .order_by(sq.c.priority.desc(), sq.c.created_at, sq.c.item_id)
        )
        return self._first_item(query)

    def get_current(self, queue_id: str) -> Optional[SessionQueueItem]:
        return self._first_item(
            _item_select().where(sq.c.queue_id == queue_id, sq.c.status == "in_progress").order_by(sq.c.item_id)
        )

    def _first_item(self, query: sa.Select) -> Optional[SessionQueueItem]:
        with self._db.begin() as conn:
            row = conn.execute(query.limit(1)).first()
        return _to_item(row) if row is not None else None

    def list_queue_items(
        self,
        queue_id: str,
        limit: int,
        priority: int,
        cursor: Optional[int] = None,
        status: Optional[QUEUE_ITEM_STATUS] = None,
        destination: Optional[str] = None,
    ) -> CursorPaginatedResults[SessionQueueItem]:
        query = _item_select().where(sq.c.queue_id == queue_id)
        if status is not None:
            query = query.where(sq.c.status == status)
        if destination is not None:
            query = query.where(sq.c.destination == destination)
        if cursor is not None:
            # Stock's SQL lacks these parentheses, so its cursor clause escaped the other filters.
            query = query.where(
                sa.or_(sq.c.priority < priority, sa.and_(sq.c.priority == priority, sq.c.item_id > cursor))
            )
        query = query.order_by(sq.c.priority.desc(), sq.c.item_id).limit(limit + 1)
        with self._db.begin() as conn:
            items = [_to_item(row) for row in conn.execute(query)]
        has_more = len(items) > limit
        return CursorPaginatedResults(items=items[:limit], limit=limit, has_more=has_more)

    def list_all_queue_items(self, queue_id: str, destination: Optional[str] = None) -> list[SessionQueueItem]:
        query = _item_select().where(sq.c.queue_id == queue_id)
        if destination is not None:
            query = query.where(sq.c.destination == destination)
        with self._db.begin() as conn:
            return [_to_item(row) for row in conn.execute(query.order_by(sq.c.priority.desc(), sq.c.item_id))]

    def get_queue_item_ids(
        self,
        queue_id: str,
        order_dir: SQLiteDirection = SQLiteDirection.Descending,
        user_id: Optional[str] = None,
    ) -> ItemIdsResult:
        query = sa.select(sq.c.item_id).where(sq.c.queue_id == queue_id, tenant_clause(sq))
        if user_id is not None:
            query = query.where(sq.c.user_id == user_id)
        descending = order_dir == SQLiteDirection.Descending
        order = [c.desc() if descending else c.asc() for c in (sq.c.created_at, sq.c.item_id)]
        with self._db.begin() as conn:
            item_ids = list(conn.execute(query.order_by(*order)).scalars())
        return ItemIdsResult(item_ids=item_ids, total_count=len(item_ids))

    def get_queue_item_summaries_by_ids(self, queue_id: str, item_ids: list[int]) -> list[SessionQueueItemSummary]:
        if not item_ids:
            return []
        fields = [
            *(sq.c[name] for name in SessionQueueItemSummary.model_fields if name in sq.c),
            users.c.display_name.label("user_display_name"),
            users.c.email.label("user_email"),
        ]
        base = (
            sa.select(*fields)
            .select_from(sq.outerjoin(users, sq.c.user_id == users.c.user_id))
            .where(sq.c.queue_id == queue_id, tenant_clause(sq))
        )
        summaries: dict[int, SessionQueueItemSummary] = {}
        with self._db.begin() as conn:
            for start in range(0, len(item_ids), MAX_IDS_PER_STATEMENT):
                chunk = item_ids[start : start + MAX_IDS_PER_STATEMENT]
                for row in conn.execute(base.where(sq.c.item_id.in_(chunk))):
                    summaries[row.item_id] = SessionQueueItemSummary.queue_item_summary_from_dict(dict(row._mapping))
        return [summaries[i] for i in item_ids if i in summaries]

    def is_empty(self, queue_id: str) -> IsEmptyResult:
        return IsEmptyResult(is_empty=self._item_count(queue_id) == 0)

    def is_full(self, queue_id: str) -> IsFullResult:
        return IsFullResult(is_full=self._item_count(queue_id) >= self._invoker.services.configuration.max_queue_size)

    def _item_count(self, queue_id: str) -> int:
        with self._db.begin() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(sq.c.queue_id == queue_id, tenant_clause(sq))
            ).scalar_one()

    def get_queue_status(
        self,
        queue_id: str,
        user_id: Optional[str] = None,
        acting_user_id: Optional[str] = None,
        is_admin: bool = False,
    ) -> SessionQueueStatus:
        """Counts cover the caller's tenant (stock: the whole queue); per-user counts and redaction as stock."""
        with self._db.begin() as conn:
            counts, user_counts = _counts_with_user(conn, sq.c.queue_id == queue_id, user_id)
            current = conn.execute(
                sa.select(sq.c.item_id, sq.c.session_id, sq.c.batch_id, sq.c.user_id)
                .where(sq.c.queue_id == queue_id, sq.c.status == "in_progress", tenant_clause(sq))
                .order_by(sq.c.item_id)
                .limit(1)
            ).first()
        owner_user_id = user_id if acting_user_id is None else acting_user_id
        shown = current is not None and (is_admin or owner_user_id is None or current.user_id == owner_user_id)
        return SessionQueueStatus(
            queue_id=queue_id,
            item_id=current.item_id if shown else None,
            session_id=current.session_id if shown else None,
            batch_id=current.batch_id if shown else None,
            **_status_counts(counts),
            user_pending=user_counts.get("pending", 0) if user_id is not None else None,
            user_in_progress=user_counts.get("in_progress", 0) if user_id is not None else None,
        )

    def get_batch_status(self, queue_id: str, batch_id: str, user_id: Optional[str] = None) -> BatchStatus:
        where = [sq.c.queue_id == queue_id, sq.c.batch_id == batch_id, tenant_clause(sq)]
        if user_id is not None:
            where.append(sq.c.user_id == user_id)
        with self._db.begin() as conn:
            rows = conn.execute(
                sa.select(sq.c.status, sa.func.count(), sa.func.min(sq.c.origin), sa.func.min(sq.c.destination))
                .where(*where)
                .group_by(sq.c.status)
            ).all()
        return BatchStatus(
            batch_id=batch_id,
            origin=rows[0][2] if rows else None,
            destination=rows[0][3] if rows else None,
            queue_id=queue_id,
            **_status_counts({row[0]: row[1] for row in rows}),
        )

    def get_counts_by_destination(
        self, queue_id: str, destination: str, user_id: Optional[str] = None
    ) -> SessionQueueCountsByDestination:
        where = sa.and_(sq.c.queue_id == queue_id, sq.c.destination == destination)
        if user_id is not None:
            where = sa.and_(where, sq.c.user_id == user_id)
        with self._db.begin() as conn:
            counts = _counts(conn, where)
        return SessionQueueCountsByDestination(queue_id=queue_id, destination=destination, **_status_counts(counts))

    # endregion

    # region status transitions

    def _transition(
        self,
        item_id: int,
        status: QUEUE_ITEM_STATUS,
        error_type: Optional[str] = None,
        error_message: Optional[str] = None,
        error_traceback: Optional[str] = None,
        device: Optional[str] = None,
        queue_item: Optional[SessionQueueItem] = None,
    ) -> tuple[SessionQueueItem, bool]:
        """Moves an item to `status` unless it is finished; returns it and whether this call moved it.

        The guard and the UPDATE share one transaction with the row locked (Postgres) or the
        Database lock held (SQLite), so of two racing cancels exactly one sees `True`.
        """
        if queue_item is not None and queue_item.item_id != item_id:
            raise ValueError(f"Queue item {queue_item.item_id} does not match requested item {item_id}")
        updated: Any = None
        claim = held_claim(item_id)
        values = _status_values(status) | {  # NUL: a text column on Postgres refuses it
            "error_type": _without_nul(error_type),
            "error_message": _without_nul(error_message),
            "error_traceback": _without_nul(error_traceback),
        }
        if device is not None:
            values["device"] = device
        with self._db.begin() as conn:
            found: Any = None
            if self._db.is_postgres:  # the guard and the UPDATE in one statement; else read why not
                found, updated = _update_unless_finished(conn, item_id, claim, values)
            if found is None:
                found = conn.execute(_found_select(item_id).with_for_update()).first()
                if found is None:
                    raise _not_found(item_id)
                if found.status not in TERMINAL and not _lost(claim, found):
                    updated = conn.execute(
                        sa.update(sq)
                        .where(sq.c.item_id == item_id)
                        .values(**values)
                        .returning(*(sq.c[name] for name in _STATUS_FIELDS))
                    ).one()._mapping
            if updated is not None:
                if status in ("canceled", "pending"):  # stop it on its worker; wake a worker for it
                    self.signals.publish(conn, Signal(CANCEL if status == "canceled" else WAKE, item_id))
                if claim is not None and status in TERMINAL and found.started_at is not None:
                    _observe_finished(status, error_type, found.started_at)
                if found.status == "in_progress" and found.tenant_id is not None:
                    self._charge_attempt(conn, found, status, error_type)
                with as_tenant(found.tenant_id):
                    if queue_item is None:
                        queue_item = self.get_queue_item(item_id)
                    else:
                        for name, value in updated.items():
                            setattr(queue_item, name, value)
                    statuses = self._statuses_of(queue_item)
        with as_tenant(found.tenant_id):
            if updated is None:
                return self.get_queue_item(item_id), False
            assert queue_item is not None
            self._invoker.services.events.emit_queue_item_status_changed(queue_item, *statuses)
        return queue_item, True

    def _charge_attempt(self, conn: Connection, found: Row, status: str, error_type: str | None) -> None:
        """The attempt this status change ends, charged in its transaction (see `metering`)."""
        outcome = metering.charged_outcome(status, found.item_id)
        if self.ledger is not None and outcome is not None:
            if error_type == CREDITS_EXHAUSTED:
                outcome = f"{outcome}: {CREDITS_EXHAUSTED}"
            seconds = metering.device_seconds(found.item_id, found.attempt, found.started_at)
            self.ledger.charge_attempt(conn, found.tenant_id, found.item_id, found.attempt, seconds, outcome)
        metering.forget({found.item_id})

    def charge_running(self, item_ids: list[int]) -> list[int]:
        """A worker's heartbeat: charges the device time its running items used so far (one slice
        each), and cancels those whose workspace has no credits left. Returns the canceled ones."""
        if self.ledger is None:
            return []
        exhausted: list[tuple[int, str]] = []
        for item_id in item_ids:
            running = metering.running_seconds(item_id)
            if running is None:
                continue
            attempt, seconds = running
            with system_scope(), self._db.begin() as conn:
                row = conn.execute(_RUNNING_ATTEMPT, {"r_item": item_id, "r_attempt": attempt}).first()
                if row is None or row.tenant_id is None:
                    continue  # ended meanwhile, or an operator's own item (not billed)
                if self.ledger.charge_running(conn, row.tenant_id, item_id, attempt, seconds) <= 0:
                    exhausted.append((item_id, row.tenant_id))
        for item_id, tenant_id in exhausted:
            message = "The workspace ran out of credits while this item ran; add credits or upgrade the plan to run it again."
            with as_tenant(tenant_id):
                self._transition(item_id, "canceled", error_type=CREDITS_EXHAUSTED, error_message=message)
        return [item_id for item_id, _ in exhausted]

    def _set_queue_item_status(self, item_id: int, status: QUEUE_ITEM_STATUS, **kwargs: Any) -> SessionQueueItem:
        return self._transition(item_id, status, **kwargs)[0]

    def _emit_status_changed(self, queue_item: SessionQueueItem) -> None:
        """Stock's status-changed event; call in the item's tenant so the counts are that tenant's."""
        self._invoker.services.events.emit_queue_item_status_changed(queue_item, *self._statuses_of(queue_item))

    def _statuses_of(self, queue_item: SessionQueueItem) -> tuple[BatchStatus, SessionQueueStatus]:
        """The batch and queue status a status-changed event carries (one transaction, or the caller's;
        call it in the item's tenant scope). On Postgres one statement computes both."""
        if self._db.is_postgres:
            with self._db.begin() as conn:
                statuses = conn.execute(
                    _EVENT_STATUSES,
                    {"tenant": queue_item_tenant(), "queue": queue_item.queue_id, "batch": queue_item.batch_id, "user": queue_item.user_id},
                ).scalar_one()
            return _statuses_from(statuses, queue_item)
        with self._db.begin():
            batch_status = self.get_batch_status(queue_id=queue_item.queue_id, batch_id=queue_item.batch_id)
            queue_status = self.get_queue_status(
                queue_id=queue_item.queue_id, user_id=queue_item.user_id, acting_user_id=queue_item.user_id
            )
        return batch_status, queue_status

    def complete_queue_item(self, item_id: int, queue_item: Optional[SessionQueueItem] = None) -> SessionQueueItem:
        with self._item_owner_scope(item_id):
            return self._set_queue_item_status(item_id, "completed", queue_item=queue_item)

    def suspend_queue_item(self, item_id: int, queue_item: Optional[SessionQueueItem] = None) -> SessionQueueItem:
        with self._item_owner_scope(item_id):
            return self._set_queue_item_status(item_id, "waiting", queue_item=queue_item)

    def resume_queue_item(self, item_id: int, queue_item: Optional[SessionQueueItem] = None) -> SessionQueueItem:
        with self._item_owner_scope(item_id):
            return self._set_queue_item_status(item_id, "pending", queue_item=queue_item)

    def fail_queue_item(
        self, item_id: int, error_type: str, error_message: str, error_traceback: str
    ) -> SessionQueueItem:
        with self._item_owner_scope(item_id):
            return self._set_queue_item_status(
                item_id,
                "failed",
                error_type=error_type,
                error_message=error_message,
                error_traceback=error_traceback,
            )

    def cancel_queue_item(self, item_id: int) -> SessionQueueItem:
        if self._stopping and held_claim(item_id) is not None:
            # Stock's processor cancels an item it claimed as it shuts down; the user did not ask
            # for that, so the item goes back to the queue for another worker.
            self.hand_back([held_claim(item_id).worker_id])  # type: ignore[union-attr]
            return self.get_queue_item(item_id)
        for chain_item_id in self._chain_item_ids(item_id):
            self._set_queue_item_status(chain_item_id, "canceled")
        return self.get_queue_item(item_id)

    def save_queue_item_session(self, item_id: int, session: GraphExecutionState, session_json: str | None = None) -> None:
        self._save_session(item_id, session, session_json or session_to_json(session))

    def _save_session(self, item_id: int, session: GraphExecutionState, session_json: str) -> Row:
        """Stores the session (fenced by this thread's claim, if it holds one): one statement, which
        returns the item's status fields as they are now."""
        claim = held_claim(item_id)
        if session.errors:
            metering.node_failed(item_id)
        params: dict[str, Any] = {"s_item": item_id, "s_session": session_json, "s_now": utcnow()}
        if claim is not None:
            params |= {"c_worker": claim.worker_id, "c_attempt": claim.attempt}
        with self._item_owner_scope(item_id), self._db.one_statement() as conn:
            stmt = _save_session_statement(scope_kind(), claim is not None)
            row = conn.execute(stmt, params | scope_params()).first()
        if row is None:
            raise LeaseLost(f"Queue item {item_id} is no longer held by this worker") if claim else _not_found(item_id)
        return row

    def running(self, queue_item: SessionQueueItem, **_: Any) -> None:
        """A session runner's before-run callback: the item whose session this thread runs now, so
        `set_queue_item_session` can hand that item back updated instead of reading it again."""
        _running_item.set(queue_item)

    def set_queue_item_session(self, item_id: int, session: GraphExecutionState) -> SessionQueueItem:
        session_json = session_to_json(session)  # before the transaction: a large session takes a while
        running = _running_item.get()
        if running is None or running.item_id != item_id or running.session is not session:
            with self._item_owner_scope(item_id), self._db.begin():  # one transaction
                self._save_session(item_id, session, session_json)
                return self.get_queue_item(item_id)
        # The item this thread runs: what it holds is what was stored, but for its status fields
        # (a cancel may have landed meanwhile), which the save returns.
        for name, value in self._save_session(item_id, session, session_json)._mapping.items():
            setattr(running, name, value)
        return running

    def status_of(self, item_id: int) -> str | None:
        """An item's status in the caller's scope (a worker's: the item's tenant), None when it is gone."""
        with self._db.read() as conn:
            return conn.execute(_status_of_statement(scope_kind()), {"s_item": item_id, **scope_params()}).scalar_one_or_none()

    # endregion

    # region workflow-call chains

    def _child_ids(self, item_id: int) -> list[int]:
        with self._db.begin() as conn:
            return list(
                conn.execute(
                    sa.select(sq.c.item_id)
                    .where(sq.c.parent_item_id == item_id, tenant_clause(sq))
                    .order_by(sq.c.item_id)
                ).scalars()
            )

    def _descendant_ids(self, item_id: int) -> list[int]:
        descendants: list[int] = []
        todo = [item_id]
        while todo:
            children = self._child_ids(todo.pop(0))
            descendants.extend(children)
            todo.extend(children)
        return descendants

    def _chain_item_ids(self, item_id: int) -> list[int]:
        """The item, its ancestors and every descendant of its root; raises if the item is not visible."""
        ancestors: list[int] = []
        item = self.get_queue_item(item_id)
        while item.parent_item_id is not None:
            ancestors.append(item.parent_item_id)
            item = self.get_queue_item(item.parent_item_id)
        root = ancestors[-1] if ancestors else item_id
        return list(dict.fromkeys(ancestors + [item_id] + self._descendant_ids(root)))

    def _current_chain_item_ids(self, queue_id: str) -> set[int]:
        """Chains of every in-progress item, or else of the next child whose parent is waiting."""
        with self._db.begin() as conn:
            in_progress = list(
                conn.execute(
                    sa.select(sq.c.item_id)
                    .where(sq.c.queue_id == queue_id, sq.c.status == "in_progress", tenant_clause(sq))
                    .order_by(sq.c.item_id)
                ).scalars()
            )
            next_child: int | None = None
            if not in_progress:
                parent = sq.alias("parent")
                next_child = conn.execute(
                    sa.select(sq.c.item_id)
                    .join(parent, parent.c.item_id == sq.c.parent_item_id)
                    .where(
                        sq.c.queue_id == queue_id,
                        sq.c.status == "pending",
                        parent.c.status == "waiting",
                        tenant_clause(sq),
                        tenant_clause(parent),
                    )
                    .order_by(sq.c.priority.desc(), sq.c.created_at, sq.c.item_id)
                    .limit(1)
                ).scalar_one_or_none()
        roots = in_progress or ([next_child] if next_child is not None else [])
        return {chain_id for item_id in roots for chain_id in self._chain_item_ids(item_id)}

    def enqueue_workflow_call_child(
        self,
        parent_queue_item: SessionQueueItem,
        child_session: GraphExecutionState,
        field_values: list[NodeFieldValue] | None = None,
    ) -> SessionQueueItem:
        call = parent_queue_item.session.waiting_workflow_call_execution
        if call is None:
            raise ValueError("Parent queue item is missing active workflow call execution metadata.")
        parent = parent_queue_item
        row = {
            "queue_id": parent.queue_id,
            "session": session_to_json(child_session),
            "session_id": child_session.id,
            "batch_id": parent.batch_id,
            "field_values": json.dumps(field_values, default=to_jsonable_python) if field_values is not None else None,
            "priority": parent.priority,
            "workflow": None,
            "origin": parent.origin,
            "destination": parent.destination,
            "retried_from_item_id": None,
            "user_id": parent.user_id,
            "workflow_call_id": call.id,
            "parent_item_id": parent.item_id,
            "parent_session_id": parent.session_id,
            "root_item_id": parent.root_item_id or parent.item_id,
            "workflow_call_depth": call.depth,
            "status": "pending",
        }
        with self._item_owner_scope(parent.item_id):
            with self._db.begin() as conn:
                # The child joins its parent's tenant; a parent the caller cannot see is not found.
                visible = sa.select(sq.c.item_id).where(sq.c.item_id == parent.item_id, tenant_clause(sq))
                if conn.execute(visible).first() is None:
                    raise _not_found(parent.item_id)
                # Gated as an enqueue is (operators' own items are not): the workspace's enqueues serialized,
                # its queued and running items' holds counted, the parent's included. A refusal fails the
                # parent's call node, and the parent with it.
                tenant_id = current_tenant_id()
                state = self._gate.lock(conn, tenant_id, parent.queue_id) if self._gate is not None and tenant_id is not None else None
                pending = state.pending if state is not None else conn.execute(
                    sa.select(sa.func.count()).where(
                        sq.c.queue_id == parent.queue_id, sq.c.status == "pending", tenant_clause(sq)
                    )
                ).scalar_one()
                if pending >= self._invoker.services.configuration.max_queue_size:
                    raise TooManySessionsError(
                        "call_saved_workflow exceeds remaining queue capacity for child workflow executions"
                    )
                row["model_keys"] = model_keys(row["session"])
                if self._gate is not None:
                    # A call's children (one per batch value) run the same nodes: the first must find
                    # room for all, so none is queued (and claimed) before a later sibling is refused.
                    siblings = call.child_session_ids
                    left = len(siblings) - siblings.index(child_session.id) if child_session.id in siblings else 1
                    (row["estimate_credits"],) = self._gate.check_at_run_time(conn, tenant_id, [row], state, left)
                now = utcnow()
                item_id = conn.execute(
                    sa.insert(sq)
                    .values(**row, tenant_id=tenant_id, created_at=now, updated_at=now)
                    .returning(sq.c.item_id)
                ).scalar_one()
                self.signals.publish(conn, Signal(WAKE))
            queue_item = self.get_queue_item(item_id)
            self._emit_status_changed(queue_item)
        return queue_item

    def cancel_workflow_call_children(
        self, workflow_call_id: str, exclude_item_ids: set[int] | None = None
    ) -> list[int]:
        exclude_item_ids = exclude_item_ids or set()
        with self._owner_scope(lambda: self._tenant_of_workflow_call(workflow_call_id)):
            with self._db.begin() as conn:
                children = conn.execute(
                    sa.select(sq.c.item_id)
                    .where(sq.c.workflow_call_id == workflow_call_id, tenant_clause(sq))
                    .order_by(sq.c.item_id)
                ).scalars().all()
            candidates: list[int] = []
            for child_id in children:
                candidates += [child_id, *self._descendant_ids(child_id)]
            canceled: list[int] = []
            for item_id in dict.fromkeys(candidates):
                if item_id in exclude_item_ids or self.get_queue_item(item_id).status in TERMINAL:
                    continue
                self._set_queue_item_status(item_id, "canceled")
                canceled.append(item_id)
        return canceled

    def _tenant_of_workflow_call(self, workflow_call_id: str) -> str | None:
        with system_scope(), self._db.begin() as conn:
            return conn.execute(
                sa.select(sq.c.tenant_id).where(sq.c.workflow_call_id == workflow_call_id).limit(1)
            ).scalar_one_or_none()

    # endregion

    # region bulk cancel / delete

    def _cancel_in_progress(self, match: sa.ColumnElement[bool]) -> list[int]:
        """Cancels matching in-progress items one by one, so each emits the event that stops its worker."""
        with self._db.begin() as conn:
            item_ids = conn.execute(
                sa.select(sq.c.item_id)
                .where(match, sq.c.status == "in_progress", tenant_clause(sq))
                .order_by(sq.c.item_id)
            ).scalars().all()
        canceled: list[int] = []
        for item_id in item_ids:
            try:
                if self._transition(item_id, "canceled")[1]:
                    canceled.append(item_id)
            except SessionQueueItemNotFoundError:
                continue  # deleted concurrently: nothing left to cancel
        return canceled

    @staticmethod
    def _item_ids_by_user(conn: Connection, where: sa.ColumnElement[bool]) -> dict[str, list[int]]:
        by_user: dict[str, list[int]] = {}
        rows = conn.execute(sa.select(sq.c.item_id, sq.c.user_id).where(where).order_by(sq.c.item_id))
        for item_id, user_id in rows:
            by_user.setdefault(user_id, []).append(item_id)
        return by_user

    def _emit_queue_items_canceled(self, queue_id: str, item_ids_by_user: dict[str, list[int]]) -> None:
        if item_ids_by_user:
            self._invoker.services.events.emit_queue_items_canceled(queue_id, item_ids_by_user)

    def _bulk_cancel(self, queue_id: str, match: sa.ColumnElement[bool]) -> int:
        """Cancels the unfinished backlog matching `match` in one UPDATE, then each in-progress match."""
        where = sa.and_(match, _cancelable_backlog(), tenant_clause(sq))
        with self._db.begin() as conn:
            by_user = self._item_ids_by_user(conn, where)
            conn.execute(sa.update(sq).where(where).values(**_status_values("canceled")))
        count = sum(len(ids) for ids in by_user.values()) + len(self._cancel_in_progress(match))
        self._emit_queue_items_canceled(queue_id, by_user)
        return count

    def _user_match(self, match: sa.ColumnElement[bool], user_id: Optional[str]) -> sa.ColumnElement[bool]:
        return sa.and_(match, sq.c.user_id == user_id) if user_id is not None else match

    def cancel_by_batch_ids(
        self, queue_id: str, batch_ids: list[str], user_id: Optional[str] = None
    ) -> CancelByBatchIDsResult:
        match = self._user_match(sa.and_(sq.c.queue_id == queue_id, sq.c.batch_id.in_(batch_ids)), user_id)
        return CancelByBatchIDsResult(canceled=self._bulk_cancel(queue_id, match))

    def cancel_by_destination(
        self, queue_id: str, destination: str, user_id: Optional[str] = None
    ) -> CancelByDestinationResult:
        match = self._user_match(sa.and_(sq.c.queue_id == queue_id, sq.c.destination == destination), user_id)
        return CancelByDestinationResult(canceled=self._bulk_cancel(queue_id, match))

    def cancel_by_queue_id(self, queue_id: str) -> CancelByQueueIDResult:
        return CancelByQueueIDResult(canceled=self._bulk_cancel(queue_id, sq.c.queue_id == queue_id))

    def cancel_all_except_current(self, queue_id: str, user_id: Optional[str] = None) -> CancelAllExceptCurrentResult:
        where = self._except_current(queue_id, user_id)
        with self._db.begin() as conn:
            by_user = self._item_ids_by_user(conn, where)
            conn.execute(sa.update(sq).where(where).values(**_status_values("canceled")))
        self._emit_queue_items_canceled(queue_id, by_user)
        return CancelAllExceptCurrentResult(canceled=sum(len(ids) for ids in by_user.values()))

    def delete_all_except_current(self, queue_id: str, user_id: Optional[str] = None) -> DeleteAllExceptCurrentResult:
        where = self._except_current(queue_id, user_id)
        with self._db.begin() as conn:
            by_user = self._item_ids_by_user(conn, where)
            conn.execute(sa.delete(sq).where(where))
        self._emit_queue_items_canceled(queue_id, by_user)
        return DeleteAllExceptCurrentResult(deleted=sum(len(ids) for ids in by_user.values()))

    def _except_current(self, queue_id: str, user_id: Optional[str]) -> sa.ColumnElement[bool]:
        """Pending or waiting items outside every current workflow-call chain."""
        current = self._current_chain_item_ids(queue_id)
        where = sa.and_(sq.c.queue_id == queue_id, sq.c.status.in_(("pending", "waiting")), tenant_clause(sq))
        if current:
            where = sa.and_(where, sq.c.item_id.not_in(current))
        return self._user_match(where, user_id)

    def delete_by_destination(
        self, queue_id: str, destination: str, user_id: Optional[str] = None
    ) -> DeleteByDestinationResult:
        match = self._user_match(sa.and_(sq.c.queue_id == queue_id, sq.c.destination == destination), user_id)
        # Running items are canceled first so their workers stop; their own events already signaled them.
        signaled = set(self._cancel_in_progress(match))
        where = sa.and_(match, tenant_clause(sq))
        with self._db.begin() as conn:
            by_user = self._item_ids_by_user(conn, where)
            count = sum(len(ids) for ids in by_user.values())
            conn.execute(sa.delete(sq).where(where))
        unsignaled = {user: [i for i in ids if i not in signaled] for user, ids in by_user.items()}
        self._emit_queue_items_canceled(queue_id, {user: ids for user, ids in unsignaled.items() if ids})
        return DeleteByDestinationResult(deleted=count)

    def clear(self, queue_id: str, user_id: Optional[str] = None) -> ClearResult:
        match = self._user_match(sq.c.queue_id == queue_id, user_id)
        self._cancel_in_progress(match)
        with self._db.begin() as conn:
            deleted = conn.execute(sa.delete(sq).where(match, tenant_clause(sq))).rowcount
        self._invoker.services.events.emit_queue_cleared(queue_id, user_id)
        return ClearResult(deleted=deleted)

    def prune(self, queue_id: str, user_id: Optional[str] = None) -> PruneResult:
        match = self._user_match(sa.and_(sq.c.queue_id == queue_id, sq.c.status.in_(TERMINAL)), user_id)
        with self._db.begin() as conn:
            deleted = conn.execute(sa.delete(sq).where(match, tenant_clause(sq))).rowcount
        return PruneResult(deleted=deleted)

    def delete_queue_item(self, item_id: int) -> None:
        chain = self._chain_item_ids(item_id)
        if any(self.get_queue_item(i).status not in TERMINAL for i in chain):
            self.cancel_queue_item(item_id)
        self.delete_queue_items_by_id(chain)

    def delete_queue_items_by_id(self, item_ids: list[int]) -> None:
        if not item_ids:
            return
        with self._db.begin() as conn:
            for start in range(0, len(item_ids), MAX_IDS_PER_STATEMENT):
                chunk = item_ids[start : start + MAX_IDS_PER_STATEMENT]
                conn.execute(sa.delete(sq).where(sq.c.item_id.in_(chunk), tenant_clause(sq)))

    # endregion

    # region retry

    def retry_items_by_id(self, queue_id: str, item_ids: list[int]) -> RetryItemsResult:
        room = self._invoker.services.configuration.max_queue_size - self._pending_count(queue_id)
        if room <= 0:
            return RetryItemsResult(queue_id=queue_id, retried_item_ids=[])
        rows: list[dict[str, Any]] = []
        retried: list[int] = []
        retried_by_user: dict[str, list[int]] = {}
        seen_roots: set[int] = set()
        for item_id in item_ids:
            root = self._retryable_root(queue_id, item_id, seen_roots)
            if root is None:
                continue
            retried.append(root.item_id)
            retried_by_user.setdefault(root.user_id, []).append(root.item_id)
            rows.append(self._retry_row(root))
            if len(rows) >= room:
                break
        with self._db.begin() as conn:
            if self._insert_items(conn, rows):
                self.signals.publish(conn, Signal(WAKE))
        result = RetryItemsResult(queue_id=queue_id, retried_item_ids=retried)
        self._invoker.services.events.emit_queue_items_retried(
            result, user_ids=list(retried_by_user), retried_item_ids_by_user=retried_by_user
        )
        return result

    def _retryable_root(self, queue_id: str, item_id: int, seen_roots: set[int]) -> SessionQueueItem | None:
        """The failed/canceled root of a failed/canceled item, once per root; None to skip."""
        try:
            item = self.get_queue_item(item_id)
        except SessionQueueItemNotFoundError:
            return None
        if item.queue_id != queue_id or item.status not in ("failed", "canceled"):
            return None
        root_id = item.root_item_id or item.item_id
        if root_id in seen_roots:
            return None
        seen_roots.add(root_id)
        root = self.get_queue_item(root_id)
        return root if root.status in ("failed", "canceled") else None

    @staticmethod
    def _retry_row(root: SessionQueueItem) -> dict[str, Any]:
        session = GraphExecutionState(graph=root.session.graph)
        return {
            "queue_id": root.queue_id,
            "session": session.model_dump_json(warnings=False, exclude_none=True),
            "session_id": session.id,
            "batch_id": root.batch_id,
            "field_values": json.dumps(root.field_values, default=to_jsonable_python) if root.field_values else None,
            "priority": root.priority,
            "workflow": json.dumps(root.workflow, default=to_jsonable_python) if root.workflow else None,
            "origin": root.origin,
            "destination": root.destination,
            "retried_from_item_id": root.retried_from_item_id if root.retried_from_item_id is not None else root.item_id,
            "user_id": root.user_id,
        }

    # endregion

    # region startup maintenance (system scope)

    def _prune_terminal_to_limit(self, queue_id: str, keep: int) -> int:
        """Deletes finished items beyond the `keep` most recent ones of each tenant."""
        recency = sa.func.coalesce(sq.c.completed_at, sq.c.updated_at, sq.c.created_at)
        ranked = (
            sa.select(
                sq.c.item_id,
                sa.func.row_number()
                .over(partition_by=sq.c.tenant_id, order_by=(recency.desc(), sq.c.item_id.desc()))
                .label("recency_rank"),
            )
            .where(sq.c.queue_id == queue_id, sq.c.status.in_(TERMINAL), tenant_clause(sq))
            .subquery()
        )
        with self._db.begin() as conn:
            doomed = sa.select(ranked.c.item_id).where(ranked.c.recency_rank > keep)
            return conn.execute(sa.delete(sq).where(sq.c.item_id.in_(doomed))).rowcount

    # endregion
