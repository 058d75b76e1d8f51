"""The shared queue's promises to tenants, on SQLite and Postgres: higher plans first, tenants of a
plan take turns, no tenant above its plan's concurrency, and a lost worker's item runs again
(exactly once), while a worker that lost its claim can no longer write to the item."""

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from invokeai.app.services.shared.graph import GraphExecutionState
from invokeai_saas.db import Database
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.queue.claims import WORKER_LOST, Dispatcher
from invokeai_saas.core.running_claim import as_worker, hold
from invokeai_saas.queue.signals import CANCEL, PAUSE, WAKE, PostgresSignals, QueueSignals, Signal
from invokeai_saas.queue.session_queue_sql import LeaseLost, SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope
from tests.db_fixtures import make_tenant
from tests.records.test_session_queue import batch, enqueue, in_processor_thread, start_queue


def claim_all(queue: SqlSessionQueue, worker: str = "w#0") -> list[int]:
    """Claims until nothing more may run; returns the item ids in claim order."""
    def run() -> list[int]:
        ids = []
        with as_worker(worker):
            while (item := queue.dequeue()) is not None:
                ids.append(item.item_id)
        return ids

    return in_processor_thread(run)


def finish(queue: SqlSessionQueue, item_id: int) -> None:
    with system_scope():
        queue.complete_queue_item(item_id)


def run_one_at_a_time(queue: SqlSessionQueue) -> list[int]:
    """One worker: claim, complete, repeat; the start order."""
    order = []
    while (item_id := claim_one(queue)) is not None:
        order.append(item_id)
        finish(queue, item_id)
    return order


def claim_one(queue: SqlSessionQueue) -> int | None:
    def run() -> int | None:
        with as_worker("w#0"):
            item = queue.dequeue()
        return item.item_id if item is not None else None

    return in_processor_thread(run)


def row(database: Database, item_id: int) -> sa.Row:
    with system_scope(), database.begin() as conn:
        return conn.execute(sa.select(sq).where(sq.c.item_id == item_id)).one()


@pytest.fixture
def queue(database: Database) -> Iterator[SqlSessionQueue]:
    """A started queue with no leftovers from other tests in its way (their items are canceled)."""
    queue, _ = start_queue(database)
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(sq).where(sq.c.status.in_(("pending", "in_progress"))).values(status="canceled"))
    yield queue


def test_higher_plans_run_first_and_tenants_of_a_plan_take_turns(queue: SqlSessionQueue, database: Database) -> None:
    # The scene from the issue: Starter S x6, Pro P x2, Starter T x2 with one prepended.
    s, p, t = (make_tenant(database, plan=plan) for plan in ("starter", "pro", "starter"))
    with as_tenant(s):
        s_ids = sorted(enqueue(queue, batch([1, 2, 3, 4, 5, 6])).item_ids)
    with as_tenant(p):
        p_ids = sorted(enqueue(queue, batch([1, 2])).item_ids)
    with as_tenant(t):
        t_ids = sorted(enqueue(queue, batch([1])).item_ids)
        t_urgent = enqueue(queue, batch([2]), prepend=True).item_ids

    order = run_one_at_a_time(queue)
    assert order == [*p_ids, s_ids[0], *t_urgent, s_ids[1], *t_ids, *s_ids[2:]]


def test_enterprise_before_studio_before_pro_before_starter(queue: SqlSessionQueue, database: Database) -> None:
    ids = {}
    for plan in ("starter", "pro", "studio", "enterprise"):
        with as_tenant(make_tenant(database, plan=plan)):
            ids[plan] = enqueue(queue, batch([1])).item_ids[0]
    assert claim_all(queue) == [ids["enterprise"], ids["studio"], ids["pro"], ids["starter"]]


