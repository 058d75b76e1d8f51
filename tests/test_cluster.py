"""Many pods, one studio: Nginx in front of two API pods, two workers, one Postgres database, Redis
between them and media in S3. A client behind Nginx sees work run by a worker it never talked to; a
cancel sent to the other API pod stops the item on its worker; pods starting, dying and the servers
between them restarting lose no one's work and run nothing twice."""

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import socketio
import sqlalchemy as sa

from invokeai_saas.db.tables.session_queue import session_queue as sq
from tenant_middleware.context import system_scope
from tests.cluster import Cluster
from tests.conftest import unique_email
from tests.db_fixtures import PG_ADMIN_DSN
from tests.generation import install_tiny_model
from tests.graphs import enqueue_batch_body, txt2img_graph
from tests.studio import Account, Studio

SLOW_STEPS = 400  # a 128x128 tiny-model image: several seconds on these CPUs, with a progress event per step


class Listener:
    """A Socket.IO client on one pod (or through Nginx), keeping each event with the time it arrived.
    Like the web UI, it starts with long-polling and upgrades to a WebSocket."""

    def __init__(self, pod: Studio | str, account: Account) -> None:
        self.events: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)
        url = pod if isinstance(pod, str) else pod.url
        self.sio.connect(url, socketio_path="/ws/socket.io", auth={"token": account.token}, wait_timeout=30)
        self.sio.emit("subscribe_queue", {"queue_id": "default"})

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event, data))

    def of_item(self, item_id: int, name: str | None = None) -> list[tuple[float, str, Any]]:
        with self._lock:
            return [
                (t, e, d) for t, e, d in self.events
                if isinstance(d, dict) and d.get("item_id") == item_id and (name is None or e == name)
            ]

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start(cluster.pod("api", "api-a"), cluster.pod("api", "api-b"))
        cluster.start(cluster.pod("worker", "worker-1"), cluster.pod("worker", "worker-2"))
        cluster.front(cluster.pods[0], cluster.pods[1])
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def api_a(cluster: Cluster) -> Studio:
    return cluster.pods[0]


@pytest.fixture(scope="module")
def api_b(cluster: Cluster) -> Studio:
    return cluster.pods[1]


