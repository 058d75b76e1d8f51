"""Queue signals between pods: wake the workers, cancel an item wherever it runs, pause, resume.

A signal is published inside the transaction that makes it true and delivered after it commits:
on Postgres with NOTIFY (transactional by design, no other server needed), in one process (the
embedded SQLite studio) by calling the subscribers. Workers also poll slowly
(`PINGVAS_QUEUE_POLL_SECONDS`) and renew their leases, so a missed signal delays, never loses.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai_saas.db.database import Database

logger = logging.getLogger("pingvas.signals")

WAKE = "wake"
CANCEL = "cancel"
PAUSE = "pause"
RESUME = "resume"
CACHE_DROP = "cache_drop"  # invocation-cache entries that name a deleted image, video, tensor or conditioning
CACHE_CLEAR = "cache_clear"
CACHE_ENABLE = "cache_enable"
CACHE_DISABLE = "cache_disable"


@dataclass(frozen=True)
class Signal:
    kind: str
    item_id: int | None = None
    name: str | None = None  # CACHE_DROP: what was deleted

    def encode(self) -> str:
        if self.name is not None:
            return f"{self.kind}:{self.name}"
        return self.kind if self.item_id is None else f"{self.kind}:{self.item_id}"

    @classmethod
    def decode(cls, payload: str) -> "Signal":
        kind, _, rest = payload.partition(":")
        if kind == CACHE_DROP:
            return cls(kind, name=rest)
        return cls(kind, int(rest) if rest.isdigit() else None)


Subscriber = Callable[[Signal], None]


class QueueSignals:
    """In one process: subscribers are called as soon as a signal is published."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._wake_timer: threading.Timer | None = None
        self._wake_due = 0.0
        self._wake_lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)
        self.start()

    def publish(self, conn: Connection | None, signal: Signal) -> None:
        self._deliver(signal)

    def wake_later(self, seconds: float) -> None:
        """Wakes this process's subscribers in `seconds` (one timer: the earliest wake wins)."""
        due_at = time.monotonic() + seconds
        with self._wake_lock:
            if self._wake_timer is not None and self._wake_timer.is_alive():
                if self._wake_due <= due_at:
                    return
                self._wake_timer.cancel()
            self._wake_timer = threading.Timer(seconds, self._deliver, args=(Signal(WAKE),))
            self._wake_timer.daemon = True
            self._wake_due = due_at
            self._wake_timer.start()

    def _deliver(self, signal: Signal) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(signal)
            except Exception:
                logger.exception("queue signal subscriber failed on %s", signal)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PostgresSignals(QueueSignals):
    """NOTIFY on publish; one LISTEN connection per subscribing process, reconnected when it drops.
    After a reconnect subscribers get a WAKE (signals sent while disconnected were lost)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db
        self.channel = f"pingvas_queue_{db.schema or 'public'}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def publish(self, conn: Connection | None, signal: Signal) -> None:
        statement = sa.select(sa.func.pg_notify(self.channel, signal.encode()))
        if conn is not None:
            conn.execute(statement)
            return
        with self._db.begin() as own:
            own.execute(statement)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen_forever, name="pingvas-queue-signals", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _listen_forever(self) -> None:
        reconnecting(self._listen, self._stop, (psycopg.Error, OSError), self.connected.clear, "queue signals")

    def _listen(self) -> None:
        dsn = self._db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'LISTEN "{self.channel}"')
            self.connected.set()
            self._deliver(Signal(WAKE))  # whatever was sent while we were not listening
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    self._deliver(Signal.decode(note.payload))
                conn.execute("SELECT 1")  # notices a dead connection between notifications


def reconnecting(
    listen: Callable[[], None],
    stop: threading.Event,
    errors: tuple[type[Exception], ...],
    on_lost: Callable[[], None],
    name: str,
) -> None:
    """Runs `listen` until `stop`, reconnecting after a lost connection with a growing pause (up to 5 s)."""
    backoff = 0.1
    while not stop.is_set():
        try:
            listen()
            backoff = 0.1
        except errors as e:
            on_lost()
            logger.warning("%s: connection lost (%s); reconnecting in %.1fs", name, e, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)


def signals_for(db: Database) -> QueueSignals:
    return PostgresSignals(db) if db.is_postgres else QueueSignals()

