"""What a workspace may queue: its plan's features and its credits, checked in the transaction that
inserts the items, before anything is written.

Models are resolved through the model records (a client's `base` is never trusted). The credits
check holds a batch against what is left after the workspace's queued items' estimates, with the
workspace's row locked, so concurrent enqueues cannot together queue more than the balance covers.
A called workflow's children (`call_saved_workflow`, queued while its parent runs) pass the same
gate; their refusal fails the parent (`at_run_time`). At run time, `ModelLoadGate` checks every model a
workspace's session loads.
"""

import json
from functools import cache
from datetime import datetime
from dataclasses import dataclass, replace
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from billing.credits import batch_estimate
from billing.entitlements import Entitlements, entitlements, parse_overrides
from billing.plans import Feature
from invokeai_saas.db.tables.models import models
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.db.tables.session_queue import parse_keys
from invokeai_saas.db import Database, utcnow
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.money.storage_usage import quota_refusal
from invokeai_saas.core.ttl_cache import TtlCache
from tenant_middleware.context import current_tenant_id
from tenant_middleware.errors import ErrorCode, ServiceError

FLUX_BASES = frozenset({"flux", "flux2"})
NANO_BANANA_NODE = "gemini_image_generation"
WAITING_STATUSES = ("pending", "in_progress")
_MODEL_BASES: TtlCache[str] = TtlCache(60.0)


def nano_banana_requests(session_json: str) -> int:
    """How many nano-banana (Gemini image) requests one session of this graph makes."""
    nodes = json.loads(session_json).get("graph", {}).get("nodes", {})
    return sum(1 for node in nodes.values() if isinstance(node, dict) and node.get("type") == NANO_BANANA_NODE)


def flux_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    return {key for key, base in model_bases(conn, set(keys)).items() if base in FLUX_BASES}


def model_bases(conn: Connection, keys: set[str]) -> dict[str, str]:
    """Each model's base from the model records ("" for no such model), cached: a key's base never
    changes (the catalog is the platform's, the same for every workspace)."""
    bases = {key: base for key in keys if (base := _MODEL_BASES.peek(key)) is not None}
    missing = keys - bases.keys()
    if missing:
        found = dict(conn.execute(sa.select(models.c.id, models.c.base).where(models.c.id.in_(missing))).all())
        for key in missing:
            bases[key] = _MODEL_BASES.get(key, lambda key=key: found.get(key, ""))  # type: ignore[misc]
    return bases


def tenant_entitlements(conn: Connection, tenant_id: str) -> Entitlements:
    row = conn.execute(_WORKSPACE, {"tenant_id": tenant_id}).one()
    return entitlements(row.plan, parse_overrides(row.overrides))


def check_hold(hold_at: datetime | None) -> None:
    if hold_at is not None and hold_at <= utcnow():
        raise ServiceError(
            ErrorCode.PAYMENT_OVERDUE,
            "The subscription's payment is overdue, so generation is paused. Update the payment method in the "
            "billing portal; generation resumes as soon as the payment goes through.",
        )


def check_active(status: str) -> None:
    if status != "active":
        raise ServiceError(
            ErrorCode.TENANT_SUSPENDED,
            "This workspace is suspended: it can view, download and delete its data, but not generate.",
        )


def require(ent: Entitlements, feature: Feature, what: str) -> None:
    if not ent.allows(feature):
        raise ServiceError(
            ErrorCode.FEATURE_NOT_IN_PLAN,
            f"{what} are not included in the {ent.plan.title()} plan. Upgrade your plan to use them.",
        )


@dataclass(frozen=True)
class WorkspaceState:
    plan: str
    overrides: str | None
    balance: int
    billing_hold_at: datetime | None
    trial_ends_at: datetime | None
    storage_bytes: int
    held: int  # credits held by the workspace's queued and running items
    pending: int  # its pending items in the queue asked about (the queue's size limit)
    status: str = "active"  # or "suspended"


