"""How long an attempt of a queue item held a generation device, and whether it is charged.

The worker starts a clock when the session starts (a session-runner callback, so queue wait and the
claim are excluded). While the attempt runs, the worker's heartbeat charges the whole seconds used so
far (`running_seconds`), so a running item spends credits as the GPU runs and is stopped once the
workspace's balance is spent; the status change that ends the attempt charges the rest, in the
transaction that writes it. A change made elsewhere (a user's cancel on an API pod) falls back to the
time since the claim. Charged: completion, a failure raised by a node of the user's graph or by saving
its session, a cancel (the time used), a workflow-call parent's segment. Not charged: the platform's
failures (a worker lost, a database outage).
"""

import threading
import time
import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from invokeai_saas.db import utcnow
from invokeai_saas.core.running_claim import current_claim

# item_id -> (attempt, monotonic start): read by the heartbeat thread as well as the worker's own.
_running: dict[int, tuple[int, float]] = {}
_running_lock = threading.Lock()
_node_failed: ContextVar[int | None] = ContextVar("pingvas_node_failed", default=None)
_external_requests: ContextVar[int] = ContextVar("pingvas_external_requests", default=0)


def session_started(queue_item: Any, **_: Any) -> None:
    """The session runner's before-session callback."""
    claim = current_claim()
    if claim is not None and claim.item_id == queue_item.item_id:
        with _running_lock:
            _running[claim.item_id] = (claim.attempt, time.monotonic())
        _node_failed.set(None)
        _external_requests.set(0)


def running_seconds(item_id: int) -> tuple[int, float] | None:
    """(attempt, device seconds so far) of an item whose session runs in this process, if any."""
    with _running_lock:
        found = _running.get(item_id)
    return None if found is None else (found[0], time.monotonic() - found[1])


def clocked_items() -> set[int]:
    with _running_lock:
        return set(_running)


def forget(item_ids: set[int]) -> None:
    """Drops the clocks of attempts that ended."""
    with _running_lock:
        for item_id in item_ids:
            _running.pop(item_id, None)


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
    running = running_seconds(item_id)
    if running is not None and running[0] == attempt:
        return running[1]
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
