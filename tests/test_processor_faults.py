"""A processor thread that ends while the pod runs is noticed: the pod stops renewing what that thread
held and reports itself unhealthy (`/healthz` and `/readyz` 503), so the liveness probe restarts it.

The thread ends through stock InvokeAI's own fatal-error path (an exception outside its per-item
handler); the queue side (its item's lease lapses, the attempt counts) is in records/test_dispatch.py."""

import logging
import threading
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from invokeai.app.api.dependencies import ApiDependencies
from invokeai.app.services.session_processor.session_processor_default import DefaultSessionRunner, _SessionWorker

from invokeai_saas.api.health import health_router
from invokeai_saas.queue.session_processors import TenantAwareSessionProcessor


class BrokenSemaphore:
    """Makes stock `_process` fail before its per-item handler: its fatal path ends the thread."""

    def acquire(self) -> None:
        raise RuntimeError("device lost")

    def release(self) -> None:
        pass


@pytest.fixture
def processor(monkeypatch: pytest.MonkeyPatch) -> Iterator[TenantAwareSessionProcessor]:
    processor = TenantAwareSessionProcessor(session_runner=DefaultSessionRunner())
    processor._invoker = SimpleNamespace(services=SimpleNamespace(logger=logging.getLogger("test"), session_processor=processor))  # type: ignore[assignment]
    processor._workers = [_SessionWorker(device=None, runner=processor.session_runner)]
    processor.worker_ids = ["pod-a#0"]
    processor._thread_semaphore = BrokenSemaphore()  # type: ignore[assignment]
    processor._ready.set()
    monkeypatch.setattr(ApiDependencies, "invoker", processor._invoker, raising=False)
    yield processor


def run_thread(processor: TenantAwareSessionProcessor, stop: threading.Event) -> None:
    events: dict[str, Any] = {"stop_event": stop, "poll_now_event": threading.Event(), "resume_event": threading.Event()}
    thread = threading.Thread(target=processor._process, kwargs={"worker": processor._workers[0], **events})
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()


def health(path: str) -> int:
    app = FastAPI()
    app.include_router(health_router("worker", {"database": lambda: None}))
    with TestClient(app) as client:
        return client.get(path).status_code


def test_a_thread_that_ends_while_running_makes_the_pod_unhealthy(processor: TenantAwareSessionProcessor) -> None:
    assert (health("/healthz"), health("/readyz")) == (200, 200)
    processor._workers[0].queue_item = SimpleNamespace(item_id=7)  # type: ignore[assignment]
    assert processor._running_items() == {7: "pod-a#0"}
    run_thread(processor, threading.Event())
    assert list(processor.dead_workers()) == ["pod-a#0"]
    processor._workers[0].queue_item = SimpleNamespace(item_id=7)  # type: ignore[assignment]
    assert processor._running_items() == {}  # its item is no longer renewed: the lease lapses
    assert (health("/healthz"), health("/readyz")) == (503, 503)


def test_a_thread_that_ends_because_the_pod_stops_is_not_a_fault(processor: TenantAwareSessionProcessor) -> None:
    stop = threading.Event()
    stop.set()
    run_thread(processor, stop)
    assert processor.dead_workers() == {}
    assert health("/healthz") == 200
