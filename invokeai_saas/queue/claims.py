"""Claims on the shared queue: who runs which item, in what order, for how long.

Every worker process (pod) claims from the same table. A claim sets `worker_id`, a lease
(`lease_expires_at`) and `attempt` + 1 in the UPDATE that moves the item to `in_progress`; the
worker's heartbeat renews its leases; any worker's reaper returns items whose lease expired to
`pending` (or fails them after `max_attempts` claims). A worker's own status changes are fenced
by (worker_id, attempt): once its lease is lost, it can no longer save, complete or fail the item.

Dispatch order: tier (the plan's `priority` in `billing/plans.py`; the platform's own items above
every plan), then round-robin between the tenants of a tier (the one whose last claim is oldest
goes first, `queue_turns`), then the tenant's own order (priority, then item id), so a prepend
reorders only its own tenant's items. A tenant never has more items in progress than its plan's
concurrent queues, across every worker.

On Postgres a claim is one statement: the server-side function `pingvas_claim` (migration 0012)
walks the tenants marked ready in dispatch order, holds a tenant's advisory lock while it re-reads
its turn, counts its running items and claims (a worker racing for the same tenant moves on to the
next), and returns the claimed item with what its status-changed event carries. On SQLite (one
process) the Python below does the same under the Database lock.

All of it runs in system scope and never decides for a caller's tenant: route-facing reads and
writes stay in `queue/session_queue_sql.py`.
"""

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from billing.entitlements import entitlements, parse_overrides
from billing.plans import PLANS, UNKNOWN_PLAN
from invokeai.app.services.shared.graph import GraphExecutionState
from invokeai_saas.db.database import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore, upsert
from invokeai_saas.db.tables.dispatch import dispatch_plans, queue_turns, queue_workers
from invokeai_saas.db.tables.session_queue import parse_keys, session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.queue.warm import warm_order
from invokeai_saas.core.metrics import DISPATCH_SECONDS, LEASE_EXPIRIES
from invokeai_saas.core.running_claim import Claim, PassedTurn
from tenant_middleware.context import system_scope

PLATFORM_TIER = max(p.priority for p in PLANS.values()) + 1
PLATFORM_TURN_KEY = ""
_EPOCH = datetime(1970, 1, 1)
WORKER_LOST = "WorkerLost"

CLAIM_ROUNDS = 5
# Ready tenants a Postgres claim reads at a time. Plain dispatch claims from the first that may run;
# warm-model dispatch ranks a window before it claims, so this bounds its reads per claim (and the
# tenants among which warmth may reorder).
CLAIM_WINDOW = 16

LostAttempt = Callable[[Connection, int, "str | None", int], None]  # (conn, item_id, tenant_id, attempt)


class Raced(Enum):
    RACED = "raced"  # a claim round lost a race: read the candidates again


RACED = Raced.RACED


@dataclass(frozen=True)
class Deferred:
    """Nothing claimed: the claimable work waits for workers that hold its models; try again in `seconds`."""

    seconds: float
    passed: tuple[PassedTurn, ...] = ()  # for `Dispatcher.pass_over`


@dataclass(frozen=True)
class Claimed:
    """A Postgres claim: the claim, the item's row as the claim left it, and its event's statuses."""

    claim: Claim
    row: dict[str, Any]  # session_queue's columns but tenant_id, plus the owner's display name and e-mail
    statuses: dict[str, Any]  # see `pingvas_event_statuses` in migration 0012


@dataclass(frozen=True)
class Reaped:
    item_id: int
    tenant_id: str | None
    status: str  # "pending" (returned) or "failed" (out of attempts)


@dataclass(frozen=True)
class _Candidate:
    tenant_id: str | None
    tier: int
    concurrency: int | None  # None: unlimited
    last_claimed_at: datetime
    first_item_id: int  # among tenants never served (or served at once), the longest waiting goes first
    head_models: frozenset[str] = frozenset()  # the models of the tenant's next item
    passed_at: datetime | None = None  # when a claim first left this tenant's turn to a warmer worker

    @property
    def turn_key(self) -> str:
        return self.tenant_id or PLATFORM_TURN_KEY


