"""SqlSessionQueue: stock contract (paging, counts, cancel/clear/prune, dequeue order) and tenant isolation."""

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from invokeai.app.invocations.math import AddInvocation, IntegerMathInvocation
from invokeai.app.services.config.config_default import InvokeAIAppConfig
from invokeai.app.services.events.events_base import EventServiceBase
from invokeai.app.services.events.events_common import (
    BatchEnqueuedEvent,
    EventBase,
    QueueClearedEvent,
    QueueItemsCanceledEvent,
    QueueItemStatusChangedEvent,
)
from invokeai.app.services.invocation_services import InvocationServices
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.session_queue.session_queue_common import (
    Batch,
    BatchDatum,
    EnqueueBatchResult,
    SessionQueueItem,
    SessionQueueItemNotFoundError,
)
from invokeai.app.services.shared.graph import Edge, EdgeConnection, Graph, GraphExecutionState, WorkflowCallExecution
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai_saas.db import Database
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, current_tenant_id, system_scope
from tests.db_fixtures import make_tenant

Q = "default"
T = TypeVar("T")


class RecordingEvents(EventServiceBase):
    """An event sink: keeps every dispatched event with the tenant scope it was dispatched in."""

    def __init__(self) -> None:
        self.dispatched: list[tuple[EventBase, str | None]] = []

    def dispatch(self, event: EventBase) -> None:
        self.dispatched.append((event, current_tenant_id()))

    def of(self, kind: type[EventBase]) -> list[tuple[Any, str | None]]:
        return [(e, t) for e, t in self.dispatched if isinstance(e, kind)]


def start_queue(
    db: Database, queue: SqlSessionQueue | None = None, **config: Any
) -> tuple[SqlSessionQueue, RecordingEvents]:
    """A queue started by a real Invoker whose services hold only what the queue uses."""
    queue = queue or SqlSessionQueue(db)
    events = RecordingEvents()
    names = [p for p in inspect.signature(InvocationServices.__init__).parameters if p != "self"]
    used = {
        "configuration": InvokeAIAppConfig(**config),
        "events": events,
        "logger": logging.getLogger("test_session_queue"),
        "session_queue": queue,
    }
    services = InvocationServices(**(dict.fromkeys(names) | used))  # type: ignore[arg-type]
    Invoker(services)  # calls queue.start(invoker)
    return queue, events


@pytest.fixture
def queue_and_events(database: Database) -> Iterator[tuple[SqlSessionQueue, RecordingEvents]]:
    yield start_queue(database)


@pytest.fixture
def queue(queue_and_events: tuple[SqlSessionQueue, RecordingEvents]) -> SqlSessionQueue:
    return queue_and_events[0]


def graph() -> Graph:
    g = Graph()
    g.add_node(AddInvocation(id="add", a=1, b=2))
    g.add_node(IntegerMathInvocation(id="math", operation="MUL", b=10))
    g.add_edge(Edge(source=EdgeConnection(node_id="add", field="value"), destination=EdgeConnection(node_id="math", field="a")))
    return g


def batch(values: list[int], destination: str | None = "canvas", origin: str | None = "tests") -> Batch:
    data = [[BatchDatum(node_path="add", field_name="a", items=list(values))]]
    return Batch(graph=graph(), data=data, origin=origin, destination=destination)


def enqueue(queue: SqlSessionQueue, b: Batch, prepend: bool = False, user_id: str = "system") -> EnqueueBatchResult:
    return asyncio.run(queue.enqueue_batch(Q, b, prepend, user_id=user_id))