def test_no_tenant_runs_more_items_than_its_plan_allows(queue: SqlSessionQueue, database: Database) -> None:
    allowed = {"starter": 1, "pro": 1, "studio": 3, "enterprise": 8}  # enterprise: unlimited (all 8 of its items)
    tenants = {plan: make_tenant(database, plan=plan) for plan in allowed}
    for tenant in tenants.values():
        with as_tenant(tenant):
            enqueue(queue, batch(list(range(8))))
    claimed = claim_all(queue)
    per_tenant = {plan: sum(queue.tenant_of(i) == tenant for i in claimed) for plan, tenant in tenants.items()}
    assert per_tenant == allowed

    # Finishing one starter item frees its one slot, and only that.
    starter_running = next(i for i in claimed if queue.tenant_of(i) == tenants["starter"])
    finish(queue, starter_running)
    [next_item] = claim_all(queue)
    assert queue.tenant_of(next_item) == tenants["starter"]


def test_concurrent_workers_never_exceed_a_tenants_concurrency(queue: SqlSessionQueue, database: Database) -> None:
    studio = make_tenant(database, plan="studio")
    with as_tenant(studio):
        ids = enqueue(queue, batch(list(range(30)))).item_ids
    claimed: list[int] = []
    peak = 0
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker(n: int) -> None:
        nonlocal peak
        start.wait()
        with as_worker(f"w#{n}"):
            for _ in range(40):
                item = queue.dequeue()
                if item is None:
                    time.sleep(0.005)
                    continue
                with lock:
                    claimed.append(item.item_id)
                with system_scope(), database.begin() as conn:
                    running = conn.execute(
                        sa.select(sa.func.count()).where(sq.c.tenant_id == studio, sq.c.status == "in_progress")
                    ).scalar_one()
                with lock:
                    peak = max(peak, running)
                hold(None)
                finish(queue, item.item_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)  # each exactly once
    assert 1 <= peak <= 3


def test_an_expired_lease_returns_the_item_and_fences_out_the_old_worker(database: Database) -> None:
    queue, _ = start_queue(database)
    queue.dispatcher = Dispatcher(database, lease_seconds=0.2, max_attempts=3)
    with as_tenant(make_tenant(database, plan="enterprise")):
        item_id = enqueue(queue, batch([1])).item_ids[0]

    old_worker_done = threading.Event()
    reclaimed = threading.Event()
    outcome: dict[str, object] = {}

    def old_worker() -> None:
        with as_worker("pod-a#0"):
            item = queue.dequeue()
        assert item is not None and item.item_id == item_id
        old_worker_done.set()
        reclaimed.wait(10)  # its pod stalls past the lease; the item is taken over meanwhile
        try:
            queue.save_queue_item_session(item_id, item.session)
        except LeaseLost as e:
            outcome["save"] = e
        outcome["complete"] = queue.complete_queue_item(item_id).status

    thread = threading.Thread(target=old_worker)
    thread.start()
    old_worker_done.wait(10)
    time.sleep(0.3)
    reaped = queue.reap()
    assert [(r.item_id, r.status) for r in reaped] == [(item_id, "pending")]
    assert (row(database, item_id).status, row(database, item_id).worker_id, row(database, item_id).attempt) == (
        "pending", None, 1
    )

    def new_worker() -> int:
        with as_worker("pod-b#0"):
            item = queue.dequeue()
        assert item is not None
        return item.item_id

    queue.dispatcher.lease = queue.dispatcher.lease * 100
    assert in_processor_thread(new_worker) == item_id
    reclaimed.set()
    thread.join()
    assert isinstance(outcome["save"], LeaseLost)
    assert outcome["complete"] == "in_progress"  # the old worker's complete did not land
    current = row(database, item_id)
    assert (current.status, current.worker_id, current.attempt) == ("in_progress", "pod-b#0", 2)
    finish(queue, item_id)
    assert row(database, item_id).status == "completed"


