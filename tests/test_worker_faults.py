"""A failing item fails alone, and a running item spends credits as it runs.

Against a real `pingvas serve` on each backend, with a short lease (the heartbeat, which renews
leases and charges running items, beats every second):
- a graph whose result cannot be stored (1e308 × 10 is inf) fails its item, is charged, and the
  worker goes on with the next item and stays healthy;
- NaN and infinities in a graph are refused at enqueue (422);
- a long graph on a small balance is stopped once the balance is spent (canceled, reason
  `credits_exhausted` on its receipt), overdrawing by at most about one heartbeat.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests import http
from tests.conftest import running_studio, unique_email
from tests.payloads import add_graph
from tests.studio import Account, Studio

LEASE_SECONDS = 3  # heartbeat every second
# What a running item may overdraw: the heartbeat's second, the started second charged at the end, and
# the moment the session takes to stop after the cancel (between two nodes of the loop below).
OVERDRAFT_BOUND = 4


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    data_dir = tmp_path_factory.mktemp(f"faults-{request.param}")
    with running_studio(request.param, data_dir, {"PINGVAS_LEASE_SECONDS": str(LEASE_SECONDS)}) as studio:
        yield studio


@pytest.fixture(scope="module")
def operator(studio: Studio) -> Account:
    return studio.operator(unique_email("ops"))


def enqueue(studio: Studio, account: Account, graph: dict[str, Any], runs: int = 1) -> Any:
    body = {"batch": {"graph": graph, "runs": runs}}
    return http.post(f"{studio.url}/api/v1/queue/default/enqueue_batch", json=body, headers=account.headers)


def item(studio: Studio, account: Account, item_id: int) -> dict[str, Any]:
    r = http.get(f"{studio.url}/api/v1/queue/default/i/{item_id}", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()


def finished(studio: Studio, account: Account, item_id: int, timeout: float = 120) -> dict[str, Any]:
    return studio.wait_for(
        lambda: (found := item(studio, account, item_id))["status"] in ("completed", "failed", "canceled") and found,
        timeout=timeout,
    )


def receipt(studio: Studio, account: Account, item_id: int) -> dict[str, Any]:
    r = http.get(f"{studio.url}/api/v1/billing/usage/items/{item_id}", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()


def credits(studio: Studio, account: Account) -> int:
    return http.get(f"{studio.url}/api/v1/billing/usage?limit=1", headers=account.headers).json()["credits"]


def healthy(studio: Studio) -> None:
    for path in ("/healthz", "/readyz"):
        r = http.get(studio.url + path)
        assert r.status_code == 200, (path, r.text)


def overflow_graph() -> dict[str, Any]:
    node = {"id": "m", "type": "float_math", "operation": "MUL", "a": 1e308, "b": 10.0, "use_cache": False}
    return {"id": "overflow", "nodes": {"m": node}, "edges": []}


def counting_graph(iterations: int) -> dict[str, Any]:
    """range → iterate → add → collect: runs for seconds without a model, checking for a cancel between nodes."""
    def edge(src: str, out: str, dst: str, field: str) -> dict[str, Any]:
        return {"source": {"node_id": src, "field": out}, "destination": {"node_id": dst, "field": field}}

    nodes = {
        "range": {"id": "range", "type": "range", "start": 0, "stop": iterations, "step": 1, "use_cache": False},
        "iterate": {"id": "iterate", "type": "iterate", "use_cache": False},
        "add": {"id": "add", "type": "add", "b": 1, "use_cache": False},
        "collect": {"id": "collect", "type": "collect", "use_cache": False},
    }
    edges = [edge("range", "collection", "iterate", "collection"), edge("iterate", "item", "add", "a"), edge("add", "value", "collect", "item")]
    return {"id": "counting", "nodes": nodes, "edges": edges}


def test_a_result_that_cannot_be_stored_fails_its_item_and_the_worker_goes_on(studio: Studio) -> None:
    owner = studio.signup(unique_email("inf"))
    r = enqueue(studio, owner, overflow_graph())
    assert r.status_code == 200, r.text
    failed = finished(studio, owner, r.json()["item_ids"][0])
    assert failed["status"] == "failed", failed
    assert "infinite or NaN" in failed["error_message"]
    assert receipt(studio, owner, failed["item_id"])["credits_charged"] >= 1  # its device time, as a node failure

    after = enqueue(studio, owner, add_graph())
    assert finished(studio, owner, after.json()["item_ids"][0])["status"] == "completed"
    healthy(studio)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_at_enqueue(studio: Studio, literal: str) -> None:
    owner = studio.signup(unique_email("nan"))
    text = json.dumps({"batch": {"graph": overflow_graph(), "runs": 1}}).replace("1e+308", literal)
    assert literal in text
    r = http.post(
        f"{studio.url}/api/v1/queue/default/enqueue_batch",
        content=text,
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert (r.status_code, r.json().get("code")) == (422, "invalid_input"), r.text
    assert http.get(f"{studio.url}/api/v1/queue/default/status", headers=owner.headers).json()["queue"]["pending"] == 0


# Found by tests/test_fuzz_graphs.py: each stopped a worker, froze its pod, reached the server's files
# or left an item running free. Each must now fail alone, with its reason, and charged.
FAILS_ALONE = {
    "a power beyond 64 bits (froze the pod)": ({"type": "integer_math", "operation": "EXP", "a": 3, "b": 2**63}, "does not fit"),
    "a server file read": ({"type": "prompt_from_file", "file_path": "/etc/passwd", "max_prompts": 0}, "files on the server"),
    "a NUL in the error it raises": ({"type": "workflow_return_get", "key": "a\u0000b"}, ""),
    # each grew its tile list until the worker's memory ran out, and the worker thread died
    "a tile grid 2**64 px wide": ({"type": "calculate_image_tiles", "image_width": 2**64, "image_height": 1024}, "tiles"),
    "2**32 even tiles": ({"type": "calculate_image_tiles_even_split", "image_width": 2**64, "num_tiles_x": 2**32}, "tiles"),
    "a min-overlap grid 2**64 px high": ({"type": "calculate_image_tiles_min_overlap", "image_height": 2**64}, "tiles"),
    # each built its whole list at any stated size: enough to get a pod without a memory limit killed
    "a range of 2**40 integers": ({"type": "range", "start": 0, "stop": 2**40, "step": 1}, "collection node"),
    "a range of size 2**40": ({"type": "range_of_size", "start": 0, "size": 2**40, "step": 1}, "collection node"),
    "2**40 random integers": ({"type": "random_range", "size": 2**40}, "collection node"),
    "a float range of 2**40 steps": ({"type": "float_range", "start": 0, "stop": 1, "steps": 2**40}, "collection node"),
}


@pytest.mark.parametrize("case", list(FAILS_ALONE))
def test_a_graph_that_reaches_too_far_fails_alone_with_its_reason(studio: Studio, case: str) -> None:
    node, reason = FAILS_ALONE[case]
    owner = studio.signup(unique_email("far"))
    r = enqueue(studio, owner, {"id": "far", "nodes": {"n": {"id": "n", "use_cache": False, **node}}, "edges": []})
    assert r.status_code == 200, r.text
    failed = finished(studio, owner, r.json()["item_ids"][0], timeout=60)
    assert failed["status"] == "failed" and failed["error_type"] != "WorkerLost", failed
    assert reason in failed["error_message"] and "root:" not in json.dumps(failed)
    assert receipt(studio, owner, failed["item_id"])["credits_charged"] >= 1
    after = enqueue(studio, owner, add_graph())
    assert finished(studio, owner, after.json()["item_ids"][0])["status"] == "completed"
    healthy(studio)


@pytest.mark.parametrize(
    "node",
    [
        {"type": "metadata", "items": {"label": "x", "value": None}},  # stored without its value: unloadable
        {"type": "unsharp_mask_oklab", "radius": float("nan")},  # a bounded field echoing NaN gave a 500
    ],
)
def test_a_graph_that_cannot_be_stored_or_echoed_is_refused_with_422(studio: Studio, node: dict[str, Any]) -> None:
    owner = studio.signup(unique_email("unloadable"))
    body = {"batch": {"graph": {"id": "g", "nodes": {"n": {"id": "n", **node}}, "edges": []}, "runs": 1}}
    r = http.post(
        f"{studio.url}/api/v1/queue/default/enqueue_batch",
        content=json.dumps(body),
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert (r.status_code, r.json().get("code")) == (422, "invalid_input"), r.text


# Last in the module: the studio may still be saving the stopped session while it is torn down.
def test_a_running_item_is_stopped_when_the_balance_is_spent(studio: Studio, operator: Account) -> None:
    owner = studio.signup(unique_email("overdraw"))
    left = 3
    r = http.post(
        f"{studio.url}/api/v1/admin/tenants/{owner.tenant_id}/credits",
        json={"amount": left - 300, "reason": "test: a nearly spent trial"},
        headers=operator.headers,
    )
    assert r.status_code == 200 and r.json()["credits"] == left, r.text
    started = time.monotonic()
    r = enqueue(studio, owner, counting_graph(4_000), runs=2)  # about 10 s of work, were it not stopped
    assert r.status_code == 200, r.text
    first, second = sorted(r.json()["item_ids"])
    stopped = finished(studio, owner, first, timeout=90)
    elapsed = time.monotonic() - started
    assert (stopped["status"], stopped["error_type"]) == ("canceled", "credits_exhausted"), stopped
    bill = receipt(studio, owner, first)
    assert "credits_exhausted" in bill["explanation"], bill
    balance = credits(studio, owner)
    print(f"\n[{studio.backend}] balance {left} -> {balance} after {elapsed:.1f} s; charged {bill['credits_charged']}")
    assert -OVERDRAFT_BOUND <= balance <= 0
    assert bill["credits_charged"] == left - balance
    assert len(bill["entries"]) >= 2  # slices charged while it ran, then the rest when it stopped

    time.sleep(2 * LEASE_SECONDS)  # the second item waits for credits: it does not start
    assert item(studio, owner, second)["status"] == "pending"
    assert receipt(studio, owner, second)["credits_charged"] == 0
    healthy(studio)
