"""A saved workflow called at run time (InvokeAI's `call_saved_workflow`) passes the same gate as an
enqueue, on a running studio (SQLite and Postgres): a parent the gate admitted, whose child would need
what the workspace lacks (credits, FLUX in its plan), ends failed with the refusal's sentence and code;
no child item is queued or runs, nothing is charged beyond the parent's own device time, and the
worker goes on to the next item."""

import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from invokeai_saas.db.tables.billing import credit_ledger
from invokeai_saas.db.tables.session_queue import session_queue
from tenant_middleware.context import system_scope
from tests.conftest import unique_email
from tests.flux_models import flux_model_records
from tests.payloads import add_graph
from tests.studio import Account, Studio

RUN_TIMEOUT_S = 90


def ui_node(node_id: str, node_type: str, **inputs: Any) -> dict[str, Any]:
    """A node as the workflow editor saves it."""
    data = {"id": node_id, "type": node_type, "version": "1.0.0", "label": "", "notes": "", "isOpen": True,
            "isIntermediate": True, "useCache": False, "inputs": {k: {"name": k, "label": "", "value": v} for k, v in inputs.items()}}  # fmt: skip
    return {"id": node_id, "type": "invocation", "position": {"x": 0, "y": 0}, "data": data}


def save_workflow(studio: Studio, account: Account, nodes: list[dict[str, Any]]) -> str:
    """A saved workflow that returns nothing after `nodes` (callable: it has its one workflow_return)."""
    workflow = {"name": f"child {uuid.uuid4().hex[:6]}", "author": "", "description": "", "version": "1", "contact": "",
                "tags": "", "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"},
                "nodes": [*nodes, ui_node("ret", "workflow_return")], "edges": []}  # fmt: skip
    with studio.client(account) as c:
        r = c.post("/api/v1/workflows/", json={"workflow": workflow})
        assert r.status_code == 200, r.text
        return r.json()["workflow_id"]


def call_graph(workflow_id: str) -> dict[str, Any]:
    node = {"id": "call", "type": "call_saved_workflow", "workflow_id": workflow_id, "workflow_inputs": {},
            "is_intermediate": True, "use_cache": False}  # fmt: skip
    return {"id": f"caller-{uuid.uuid4()}", "nodes": {"call": node}, "edges": []}


def run(studio: Studio, account: Account, graph: dict[str, Any]) -> dict[str, Any]:
    """Enqueues one session of `graph` and waits for its item to end; the finished item."""
    with studio.client(account) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": graph, "runs": 1}, "prepend": False})
        assert r.status_code == 200, r.text
        item_id = r.json()["item_ids"][0]

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            return item if item["status"] in ("completed", "failed", "canceled") else None

        return studio.wait_for(finished, timeout=RUN_TIMEOUT_S)


def children_of(studio: Studio, item_id: int) -> list[int]:
    with system_scope(), studio.db.begin() as conn:
        query = sa.select(session_queue.c.item_id).where(session_queue.c.parent_item_id == item_id)
        return list(conn.execute(query).scalars())


def charges(studio: Studio, tenant_id: str) -> list[tuple[str, int | None]]:
    """The workspace's spending entries: (kind, item)."""
    with system_scope(), studio.db.begin() as conn:
        rows = conn.execute(
            sa.select(credit_ledger.c.kind, credit_ledger.c.item_id)
            .where(credit_ledger.c.tenant_id == tenant_id, credit_ledger.c.amount < 0, credit_ledger.c.kind != "adjustment")
        )
        return [(kind, item_id) for kind, item_id in rows]


def assert_refused_cleanly(studio: Studio, account: Account, parent: dict[str, Any], code: str, sentence: str) -> None:
    assert parent["status"] == "failed", parent
    assert (parent["error_type"], parent["error_message"]) == (code, sentence)
    assert children_of(studio, parent["item_id"]) == []
    assert {item for _, item in charges(studio, account.tenant_id)} <= {parent["item_id"]}  # its own device time only
    bystander = studio.signup(unique_email("after"))
    assert run(studio, bystander, add_graph())["status"] == "completed"  # the worker goes on


def test_a_child_workflow_beyond_the_balance_fails_its_parent_and_runs_nothing(studio: Studio) -> None:
    """Balance 1: the parent's own session holds it, so its child (at least 1 more) is refused."""
    owner = studio.signup(unique_email("one-credit"))
    workflow_id = save_workflow(studio, owner, [])
    with studio.client(studio.operator(unique_email("ops"))) as c:
        r = c.post(f"/api/v1/admin/tenants/{owner.tenant_id}/credits", json={"amount": -299, "reason": "test: one credit left"})
        assert r.json() == {"credits": 1}, r.text
    parent = run(studio, owner, call_graph(workflow_id))
    sentence = ("Not enough credits: this batch needs at least 1, and 0 of the workspace's 1 are free (1 are held by "
                "items already queued). Add credits or upgrade your plan.")  # fmt: skip
    assert_refused_cleanly(studio, owner, parent, "insufficient_credits", sentence)


def test_a_child_workflow_with_flux_fails_its_parent_on_a_plan_without_flux(studio: Studio, tmp_path: Path) -> None:
    owner = studio.signup(unique_email("starter"))
    with flux_model_records(studio.db, tmp_path) as flux_key:
        model = {"key": flux_key, "hash": flux_key, "name": "FLUX.1 dev", "base": "sd-1", "type": "main"}  # the base a client claims is not trusted
        workflow_id = save_workflow(studio, owner, [ui_node("flux", "flux_model_loader", model=model)])
        parent = run(studio, owner, call_graph(workflow_id))
    sentence = "FLUX models are not included in the Starter plan. Upgrade your plan to use them."
    assert_refused_cleanly(studio, owner, parent, "feature_not_in_plan", sentence)


def test_a_child_workflow_within_the_plan_and_balance_runs_and_completes_its_parent(studio: Studio) -> None:
    owner = studio.signup(unique_email("caller"))
    workflow_id = save_workflow(studio, owner, [])
    parent = run(studio, owner, call_graph(workflow_id))
    assert parent["status"] == "completed", parent
    (child,) = children_of(studio, parent["item_id"])
    with studio.client(owner) as c:
        assert c.get(f"/api/v1/queue/default/i/{child}").json()["status"] == "completed"