def test_a_reclaimed_item_restarts_from_its_graph(database: Database, queue: SqlSessionQueue) -> None:
    queue.dispatcher = Dispatcher(database, lease_seconds=0.05)
    with as_tenant(make_tenant(database, plan="pro")):
        item_id = enqueue(queue, batch([1])).item_ids[0]
    with as_worker("pod-a#0"):
        item = in_processor_thread(queue.dequeue)
    session = item.session
    session.next()  # partly run
    assert session.prepared_source_mapping
    in_processor_thread(lambda: (hold(None), queue.save_queue_item_session(item_id, session)))
    time.sleep(0.1)
    queue.reap()
    restored = GraphExecutionState.model_validate_json(row(database, item_id).session)
    assert restored.id == session.id and not restored.prepared_source_mapping and not restored.executed


def test_an_item_whose_workers_keep_dying_fails_with_a_reason(database: Database, queue: SqlSessionQueue) -> None:
    queue.dispatcher = Dispatcher(database, lease_seconds=0.05, max_attempts=2)
    with as_tenant(make_tenant(database, plan="pro")):
        item_id = enqueue(queue, batch([1])).item_ids[0]
    for attempt in (1, 2):
        assert claim_all(queue, worker=f"pod-{attempt}#0") == [item_id]
        time.sleep(0.1)
        queue.reap()
    failed = row(database, item_id)
    assert (failed.status, failed.error_type, failed.attempt) == ("failed", WORKER_LOST, 2)
    assert "stopped responding 2 times" in failed.error_message
    assert claim_all(queue) == []


def test_renewed_leases_are_not_reaped_and_handed_back_items_run_again(
    database: Database, queue: SqlSessionQueue
) -> None:
    queue.dispatcher = Dispatcher(database, lease_seconds=0.3)
    with as_tenant(make_tenant(database, plan="enterprise")):
        ids = sorted(enqueue(queue, batch([1, 2])).item_ids)
    assert claim_all(queue, worker="pod-a#0") == ids
    for _ in range(3):
        time.sleep(0.15)
        with system_scope():
            assert set(queue.dispatcher.renew({i: "pod-a#0" for i in ids})) == set(ids)
        assert queue.reap() == []
    returned = queue.hand_back(["pod-a#0"])  # a SIGTERM: the pod gives its items back
    assert sorted(r.item_id for r in returned) == ids
    assert [(row(database, i).status, row(database, i).attempt) for i in ids] == [("pending", 0), ("pending", 0)]
    assert claim_all(queue, worker="pod-b#0") == ids


def test_only_items_a_live_thread_runs_are_renewed(database: Database, queue: SqlSessionQueue) -> None:
    """A dead processor thread's item is not kept alive by its pod's heartbeat: its lease lapses."""
    queue.dispatcher = Dispatcher(database, lease_seconds=0.3)
    with as_tenant(make_tenant(database, plan="enterprise")):
        running, orphaned = sorted(enqueue(queue, batch([1, 2])).item_ids)
    assert claim_all(queue, worker="pod-a#0") == [running, orphaned]
    for _ in range(3):
        time.sleep(0.15)
        with system_scope():
            assert queue.dispatcher.renew({running: "pod-a#0", orphaned: "pod-b#0"}) == {running: "pod-a#0"}
    assert [r.item_id for r in queue.reap()] == [orphaned]
    assert (row(database, orphaned).status, row(database, orphaned).attempt) == ("pending", 1)
    assert row(database, running).status == "in_progress"


def test_a_hand_back_counts_the_attempts_the_stop_did_not_interrupt(database: Database, queue: SqlSessionQueue) -> None:
    """An item whose thread died before the pod stopped keeps its attempt: restarts cannot loop it forever."""
    with as_tenant(make_tenant(database, plan="enterprise")):
        interrupted, left_by_a_dead_thread = sorted(enqueue(queue, batch([1, 2])).item_ids)
    assert claim_all(queue, worker="pod-a#0") == [interrupted, left_by_a_dead_thread]
    queue.hand_back(["pod-a#0"], uncounted={interrupted})
    assert [(row(database, i).status, row(database, i).attempt) for i in (interrupted, left_by_a_dead_thread)] == [
        ("pending", 0),
        ("pending", 1),
    ]


