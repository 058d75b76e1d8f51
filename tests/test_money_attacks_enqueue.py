"""Money attacks on the enqueue route, against a running studio (SQLite and Postgres): a workspace
with one credit firing enqueues all at once gets one item queued and every other answered 402
`insufficient_credits` (the gate serializes a workspace's enqueues and counts what its queued items
hold), and afterwards its balance is exactly the sum of its ledger entries."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa

from invokeai_saas.db.tables.billing import credit_ledger
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope
from tests import http
from tests.conftest import unique_email
from tests.payloads import add_graph
from tests.studio import Studio

AT_ONCE = 8


def ledger_and_balance(studio: Studio, tenant_id: str) -> tuple[int, int]:
    """The sum of the workspace's ledger entries, and its balance, read together."""
    with system_scope(), studio.db.begin() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(credit_ledger.c.amount), 0)).where(credit_ledger.c.tenant_id == tenant_id)
        ).scalar_one()
        balance = conn.execute(
            sa.select(tenants.c.credits_period + tenants.c.credits_extra).where(tenants.c.tenant_id == tenant_id)
        ).scalar_one()
    return int(total), int(balance)


def test_enqueues_fired_at_once_on_one_credit_queue_one_item_and_the_ledger_adds_up(studio: Studio) -> None:
    owner = studio.signup(unique_email("one-credit"))
    with studio.client(studio.operator(unique_email("ops"))) as c:
        r = c.post(f"/api/v1/admin/tenants/{owner.tenant_id}/credits", json={"amount": -299, "reason": "test: one credit left"})
        assert r.json() == {"credits": 1}, r.text
    start = threading.Barrier(AT_ONCE)
    body = {"batch": {"graph": add_graph(), "runs": 1}, "prepend": False}

    def enqueue(_: int) -> httpx.Response:
        start.wait()
        return http.post(f"{studio.url}/api/v1/queue/default/enqueue_batch", json=body, headers=owner.headers)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = list(pool.map(enqueue, range(AT_ONCE)))
    admitted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(admitted) == 1, [a.text for a in answers]
    assert {(a.status_code, a.json()["code"]) for a in refused} == {(402, "insufficient_credits")}

    (item_id,) = admitted[0].json()["item_ids"]
    with studio.client(owner) as c:

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            return item if item["status"] in ("completed", "failed", "canceled") else None

        assert studio.wait_for(finished, timeout=90)["status"] == "completed"
        entries = studio.wait_for(lambda: [e for e in c.get("/api/v1/billing/usage").json()["entries"] if e["kind"] == "usage"], timeout=30)
        shown = c.get("/api/v1/tenant").json()["credits"]
    assert {e["item_id"] for e in entries} == {item_id}  # only the one item that ran is charged
    total, balance = ledger_and_balance(studio, owner.tenant_id)
    assert total == balance == shown
