"""How long an attempt of a queue item held a generation device, and whether it is charged.

The worker starts a clock when the session starts (a session-runner callback, so queue wait and the
claim are excluded) and the status change that ends the attempt reads it, in the transaction that
writes the charge. A change made elsewhere (a user's cancel on an API pod) falls back to the time
since the claim. Charged: completion, a failure raised by a node of the user's graph, a cancel (the
time used), a workflow-call parent's segment. Not charged: the platform's failures (a worker lost,
an internal error of the processor).
"""

import time
import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from invokeai_saas.db import utcnow
from invokeai_saas.dispatch.claims import current_claim

_started: ContextVar[tuple[int, int, float] | None] = ContextVar("pingvas_session_started", default=None)
_node_failed: ContextVar[int | None] = ContextVar("pingvas_node_failed", default=None)
_external_requests: ContextVar[int] = ContextVar("pingvas_external_requests", default=0)


def session_started(queue_item: Any, **_: Any) -> None:
    """The session runner's before-session callback."""
    claim = current_claim()
    if claim is not None and claim.item_id == queue_item.item_id:
        _started.set((claim.item_id, claim.attempt, time.monotonic()))
        _node_failed.set(None)
        _external_requests.set(0)


def external_request_key() -> str:
    """The ledger key of the next external API request this attempt makes (one per request)."""
    claim = current_claim()
    if claim is None:
        return f"external:{uuid.uuid4()}"
    count = _external_requests.get() + 1
    _external_requests.set(count)
    return f"external:{claim.item_id}:{claim.attempt}:{count}"


def node_failed(item_id: int) -> None:
    """The item's session recorded a node's error: its failure is the graph's, not the platform's."""
    _node_failed.set(item_id)


def device_seconds(item_id: int, attempt: int, started_at: datetime | None) -> float:
    started = _started.get()
    if started is not None and started[:2] == (item_id, attempt):
        return time.monotonic() - started[2]
    return max((utcnow() - started_at).total_seconds(), 0.0) if started_at is not None else 0.0


def charged_outcome(status: str, item_id: int) -> str | None:
    """What an attempt ending in `status` is charged as, or None when it is not charged."""
    if status in ("completed", "canceled"):
        return status
    if status == "waiting":
        return "waiting for its child workflows"
    if status == "failed" and _node_failed.get() == item_id:
        return "failed in a node"
    return None
