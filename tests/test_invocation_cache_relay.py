"""The invocation cache across pods (Postgres signals between two "pods" of one database): an image
deleted through an API pod, or the cache cleared or disabled there, reaches every worker's cache."""

import logging
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from invokeai.app.invocations.primitives import ImageOutput
from invokeai.app.invocations.fields import ImageField
from invokeai_saas.db import Database
from invokeai_saas.queue.signals import PostgresSignals, QueueSignals
from invokeai_saas.queue.invocation_cache import TenantInvocationCache


class Hooks:
    """The on_deleted registrations InvokeAI's services offer the cache."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[str], None]] = []

    def on_deleted(self, callback: Callable[[str], None]) -> None:
        self.callbacks.append(callback)

    def deleted(self, name: str) -> None:
        for callback in self.callbacks:
            callback(name)


def pod_cache(signals: QueueSignals, listen: bool) -> tuple[TenantInvocationCache, dict[str, Hooks]]:
    hooks = {name: Hooks() for name in ("images", "videos", "tensors", "conditioning")}
    cache = TenantInvocationCache(10, signals, listen=listen)
    services = SimpleNamespace(logger=logging.getLogger("test_invocation_cache_relay"), **hooks)
    cache.start(SimpleNamespace(services=services))  # type: ignore[arg-type]
    return cache, hooks


def output(image_name: str) -> ImageOutput:
    return ImageOutput(image=ImageField(image_name=image_name), width=8, height=8)


def eventually(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def pods(database: Database) -> Iterator[tuple[tuple[TenantInvocationCache, dict[str, Hooks]], TenantInvocationCache]]:
    if not database.is_postgres:
        pytest.skip("SQLite serves one process: its cache has no other pod to hear from")
    api_signals, worker_signals = PostgresSignals(database), PostgresSignals(database)
    api = pod_cache(api_signals, listen=False)
    worker, _ = pod_cache(worker_signals, listen=True)
    assert worker_signals.connected.wait(30)
    time.sleep(0.2)
    yield api, worker
    worker_signals.stop()


def test_an_image_deleted_on_an_api_pod_leaves_no_worker_cache_entry_naming_it(pods) -> None:  # type: ignore[no-untyped-def]
    (api, api_hooks), worker = pods
    worker.save(1, output("gone.png"))
    worker.save(2, output("kept.png"))
    api_hooks["images"].deleted("gone.png")
    assert eventually(lambda: worker.get(1) is None)
    assert worker.get(2) is not None


def test_a_tensor_deleted_on_one_pod_concerns_that_pod_only(pods) -> None:  # type: ignore[no-untyped-def]
    (api, api_hooks), worker = pods
    api.save(1, output("tensor-1"))
    worker.save(1, output("tensor-1"))
    api_hooks["tensors"].deleted("tensor-1")
    assert api.get(1) is None
    time.sleep(1.0)  # a relayed drop would have arrived by now
    assert worker.get(1) is not None


def test_clear_disable_and_enable_on_an_api_pod_reach_the_worker(pods) -> None:  # type: ignore[no-untyped-def]
    (api, _), worker = pods
    worker.save(1, output("a.png"))
    api.clear()
    assert eventually(lambda: worker.get_status().size == 0)
    api.disable()
    assert eventually(lambda: not worker.get_status().enabled)
    api.enable()
    assert eventually(lambda: worker.get_status().enabled)
