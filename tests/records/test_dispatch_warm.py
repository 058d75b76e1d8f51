"""Warm-model dispatch on SQLite and Postgres: a worker that holds an item's models gets it when it
is free; warmth reorders tenants inside a tier only, and delays no tenant longer than the wait."""

import json
import logging
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import torch

from invokeai.app.invocations.model import LoRALoaderInvocation, MainModelLoaderInvocation, ModelIdentifierField
from invokeai.app.services.session_queue.session_queue_common import Batch
from invokeai.app.services.shared.graph import Edge, EdgeConnection, Graph
from invokeai.backend.model_manager.load.model_cache.model_cache import ModelCache
from invokeai.backend.model_manager.taxonomy import BaseModelType, ModelType
from invokeai_saas.db import Database
from invokeai_saas.db.tables.dispatch import queue_turns, queue_workers
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.queue.claims import Claimed, Deferred, Dispatcher
from invokeai_saas.core.running_claim import Claim
from invokeai_saas.queue.warm import cached_model_keys, model_keys
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope
from tests.db_fixtures import make_tenant
from tests.records.test_session_queue import batch, enqueue, start_queue

WAIT_S = 0.5


def model(key: str, type: ModelType = ModelType.Main) -> ModelIdentifierField:
    return ModelIdentifierField(key=key, hash=f"hash-{key}", name=key, base=BaseModelType.StableDiffusion1, type=type)


def model_graph(key: str, lora: str | None = None) -> Graph:
    g = Graph()
    g.add_node(MainModelLoaderInvocation(id="loader", model=model(key)))
    if lora is not None:
        g.add_node(LoRALoaderInvocation(id="lora", lora=model(lora, ModelType.LoRA)))
        g.add_edge(Edge(source=EdgeConnection(node_id="loader", field="unet"), destination=EdgeConnection(node_id="lora", field="unet")))
    return g


def cpu_model_cache() -> ModelCache:
    """A real InvokeAI model cache on the CPU, small enough for tiny stand-in models."""
    return ModelCache(
        execution_device_working_mem_gb=0.1,
        enable_partial_loading=False,
        keep_ram_copy_of_weights=True,
        max_ram_cache_size_gb=0.01,
        execution_device="cpu",
        logger=logging.getLogger("test"),
    )


def enqueue_model(queue: SqlSessionQueue, tenant: str, key: str, runs: int = 1) -> list[int]:
    with as_tenant(tenant):
        return sorted(enqueue(queue, Batch(graph=model_graph(key), runs=runs)).item_ids)


@pytest.fixture
def queue(database: Database) -> Iterator[SqlSessionQueue]:
    queue, _ = start_queue(database, SqlSessionQueue(database, dispatcher=Dispatcher(database, warm_wait_seconds=WAIT_S)))
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(sq).where(sq.c.status.in_(("pending", "in_progress"))).values(status="canceled"))
        conn.execute(sa.delete(queue_workers))
        conn.execute(sa.update(queue_turns).values(passed_at=None))
    yield queue


def claim(queue: SqlSessionQueue, worker: str, *warm: str) -> Claim | Deferred | None:
    """One claim by `worker` holding `warm`: on Postgres the server-side claim (which stamps the turns it
    passes over itself), on SQLite the Python one."""
    if queue._db.is_postgres:
        claimed = queue.dispatcher.claim_postgres(worker, warm=frozenset(warm))
        result = claimed.claim if isinstance(claimed, Claimed) else claimed
    else:
        with system_scope(), queue._db.begin() as conn:
            result = queue.dispatcher.claim(conn, worker, warm=frozenset(warm))
        if isinstance(result, Claim | Deferred):
            queue.dispatcher.pass_over(result.passed)
    assert isinstance(result, Claim | Deferred) or result is None
    return result


def claimed_id(result: Claim | Deferred | None) -> int:
    assert isinstance(result, Claim), result
    return result.item_id


def complete(queue: SqlSessionQueue, item_id: int) -> None:
    with system_scope():
        queue.complete_queue_item(item_id)


def test_an_items_model_keys_are_recorded_at_enqueue(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="studio")
    with as_tenant(tenant):
        [with_lora] = enqueue(queue, Batch(graph=model_graph("sd-a", lora="lora-b"))).item_ids
        [no_model] = enqueue(queue, batch([1])).item_ids
    with system_scope(), database.begin() as conn:
        keys = dict(conn.execute(sa.select(sq.c.item_id, sq.c.model_keys).where(sq.c.item_id.in_([with_lora, no_model]))).all())
    assert json.loads(keys[with_lora]) == ["lora-b", "sd-a"]
    assert keys[no_model] is None


