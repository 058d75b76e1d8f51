"""The mail outbox: a message is a row written in the transaction that caused it (`enqueue`), and
any pod sends it once that commits (`Outbox.drain`, run by `start_drainer` on every API pod).

Never lost: a row committed is sent or, after `max_attempts`, marked `failed` with its last error.
Never sent twice by the outbox: one row per cause (`key` is unique, a second enqueue of a key adds
nothing), and a row is claimed under a lease before it is sent, so two pods never send it at once.
A pod killed after the SMTP server accepted a message but before the row was marked sent leaves it
to be sent again when its lease lapses; it carries the same Message-ID, so mail systems that
deduplicate see one message. Failures are retried with exponential backoff. A sent row keeps its
key, recipient and template but not its variables: they may hold a single-use link.
"""

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from invokeai_saas.core.running_claim import POD_ID
from invokeai_saas.db.database import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.mail import mail_outbox as mo
from invokeai_saas.mail.templates import Templates
from invokeai_saas.mail.transport import Transport
from tenant_middleware.context import system_scope

logger = logging.getLogger("pingvas.mail")
_WRITTEN = "pingvas_mail_written"  # conn.info flag: this transaction enqueued mail
_wake = threading.Event()


def enqueue(conn: Connection, key: str, recipient: str, template: str, context: dict[str, Any]) -> bool:
    """Adds a message to the outbox inside the caller's transaction; False if `key` was already there."""
    now = utcnow()
    row = {"key": key, "recipient": recipient, "template": template, "context": json.dumps(context),
           "next_attempt_at": now, "created_at": now}
    added = insert_ignore(conn, mo, row, ["key"]) == 1
    conn.info[_WRITTEN] = True
    return added


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    recipient: str
    template: str
    context: str
    attempts: int


class Outbox:
    def __init__(self, db: Database, transport: Transport, templates: Templates, sender: str,
                 lease: timedelta = timedelta(seconds=60), max_attempts: int = 8,
                 backoff: timedelta = timedelta(seconds=5)) -> None:
        self._db = db
        self.transport = transport
        self._templates = templates
        self.sender = sender
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._me = f"{POD_ID}:mail"

    def drain(self, limit: int = 50) -> int:
        """Sends the messages due now (up to `limit`); returns how many were sent."""
        return sum(self._send(row) for row in self._claim(limit))

    def _claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        free = sa.and_(mo.c.status == "pending", mo.c.next_attempt_at <= now,
                       sa.or_(mo.c.lease_until.is_(None), mo.c.lease_until < now))
        with system_scope(), self._db.begin() as conn:
            due = conn.scalars(sa.select(mo.c.id).where(free).order_by(mo.c.id).limit(limit)).all()
            claimed = []
            for row_id in due:  # row by row: a row another pod claimed meanwhile no longer matches `free`
                claimed += conn.execute(
                    sa.update(mo).where(mo.c.id == row_id, free).values(claimed_by=self._me, lease_until=now + self.lease)
                    .returning(mo.c.id, mo.c.key, mo.c.recipient, mo.c.template, mo.c.context, mo.c.attempts)
                ).all()
        return [Claimed(*row) for row in claimed]

    def _send(self, row: Claimed) -> bool:
        try:
            message = self._templates.render(row.template, json.loads(row.context), self.sender, row.recipient,
                                             self.message_id(row))
            self.transport.send(message)
        except Exception as e:  # the row is retried or marked failed; the drainer goes on
            self._failed(row, e)
            return False
        with system_scope(), self._db.begin() as conn:
            conn.execute(sa.update(mo).where(mo.c.id == row.id, mo.c.claimed_by == self._me)
                         .values(status="sent", sent_at=utcnow(), claimed_by=None, lease_until=None, context="{}"))
        return True

    def _failed(self, row: Claimed, error: Exception) -> None:
        attempts = row.attempts + 1
        final = attempts >= self.max_attempts
        delay = min(self.backoff * 2 ** (attempts - 1), timedelta(hours=1))
        logger.warning("mail %s to %s failed (attempt %d%s): %s", row.id, row.recipient, attempts,
                       ", giving up" if final else "", error)
        values = {"attempts": attempts, "claimed_by": None, "lease_until": None, "next_attempt_at": utcnow() + delay,
                  "last_error": f"{type(error).__name__}: {error}"[:1000].replace("\x00", ""),
                  "status": "failed" if final else "pending"}
        with system_scope(), self._db.begin() as conn:
            conn.execute(sa.update(mo).where(mo.c.id == row.id, mo.c.claimed_by == self._me).values(**values))

    def message_id(self, row: Claimed) -> str:
        """The same for every send of a row, so a resend after a crash is one message to a deduplicating reader."""
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"
        digest = hashlib.sha256(row.key.encode()).hexdigest()[:16]
        return f"<outbox-{row.id}-{digest}@{domain}>"


def _committed(conn: Connection) -> None:
    if conn.info.pop(_WRITTEN, False):
        _wake.set()


def _rolled_back(conn: Connection) -> None:
    conn.info.pop(_WRITTEN, None)


def start_drainer(outbox: Outbox, poll_s: float = 2.0) -> threading.Event:
    """Drains `outbox` on a daemon thread: at once after a commit of this process that enqueued mail,
    and every `poll_s` for mail other pods enqueued or that is due again. Set the returned event to stop."""
    engine = outbox._db.engine
    if not event.contains(engine, "commit", _committed):
        event.listen(engine, "commit", _committed)
        event.listen(engine, "rollback", _rolled_back)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                while outbox.drain():
                    pass
            except Exception:  # a database outage: try again at the next poll
                logger.exception("mail outbox drain failed")
            _wake.wait(poll_s)
            _wake.clear()

    threading.Thread(target=run, name="pingvas-mail-outbox", daemon=True).start()
    return stop