@pytest.fixture(scope="module")
def model_key(cluster: Cluster, api_a: Studio, tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_tiny_model(api_a, api_a.operator(), tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def member(api_b: Studio) -> Account:
    return api_b.signup(unique_email("cluster"))


def enqueue(pod: Studio, member: Account, model_key: str, steps: int = 2, size: int = 64) -> int:
    graph = txt2img_graph(model_key, prompt=f"a cat {uuid.uuid4().hex[:6]}", width=size, height=size, steps=steps)
    with pod.client(member) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(graph))
        assert r.status_code in (200, 201), r.text
        return r.json()["item_ids"][0]


def item_row(cluster: Cluster, item_id: int) -> sa.Row:
    db = cluster.database()
    try:
        with system_scope(), db.begin() as conn:
            return conn.execute(sa.select(sq).where(sq.c.item_id == item_id)).one()
    finally:
        db.dispose()


def status(pod: Studio, member: Account, item_id: int) -> str:
    with pod.client(member) as c:
        return c.get(f"/api/v1/queue/default/i/{item_id}").json()["status"]


def wait_status(pod: Studio, member: Account, item_id: int, wanted: str, timeout: float = 120) -> None:
    def reached() -> bool:
        current = status(pod, member, item_id)
        assert current in (wanted, "pending", "in_progress"), f"item {item_id} is {current}, waiting for {wanted}"
        return current == wanted

    pod.wait_for(reached, timeout=timeout)


def worker_pod(cluster: Cluster, worker_id: str) -> Studio:
    """The worker process that holds `worker_id` (host:pid:…#device)."""
    pid = int(worker_id.split(":")[1])
    return next(p for p in cluster.pods if p.process is not None and p.process.pid == pid)


def behind_nginx(cluster: Cluster) -> tuple[Studio, Studio]:
    """(the API pod Nginx sends this client to, the other one)."""
    with httpx.Client(timeout=30) as c:
        pod_id = c.get(f"{cluster.nginx.url}/healthz").json()["pod"]
    apis = [p for p in cluster.pods[:2]]
    chosen = next(p for p in apis if f":{p.process.pid}:" in pod_id)  # type: ignore[union-attr]
    return chosen, next(p for p in apis if p is not chosen)


def test_a_client_behind_nginx_sees_progress_and_completion_of_an_item_a_worker_ran(
    cluster: Cluster, api_a: Studio, api_b: Studio, model_key: str, member: Account
) -> None:
    listener = Listener(cluster.nginx.url, member)
    stranger = Listener(api_a, api_a.signup(unique_email("stranger")))  # another workspace, on an API pod
    try:
        time.sleep(0.5)
        _, other = behind_nginx(cluster)
        item_id = enqueue(other, member, model_key, steps=8)  # through the pod the client is not on
        wait_status(api_a, member, item_id, "completed")
        api_a.wait_for(lambda: [e for _, e, d in listener.of_item(item_id, "queue_item_status_changed") if d["status"] == "completed"], timeout=30)
        assert listener.of_item(item_id, "invocation_progress"), "no progress reached the client"
        with api_a.client(member) as c:  # the worker's charge, relayed to the client's pod as the new balance
            credits = c.get("/api/v1/tenant").json()["credits"]
        api_a.wait_for(lambda: (credits,) in [(d["credits"],) for _, e, d in listener.events if e == "credits_changed"], timeout=30)
        row = item_row(cluster, item_id)
        assert worker_pod(cluster, row.worker_id).command == "worker"
        time.sleep(1.0)  # let any stray relayed event arrive
        assert not stranger.of_item(item_id) and member.user_id not in repr(stranger.events)
        assert "credits_changed" not in [e for _, e, _ in stranger.events]
    finally:
        listener.close()
        stranger.close()
    with api_a.client(member) as c:
        names = c.get("/api/v1/images/names", params={"categories": ["general"], "is_intermediate": False}).json()["image_names"]
        assert len(names) == 1
        full = c.get(f"/api/v1/images/i/{names[0]}/full")  # the API pod never had the file: S3 did
        assert full.status_code == 307 and full.headers["location"].startswith(cluster.s3.endpoint_url)
        with httpx.Client(timeout=30) as plain:  # no credential of ours: the presigned URL is enough
            image = plain.get(full.headers["location"])
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        thumbnail = c.get(f"/api/v1/images/i/{names[0]}/thumbnail")
        assert thumbnail.status_code == 307
    with api_b.client(api_b.signup(unique_email("other"))) as c:
        assert c.get(f"/api/v1/images/i/{names[0]}/full").status_code == 404  # another workspace: no URL


def test_a_cancel_sent_to_the_other_api_pod_stops_the_item_on_its_worker_within_a_second(
    cluster: Cluster, api_a: Studio, model_key: str, member: Account
) -> None:
    listener = Listener(cluster.nginx.url, member)
    try:
        _, other = behind_nginx(cluster)
        item_id = enqueue(api_a, member, model_key, steps=SLOW_STEPS, size=128)
        api_a.wait_for(lambda: len(listener.of_item(item_id, "invocation_progress")) >= 3, timeout=120)
        with other.client(member) as c:
            assert c.put(f"/api/v1/queue/default/i/{item_id}/cancel").json()["status"] == "canceled"
        canceled_at = time.monotonic()
        time.sleep(3)
        last_progress = max(t for t, _, _ in listener.of_item(item_id, "invocation_progress"))
        assert last_progress - canceled_at < 1.0
        assert status(api_a, member, item_id) == "canceled"
    finally:
        listener.close()


def test_a_new_api_pod_starting_mid_item_cancels_nothing(
    cluster: Cluster, api_a: Studio, model_key: str, member: Account
) -> None:
    item_id = enqueue(api_a, member, model_key, steps=SLOW_STEPS // 2, size=128)
    wait_status(api_a, member, item_id, "in_progress")
    cluster.start(cluster.pod("api", "api-c"))
    assert status(api_a, member, item_id) in ("in_progress", "completed")
    wait_status(api_a, member, item_id, "completed")


def test_a_killed_workers_item_completes_on_the_other_worker_exactly_once(
    cluster: Cluster, api_a: Studio, model_key: str, member: Account
) -> None:
    item_id = enqueue(api_a, member, model_key, steps=SLOW_STEPS, size=128)
    wait_status(api_a, member, item_id, "in_progress")
    first = item_row(cluster, item_id)
    victim = worker_pod(cluster, first.worker_id)
    os.kill(victim.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    victim.process.wait(timeout=30)  # type: ignore[union-attr]
    try:
        wait_status(api_a, member, item_id, "completed", timeout=240)
        done = item_row(cluster, item_id)
        assert done.attempt == 2 and worker_pod(cluster, done.worker_id) is not victim
        with api_a.client(member) as c:
            names = c.get("/api/v1/images/names", params={"categories": ["general"], "is_intermediate": False}).json()["image_names"]
            receipt = c.get(f"/api/v1/billing/usage/items/{item_id}").json()
        assert len(names) == 1  # the dead worker never saved its half-run image
        # the lost attempt is the platform's failure: only the attempt that finished is charged (whatever its
        # heartbeats charged while it ran is refunded when it is reaped)
        net: dict[int, int] = {}
        for e in receipt["entries"]:
            assert e["kind"] in ("usage", "refund"), receipt
            net[e["attempt"]] = net.get(e["attempt"], 0) + e["amount"]
        assert net.get(1, 0) == 0 and net[2] < 0 and receipt["credits_charged"] == -net[2], receipt
    finally:
        cluster.start(victim)  # back to two workers for the tests that follow


def test_workers_recover_by_themselves_when_postgres_drops_their_connections(
    cluster: Cluster, api_a: Studio, model_key: str, member: Account
) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (cluster.pg_name,),
        ).fetchone()[0]  # type: ignore[index]
    assert dropped > 0
    # An API pod answers at most a request or two 503 "retry" (a pooled connection that died just
    # after its last use) and then serves again on a renewed pool; never a 500.
    for pod in (p for p in cluster.pods if p.command == "api" and p.process and p.process.poll() is None):
        seen: list[int] = []

        def serves() -> bool:
            with pod.client(member) as c:
                seen.append(c.get("/api/v1/tenant").status_code)
            return seen[-1] == 200

        pod.wait_for(serves, timeout=30)
        assert set(seen) <= {200, 503} and seen.count(503) <= 2, seen
    item_id = enqueue(api_a, member, model_key)
    wait_status(api_a, member, item_id, "completed", timeout=120)  # the workers reconnected by themselves


def test_a_redis_restart_loses_no_item_and_events_resume(
    cluster: Cluster, api_a: Studio, api_b: Studio, model_key: str, member: Account
) -> None:
    listener = Listener(api_a, member)
    try:
        cluster.redis.stop()
        during = enqueue(api_b, member, model_key)
        wait_status(api_a, member, during, "completed")  # generation does not need Redis
        cluster.redis.start()
        after = None

        def events_flow_again() -> bool:
            nonlocal after
            if after is None or status(api_a, member, after) == "completed":
                if after is not None and listener.of_item(after, "queue_item_status_changed"):
                    return True
                after = enqueue(api_b, member, model_key)
            return False

        api_a.wait_for(events_flow_again, timeout=60, interval=1.0)
    finally:
        listener.close()


def test_every_pod_answers_health_readiness_and_metrics(cluster: Cluster) -> None:
    for pod in cluster.pods:
        if pod.process is None or pod.process.poll() is not None:
            continue
        with pod.client() as c:
            health = c.get("/healthz")
            assert health.status_code == 200 and health.json()["role"] == pod.command
            ready = c.get("/readyz").json()
            assert ready["status"] == "ready" and set(ready["checks"]) == {"database", "redis", "storage", "processor"}, ready
            metrics = c.get("/metrics").text
            assert 'pingvas_queue_depth{tier="starter"}' in metrics and "pingvas_queue_items_running" in metrics
    # Each worker exposes its item histogram; the items so far ran on one or both (a restarted worker
    # has observed nothing since its restart), so together they have observed some.
    worker_metrics = []
    for worker in (p for p in cluster.pods if p.command == "worker"):
        with worker.client() as c:
            worker_metrics.append(c.get("/metrics").text)
            assert c.get("/api/v1/queue/default/status").status_code == 404  # a worker serves no API
    assert all("# TYPE pingvas_queue_item_seconds histogram" in text for text in worker_metrics)
    assert any("pingvas_queue_item_seconds_count" in text for text in worker_metrics)


def test_logs_are_json_lines_naming_the_tenant_request_and_queue_item(cluster: Cluster, api_a: Studio, member: Account) -> None:
    with api_a.client(member) as c:
        answered = c.get("/api/v1/tenant", headers={"X-Request-ID": "req-cluster-1"})
    assert answered.headers["x-request-id"] == "req-cluster-1"
    with api_a.client() as c:
        assert len(c.get("/healthz").headers["x-request-id"]) == 32  # one is made when none is given
    lines = [json.loads(line) for pod in cluster.pods if pod.command == "worker" and pod.log_path
             for line in pod.log_path.read_text(errors="replace").splitlines() if line.startswith("{")]
    executing = [e for e in lines if e["message"].startswith("Executing queue item")]
    assert executing, "no JSON line for a queue item"
    assert all({"time", "level", "logger", "tenant_id", "queue_item_id"} <= set(e) for e in executing)
    assert all(f"queue item {e['queue_item_id']}," in e["message"] for e in executing)