def test_a_waiting_workflow_parent_is_left_alone(database: Database, queue: SqlSessionQueue) -> None:
    queue.dispatcher = Dispatcher(database, lease_seconds=0.05)
    with as_tenant(make_tenant(database, plan="enterprise")):
        parent = enqueue(queue, batch([1])).item_ids[0]
    claim_all(queue, worker="pod-a#0")
    in_processor_thread(lambda: queue.suspend_queue_item(parent))
    time.sleep(0.1)
    assert queue.reap() == []
    assert (row(database, parent).status, row(database, parent).worker_id) == ("waiting", None)


def test_single_process_start_returns_what_a_crash_left_in_progress(database: Database) -> None:
    queue, _ = start_queue(database)
    with as_tenant(make_tenant(database, plan="enterprise")):
        item_id = enqueue(queue, batch([1])).item_ids[0]
    claim_all(queue, worker="crashed#0")
    start_queue(database, SqlSessionQueue(database, single_process=True))  # the embedded studio restarting
    assert (row(database, item_id).status, row(database, item_id).attempt) == ("pending", 1)


def test_pause_is_one_flag_for_every_pod(database: Database) -> None:
    pod_a, _ = start_queue(database)
    pod_b, _ = start_queue(database)
    pod_a.set_paused(True)
    assert pod_b.is_paused()
    pod_b.set_paused(False)
    assert not pod_a.is_paused()


def test_signals_reach_other_pods_when_their_transaction_commits(database: Database) -> None:
    queue, _ = start_queue(database)
    listener = PostgresSignals(database) if database.is_postgres else queue.signals
    queue.signals = PostgresSignals(database) if database.is_postgres else queue.signals
    heard: list[Signal] = []
    got = threading.Event()

    def on_signal(signal: Signal) -> None:
        heard.append(signal)
        got.set()

    listener.subscribe(on_signal)
    try:
        if isinstance(listener, PostgresSignals):
            assert listener.connected.wait(30)
            time.sleep(0.2)
        heard.clear()
        with as_tenant(make_tenant(database, plan="pro")):
            item_id = enqueue(queue, batch([1])).item_ids[0]
            assert _wait(lambda: Signal(WAKE) in heard)
            queue.cancel_queue_item(item_id)
            assert _wait(lambda: Signal(CANCEL, item_id) in heard)
        queue.set_paused(True)
        assert _wait(lambda: Signal(PAUSE) in heard)
        queue.set_paused(False)
    finally:
        listener.stop()


def test_a_signal_is_not_sent_when_its_transaction_rolls_back(database: Database) -> None:
    if not database.is_postgres:
        pytest.skip("SQLite runs one process: its in-process signals need no transaction")
    listener = PostgresSignals(database)
    sender = PostgresSignals(database)
    heard: list[Signal] = []
    listener.subscribe(heard.append)
    try:
        assert listener.connected.wait(30)
        time.sleep(0.2)
        heard.clear()
        with pytest.raises(RuntimeError), database.begin() as conn:
            sender.publish(conn, Signal(CANCEL, 1))
            raise RuntimeError("rolled back")
        sender.publish(None, Signal(CANCEL, 2))
        assert _wait(lambda: Signal(CANCEL, 2) in heard)
        assert Signal(CANCEL, 1) not in heard
    finally:
        listener.stop()


def test_in_process_signals_need_no_server() -> None:
    signals = QueueSignals()
    heard: list[Signal] = []
    signals.subscribe(heard.append)
    signals.publish(None, Signal(WAKE))
    assert heard == [Signal(WAKE)] and Signal.decode("cancel:12") == Signal(CANCEL, 12)


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True



