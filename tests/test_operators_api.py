"""The operator console's API on a running studio (SQLite and Postgres): operators only (members are
refused), search and detail, contract overrides, credit adjustments once per key with a reason, the
usage report, the queue and workers, and an audit entry for every change. (From outside the
operations network the routes are a 404: tests/test_rate_limits.py, whose studio trusts a proxy.)"""

import uuid

from tests.conftest import unique_email
from tests.studio import Studio


def test_operators_manage_workspaces_and_every_change_is_audited(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops"))
    email = unique_email("acme-owner")
    owner = studio.signup(email, f"Acme {uuid.uuid4().hex[:6]}")
    tenant_id = owner.tenant_id
    with studio.client(operator) as c:
        found = c.get("/api/v1/admin/tenants", params={"q": email.split("@")[0]}).json()
        assert [t["id"] for t in found] == [tenant_id]
        contract = {"credits_per_period": 100_000, "concurrent_queues": None, "features": ["flux_models"]}
        updated = c.patch(f"/api/v1/admin/tenants/{tenant_id}", json={"overrides": contract, "plan": "pro"})
        assert updated.status_code == 200, updated.text
        assert (updated.json()["plan"], updated.json()["concurrent_queues"]) == ("pro", None)
        bad = c.patch(f"/api/v1/admin/tenants/{tenant_id}", json={"overrides": {"gpus": 8}})
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")

        grant = {"amount": 500, "reason": "Compensation for an outage", "idempotency_key": f"ticket-{uuid.uuid4().hex}"}
        first = c.post(f"/api/v1/admin/tenants/{tenant_id}/credits", json=grant).json()
        again = c.post(f"/api/v1/admin/tenants/{tenant_id}/credits", json=grant).json()
        assert first == again == {"credits": 800}  # the trial's 300 + 500, once
        assert c.post(f"/api/v1/admin/tenants/{tenant_id}/credits", json={"amount": 5, "reason": ""}).status_code == 422

        detail = c.get(f"/api/v1/admin/tenants/{tenant_id}").json()
        assert detail["overrides"] == {**contract, "features": ["flux_models"]}
        assert detail["recent_entries"][0]["reason"] == "Compensation for an outage"
        usage = c.get("/api/v1/admin/usage", params={"tenant_id": tenant_id}).json()
        assert usage[0]["by_kind"] == {"grant": 300, "adjustment": 500}
        queue = c.get("/api/v1/admin/queue").json()
        assert set(queue["pending_by_tier"]) >= {"starter", "pro", "studio", "enterprise", "platform"}
        assert any(w["alive"] for w in queue["workers"])  # the studio's own worker
        audit = c.get("/api/v1/admin/audit", params={"tenant_id": tenant_id}).json()
        assert [a["action"] for a in audit] == ["adjust_credits", "update_workspace", "set_overrides"]
        assert {a["operator_user_id"] for a in audit} == {operator.user_id}
        assert c.get("/api/v1/admin/tenants/no-such-workspace").status_code == 404

    with studio.client(owner) as c:
        tenant = c.get("/api/v1/tenant").json()
        assert tenant["credits"] == 800 and "flux_models" in tenant["features"]
        for path in ("/api/v1/admin/tenants", "/api/v1/admin/queue", "/api/v1/admin/audit", "/api/v1/admin/usage"):
            refused = c.get(path)
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), path
        assert c.post(f"/api/v1/admin/tenants/{tenant_id}/credits", json={"amount": 10**6, "reason": "free money"}).status_code == 403