def test_model_keys_read_a_sessions_nested_model_fields() -> None:
    from invokeai.app.services.shared.graph import GraphExecutionState

    session = GraphExecutionState(graph=model_graph("main-1", lora="lora-2"))
    assert json.loads(model_keys(session.model_dump_json()) or "[]") == ["lora-2", "main-1"]


def test_the_warm_set_is_what_invokeais_model_cache_holds() -> None:
    cache = cpu_model_cache()
    assert cached_model_keys(cache) == frozenset()
    cache.put("main-1:unet", torch.nn.Linear(4, 4))
    cache.put("main-1:vae", torch.nn.Linear(4, 4))
    cache.put("lora-2", torch.nn.Linear(4, 4))
    assert cached_model_keys(cache) == {"main-1", "lora-2"}


def test_a_worker_takes_the_item_whose_models_it_holds(queue: SqlSessionQueue, database: Database) -> None:
    first, second = (make_tenant(database, plan="studio") for _ in range(2))
    [cold] = enqueue_model(queue, first, "m3")  # first in turn order, its model held nowhere
    [warm] = enqueue_model(queue, second, "m1")
    assert claimed_id(claim(queue, "w1", "m1")) == warm
    # The tenant it passed over is next: no worker holds m3, so any worker is as good.
    assert claimed_id(claim(queue, "w2", "m2")) == cold


def test_an_item_waits_for_the_free_worker_that_holds_its_models(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="studio")
    first, second = enqueue_model(queue, tenant, "m2", runs=2)
    assert claimed_id(claim(queue, "w2", "m2")) == first  # w2 now holds m2 and says so
    deferred = claim(queue, "w1", "m1")
    assert isinstance(deferred, Deferred) and 0 < deferred.seconds <= WAIT_S
    complete(queue, first)
    assert claimed_id(claim(queue, "w2", "m2")) == second


def test_warmth_delays_an_item_by_at_most_the_wait(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="studio")
    first, second = enqueue_model(queue, tenant, "m2", runs=2)
    claimed_id(claim(queue, "w2", "m2"))  # w2 holds m2 and stays busy
    assert isinstance(claim(queue, "w1", "m1"), Deferred)
    time.sleep(WAIT_S + 0.1)
    assert claimed_id(claim(queue, "w1", "m1")) == second  # overdue: the cold worker takes it


def test_an_overdue_higher_tier_goes_before_a_lower_tiers_warm_work(queue: SqlSessionQueue, database: Database) -> None:
    pro, starter, busy = make_tenant(database, plan="pro"), make_tenant(database, plan="starter"), make_tenant(database, plan="studio")
    [held] = enqueue_model(queue, busy, "m2")
    assert claimed_id(claim(queue, "w2", "m2")) == held  # w2 holds m2, busy
    [pro_item] = enqueue_model(queue, pro, "m2")
    starter_items = enqueue_model(queue, starter, "m1", runs=2)
    # The pro item waits for w2, which holds its model; meanwhile w1 may run what it holds.
    assert claimed_id(claim(queue, "w1", "m1")) == starter_items[0]
    complete(queue, starter_items[0])
    time.sleep(WAIT_S + 0.1)
    # Its wait is up: the higher tier goes first, warm or not.
    assert claimed_id(claim(queue, "w1", "m1")) == pro_item
    assert claimed_id(claim(queue, "w3", "m1")) == starter_items[1]


def test_a_passed_over_tenant_goes_first_once_overdue(queue: SqlSessionQueue, database: Database) -> None:
    passed, favoured = make_tenant(database, plan="enterprise"), make_tenant(database, plan="enterprise")
    [cold] = enqueue_model(queue, passed, "m3")
    warm_items = enqueue_model(queue, favoured, "m1", runs=3)
    assert claimed_id(claim(queue, "w1", "m1")) == warm_items[0]
    time.sleep(WAIT_S + 0.1)
    assert claimed_id(claim(queue, "w1", "m1")) == cold  # warm work is still there, but its wait is up