_WORKSPACE_COLUMNS = [
    tenants.c.plan, tenants.c.overrides, (tenants.c.credits_period + tenants.c.credits_extra).label("balance"),
    tenants.c.billing_hold_at, tenants.c.trial_ends_at, tenants.c.storage_bytes, tenants.c.status,
]  # fmt: skip
_WORKSPACE = sa.select(*_WORKSPACE_COLUMNS).where(tenants.c.tenant_id == sa.bindparam("tenant_id"))
_ENQUEUE_LOCK_PG = sa.select(
    sa.func.pg_advisory_xact_lock(sa.func.hashtext(sa.literal("pingvas.enqueue:") + sa.bindparam("tenant_id")))
)
_QUEUED = (
    sa.select(
        sa.func.coalesce(sa.func.sum(sq.c.estimate_credits), 0).label("held"),
        sa.func.count().filter(sa.and_(sq.c.status == "pending", sq.c.queue_id == sa.bindparam("queue_id"))).label("pending"),
    )
    .where(sq.c.tenant_id == sa.bindparam("tenant_id"), sq.c.status.in_(WAITING_STATUSES))
    .subquery()
)
_WORKSPACE_AND_QUEUED = (
    sa.select(*_WORKSPACE_COLUMNS, _QUEUED.c.held, _QUEUED.c.pending)
    .select_from(tenants.join(_QUEUED, sa.true()))
    .where(tenants.c.tenant_id == sa.bindparam("tenant_id"))
)


def workspace_state(conn: Connection, tenant_id: str, lock: bool = False, queue_id: str = "default") -> WorkspaceState:
    """Everything the gate reads of a workspace, its balance and what its queued items hold read by one
    statement (one snapshot: an item's completion and its charge commit together, so the two agree);
    `lock`: its enqueues are serialized until this transaction ends (on Postgres an advisory lock taken
    by a statement of its own, before the read: a statement reads rows as they were when it started, so
    one that waited for the lock would see the balance from before a concurrent item's charge and the
    queue from after it, and admit a batch the balance does not cover; on SQLite the Database lock)."""
    if lock and conn.dialect.name == "postgresql":
        conn.execute(_ENQUEUE_LOCK_PG, {"tenant_id": tenant_id})
    row = conn.execute(_WORKSPACE_AND_QUEUED, {"tenant_id": tenant_id, "queue_id": queue_id}).one()
    state = dict(row._mapping)
    return WorkspaceState(**{**state, "held": int(state["held"])})


@dataclass(frozen=True)
class Assessment:
    estimates: list[int]  # per queue item, credits
    nano_banana_requests: int
    balance: int
    held: int  # by the workspace's queued and running items
    refusal: ServiceError | None
    repeat: int = 1  # the rows stand for this many copies each (an estimate of a batch's sessions)

    @property
    def need(self) -> int:
        return sum(self.estimates) * self.repeat

    @property
    def sessions(self) -> int:
        return len(self.estimates) * self.repeat


class EnqueueGate:
    def __init__(self, ledger: CreditLedger) -> None:
        self._ledger = ledger

    def lock(self, conn: Connection, tenant_id: str, queue_id: str = "default") -> WorkspaceState:
        """The workspace's row locked until the transaction ends (its enqueues are serialized), with
        a trial that is over lapsed first."""
        state = workspace_state(conn, tenant_id, lock=True, queue_id=queue_id)
        if state.trial_ends_at is not None and state.trial_ends_at <= utcnow():
            self._ledger.lapse_trial_if_over(conn, tenant_id)
            state = workspace_state(conn, tenant_id, lock=True, queue_id=queue_id)
        return state

    def check(
        self,
        conn: Connection,
        tenant_id: str | None,
        rows: list[dict[str, Any]],
        state: WorkspaceState | None = None,
        repeat: int = 1,
    ) -> list[int]:
        """Refuses the batch (ServiceError) or returns each row's estimate in credits. Rows carry
        `session` (JSON) and `model_keys`; `state`: from `lock` in this transaction, if taken already;
        `repeat`: the credits must cover that many copies of the rows. Operators' own items are not billed."""
        if tenant_id is None or not rows:
            return [0] * len(rows)
        assessment = assess(conn, state or self.lock(conn, tenant_id), rows, repeat)
        if assessment.refusal is not None:
            raise assessment.refusal
        return assessment.estimates

    def check_at_run_time(
        self,
        conn: Connection,
        tenant_id: str | None,
        rows: list[dict[str, Any]],
        state: WorkspaceState | None = None,
        repeat: int = 1,
    ) -> list[int]:
        """`check` for items a running session queues (a called workflow's children); a refusal is
        raised `at_run_time`."""
        try:
            return self.check(conn, tenant_id, rows, state, repeat)
        except ServiceError as refusal:
            raise at_run_time(refusal) from None