def fresh_session(session_json: str) -> str:
    """The item's graph as a new, unstarted session with the same id: a reclaimed item restarts,
    since its partial session points at tensors on the pod that died."""
    session = GraphExecutionState.model_validate_json(session_json)
    restarted = GraphExecutionState(id=session.id, graph=session.graph)
    return restarted.model_dump_json(warnings=False, exclude_none=True)


def _plan_limits(plan: str | None, overrides: str | None, tenant_id: str | None) -> tuple[int, int | None]:
    if tenant_id is None:
        return PLATFORM_TIER, None
    ent = entitlements(plan or "", parse_overrides(overrides))  # an unknown plan: lowest tier, one at a time
    return ent.priority, ent.concurrent_queues


class Dispatcher:
    def __init__(
        self, db: Database, lease_seconds: float = 30.0, max_attempts: int = 3, warm_wait_seconds: float = 0.0
    ) -> None:
        self._db = db
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.warm_wait = timedelta(seconds=warm_wait_seconds)  # 0: plain dispatch order, warmth ignored
        self._recorded_models: dict[str, frozenset[str]] = {}

    # region claim

    def claim_postgres(
        self, worker_id: str, device: str | None = None, warm: frozenset[str] | None = None
    ) -> "Claimed | None | Raced | Deferred":
        """Claims the next item in dispatch order in one statement of its own (autocommit); see `claim`."""
        warm = warm if warm is not None and self.warm_wait > timedelta(0) else None
        params = {
            "worker": worker_id,
            "device": device,
            "lease": self.lease.total_seconds(),
            "warm": sorted(warm) if warm is not None else None,
            "wait": self.warm_wait.total_seconds(),
            "window": CLAIM_WINDOW,
        }
        with self._db.self_scoped() as conn:
            row = conn.execute(_CLAIM_PG, params).one()
        if row.outcome == "raced":
            return RACED
        if row.outcome == "deferred":
            return Deferred(row.retry_in)
        if row.outcome != "claimed":
            return None
        item = {k: v for k, v in row._mapping.items() if k not in _CLAIM_EXTRA_COLUMNS}
        owner = row.owner or {}
        item |= {"user_display_name": owner.get("display_name"), "user_email": owner.get("email")}
        DISPATCH_SECONDS.observe(row.dispatch_s)
        if warm is not None:
            self.record_models(worker_id, warm | parse_keys(item["model_keys"]))
        claim = Claim(item["item_id"], row.tenant_id, worker_id, item["attempt"])
        return Claimed(claim, item, row.statuses)

    def claim(
        self, conn: Connection, worker_id: str, device: str | None = None, warm: frozenset[str] | None = None
    ) -> "Claim | None | Raced | Deferred":
        """SQLite (one process, the Database lock held): claims the next item in dispatch order inside
        `conn`'s transaction (system scope). `RACED`: other workers won every race for the items that
        may run; try again at once, there is work. `warm`: the models this worker holds, for warm-model
        dispatch (see `queue.warm`). Postgres claims with `claim_postgres`."""
        if self._db.is_postgres:
            raise RuntimeError("Postgres claims with claim_postgres (one statement, its own locks)")
        warm = warm if warm is not None and self.warm_wait > timedelta(0) else None
        for _ in range(CLAIM_ROUNDS):
            claim = self._claim_round(conn, worker_id, device, warm)
            if claim is not RACED:
                return claim
        return RACED

    def _claim_round(
        self, conn: Connection, worker_id: str, device: str | None, warm: frozenset[str] | None
    ) -> "Claim | None | Raced | Deferred":
        """One pass over the candidates. Losing a race for a tenant (another worker is claiming for it,
        or just did) moves on inside its tier only: before a lower tier gets a worker, the candidates
        are read again (RACED), so a race never hands a higher tier's slot to a lower one."""
        candidates = self._candidates(conn)
        order = candidates
        deferred: list[_Candidate] = []
        if warm is not None and candidates:
            now = utcnow()
            others = self._warm_elsewhere(conn, worker_id) if not all(c.head_models <= warm for c in candidates) else []
            plan = warm_order(candidates, warm, others, now, self.warm_wait)
            order, deferred = plan.candidates, plan.deferred
            if plan.retry_in is not None:
                return Deferred(plan.retry_in, _turns(deferred))
        raced_tier: int | None = None
        for candidate in order:
            if raced_tier is not None and candidate.tier < raced_tier:
                return RACED
            claim = self._claim_for(conn, candidate, worker_id, device)
            if isinstance(claim, Claim):
                if warm is not None:
                    passed = [c for c in candidates if c.tier == candidate.tier and _fairness(c) < _fairness(candidate)]
                    claim = dataclasses.replace(claim, passed=_turns(passed + deferred))
                    self._record_models(conn, worker_id, warm | candidate.head_models)
                return claim
            if claim is RACED:
                raced_tier = candidate.tier
        return RACED if raced_tier is not None else None

    def _claim_for(self, conn: Connection, candidate: _Candidate, worker_id: str, device: str | None) -> "Claim | Raced | None":
        """Claims `candidate`'s next item (its concurrency was checked by `_candidates`, under the same
        Database lock); RACED when it has none pending any more."""
        item = conn.execute(
            sa.select(sq.c.item_id, sq.c.attempt, sq.c.updated_at)
            .where(sq.c.status == "pending", _same_tenant(candidate.tenant_id))
            .order_by(sq.c.priority.desc(), sq.c.item_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if item is None:
            return RACED  # its last items were claimed or canceled meanwhile
        now = utcnow()
        values: dict[str, Any] = {
            "status": "in_progress",
            "status_sequence": sa.func.coalesce(sq.c.status_sequence, 0) + 1,
            "updated_at": now,
            "started_at": now,
            "worker_id": worker_id,
            "lease_expires_at": now + self.lease,
            "attempt": item.attempt + 1,
        }
        if device is not None:
            values["device"] = device
        conn.execute(sa.update(sq).where(sq.c.item_id == item.item_id).values(**values))
        self._take_turn(conn, candidate.tenant_id, now)
        DISPATCH_SECONDS.observe(max((now - item.updated_at).total_seconds(), 0.0))
        return Claim(item.item_id, candidate.tenant_id, worker_id, item.attempt + 1)

    def _candidates(self, conn: Connection) -> list[_Candidate]:
        """Tenants with pending items that may run, in dispatch order (tier, then oldest turn)."""
        rows = conn.execute(_pending_tenants()).all()
        candidates = []
        now = utcnow()
        for tenant_id, first_item_id, plan, overrides, status, last_claimed_at, running_now, head_models, passed_at, credits, hold_at in rows:
            if tenant_id is not None and status != "active":
                continue  # a suspended tenant's items wait for reactivation
            if tenant_id is not None and (credits <= 0 or (hold_at is not None and hold_at <= now)):
                continue  # out of credits, or its payment is overdue: its items wait
            tier, concurrency = _plan_limits(plan, overrides, tenant_id)
            if concurrency is not None and running_now >= concurrency:
                continue
            candidates.append(
                _Candidate(
                    tenant_id, tier, concurrency, last_claimed_at or _EPOCH, first_item_id, parse_keys(head_models), passed_at
                )
            )
        candidates.sort(key=_fairness)
        return candidates

    # region warm-model dispatch

    def _warm_elsewhere(self, conn: Connection, worker_id: str) -> list[frozenset[str]]:
        """The models other live workers hold."""
        rows = conn.execute(
            sa.select(queue_workers.c.models).where(
                queue_workers.c.worker_id != worker_id,
                queue_workers.c.heartbeat_at >= utcnow() - self.lease,
                queue_workers.c.models.is_not(None),
            )
        ).scalars()
        return [parse_keys(models) for models in rows]

    def record_models(self, worker_id: str, models: frozenset[str]) -> None:
        """What a worker holds now (after a node loaded its models, evicting others), if it changed."""
        if self._recorded_models.get(worker_id) == models:
            return
        with system_scope(), self._db.begin() as conn:
            self._record_models(conn, worker_id, models)

    def _record_models(self, conn: Connection, worker_id: str, models: frozenset[str]) -> None:
        """What this worker holds once its claimed item's models are loaded, for other workers' claims."""
        if self._recorded_models.get(worker_id) == models:
            return
        now = utcnow()
        row = {"worker_id": worker_id, "started_at": now, "heartbeat_at": now, "models": json.dumps(sorted(models))}
        upsert(conn, queue_workers, row, key=["worker_id"], update=["heartbeat_at", "models"])
        self._recorded_models[worker_id] = models

    def pass_over(self, passed: tuple[PassedTurn, ...]) -> None:
        """Stamps `passed_at` on turns a claim left to warmer workers (the first time only, and only if
        the tenant was not served meanwhile): from then on, its wait for warmth is bounded. Call it
        after the claim's transaction: in a transaction of its own, taking its row locks in key order,
        it cannot deadlock with claims (which lock one turn each)."""
        if not passed:
            return
        turns = sorted(set(passed))
        with self._db.begin() as conn:
            insert_ignore(conn, queue_turns, [{"turn_key": key, "last_claimed_at": _EPOCH} for key, _ in turns], key=["turn_key"])
            conn.execute(
                sa.update(queue_turns)
                .where(
                    queue_turns.c.turn_key == sa.bindparam("key"),
                    queue_turns.c.last_claimed_at == sa.bindparam("seen"),
                    queue_turns.c.passed_at.is_(None),
                )
                .values(passed_at=utcnow()),
                [{"key": key, "seen": seen} for key, seen in turns],
            )

    # endregion

    @staticmethod
    def _take_turn(conn: Connection, tenant_id: str | None, now: datetime) -> None:
        row = {"turn_key": tenant_id or PLATFORM_TURN_KEY, "last_claimed_at": now, "passed_at": None}
        upsert(conn, queue_turns, row, key=["turn_key"], update=["last_claimed_at", "passed_at"])

    # endregion

    # region leases

    def renew(self, running: dict[int, str]) -> dict[int, str]:
        """Extends the leases of the items a pod's live threads run ({item_id: worker_id}) that those
        workers still hold; returns {item_id: worker_id} of the renewed. An item no thread runs (its
        thread died, or let go of it in a database outage) is not renewed: its lease lapses."""
        if not running:
            return {}
        with self._db.begin() as conn:
            rows = conn.execute(
                sa.update(sq)
                .where(sa.tuple_(sq.c.item_id, sq.c.worker_id).in_(list(running.items())), sq.c.status == "in_progress")
                .values(lease_expires_at=utcnow() + self.lease)
                .returning(sq.c.item_id, sq.c.worker_id)
            ).all()
        return {item_id: worker_id for item_id, worker_id in rows}

    def reap(self, expire_all: bool = False, on_lost: "LostAttempt | None" = None) -> list[Reaped]:
        """Returns items whose lease expired to pending (a fresh session, same attempt count), or fails
        them once they have been claimed `max_attempts` times. `expire_all`: every in-progress item
        (the embedded single-process studio at start-up: whatever is in progress was left by a crash).
        `on_lost`: called for each lost attempt in the transaction that ends it."""
        now = utcnow()
        expired = sq.c.status == "in_progress"
        if not expire_all:
            expired = sa.and_(expired, sa.or_(sq.c.lease_expires_at.is_(None), sq.c.lease_expires_at < now))
        reaped: list[Reaped] = []
        with self._db.begin() as conn:
            rows = conn.execute(
                sa.select(sq.c.item_id, sq.c.tenant_id, sq.c.attempt, sq.c.session, sq.c.worker_id)
                .where(expired)
                .order_by(sq.c.item_id)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                if row.attempt >= self.max_attempts:
                    message = (
                        f"The worker running this item stopped responding {row.attempt} times "
                        f"(last: {row.worker_id}); it was not retried again."
                    )
                    values = _finished("failed", now) | {"error_type": WORKER_LOST, "error_message": message}
                    reaped.append(Reaped(row.item_id, row.tenant_id, "failed"))
                else:
                    values = _back_to_pending(row.session, now)
                    reaped.append(Reaped(row.item_id, row.tenant_id, "pending"))
                LEASE_EXPIRIES.labels(reaped[-1].status).inc()
                conn.execute(sa.update(sq).where(sq.c.item_id == row.item_id, sq.c.status == "in_progress").values(**values))
                if on_lost is not None:
                    on_lost(conn, row.item_id, row.tenant_id, row.attempt)
        return reaped

    def hand_back(
        self, worker_ids: list[str], uncounted: set[int] | None = None, on_lost: "LostAttempt | None" = None
    ) -> list[Reaped]:
        """A stopping worker returns its items to pending. Only the attempts its stop interrupted
        (`uncounted`; None: all) do not count: an item a dead thread left behind keeps its attempt, so
        an item that kills its worker meets `max_attempts` however often the pod restarts."""
        if not worker_ids:
            return []
        now = utcnow()
        returned: list[Reaped] = []
        with self._db.begin() as conn:
            rows = conn.execute(
                sa.select(sq.c.item_id, sq.c.tenant_id, sq.c.session, sq.c.attempt)
                .where(sq.c.worker_id.in_(worker_ids), sq.c.status == "in_progress")
                .with_for_update()
            ).all()
            for row in rows:
                values = _back_to_pending(row.session, now)
                if uncounted is None or row.item_id in uncounted:
                    values["attempt"] = sq.c.attempt - 1
                conn.execute(sa.update(sq).where(sq.c.item_id == row.item_id).values(**values))
                if on_lost is not None:
                    on_lost(conn, row.item_id, row.tenant_id, row.attempt)
                returned.append(Reaped(row.item_id, row.tenant_id, "pending"))
        return returned

    # endregion

    # region workers

    def beat(self, worker_ids: list[str], started_at: datetime) -> None:
        """Records that these workers (one per device of a pod) are alive: API pods report the
        processor's state from it, claims read the models of live workers only."""
        now = utcnow()
        with self._db.begin() as conn:
            for worker_id in worker_ids:
                row = {"worker_id": worker_id, "started_at": started_at, "heartbeat_at": now}
                upsert(conn, queue_workers, row, key=["worker_id"], update=["heartbeat_at"])
            stale = now - 10 * self.lease
            conn.execute(sa.delete(queue_workers).where(queue_workers.c.heartbeat_at < stale))

    def forget(self, worker_ids: list[str]) -> None:
        with self._db.begin() as conn:
            conn.execute(sa.delete(queue_workers).where(queue_workers.c.worker_id.in_(worker_ids)))
        for worker_id in worker_ids:
            self._recorded_models.pop(worker_id, None)

    def live_workers(self) -> int:
        """Workers (devices of worker pods) whose heartbeat is within one lease."""
        with self._db.begin() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(queue_workers.c.heartbeat_at >= utcnow() - self.lease)
            ).scalar_one()

    def items_in_progress(self) -> int:
        with self._db.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).where(sq.c.status == "in_progress")).scalar_one()

    # endregion


