"""A called workflow's child (queued by its running parent) passes the enqueue gate, on the real queue
(SQLite and Postgres): every refusal an enqueue gets (payment hold, suspension, full storage, a feature
outside the plan, too few credits once queued items' holds are counted) refuses the child, under a
class named for its code (what the failed parent's `error_type` shows), and writes nothing; an admitted
child holds its estimate; operators' own items are not gated. The whole run, through a studio, is
tests/test_child_workflow_gate.py."""

from typing import Any

import pytest
import sqlalchemy as sa

from invokeai.app.invocations.external_image_generation import GeminiImageGenerationInvocation
from invokeai.app.services.session_queue.session_queue_common import SessionQueueItem
from invokeai.app.services.shared.graph import Graph, GraphExecutionState, WorkflowCallExecution
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError
from tests.db_fixtures import make_tenant
from tests.records.test_billing import ledger, queue  # noqa: F401
from tests.records.test_session_queue import batch, enqueue, graph, in_processor_thread

GB = 1024**3


def running_parent(queue: SqlSessionQueue, tenant_id: str | None) -> SessionQueueItem:  # noqa: F811
    """A workspace's item, claimed by a worker, whose session has reached a `call_saved_workflow` node."""
    with as_tenant(tenant_id):
        item_id = enqueue(queue, batch([1])).item_ids[0]
    claimed = in_processor_thread(queue.dequeue)
    assert claimed is not None and claimed.item_id == item_id
    claimed.session.waiting_workflow_call_execution = WorkflowCallExecution(
        parent_session_id=claimed.session.id, prepared_call_node_id="call", source_call_node_id="call",
        workflow_id="wf", depth=1, status="running_child",
    )  # fmt: skip
    return claimed


def banana() -> Graph:
    g = Graph()
    g.add_node(GeminiImageGenerationInvocation(id="banana", prompt="a cat"))
    return g


def child_of(queue: SqlSessionQueue, parent: SessionQueueItem, child: Graph) -> SessionQueueItem:  # noqa: F811
    return in_processor_thread(lambda: queue.enqueue_workflow_call_child(parent, GraphExecutionState(graph=child)))


def children(db: Database, parent_id: int) -> list[sa.Row]:
    with system_scope(), db.begin() as conn:
        query = sa.select(session_queue.c.estimate_credits, session_queue.c.model_keys)
        return conn.execute(query.where(session_queue.c.parent_item_id == parent_id).order_by(session_queue.c.item_id)).all()


def set_workspace(db: Database, tenant_id: str, **values: Any) -> None:
    if not values:
        return
    with system_scope(), db.begin() as conn:
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(**values))


LACKS: dict[str, tuple[str, int, dict[str, Any], Any, ErrorCode]] = {
    # what the workspace lacks: (plan, credits, its state once the parent runs, the child's graph, the refusal)
    "a paid invoice": ("pro", 1000, {"billing_hold_at": utcnow()}, graph, ErrorCode.PAYMENT_OVERDUE),
    "an active account": ("pro", 1000, {"status": "suspended"}, graph, ErrorCode.TENANT_SUSPENDED),
    "free storage": ("starter", 1000, {"storage_bytes": 20 * GB}, graph, ErrorCode.STORAGE_QUOTA_EXCEEDED),
    "nano-banana in its plan": ("starter", 1000, {}, banana, ErrorCode.FEATURE_NOT_IN_PLAN),
    "credits for nano-banana": ("pro", 21, {}, banana, ErrorCode.INSUFFICIENT_CREDITS),  # 1 held by the parent, 21 needed
    "a credit beyond the parent's hold": ("starter", 1, {}, graph, ErrorCode.INSUFFICIENT_CREDITS),
}


@pytest.mark.parametrize("lacks", LACKS)
def test_a_child_is_refused_as_an_enqueue_would_be_and_nothing_is_queued(
    database: Database, queue: SqlSessionQueue, lacks: str  # noqa: F811
) -> None:
    plan, credits, state, child_graph, code = LACKS[lacks]
    tenant_id = make_tenant(database, plan=plan, credits=credits)
    parent = running_parent(queue, tenant_id)
    set_workspace(database, tenant_id, **state)
    with pytest.raises(ServiceError) as refused:
        child_of(queue, parent, child_graph())
    assert (refused.value.code, type(refused.value).__name__) == (code, code.value)
    assert children(database, parent.item_id) == []


def test_an_admitted_child_holds_its_estimate_against_the_next_one(database: Database, queue: SqlSessionQueue) -> None:  # noqa: F811
    tenant_id = make_tenant(database, plan="pro", credits=43)  # the parent holds 1; each banana child 21
    parent = running_parent(queue, tenant_id)
    child_of(queue, parent, banana())
    child_of(queue, parent, banana())
    with pytest.raises(ServiceError) as refused:
        child_of(queue, parent, graph())  # 1 more: 1 + 21 + 21 of 43 are held
    assert refused.value.code == ErrorCode.INSUFFICIENT_CREDITS
    assert [row.estimate_credits for row in children(database, parent.item_id)] == [21, 21]


@pytest.mark.parametrize(("credits", "queued"), [(3, 0), (4, 3)])
def test_a_calls_children_are_gated_together_so_none_is_queued_before_a_sibling_is_refused(
    database: Database, queue: SqlSessionQueue, credits: int, queued: int  # noqa: F811
) -> None:
    """Three children (a batch inside the called workflow), 1 credit each, the parent holding 1."""
    tenant_id = make_tenant(database, credits=credits)
    parent = running_parent(queue, tenant_id)
    sessions = [GraphExecutionState(graph=graph()) for _ in range(3)]
    parent.session.waiting_workflow_call_execution.child_session_ids = [s.id for s in sessions]  # type: ignore[union-attr]
    for session in sessions:
        try:
            in_processor_thread(lambda: queue.enqueue_workflow_call_child(parent, session))
        except ServiceError as refused:
            assert refused.code == ErrorCode.INSUFFICIENT_CREDITS and "needs at least 3" in refused.detail
            break
    assert len(children(database, parent.item_id)) == queued


def test_operators_own_children_are_not_gated(database: Database, queue: SqlSessionQueue) -> None:  # noqa: F811
    parent = running_parent(queue, None)
    assert child_of(queue, parent, banana()).parent_item_id == parent.item_id
