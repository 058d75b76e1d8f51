"""nano-banana on a running studio (SQLite and Postgres) against a local Gemini stand-in: each real
request that returns an image costs 20 credits, a repeated identical run is a new real request (and a
new charge), another workspace's identical run gets its own request and image, and Starter is refused
before anything is queued."""

import uuid
from typing import Any

import pytest

from tests.conftest import unique_email
from tests.gemini_server import GeminiStandIn
from tests.studio import Account, Studio

NANO_BANANA = "external://gemini/gemini-2.5-flash-image"


@pytest.fixture(scope="session")
def nano_banana_key(studio: Studio) -> str:
    """The nano-banana model record, installed once per studio by an operator."""
    operator = studio.operator(unique_email("ops"))
    with studio.client(operator) as c:
        r = c.post("/api/v2/models/install", params={"source": NANO_BANANA}, json={})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]

        def installed() -> dict[str, Any] | None:
            job = c.get(f"/api/v2/models/install/{job_id}").json()
            assert job["status"] not in ("error", "cancelled"), job
            return job if job["status"] == "completed" else None

        return studio.wait_for(installed, timeout=120)["config_out"]["key"]


def banana_graph(model_key: str, prompt: str) -> dict[str, Any]:
    node = {"id": "banana", "type": "gemini_image_generation", "prompt": prompt, "width": 1024, "height": 1024,
            "model": {"key": model_key, "hash": "", "name": "nano-banana", "base": "external", "type": "external_image_generator"},
            "use_cache": True}  # fmt: skip
    return {"id": str(uuid.uuid4()), "nodes": {"banana": node}, "edges": []}


def on_pro(studio: Studio, prefix: str) -> Account:
    account = studio.signup(unique_email(prefix))
    operator = studio.operator(unique_email("ops"))
    with studio.client(operator) as c:
        assert c.patch(f"/api/v1/admin/tenants/{account.tenant_id}", json={"plan": "pro"}).status_code == 200
    return account


def run(studio: Studio, account: Account, graph: dict[str, Any]) -> dict[str, Any]:
    with studio.client(account) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": graph, "runs": 1}, "prepend": False})
        assert r.status_code == 200, r.text
        item_id = r.json()["item_ids"][0]

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            assert item["status"] not in ("failed", "canceled"), item
            return item if item["status"] == "completed" else None

        return studio.wait_for(finished, timeout=180)


def external_charges(studio: Studio, account: Account, item_id: int) -> list[int]:
    with studio.client(account) as c:
        receipt = c.get(f"/api/v1/billing/usage/items/{item_id}").json()
    return [e["amount"] for e in receipt["entries"] if e["kind"] == "external_api"]


def test_each_real_request_costs_20_credits_and_no_workspace_gets_anothers_result(
    studio: Studio, nano_banana_key: str, gemini: GeminiStandIn
) -> None:
    prompt = f"a banana {uuid.uuid4().hex[:8]}"
    alice, bob = on_pro(studio, "alice"), on_pro(studio, "bob")
    first = run(studio, alice, banana_graph(nano_banana_key, prompt))
    again = run(studio, alice, banana_graph(nano_banana_key, prompt))  # identical, cache allowed: still a real request
    bobs = run(studio, bob, banana_graph(nano_banana_key, prompt))
    assert gemini.requests_for(prompt) == 3
    for account, item in ((alice, first), (alice, again), (bob, bobs)):
        assert external_charges(studio, account, item["item_id"]) == [-20]
    with studio.client(alice) as c:
        alice_images = {i["image_name"] for i in c.get("/api/v1/images/", params={"limit": 10}).json()["items"]}
        assert len(alice_images) == 2
    with studio.client(bob) as c:
        bob_images = {i["image_name"] for i in c.get("/api/v1/images/", params={"limit": 10}).json()["items"]}
        assert len(bob_images) == 1 and not bob_images & alice_images


def test_starter_is_refused_before_anything_is_queued(studio: Studio, nano_banana_key: str, gemini: GeminiStandIn) -> None:
    prompt = f"a banana {uuid.uuid4().hex[:8]}"
    carol = studio.signup(unique_email("carol"))
    with studio.client(carol) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": banana_graph(nano_banana_key, prompt)}, "prepend": False})
        assert (r.status_code, r.json()["code"]) == (403, "feature_not_in_plan"), r.text
        assert c.get("/api/v1/queue/default/status").json()["queue"]["total"] == 0
    assert gemini.requests_for(prompt) == 0