def sync_dispatch_plans(db: Database) -> None:
    """Writes each plan's tier and concurrency (billing/plans.py) where Postgres claims read them
    (`dispatch_plans`); the row '' is what an unknown plan gets. `pingvas migrate` runs it."""
    rows = _plan_rows()
    with system_scope(), db.begin() as conn:
        conn.execute(sa.delete(dispatch_plans).where(dispatch_plans.c.plan.not_in([r["plan"] for r in rows])))
        for row in rows:
            upsert(conn, dispatch_plans, row, key=["plan"], update=["priority", "concurrent_queues"])


def check_dispatch_plans(db: Database) -> None:
    """A Postgres pod refuses to start when the database's plan tiers are not the code's."""
    with system_scope(), db.begin() as conn:
        stored = {tuple(r) for r in conn.execute(sa.select(dispatch_plans.c.plan, dispatch_plans.c.priority, dispatch_plans.c.concurrent_queues))}
    wanted = {(r["plan"], r["priority"], r["concurrent_queues"]) for r in _plan_rows()}
    if stored != wanted:
        raise RuntimeError("The database's dispatch_plans differ from billing/plans.py: run `pingvas migrate`")


def _plan_rows() -> list[dict[str, Any]]:
    """`dispatch_plans` as billing/plans.py says it should be ("" is what an unknown plan gets)."""
    plans = [("", UNKNOWN_PLAN), *PLANS.items()]
    return [{"plan": name, "priority": p.priority, "concurrent_queues": p.concurrent_queues} for name, p in plans]