def in_processor_thread(fn: Callable[[], T]) -> T:
    """Runs `fn` in a fresh thread: like the session processor, it has no tenant scope."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def drain(queue: SqlSessionQueue) -> list[SessionQueueItem]:
    claimed = []
    while (item := in_processor_thread(queue.dequeue)) is not None:
        claimed.append(item)
    return claimed


# region contract


def test_enqueue_stamps_tenant_and_emits(queue_and_events: tuple[SqlSessionQueue, RecordingEvents], tenant: str) -> None:
    queue, events = queue_and_events
    b = batch([1, 2, 3])
    result = enqueue(queue, b, user_id="u1")
    assert (result.requested, result.enqueued, result.priority) == (3, 3, 0)
    assert result.item_ids == sorted(result.item_ids, reverse=True)

    items = [queue.get_queue_item(i) for i in sorted(result.item_ids)]
    assert [item.field_values[0].value for item in items] == [1, 2, 3]  # type: ignore[index]
    assert [item.session.graph.nodes["add"].a for item in items] == [1, 2, 3]  # type: ignore[attr-defined]
    assert all(i.status == "pending" and i.user_id == "u1" and i.batch_id == b.batch_id for i in items)
    assert all(i.destination == "canvas" and i.origin == "tests" and i.status_sequence == 0 for i in items)
    assert {queue.tenant_of(i) for i in result.item_ids} == {tenant}
    assert queue.tenant_of(10**9) is None

    [(event, scope)] = events.of(BatchEnqueuedEvent)
    assert (event.batch_id, event.enqueued, event.user_id, scope) == (b.batch_id, 3, "u1", tenant)


def test_runs_and_max_queue_size(database: Database, tenant: str) -> None:
    queue, _ = start_queue(database, max_queue_size=4)
    b = batch([1, 2, 3])
    b.runs = 2
    result = enqueue(queue, b)
    assert (result.requested, result.enqueued) == (6, 4)
    assert queue.is_full(Q).is_full
    assert enqueue(queue, batch([9])).enqueued == 0


def test_list_and_page(queue: SqlSessionQueue, tenant: str) -> None:
    first = sorted(enqueue(queue, batch([1, 2, 3])).item_ids)
    prepended = enqueue(queue, batch([7, 8]), prepend=True)
    assert prepended.priority == 1
    second = sorted(prepended.item_ids)
    expected = second + first  # priority DESC, then item_id ASC

    page = queue.list_queue_items(Q, limit=2, priority=0)
    assert [i.item_id for i in page.items] == expected[:2] and page.has_more
    last = page.items[-1]
    page = queue.list_queue_items(Q, limit=2, priority=last.priority, cursor=last.item_id)
    assert [i.item_id for i in page.items] == expected[2:4] and page.has_more
    last = page.items[-1]
    page = queue.list_queue_items(Q, limit=2, priority=last.priority, cursor=last.item_id)
    assert [i.item_id for i in page.items] == expected[4:] and not page.has_more

    assert [i.item_id for i in queue.list_all_queue_items(Q)] == expected
    assert queue.list_all_queue_items(Q, destination="nowhere") == []
    queue.complete_queue_item(first[0])
    assert [i.item_id for i in queue.list_queue_items(Q, limit=10, priority=0, status="completed").items] == [first[0]]

    ids_desc = queue.get_queue_item_ids(Q)
    assert ids_desc.item_ids == sorted(first + second, reverse=True) and ids_desc.total_count == 5
    assert queue.get_queue_item_ids(Q, order_dir=SQLiteDirection.Ascending).item_ids == sorted(first + second)

    wanted = [second[1], first[2], 10**9, first[0]]
    summaries = queue.get_queue_item_summaries_by_ids(Q, wanted)
    assert [s.item_id for s in summaries] == [second[1], first[2], first[0]]
    assert summaries[0].field_values[0].value == 8  # type: ignore[index]

    assert queue.get_next(Q).item_id == second[0]  # type: ignore[union-attr]
    assert queue.get_current(Q) is None
    assert not queue.is_empty(Q).is_empty and queue.is_empty("other-queue").is_empty


def test_counts_and_batch_status(queue: SqlSessionQueue, tenant: str) -> None:
    mine = sorted(enqueue(queue, batch([1, 2, 3]), user_id="u1").item_ids)
    theirs = enqueue(queue, batch([4], destination="gallery"), user_id="u2")
    queue.complete_queue_item(mine[0])
    queue.fail_queue_item(mine[1], "Boom", "it broke", "traceback")

    status = queue.get_queue_status(Q, user_id="u1")
    assert (status.pending, status.completed, status.failed, status.total) == (2, 1, 1, 4)
    assert (status.user_pending, status.user_in_progress) == (1, 0)
    assert queue.get_queue_status(Q).user_pending is None

    batch_status = queue.get_batch_status(Q, queue.get_queue_item(mine[0]).batch_id)
    assert (batch_status.pending, batch_status.completed, batch_status.failed, batch_status.total) == (1, 1, 1, 3)
    assert (batch_status.origin, batch_status.destination) == ("tests", "canvas")
    assert queue.get_batch_status(Q, theirs.batch.batch_id, user_id="u1").total == 0

    by_dest = queue.get_counts_by_destination(Q, "canvas")
    assert (by_dest.pending, by_dest.completed, by_dest.failed, by_dest.total) == (1, 1, 1, 3)
    assert queue.get_counts_by_destination(Q, "gallery", user_id="u2").pending == 1

    failed = queue.get_queue_item(mine[1])
    assert (failed.error_type, failed.error_message, failed.error_traceback) == ("Boom", "it broke", "traceback")
    assert failed.completed_at is not None and failed.status_sequence == 1


def test_transitions_stop_at_terminal_and_emit(
    queue_and_events: tuple[SqlSessionQueue, RecordingEvents], tenant: str
) -> None:
    queue, events = queue_and_events
    item_id = enqueue(queue, batch([1]), user_id="u1").item_ids[0]
    suspended = queue.suspend_queue_item(item_id)
    assert suspended.status == "waiting"
    resumed = queue.resume_queue_item(item_id)
    assert resumed.status == "pending" and resumed.status_sequence == 2
    done = queue.complete_queue_item(item_id, queue_item=resumed)
    assert done is resumed and done.status == "completed" and done.completed_at is not None
    assert queue.fail_queue_item(item_id, "x", "y", "z").status == "completed"  # terminal stays
    assert queue.cancel_queue_item(item_id).status == "completed"

    changes = [(e.status, e.queue_status.completed, e.queue_status.user_pending, t) for e, t in events.of(QueueItemStatusChangedEvent)]
    assert changes == [("waiting", 0, 0, tenant), ("pending", 0, 1, tenant), ("completed", 1, 0, tenant)]

    with pytest.raises(SessionQueueItemNotFoundError):
        queue.complete_queue_item(10**9)


def test_cancel_clear_prune(queue_and_events: tuple[SqlSessionQueue, RecordingEvents], tenant: str) -> None:
    queue, events = queue_and_events
    a = enqueue(queue, batch([1, 2], destination="canvas"), user_id="u1")
    b = enqueue(queue, batch([3, 4], destination="gallery"), user_id="u2")
    c = enqueue(queue, batch([5], destination="gallery"), user_id="u1")

    assert queue.cancel_by_batch_ids(Q, [a.batch.batch_id], user_id="u2").canceled == 0
    assert queue.cancel_by_batch_ids(Q, [a.batch.batch_id]).canceled == 2
    assert queue.cancel_by_batch_ids(Q, [a.batch.batch_id]).canceled == 0  # already canceled
    [(event, scope)] = events.of(QueueItemsCanceledEvent)
    assert event.canceled_item_ids_by_user == {"u1": sorted(a.item_ids)} and scope == tenant

    assert queue.cancel_by_destination(Q, "gallery", user_id="u1").canceled == 1
    assert queue.get_queue_item(c.item_ids[0]).status == "canceled"
    assert queue.get_counts_by_destination(Q, "gallery").pending == 2

    assert queue.prune(Q, user_id="u2").deleted == 0
    assert queue.prune(Q).deleted == 3
    with pytest.raises(SessionQueueItemNotFoundError):
        queue.get_queue_item(a.item_ids[0])

    assert queue.cancel_by_queue_id(Q).canceled == 2
    retried = queue.retry_items_by_id(Q, sorted(b.item_ids) + [10**9])
    assert retried.retried_item_ids == sorted(b.item_ids)
    clones = [i for i in queue.list_all_queue_items(Q) if i.retried_from_item_id is not None]
    assert sorted(i.retried_from_item_id for i in clones) == sorted(b.item_ids)  # type: ignore[type-var]
    assert all(i.status == "pending" and i.user_id == "u2" for i in clones)

    assert queue.delete_by_destination(Q, "gallery").deleted == 4
    d = enqueue(queue, batch([6, 7]), user_id="u1")
    queue.delete_queue_item(d.item_ids[0])
    assert [i.item_id for i in queue.list_all_queue_items(Q)] == [d.item_ids[1]]
    assert queue.clear(Q).deleted == 1
    assert queue.is_empty(Q).is_empty
    assert [(e.user_id, t) for e, t in events.of(QueueClearedEvent)] == [(None, tenant)]


def test_except_current(database: Database, tenant: str) -> None:
    queue, _ = start_queue(database)
    drain(queue)
    running = enqueue(queue, batch([1])).item_ids[0]
    assert in_processor_thread(queue.dequeue).item_id == running  # type: ignore[union-attr]
    backlog = enqueue(queue, batch([2, 3, 4])).item_ids
    assert queue.get_current(Q).item_id == running  # type: ignore[union-attr]
    assert queue.get_queue_status(Q).item_id == running
    assert queue.get_queue_status(Q, user_id="someone-else").item_id is None  # redacted
    assert queue.cancel_all_except_current(Q).canceled == 3
    assert queue.get_queue_item(running).status == "in_progress"
    more = enqueue(queue, batch([5]))
    assert queue.delete_all_except_current(Q).deleted == 1
    with pytest.raises(SessionQueueItemNotFoundError):
        queue.get_queue_item(more.item_ids[0])
    assert all(queue.get_queue_item(i).status == "canceled" for i in backlog)
    assert queue.cancel_queue_item(running).status == "canceled"


def test_workflow_call_chain(queue: SqlSessionQueue, tenant: str, other_tenant: str) -> None:
    parent = queue.get_queue_item(enqueue(queue, batch([1])).item_ids[0])
    call = WorkflowCallExecution(
        parent_session_id=parent.session.id,
        prepared_call_node_id="call",
        source_call_node_id="call",
        workflow_id="wf",
        depth=1,
        status="running_child",
    )
    parent.session.waiting_workflow_call_execution = call
    queue.save_queue_item_session(parent.item_id, parent.session)
    queue.suspend_queue_item(parent.item_id)

    with as_tenant(other_tenant), pytest.raises(SessionQueueItemNotFoundError):
        queue.enqueue_workflow_call_child(parent, GraphExecutionState(graph=graph()))

    child = in_processor_thread(lambda: queue.enqueue_workflow_call_child(parent, GraphExecutionState(graph=graph())))
    assert queue.tenant_of(child.item_id) == tenant
    assert (child.parent_item_id, child.root_item_id, child.workflow_call_id) == (parent.item_id, parent.item_id, call.id)
    assert queue.get_queue_item(child.item_id).status == "pending"

    assert in_processor_thread(lambda: queue.cancel_workflow_call_children(call.id)) == [child.item_id]
    assert queue.get_queue_item(parent.item_id).status == "waiting"

    second = queue.enqueue_workflow_call_child(parent, GraphExecutionState(graph=graph()))
    canceled = queue.cancel_queue_item(second.item_id)  # cancels the whole chain
    assert canceled.status == "canceled" and queue.get_queue_item(parent.item_id).status == "canceled"


# endregion

# region dequeue and processor paths


def test_dequeue_across_tenants_takes_turns(
    queue_and_events: tuple[SqlSessionQueue, RecordingEvents], database: Database
) -> None:
    queue, events = queue_and_events
    tenant, other_tenant = make_tenant(database, plan="enterprise"), make_tenant(database, plan="enterprise")
    drain(queue)
    with as_tenant(tenant):
        a = sorted(enqueue(queue, batch([1, 2])).item_ids)
    with as_tenant(other_tenant):
        b = sorted(enqueue(queue, batch([3])).item_ids)
        b_urgent = enqueue(queue, batch([4]), prepend=True).item_ids
    with as_tenant(tenant):
        a_later = enqueue(queue, batch([5])).item_ids

    # Same tier: the tenants take turns (the longest waiting first); each keeps its own order.
    claimed = drain(queue)
    assert [i.item_id for i in claimed] == [a[0], *b_urgent, a[1], b[0], *a_later]
    assert all(i.status == "in_progress" and i.started_at is not None for i in claimed)
    assert in_processor_thread(lambda: [queue.tenant_of(i.item_id) for i in claimed]) == [
        tenant, other_tenant, tenant, other_tenant, tenant
    ]

    # The processor thread has no tenant scope: its transitions still find the item, and the
    # event carries the owning tenant's counts, dispatched in that tenant's scope.
    events.dispatched.clear()
    in_processor_thread(lambda: queue.complete_queue_item(b[0]))
    in_processor_thread(lambda: queue.fail_queue_item(a[0], "E", "m", "tb"))
    in_processor_thread(lambda: queue.set_queue_item_session(a[1], next(i for i in claimed if i.item_id == a[1]).session))
    changed = [(e.item_id, e.status, e.queue_status.in_progress, t) for e, t in events.of(QueueItemStatusChangedEvent)]
    assert changed == [(b[0], "completed", 1, other_tenant), (a[0], "failed", 2, tenant)]

    with pytest.raises(SessionQueueItemNotFoundError):
        in_processor_thread(lambda: queue.get_queue_item(a[1]))  # route-facing: no scope, no item
    with system_scope():
        assert queue.cancel_queue_item(a[1]).status == "canceled"  # a processor running in system scope
    with system_scope(), database.begin() as conn:
        statuses = dict(conn.execute(sa.select(session_queue.c.item_id, session_queue.c.status).where(
            session_queue.c.item_id.in_(a + b))).all())
    assert statuses == {a[0]: "failed", a[1]: "canceled", b[0]: "completed"}


def test_a_suspended_tenants_pending_items_are_not_claimed_until_reactivated(
    queue: SqlSessionQueue, database: Database, tenant: str, other_tenant: str
) -> None:
    from invokeai_saas.db.tables.tenancy import tenants

    def set_status(status: str) -> None:
        with system_scope(), database.begin() as conn:
            conn.execute(sa.update(tenants).where(tenants.c.tenant_id == other_tenant).values(status=status))

    drain(queue)
    with as_tenant(other_tenant):
        paused = sorted(enqueue(queue, batch([1, 2])).item_ids)
    mine = sorted(enqueue(queue, batch([3])).item_ids)
    set_status("suspended")
    try:
        assert [i.item_id for i in drain(queue)] == mine
        with system_scope(), database.begin() as conn:
            waiting = conn.execute(sa.select(session_queue.c.status).where(session_queue.c.item_id.in_(paused))).scalars().all()
        assert waiting == ["pending", "pending"]
    finally:
        set_status("active")
    assert [i.item_id for i in drain(queue)] == paused[:1]  # a Starter workspace runs one item at a time


def test_start_cancels_nothing_and_prunes_per_tenant(database: Database, tenant: str, other_tenant: str) -> None:
    queue, _ = start_queue(database)
    drain(queue)
    running = enqueue(queue, batch([1])).item_ids[0]
    in_processor_thread(queue.dequeue)
    done = sorted(enqueue(queue, batch([2, 3, 4])).item_ids)
    for item_id in done:
        queue.complete_queue_item(item_id)
    with as_tenant(other_tenant):
        theirs = enqueue(queue, batch([5])).item_ids[0]
        queue.cancel_queue_item(theirs)

    restarted, _ = start_queue(database, max_queue_history=2)  # another pod starting
    assert restarted.get_queue_item(running).status == "in_progress"
    kept = {i.item_id for i in restarted.list_all_queue_items(Q)}
    assert kept == {running, done[1], done[2]}  # the 2 most recently finished of this tenant, and the running one
    with as_tenant(other_tenant):
        assert restarted.get_queue_item(theirs).status == "canceled"  # the other tenant keeps its own 2
    restarted.cancel_queue_item(running)


# endregion

# region isolation


def test_other_tenant_sees_nothing(
    queue_and_events: tuple[SqlSessionQueue, RecordingEvents], tenant: str, other_tenant: str
) -> None:
    queue, events = queue_and_events
    b = batch([1, 2, 3])
    ids = sorted(enqueue(queue, b, user_id="u1").item_ids)
    queue.complete_queue_item(ids[0])
    queue.fail_queue_item(ids[1], "E", "m", "tb")
    events.dispatched.clear()

    with as_tenant(other_tenant):
        for item_id in ids:
            for call in (
                queue.get_queue_item,
                queue.cancel_queue_item,
                queue.delete_queue_item,
                queue.complete_queue_item,
                lambda i: queue.fail_queue_item(i, "E", "m", "tb"),
                lambda i: queue.save_queue_item_session(i, GraphExecutionState(graph=graph())),
            ):
                with pytest.raises(SessionQueueItemNotFoundError):
                    call(item_id)
        assert queue.list_all_queue_items(Q) == []
        assert queue.list_queue_items(Q, limit=10, priority=0).items == []
        assert queue.get_queue_item_ids(Q).item_ids == []
        assert queue.get_queue_item_summaries_by_ids(Q, ids) == []
        assert queue.get_next(Q) is None and queue.is_empty(Q).is_empty
        assert queue.get_queue_status(Q, user_id="u1").total == 0
        assert queue.get_batch_status(Q, b.batch_id).total == 0
        assert queue.get_counts_by_destination(Q, "canvas").total == 0
        assert queue.cancel_by_batch_ids(Q, [b.batch_id]).canceled == 0
        assert queue.cancel_by_destination(Q, "canvas").canceled == 0
        assert queue.cancel_by_queue_id(Q).canceled == 0
        assert queue.cancel_all_except_current(Q).canceled == 0
        assert queue.retry_items_by_id(Q, ids).retried_item_ids == []
        assert queue.prune(Q).deleted == 0
        assert queue.delete_by_destination(Q, "canvas").deleted == 0
        assert queue.delete_all_except_current(Q).deleted == 0
        queue.delete_queue_items_by_id(ids)
        assert queue.clear(Q).deleted == 0
        # The other tenant's own batch may reuse the batch id without picking up our items.
        theirs = enqueue(queue, b, user_id="u1")
        assert theirs.item_ids and not set(theirs.item_ids) & set(ids)
        assert queue.get_queue_status(Q).total == 3

    assert [i.status for i in (queue.get_queue_item(i) for i in ids)] == ["completed", "failed", "pending"]
    assert queue.get_queue_status(Q).total == 3
    assert queue.get_batch_status(Q, b.batch_id).total == 3
    assert not events.of(QueueItemStatusChangedEvent) and not events.of(QueueItemsCanceledEvent)
    assert queue.prune(Q).deleted == 2
    assert queue.clear(Q).deleted == 1
    with as_tenant(other_tenant):
        assert queue.get_queue_status(Q).total == 3


# endregion


def test_concurrent_dequeues_claim_each_item_once(queue: SqlSessionQueue, database: Database) -> None:
    drain(queue)
    with as_tenant(make_tenant(database, plan="enterprise")):  # no concurrency limit
        ids = set(enqueue(queue, batch(list(range(12)))).item_ids)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while (item := queue.dequeue()) is not None:
            with lock:
                claimed.append(item.item_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)
