"""Events across pods: an InvokeAI event raised on one pod is re-dispatched on every other pod.

Each pod publishes its events to one Redis channel as `{origin, tenant, name, payload}` and
re-dispatches what the other pods published through its own event service, as if raised there.
So each API pod's socket layer emits to its own sockets with its own redaction (owners and admins
connected to that pod get the full event, teammates the redacted copy: python-socketio's Redis
manager alone would compute that from the emitting pod's sockets only), and a worker's processor
hears the cancels, clears and access changes made on any API pod. Workers take only those control
events: progress events carry preview images they have no use for.

Redis down: events are dropped, never waited for (generation goes on), and both directions
reconnect; events resume when Redis is back. Without `PINGVAS_REDIS_URL` there is no bridge.
"""

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator

import redis

from invokeai.app.services.events.events_common import EventBase
from invokeai_saas.core.running_claim import POD_ID
from invokeai_saas.queue.signals import reconnecting
from invokeai_saas.core.redis_client import connect

logger = logging.getLogger("pingvas.events")

# What a worker's processor listens to (stock `DefaultSessionProcessor.start` registers these).
PROCESSOR_CONTROL = frozenset({"queue_item_status_changed", "queue_cleared", "batch_enqueued", "user_access_changed"})
OUTBOX_SIZE = 10_000

Deliver = Callable[[EventBase, str | None, bool], None]  # event, tenant, whether the tenant was stamped


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def event_classes() -> dict[str, type[EventBase]]:
    """Every event by name; `get_events()` leaves out server-internal ones such as user_access_changed."""
    return {c.__event_name__: c for c in _subclasses(EventBase) if isinstance(getattr(c, "__event_name__", None), str)}


class EventBridge:
    def __init__(self, redis_url: str, channel: str, accept: Callable[[str], bool], deliver: Deliver) -> None:
        self._url = redis_url
        self.channel = channel
        self._accept = accept
        self._deliver = deliver
        self._classes = event_classes()
        self._outbox: queue.Queue[str | None] = queue.Queue(maxsize=OUTBOX_SIZE)
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target, name in ((self._publish_forever, "publisher"), (self._listen_forever, "subscriber")):
            thread = threading.Thread(target=target, name=f"pingvas-events-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._outbox.put_nowait(None)
        except queue.Full:
            pass

    def publish(self, event: EventBase, tenant_id: str | None, stamped: bool) -> None:
        """Never blocks: a full outbox (Redis down for a long time) drops the event."""
        envelope = {"o": POD_ID, "t": tenant_id, "s": stamped, "n": event.__event_name__, "p": event.model_dump(mode="json")}
        try:
            self._outbox.put_nowait(json.dumps(envelope))
        except queue.Full:
            pass

    def _publish_forever(self) -> None:
        client: redis.Redis | None = None
        while not self._stop.is_set():
            message = self._outbox.get()
            if message is None:
                return
            try:
                client = client or connect(self._url)
                client.publish(self.channel, message)
            except redis.RedisError as e:
                client = None
                logger.warning("event bridge: publish failed (%s); dropping events until Redis is back", e)
                self._drain_outbox()
                self._stop.wait(1.0)

    def _drain_outbox(self) -> None:
        while True:
            try:
                if self._outbox.get_nowait() is None:
                    self._stop.set()
                    return
            except queue.Empty:
                return

    def _listen_forever(self) -> None:
        reconnecting(self._listen, self._stop, (redis.RedisError,), self.subscribed.clear, "event bridge")

    def _listen(self) -> None:
        pubsub = connect(self._url).pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            self.subscribed.set()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._receive(message["data"])
        finally:
            pubsub.close()

    def _receive(self, data: bytes | str) -> None:
        try:
            envelope = json.loads(data)
            if envelope["o"] == POD_ID or not self._accept(envelope["n"]):
                return
            cls = self._classes.get(envelope["n"])
            if cls is None:
                return  # an event this version does not know (a newer pod during a deploy)
            self._deliver(cls.model_validate(envelope["p"]), envelope["t"], bool(envelope["s"]))
        except Exception:
            logger.exception("event bridge: could not re-dispatch an event")