# The claim (migration 0012): the item's columns come back expanded, beside the claim's own.
_CLAIM_PG = sa.text(
    "SELECT c.outcome, c.retry_in, c.dispatch_s, c.statuses, c.owner, (c.item).* "
    "FROM pingvas_claim(:worker, :device, :lease, CAST(:warm AS varchar[]), :wait, :window) AS c"
)
_CLAIM_EXTRA_COLUMNS = frozenset({"outcome", "retry_in", "dispatch_s", "statuses", "owner", "tenant_id"})


def _pending_tenants() -> sa.Select:
    """Per tenant with pending items: its first item, plan, status, last turn, running count, the
    models of its next item, when its turn was passed over, its credit balance and billing hold."""
    pending = (
        sa.select(sq.c.tenant_id, sa.func.min(sq.c.item_id).label("first_item_id"))
        .where(sq.c.status == "pending")
        .group_by(sq.c.tenant_id)
        .subquery()
    )
    running = (
        sa.select(sq.c.tenant_id, sa.func.count().label("running"))
        .where(sq.c.status == "in_progress")
        .group_by(sq.c.tenant_id)
        .subquery()
    )
    head = sq.alias("head")
    head_models = (
        sa.select(head.c.model_keys)
        .where(head.c.status == "pending", head.c.tenant_id.is_not_distinct_from(pending.c.tenant_id))
        .order_by(head.c.priority.desc(), head.c.item_id)
        .limit(1)
        .scalar_subquery()
    )
    return sa.select(
        pending.c.tenant_id,
        pending.c.first_item_id,
        tenants.c.plan,
        tenants.c.overrides,
        tenants.c.status,
        queue_turns.c.last_claimed_at,
        sa.func.coalesce(running.c.running, 0),
        head_models,
        queue_turns.c.passed_at,
        tenants.c.credits_period + tenants.c.credits_extra,
        tenants.c.billing_hold_at,
    ).select_from(
        pending.outerjoin(tenants, tenants.c.tenant_id == pending.c.tenant_id)
        .outerjoin(queue_turns, queue_turns.c.turn_key == sa.func.coalesce(pending.c.tenant_id, PLATFORM_TURN_KEY))
        .outerjoin(running, running.c.tenant_id.is_not_distinct_from(pending.c.tenant_id))
    )


def _turns(candidates: list[_Candidate]) -> tuple[PassedTurn, ...]:
    return tuple((c.turn_key, c.last_claimed_at) for c in candidates if c.passed_at is None)


def _fairness(c: _Candidate) -> tuple[int, datetime, int]:
    return (-c.tier, c.last_claimed_at, c.first_item_id)


def _same_tenant(tenant_id: str | None) -> sa.ColumnElement[bool]:
    return sq.c.tenant_id.is_(None) if tenant_id is None else sq.c.tenant_id == tenant_id


def _finished(status: str, now: datetime) -> dict[str, Any]:
    return {
        "status": status,
        "status_sequence": sa.func.coalesce(sq.c.status_sequence, 0) + 1,
        "updated_at": now,
        "completed_at": now,
        "lease_expires_at": None,
    }


def _back_to_pending(session_json: str, now: datetime) -> dict[str, Any]:
    return {
        "status": "pending",
        "status_sequence": sa.func.coalesce(sq.c.status_sequence, 0) + 1,
        "updated_at": now,
        "started_at": None,
        "worker_id": None,
        "lease_expires_at": None,
        "session": fresh_session(session_json),
    }
