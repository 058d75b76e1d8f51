"""The queue item this thread runs: its claim (item, attempt, worker) and the worker id it claims as.

Set by the dispatcher (`queue/claims.py`) when a worker thread claims an item; read by everything
that charges, stores or logs on the item's behalf while it runs (metering, images, logs), so those
rooms need not import the queue. `fence` limits a write to rows the claim still owns.
"""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from invokeai_saas.db.tables.session_queue import session_queue as sq

PassedTurn = tuple[str, datetime]  # (turn key, its last claim as seen): a turn left to a warmer worker

POD_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
_worker_id: ContextVar[str] = ContextVar("pingvas_worker_id", default=f"{POD_ID}#0")
_held: ContextVar["Claim | None"] = ContextVar("pingvas_held_claim", default=None)


@dataclass(frozen=True)
class Claim:
    item_id: int
    tenant_id: str | None
    worker_id: str
    attempt: int
    passed: tuple[PassedTurn, ...] = field(default=(), compare=False)  # for `Dispatcher.pass_over`


def current_worker_id() -> str:
    return _worker_id.get()


def bind_worker(worker_id: str) -> None:
    """This thread claims as `worker_id` from now on (one per generation device of a pod)."""
    _worker_id.set(worker_id)


def held_claim(item_id: int) -> Claim | None:
    """The claim this thread holds on `item_id`, if it claimed it: its writes are fenced by it."""
    claim = _held.get()
    return claim if claim is not None and claim.item_id == item_id else None


def current_claim() -> Claim | None:
    """The claim this thread holds (the queue item it is running), if any."""
    return _held.get()


def hold(claim: Claim | None) -> None:
    _held.set(claim)


def fence(claim: Claim | None) -> sa.ColumnElement[bool]:
    """Rows this claim still owns (every row, when the caller holds no claim)."""
    if claim is None:
        return sa.true()
    return sa.and_(sq.c.worker_id == claim.worker_id, sq.c.attempt == claim.attempt)


@contextmanager
def as_worker(worker_id: str) -> Iterator[None]:
    token = _worker_id.set(worker_id)
    try:
        yield
    finally:
        _worker_id.reset(token)