def at_run_time(refusal: ServiceError) -> ServiceError:
    """The refusal as an exception whose class is named for its code: raised inside a running node,
    it fails that node, and InvokeAI records the class name as the item's `error_type`, so the item
    says `insufficient_credits` (with the same sentence) where an enqueue would have answered it."""
    return _refusal_class(refusal.code)(refusal.code, refusal.detail)


@cache
def _refusal_class(code: ErrorCode) -> type[ServiceError]:
    return type(code.value, (ServiceError,), {"__module__": __name__, "__qualname__": code.value})


def assess(conn: Connection, state: WorkspaceState, rows: list[dict[str, Any]], repeat: int = 1) -> Assessment:
    """What queuing `rows` (each `repeat` times) would cost the workspace in `state`, and why it
    would be refused (if it would)."""
    ent = entitlements(state.plan, parse_overrides(state.overrides))
    requests = [nano_banana_requests(row["session"]) for row in rows]
    estimates = [batch_estimate(1, n) for n in requests]
    balance, held = state.balance, state.held
    assessment = Assessment(estimates, sum(requests) * repeat, balance, held, None, repeat)
    try:
        check_active(state.status)
        check_hold(state.billing_hold_at)
        keys = set().union(*(parse_keys(row["model_keys"]) for row in rows))
        if flux_keys(conn, keys):
            require(ent, Feature.FLUX_MODELS, "FLUX models")
        if any(requests):
            require(ent, Feature.NANO_BANANA, "Nano-banana (Gemini) image requests")
        quota_refusal(state.storage_bytes, ent.storage_limit_bytes)  # a generation's images need room
        available = balance - held
        if balance <= 0 or available < assessment.need:
            raise ServiceError(
                ErrorCode.INSUFFICIENT_CREDITS,
                f"Not enough credits: this batch needs at least {assessment.need}, and {max(available, 0)} of the "
                f"workspace's {balance} are free ({held} are held by items already queued). Add credits or upgrade your plan.",
            )
    except ServiceError as refusal:
        return replace(assessment, refusal=refusal)
    return assessment


class ModelLoadGate:
    """On a worker, every model load (`context.models.load`) of a workspace's session: a FLUX model
    needs the workspace's plan to include it. This catches what enqueue cannot see (a model a node
    chooses at run time, a plan changed since the item was queued); the refusal fails the node with its
    message. A plan change reaches it within `ttl_s`."""

    def __init__(self, db: Database, ttl_s: float = 10.0) -> None:
        self._db = db
        self._entitlements: TtlCache[Entitlements] = TtlCache(ttl_s)

    def wrap(self, loader: Any) -> None:
        load_model = loader.load_model

        def gated_load_model(model_config: Any, submodel_type: Any = None, user_id: str | None = None) -> Any:
            self.check(str(getattr(model_config.base, "value", model_config.base)))
            return load_model(model_config, submodel_type, user_id=user_id)

        loader.load_model = gated_load_model

    def check(self, base: str) -> None:
        tenant_id = current_tenant_id()
        if base not in FLUX_BASES or tenant_id is None:
            return
        require(self._entitlements.get(tenant_id, lambda: self._load(tenant_id)), Feature.FLUX_MODELS, "FLUX models")

    def _load(self, tenant_id: str) -> Entitlements:
        with self._db.begin() as conn:
            return tenant_entitlements(conn, tenant_id)
