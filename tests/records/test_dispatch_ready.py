"""Claims skip tenants whose items may not run, and pick them up again the moment they may, on SQLite
and Postgres. On Postgres a claim walks only the tenants marked ready (migration 0012): a tenant it
finds out of credits, on hold, suspended or with nothing pending is parked, and triggers mark it
ready again; these tests try to leave a tenant with work parked."""

import threading
import time

import pytest
import sqlalchemy as sa

from billing.credits import EntryKind
from invokeai_saas.db import Database
from invokeai_saas.db.database import utcnow
from invokeai_saas.db.tables.dispatch import queue_turns
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.core.running_claim import as_worker, hold
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope
from tests.db_fixtures import make_tenant
from tests.records.test_dispatch import claim_all, finish, queue  # noqa: F401 (the fixture)
from tests.records.test_session_queue import batch, enqueue


def set_tenant(database: Database, tenant_id: str, **values: object) -> None:
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(**values))


def is_ready(database: Database, tenant_id: str) -> bool | None:
    with system_scope(), database.begin() as conn:
        return conn.execute(sa.select(queue_turns.c.ready).where(queue_turns.c.turn_key == tenant_id)).scalar()


def test_a_tenant_out_of_credits_waits_and_runs_once_credits_arrive(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="pro")
    with as_tenant(tenant):
        [item_id] = enqueue(queue, batch([1])).item_ids
    set_tenant(database, tenant, credits_period=0, credits_extra=0)
    assert claim_all(queue) == []
    if database.is_postgres:
        assert is_ready(database, tenant) is False  # parked: later claims do not read it
    with system_scope(), database.begin() as conn:
        CreditLedger(database).post(conn, tenant, EntryKind.GRANT, 100, f"top-up:{tenant}", reason="test")
    assert claim_all(queue) == [item_id]


@pytest.mark.parametrize("blocked", [{"status": "suspended"}, {"billing_hold_at": "past"}])
def test_a_blocked_tenant_runs_once_unblocked(queue: SqlSessionQueue, database: Database, blocked: dict) -> None:
    tenant = make_tenant(database, plan="pro")
    with as_tenant(tenant):
        [item_id] = enqueue(queue, batch([1])).item_ids
    values = {k: (utcnow() if v == "past" else v) for k, v in blocked.items()}
    set_tenant(database, tenant, **values)
    assert claim_all(queue) == []
    set_tenant(database, tenant, **{k: ("active" if k == "status" else None) for k in blocked})
    assert claim_all(queue) == [item_id]


def test_an_upgrade_after_enqueue_moves_the_tenant_up_a_tier(queue: SqlSessionQueue, database: Database) -> None:
    early, late = make_tenant(database, plan="studio"), make_tenant(database, plan="starter")
    with as_tenant(early):
        [studio_item] = enqueue(queue, batch([1])).item_ids
    with as_tenant(late):
        [upgraded_item] = enqueue(queue, batch([1])).item_ids
    set_tenant(database, late, plan="enterprise")
    assert claim_all(queue) == [upgraded_item, studio_item]


def test_a_parked_tenant_is_ready_again_when_its_item_comes_back(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="pro")
    with as_tenant(tenant):
        [item_id] = enqueue(queue, batch([1])).item_ids
    assert claim_all(queue, worker="pod-a#0") == [item_id]
    assert claim_all(queue) == []  # nothing more pending: parked on Postgres
    queue.hand_back(["pod-a#0"])  # the item is pending again
    assert claim_all(queue, worker="pod-b#0") == [item_id]


def test_a_tenant_at_its_cap_runs_its_next_item_when_one_ends(queue: SqlSessionQueue, database: Database) -> None:
    tenant = make_tenant(database, plan="starter")
    with as_tenant(tenant):
        first, second = sorted(enqueue(queue, batch([1, 2])).item_ids)
    assert claim_all(queue) == [first]
    assert claim_all(queue) == []
    finish(queue, first)
    assert claim_all(queue) == [second]


def test_enqueues_racing_claims_leave_nothing_pending(queue: SqlSessionQueue, database: Database) -> None:
    """Tenants enqueue while four workers claim, each tenant's queue running dry again and again
    (every claim may park it): at the end nothing is left pending and nothing ran twice."""
    tenant_ids = [make_tenant(database, plan="enterprise") for _ in range(6)]
    enqueued: list[int] = []
    claimed: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def producer(tenant: str) -> None:
        with as_tenant(tenant):
            for _ in range(15):
                ids = enqueue(queue, batch([1])).item_ids
                with lock:
                    enqueued.extend(ids)

    def worker(n: int) -> None:
        with as_worker(f"pod-{n}#0"):
            while True:
                item = queue.dequeue()
                if item is None:
                    if done.is_set():
                        return
                    time.sleep(0.002)
                    continue
                hold(None)
                finish(queue, item.item_id)
                with lock:
                    claimed.append(item.item_id)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(4)]  # no tenant scope, as a processor's
    producers = [threading.Thread(target=producer, args=(t,)) for t in tenant_ids]
    for thread in workers + producers:
        thread.start()
    for thread in producers:
        thread.join(timeout=120)
    # Whatever is still pending now must still be claimable: one last pass after the producers.
    done.set()
    for thread in workers:
        thread.join(timeout=120)
    claimed += claim_all(queue)
    assert sorted(claimed) == sorted(enqueued)
    with system_scope(), database.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(sq.c.item_id.in_(enqueued), sq.c.status == "pending")).scalar_one() == 0
