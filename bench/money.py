"""Money on the queue, measured on Postgres in the production shape (schema `pingvas`, the app role
under row-level security), through the services themselves (no HTTP).

A. Enqueue latency with gating and metering on vs off: one workspace enqueues one-item batches of a
   graph that names a model (so the FLUX check resolves it through the model records), through a
   queue with the ledger (gated: trial lapse, entitlements, the credits held by queued items, storage)
   and one without, interleaved item by item; each item is taken out of `pending` between enqueues
   (untimed) so both sides see the same empty backlog. Goal: p50 on <= 1.2x off.
B. Ledger charges per second with 8 worker processes: each process charges attempts as a worker does
   when an attempt ends (`CreditLedger.charge_attempt`, one transaction each, unique (item, attempt)),
   for 10 s; once with each process on its own workspace, once with all 8 on one workspace (every
   charge waits for that workspace's row). After each run the balances are checked against the
   entries: credits written = credits charged, none lost or doubled.

`--write` records the section in bench/RESULTS.md. Exit code 0 on PASS, 1 on FAIL.

    .venv/bin/python bench/money.py [--items 300] [--seconds 10] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

import common
from common import Stats, log

MARKER = "<!-- billing runs: newest first; bench/money.py --write inserts below -->"
HEADER = f"## Money (bench/money.py)\n\n{MARKER}\n"
ENQUEUE_RATIO_GOAL = 1.2
WORKERS = 8


def model_record(db: Any) -> str:
    import sqlalchemy as sa

    from invokeai_saas.db import utcnow
    from invokeai_saas.db.tables.models import models
    from tenant_middleware.context import system_scope

    key = f"sd1-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with system_scope(), db.begin() as conn:
        conn.execute(
            sa.insert(models).values(
                id=key, hash=key, base="sd-1", type="main", path=f"/models/{key}", format="diffusers", name=key,
                source=key, source_type="path", file_size=1, config=json.dumps({"key": key}), created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return key


def measure_enqueue(db: Any, items: int) -> dict[str, list[float]]:
    import sqlalchemy as sa

    from invokeai.app.invocations.model import MainModelLoaderInvocation, ModelIdentifierField
    from invokeai.app.services.session_queue.session_queue_common import Batch
    from invokeai.app.services.shared.graph import Graph
    from invokeai.backend.model_manager.taxonomy import BaseModelType, ModelType
    from invokeai_saas.db.tables.session_queue import session_queue
    from invokeai_saas.money.ledger import CreditLedger
    from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
    from tenant_middleware.context import as_tenant, system_scope

    key = model_record(db)
    graph = Graph()
    model = ModelIdentifierField(key=key, hash=key, name=key, base=BaseModelType.StableDiffusion1, type=ModelType.Main)
    graph.add_node(MainModelLoaderInvocation(id="loader", model=model))
    logger = logging.getLogger("bench")
    queues = {
        "on": common.started_queue(db, logger, SqlSessionQueue(db, ledger=CreditLedger(db))),
        "off": common.started_queue(db, logger, SqlSessionQueue(db)),
    }
    tenant_id = common.make_tenant(db, "bench-enqueue", "pro", credits=10**9)
    times: dict[str, list[float]] = {"on": [], "off": []}
    with as_tenant(tenant_id):
        for i in range(items + 20):
            for side in ("on", "off") if i % 2 == 0 else ("off", "on"):
                t0 = time.perf_counter()
                result = asyncio.run(queues[side].enqueue_batch("default", Batch(graph=graph), False))
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= 20:  # warm-up
                    times[side].append(elapsed)
                with system_scope(), db.begin() as conn:
                    conn.execute(sa.update(session_queue).where(session_queue.c.item_id.in_(result.item_ids)).values(status="completed"))
    return times


def _charger(url: str, tenant_id: str, first_item: int, seconds: float, start: Any, results: Any) -> None:
    from invokeai_saas.db import Database
    from invokeai_saas.money.ledger import CreditLedger
    from tenant_middleware.context import as_tenant

    db = Database(url, schema=common.SCHEMA, app_role=common.APP_ROLE)
    ledger = CreditLedger(db)
    with db.begin():
        pass
    results.put(("ready", 0, 0))
    start.wait()
    done, charged, item, deadline = 0, 0, first_item, time.monotonic() + seconds
    with as_tenant(tenant_id):  # a worker charges in the item's tenant scope
        while time.monotonic() < deadline:
            with db.begin() as conn:
                if ledger.charge_attempt(conn, tenant_id, item, 1, 1.5, "completed") is not None:
                    done, charged = done + 1, charged + 2
            item += 1
    results.put(("done", done, charged))


def measure_charges(url: str, db: Any, seconds: float, shared: bool) -> tuple[float, bool]:
    """(charges per second, whether the balances match the entries)."""
    import sqlalchemy as sa

    from invokeai_saas.db.tables.billing import credit_ledger
    from invokeai_saas.db.tables.tenancy import tenants
    from tenant_middleware.context import system_scope

    start_balance = 10**9
    tenant_ids = [common.make_tenant(db, f"bench-charges-{n}", "studio", credits=start_balance) for n in range(1 if shared else WORKERS)]
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    base = 10**9 + int(time.time()) % 10**6 * 1000  # item ids no other run uses
    procs = [
        ctx.Process(target=_charger, args=(url, tenant_ids[n % len(tenant_ids)], base + n * 10**6, seconds, start, results))
        for n in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        results.get(timeout=300)
    t0 = time.monotonic()
    start.set()
    outcomes = [results.get(timeout=seconds + 300) for _ in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(timeout=60)
    done = sum(n for _, n, _ in outcomes)
    charged = sum(c for _, _, c in outcomes)
    with system_scope(), db.begin() as conn:
        balances = conn.execute(
            sa.select(sa.func.sum(tenants.c.credits_period + tenants.c.credits_extra)).where(tenants.c.tenant_id.in_(tenant_ids))
        ).scalar_one()
        written = conn.execute(
            sa.select(sa.func.sum(credit_ledger.c.amount)).where(credit_ledger.c.tenant_id.in_(tenant_ids), credit_ledger.c.kind == "usage")
        ).scalar_one()
    consistent = balances == start_balance * len(tenant_ids) - charged and -(written or 0) == charged
    log(f"charges ({'one workspace' if shared else 'a workspace each'}): {done} in {elapsed:.1f} s, consistent={consistent}")
    return done / elapsed, consistent


def report(times: dict[str, list[float]], distinct: tuple[float, bool], shared: tuple[float, bool], command: str) -> tuple[str, bool]:
    on, off = Stats.of(sorted(times["on"])), Stats.of(sorted(times["off"]))
    ratio = on.p50 / off.p50
    ok = ratio <= ENQUEUE_RATIO_GOAL and distinct[1] and shared[1]
    lines = [
        *common.run_head(command),
        "",
        "| measure | gating + metering on | off | goal | result |",
        "|---|---|---|---|---|",
        f"| enqueue latency, one-item batch naming a model, p50 / p99 ({len(times['on'])} each) | {on.p50:.1f} / {on.p99:.1f} ms "
        f"| {off.p50:.1f} / {off.p99:.1f} ms | p50 on <= {ENQUEUE_RATIO_GOAL}x off | {ratio:.2f}x {'PASS' if ratio <= ENQUEUE_RATIO_GOAL else 'FAIL'} |",
        f"| ledger charges/s, {WORKERS} worker processes, a workspace each | {distinct[0]:.0f}/s | | balances = entries "
        f"| {'consistent' if distinct[1] else 'INCONSISTENT'} |",
        f"| ledger charges/s, {WORKERS} worker processes, one workspace | {shared[0]:.0f}/s | | balances = entries "
        f"| {'consistent' if shared[1] else 'INCONSISTENT'} |",
        "",
    ]
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    command = "python bench/money.py" + (" --write" if args.write else "")

    from invokeai_saas.db import Database
    from invokeai_saas.db.migrate import upgrade

    with ExitStack() as stack:
        url, _ = common.create_database(stack, args.keep_db)
        db = Database(url, schema=common.SCHEMA, app_role=common.APP_ROLE)
        upgrade(db)
        log(f"enqueue: {args.items} items per side")
        times = measure_enqueue(db, args.items)
        distinct = measure_charges(url, db, args.seconds, shared=False)
        shared = measure_charges(url, db, args.seconds, shared=True)
        db.dispose()
    section, ok = report(times, distinct, shared, command)
    print(section)
    if args.write:
        common.write_results(section, MARKER, HEADER)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
