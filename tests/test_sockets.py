"""Socket.IO events never cross tenants, whatever room a client asks for."""

import threading
import time
import uuid
from typing import Any

import socketio


from tests.conftest import unique_email
from tests.studio import Account, Studio


class Listener:
    def __init__(self, studio: Studio, account: Account) -> None:
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.connect(studio.url, socketio_path="/ws/socket.io", auth={"token": account.token}, transports=["websocket"], wait_timeout=20)

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((event, data))

    def subscribe(self, queue_id: str) -> None:
        self.sio.emit("subscribe_queue", {"queue_id": queue_id})

    def text(self) -> str:
        with self._lock:
            return repr(self.events)

    def close(self) -> None:
        self.sio.disconnect()


def _enqueue(studio: Studio, account: Account, destination: str) -> int:
    graph = {"id": str(uuid.uuid4()), "nodes": {"n": {"id": "n", "type": "add", "a": 2, "b": 3, "use_cache": False}}, "edges": []}
    with studio.client(account) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": graph, "runs": 1, "destination": destination}})
        assert r.status_code in (200, 201), r.text
        return r.json()["item_ids"][0]


def test_queue_events_reach_only_the_owning_tenant(studio: Studio) -> None:
    alice = studio.signup(unique_email("alice"))
    bob = studio.signup(unique_email("bob"))
    a, b = Listener(studio, alice), Listener(studio, bob)
    try:
        a.subscribe("default")
        b.subscribe("default")
        # Bob also tries to reach Alice's rooms by name.
        for room in (f"tenant:{alice.tenant_id}:default", "admin", f"user:{alice.user_id}", f"tenant:{alice.tenant_id}"):
            b.subscribe(room)
        time.sleep(0.5)
        dest = f"alice-only-{uuid.uuid4().hex[:6]}"
        _enqueue(studio, alice, dest)
        studio.wait_for(lambda: "'completed'" in a.text() and dest in a.text(), timeout=60)
        time.sleep(1.0)  # let any stray event reach Bob
        assert dest not in b.text()
        assert alice.user_id not in b.text()
        assert not [e for e, _ in b.events if e.startswith(("queue_item", "invocation", "batch_enqueued"))], b.text()
        # and the other way round
        bob_dest = f"bob-only-{uuid.uuid4().hex[:6]}"
        _enqueue(studio, bob, bob_dest)
        studio.wait_for(lambda: "'completed'" in b.text() and bob_dest in b.text(), timeout=60)
        time.sleep(1.0)
        assert bob_dest not in a.text() and bob.user_id not in a.text()
    finally:
        a.close()
        b.close()


def test_a_second_member_of_the_tenant_sees_sanitized_queue_updates(studio: Studio) -> None:
    """Inside one tenant InvokeAI's own routing still applies: others get the sanitized companion event."""
    owner = studio.signup(unique_email("owner"))
    mate = studio.join(owner, unique_email("mate"))
    outsider = studio.signup(unique_email("outsider"))
    m, o = Listener(studio, mate), Listener(studio, outsider)
    try:
        m.subscribe("default")
        o.subscribe("default")
        time.sleep(0.5)
        _enqueue(studio, owner, "owner-work")
        studio.wait_for(lambda: "queue_item_status_changed" in m.text(), timeout=60)
        time.sleep(1.0)
        assert "queue_item_status_changed" not in o.text()
    finally:
        m.close()
        o.close()


def test_socket_without_a_valid_token_is_refused(studio: Studio) -> None:
    sio = socketio.Client(reconnection=False)
    try:
        sio.connect(studio.url, socketio_path="/ws/socket.io", auth={"token": "forged"}, transports=["websocket"], wait_timeout=10)
        connected = sio.connected
    except socketio.exceptions.ConnectionError:
        connected = False
    finally:
        if sio.connected:
            sio.disconnect()
    assert not connected


def test_a_charge_reaches_every_socket_of_the_workspace_as_its_new_balance_and_no_other(studio: Studio) -> None:
    """The studio's credit badge: `credits_changed` carries the balance after the charge, to the
    payer's workspace only (a teammate's socket hears it too; another workspace's never does)."""
    payer = studio.signup(unique_email("payer"))
    mate = studio.join(payer, unique_email("payer-mate"))
    stranger = studio.signup(unique_email("stranger"))
    listeners = {name: Listener(studio, account) for name, account in (("payer", payer), ("mate", mate), ("stranger", stranger))}
    try:
        time.sleep(0.5)
        item_id = _enqueue(studio, payer, "charged")
        with studio.client(payer) as c:
            def charged() -> int | None:
                entries = c.get("/api/v1/billing/usage").json()["entries"]
                return next((e["balance_after"] for e in entries if e["item_id"] == item_id), None)

            balance = studio.wait_for(charged, timeout=60)
            assert c.get("/api/v1/tenant").json()["credits"] == balance
        for name in ("payer", "mate"):
            studio.wait_for(lambda: ("credits_changed", {"credits": balance}) in listeners[name].events, timeout=30)
        time.sleep(1.0)  # let any stray event reach the stranger
        assert not [e for e, _ in listeners["stranger"].events if e == "credits_changed"], listeners["stranger"].text()
    finally:
        for listener in listeners.values():
            listener.close()