def test_without_a_wait_dispatch_ignores_warmth(database: Database) -> None:
    queue, _ = start_queue(database, SqlSessionQueue(database, dispatcher=Dispatcher(database, warm_wait_seconds=0)))
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(sq).where(sq.c.status.in_(("pending", "in_progress"))).values(status="canceled"))
    first, second = make_tenant(database, plan="studio"), make_tenant(database, plan="studio")
    [cold] = enqueue_model(queue, first, "m3")
    enqueue_model(queue, second, "m1")
    assert claimed_id(claim(queue, "w1", "m1")) == cold


def test_a_worker_thread_claims_with_its_devices_model_cache(queue: SqlSessionQueue, database: Database) -> None:
    """Through the queue service, as the session processor calls it: the warm set comes from InvokeAI's
    model cache, and a deferral wakes the worker again when the waiting item becomes overdue."""
    from types import SimpleNamespace

    from invokeai_saas.core.running_claim import as_worker
    from invokeai_saas.queue.signals import WAKE
    from tests.records.test_session_queue import in_processor_thread

    cache = cpu_model_cache()
    cache.put("m1:unet", torch.nn.Linear(4, 4))
    queue._invoker.services.model_manager = SimpleNamespace(load=SimpleNamespace(ram_cache=cache))  # type: ignore[assignment]
    wakes: list[float] = []
    queue.signals.subscribe(lambda signal: wakes.append(time.monotonic()) if signal.kind == WAKE else None)

    def dequeue_as(worker: str) -> int | None:
        def run() -> int | None:
            with as_worker(worker):
                item = queue.dequeue()
            return item.item_id if item is not None else None

        return in_processor_thread(run)

    first, second = make_tenant(database, plan="studio"), make_tenant(database, plan="studio")
    [held_elsewhere] = enqueue_model(queue, first, "m2")
    assert claimed_id(claim(queue, "w2", "m2")) == held_elsewhere  # w2 holds m2, busy
    [waits] = enqueue_model(queue, first, "m2")
    [warm] = enqueue_model(queue, second, "m1")
    assert dequeue_as("w1") == warm
    wakes.clear()
    deferred_at = time.monotonic()
    assert dequeue_as("w1") is None  # only the m2 item is left, and w2 holds m2
    deadline = time.monotonic() + 30
    while not wakes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wakes and wakes[0] - deferred_at <= WAIT_S + 1.0
    assert dequeue_as("w1") == waits


def test_wake_later_keeps_the_earliest_wake() -> None:
    from invokeai_saas.queue.signals import QueueSignals

    signals = QueueSignals()
    woken: list[float] = []
    signals.subscribe(lambda signal: woken.append(time.monotonic()))
    start = time.monotonic()
    signals.wake_later(5.0)
    signals.wake_later(0.2)
    signals.wake_later(3.0)
    time.sleep(1.0)
    assert len(woken) == 1 and 0.15 <= woken[0] - start < 1.0


def test_after_a_node_the_worker_records_what_its_cache_really_holds(queue: SqlSessionQueue, database: Database) -> None:
    """The after-node callback: what a claim recorded (cache + the item's models) is replaced by the cache
    as it is once the node loaded its models, evictions included."""
    from types import SimpleNamespace

    from invokeai_saas.core.running_claim import as_worker
    from tests.records.test_session_queue import in_processor_thread

    cache = cpu_model_cache()
    cache.put("m1", torch.nn.Linear(4, 4))
    queue._invoker.services.model_manager = SimpleNamespace(load=SimpleNamespace(ram_cache=cache))  # type: ignore[assignment]
    tenant = make_tenant(database, plan="studio")
    [item] = enqueue_model(queue, tenant, "m2")
    assert claimed_id(claim(queue, "w1", "m1")) == item

    def recorded() -> list[str]:
        with system_scope(), database.begin() as conn:
            stored = conn.execute(sa.select(queue_workers.c.models).where(queue_workers.c.worker_id == "w1")).scalar_one()
        return json.loads(stored)

    assert recorded() == ["m1", "m2"]  # at the claim: the cache plus what the item will load
    cache._cached_models.pop("m1")  # the node's load evicted m1 ...
    cache.put("m2:unet", torch.nn.Linear(4, 4))  # ... and brought m2

    def after_node() -> None:
        with as_worker("w1"):
            queue.record_warm_models()

    in_processor_thread(after_node)
    assert recorded() == ["m2"]