def test_two_thousand_items_from_fifty_tenants_across_four_workers(database: Database, queue: SqlSessionQueue) -> None:
    """None lost, none run twice, no tenant above its plan's concurrency, higher tiers first, no tenant starved."""
    plans = ["enterprise"] * 5 + ["studio"] * 10 + ["pro"] * 15 + ["starter"] * 20
    tenants = [make_tenant(database, name=f"T{i}", plan=plan) for i, plan in enumerate(plans)]
    plan_of = dict(zip(tenants, plans))
    item_tenant: dict[int, str] = {}
    for tenant in tenants:
        with as_tenant(tenant):
            for item_id in enqueue(queue, batch(list(range(40)))).item_ids:
                item_tenant[item_id] = tenant
    assert len(item_tenant) == 2000

    completed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        start.wait()
        with as_worker(f"pod-{n}#0"):
            while True:
                item = queue.dequeue()
                if item is None:
                    with lock:
                        if len(completed) == len(item_tenant):
                            return
                    time.sleep(0.002)  # another worker's items are finishing: a slot opens soon
                    continue
                queue.complete_queue_item(item.item_id)
                hold(None)
                with lock:
                    completed.append(item.item_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert sorted(completed) == sorted(item_tenant)  # none lost, none run twice
    with system_scope(), database.begin() as conn:
        rows = conn.execute(
            sa.select(sq.c.item_id, sq.c.status, sq.c.attempt, sq.c.started_at, sq.c.completed_at).where(
                sq.c.item_id.in_(list(item_tenant))
            )
        ).all()
    assert {(r.status, r.attempt) for r in rows} == {("completed", 1)}

    # No tenant ever had more items in progress than its plan allows (from the rows' own times).
    allowed = {"starter": 1, "pro": 1, "studio": 3}
    for tenant, plan in plan_of.items():
        if plan not in allowed:
            continue
        spans = sorted((r.started_at, r.completed_at) for r in rows if item_tenant[r.item_id] == tenant)
        ends: list = []
        for started, finished in spans:
            ends = [e for e in ends if e > started] + [finished]
            assert len(ends) <= allowed[plan], f"{plan} tenant ran {len(ends)} at once"

    # Higher tiers first: an item was claimed only when no tenant of a higher tier had an item
    # waiting and a free slot (a completion committing at the same moment is given 50 ms).
    rank = {"enterprise": 0, "studio": 1, "pro": 2, "starter": 3}
    limit = {"enterprise": 10**6, **allowed}
    slack = timedelta(milliseconds=50)
    by_tenant = {t: [r for r in rows if item_tenant[r.item_id] == t] for t in tenants}
    for r in rows:
        claimed_tier = rank[plan_of[item_tenant[r.item_id]]]
        for other, other_rows in by_tenant.items():
            if rank[plan_of[other]] >= claimed_tier:
                continue
            waiting = any(o.started_at > r.started_at for o in other_rows)
            running = sum(o.started_at <= r.started_at < o.completed_at + slack for o in other_rows)
            assert not (waiting and running < limit[plan_of[other]]), f"a {plan_of[item_tenant[r.item_id]]} item ran before a waiting {plan_of[other]} one"
    claim_order = [r.item_id for r in sorted(rows, key=lambda r: r.started_at)]
    tiers = [rank[plan_of[item_tenant[i]]] for i in claim_order]
    assert tiers[:200] == [0] * 200 and tiers[-100:] == [3] * 100

    # No tenant starved: inside a tier, tenants are served in turns (counts never drift apart
    # by more than the number of workers racing for the same turn).
    for plan in rank:
        counts = dict.fromkeys([t for t in tenants if plan_of[t] == plan], 0)
        for item_id in claim_order:
            tenant = item_tenant[item_id]
            if plan_of[tenant] == plan:
                counts[tenant] += 1
                assert max(counts.values()) - min(counts.values()) <= 4, f"{plan}: {sorted(counts.values())}"
