"""Warm-start rate of warm-model dispatch against plain FIFO dispatch, on one workload.

Part D of bench/dispatch.py (also runnable alone, without recording): 4 workers share a Postgres
queue (the real queue service and claim code, one worker thread per "device"); 12 workspaces of
every plan enqueue, in waves, batches of 1-4 items that each name one of 6 models (seeded, so both
sides get the same workload). A worker's model cache is simulated: it holds 2 models (least
recently used goes), a model it does not hold costs a load before the item runs. That is the only
simulated part: what the cache holds is what the claim is told, exactly as a real worker tells it
what InvokeAI's model cache holds (tests/records/test_dispatch_warm.py covers that reading).

Each worker's cache holds 3 models, a cold load costs 4 s per model and an item runs 2 s; a wave of
batches arrives every 8 s, more than 4 workers finish in that time, so the queue grows as it does at
a peak. FIFO: `PINGVAS_WARM_WAIT_SECONDS=0` (tier, fairness and the tenant's order only). Warm: the
default wait (10 s). A warm start is a claim whose item's models were all in the worker's cache.
`--scale 0.25` runs the same shape four times faster (every duration and the wait scaled).

    .venv/bin/python bench/warm_start.py [--waves 12] [--warm-wait 10] [--scale 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import threading
import time
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import common
from common import log

MODELS = [f"model-{i}" for i in range(6)]
WORKERS = 4
CACHE_MODELS = 3
LOAD_S = 4.0  # a cold load, per missing model (an SD 1.5/SDXL checkpoint from local disk takes seconds)
RUN_S = 2.0  # the item itself
WAVE_GAP_S = 8.0  # a wave is about 35 worker-seconds of FIFO work: 4 workers are busy, not swamped
PLANS = ["enterprise"] * 2 + ["studio"] * 2 + ["pro"] * 4 + ["starter"] * 4


@dataclass(frozen=True)
class WarmResult:
    claims: int
    warm: int
    cold_held_elsewhere: int  # cold starts whose models another worker held at the time
    seconds: float  # first enqueue to last completion
    wait_p95_s: float  # enqueue to start

    @property
    def rate(self) -> float:
        return self.warm / self.claims if self.claims else 0.0


class LruModels:
    def __init__(self) -> None:
        self.models: OrderedDict[str, None] = OrderedDict()

    def keys(self) -> frozenset[str]:
        return frozenset(self.models)

    def load(self, keys: frozenset[str]) -> int:
        """Makes `keys` resident (most recently used); returns how many had to be loaded."""
        missing = [k for k in keys if k not in self.models]
        for key in keys:
            self.models[key] = None
            self.models.move_to_end(key)
        while len(self.models) > CACHE_MODELS:
            self.models.popitem(last=False)
        return len(missing)


def workload(waves: int, seed: int = 7) -> list[list[tuple[int, str, int]]]:
    """Per wave: (tenant index, model, runs) batches."""
    rng = random.Random(seed)
    return [
        [(t, rng.choice(MODELS), rng.randint(1, 4)) for t in range(len(PLANS)) if rng.random() < 0.6]
        for _ in range(waves)
    ]


def _model_graph(key: str) -> Any:
    from invokeai.app.invocations.model import MainModelLoaderInvocation, ModelIdentifierField
    from invokeai.app.services.shared.graph import Graph
    from invokeai.backend.model_manager.taxonomy import BaseModelType, ModelType

    g = Graph()
    field = ModelIdentifierField(key=key, hash=key, name=key, base=BaseModelType.StableDiffusion1, type=ModelType.Main)
    g.add_node(MainModelLoaderInvocation(id="loader", model=field))
    return g


def run_side(url: str, warm_wait_s: float, waves: list[list[tuple[int, str, int]]], scale: float = 1.0) -> WarmResult:
    from invokeai.app.services.session_queue.session_queue_common import Batch
    from invokeai_saas.db import Database
    from invokeai_saas.db.migrate import upgrade
    from invokeai_saas.queue.claims import Dispatcher
    from invokeai_saas.core.running_claim import as_worker, held_claim, hold
    from invokeai_saas.queue.signals import WAKE
    from invokeai_saas.db.tables.session_queue import parse_keys
    from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
    from tenant_middleware.context import as_tenant

    caches = threading.local()
    all_caches: list[LruModels] = []

    class SimulatedCacheQueue(SqlSessionQueue):
        def _warm_models(self) -> frozenset[str] | None:
            return caches.lru.keys() if self.dispatcher.warm_wait.total_seconds() > 0 else None

    db = Database(url, schema=common.SCHEMA, app_role=common.APP_ROLE)
    upgrade(db)
    queue = common.started_queue(db, logging.getLogger("bench"), SimulatedCacheQueue(db, dispatcher=Dispatcher(db, warm_wait_seconds=warm_wait_s)))
    tenants = [common.make_tenant(db, f"warm{i}", plan) for i, plan in enumerate(PLANS)]
    total = sum(runs for wave in waves for _, _, runs in wave)
    done = threading.Semaphore(0)
    stop = threading.Event()
    poke = [threading.Event() for _ in range(WORKERS)]
    queue.signals.subscribe(lambda s: [e.set() for e in poke] if s.kind == WAKE else None)
    lock = threading.Lock()
    starts: list[tuple[bool, float]] = []  # (warm, waited seconds)
    cold_held_elsewhere: list[int] = []  # cold starts of items another worker held the models of

    def worker(index: int) -> None:
        caches.lru = LruModels()
        with lock:
            all_caches.append(caches.lru)
        with as_worker(f"warm-bench#{index}"):
            while not stop.is_set():
                poke[index].clear()
                item = queue.dequeue()
                if item is None:
                    poke[index].wait(5.0)
                    continue
                claim = held_claim(item.item_id)
                keys = parse_keys(_model_keys_of(db, item.item_id))
                with lock:
                    held_elsewhere = any(keys <= c.keys() for c in all_caches if c is not caches.lru)
                    loads = caches.lru.load(keys)
                    starts.append((loads == 0, (item.started_at - item.created_at).total_seconds()))
                    if loads and held_elsewhere:
                        cold_held_elsewhere.append(item.item_id)
                time.sleep(scale * (LOAD_S * loads + RUN_S))
                with as_tenant(claim.tenant_id):
                    queue.complete_queue_item(item.item_id, queue_item=item)
                hold(None)
                done.release()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    for wave in waves:
        for tenant_index, model, runs in wave:
            with as_tenant(tenants[tenant_index]):
                asyncio.run(queue.enqueue_batch("default", Batch(graph=_model_graph(model), runs=runs), False))
        time.sleep(scale * WAVE_GAP_S)
    for _ in range(total):
        if not done.acquire(timeout=600):
            raise RuntimeError("warm-start run: items not finished in 600 s")
    seconds = time.monotonic() - t0
    stop.set()
    for e in poke:
        e.set()
    for t in threads:
        t.join(timeout=30)
    queue.signals.stop()
    db.dispose()
    waits = sorted(w for _, w in starts)
    return WarmResult(
        len(starts), sum(w for w, _ in starts), len(cold_held_elsewhere), seconds, waits[int(0.95 * (len(waits) - 1))]
    )


def _model_keys_of(db: Any, item_id: int) -> str | None:
    import sqlalchemy as sa

    from invokeai_saas.db.tables.session_queue import session_queue as sq
    from tenant_middleware.context import system_scope

    with system_scope(), db.begin() as conn:
        return conn.execute(sa.select(sq.c.model_keys).where(sq.c.item_id == item_id)).scalar_one()


def measure_warm_start(waves: int, keep: bool = False, warm_wait_s: float = 10.0, scale: float = 1.0) -> dict[str, WarmResult]:
    """FIFO then warm, each on a fresh database, the same workload. `scale` multiplies every simulated
    duration (and the warm wait), to explore the same shape faster."""
    plan = workload(waves)
    results = {}
    for name, wait in (("fifo", 0.0), ("warm", warm_wait_s)):
        with ExitStack() as stack:
            url, _ = common.create_database(stack, keep)
            log(f"warm-start: {name} side, {sum(r for w in plan for _, _, r in w)} items in {len(plan)} waves")
            results[name] = run_side(url, wait * scale, plan, scale)
    return results


def describe(results: dict[str, WarmResult]) -> str:
    return "; ".join(
        f"{name}: {r.warm}/{r.claims} warm ({100 * r.rate:.2f} %; cold while held elsewhere: {r.cold_held_elsewhere}), all done in {r.seconds:.1f} s, wait p95 {r.wait_p95_s:.2f} s"
        for name, r in results.items()
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waves", type=int, default=12)
    ap.add_argument("--warm-wait", type=float, default=10.0, help="PINGVAS_WARM_WAIT_SECONDS of the warm side")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every simulated duration and the wait")
    args = ap.parse_args()
    results = measure_warm_start(args.waves, warm_wait_s=args.warm_wait, scale=args.scale)
    print(describe(results))
    return 0 if results["warm"].rate >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
