"""Graph fuzzing through the worker: no graph a workspace can send stops the worker, dodges a
refusal's rules or the ledger's.

`tests/graph_fuzz.py` builds the graphs from the running studio's own schema (every invocation
type) with boundary values, plus fixed cases that reproduced defects or reach outside the
workspace. They are enqueued over HTTP to one `pingvas serve` on Postgres in batches. After each
batch: every refusal is a 4xx with a `code` (422 for malformed input, a non-finite number
included), every admitted item ends completed, failed or canceled, each terminal item is charged
by the ledger's rules and once, `/readyz` answers 200 and an ordinary graph enqueued after the
batch completes. At the end the balance equals the sum of the ledger. Problems are collected
across batches (the run stops early only when the worker stopped) and reported together.

A fresh seed every run, printed; `PINGVAS_FUZZ_SEED=<seed>` replays a run, `PINGVAS_FUZZ_GRAPHS`
changes how many graphs it sends (for a longer soak; the default keeps the file within a few
minutes on a busy 2-core machine).

The studio runs under a memory limit (`resource.prlimit`): a graph that allocates without bound
then fails with MemoryError in the studio instead of taking this shared machine's memory.
"""

import json
import os
import resource
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.credits import gpu_seconds_cost
from billing.plans import CREDITS_PER_GPU_SECOND
from tests import graph_fuzz
from tests.conftest import running_studio, unique_email
from tests.graphs import enqueue_batch_body
from tests.payloads import add_graph, upload_image
from tests.studio import Account, Studio

TOTAL_GRAPHS = int(os.environ.get("PINGVAS_FUZZ_GRAPHS") or 240)
BATCH_SIZE = 30
STALL_S = 120  # a batch is stuck when none of its items reached a terminal state for this long
BATCH_TIMEOUT_S = 300  # or when they are not all terminal after this long
CANARY_TIMEOUT_S = 120
CREDITS = 5000
MEMORY_HEADROOM = 4 * 2**30  # bytes the studio may allocate beyond what it holds once started
TERMINAL = ("completed", "failed", "canceled")
QUEUE = "/api/v1/queue/default"
ENQUEUE_HEADERS = {"Content-Type": "application/json", "Connection": "close"}


@pytest.fixture(scope="module")
def fuzz_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    # a fuzz run spends a credit or more per item; a batch of 2**63 runs must still find the balance short
    extra = {"PINGVAS_TRIAL_CREDITS": str(CREDITS)}
    with running_studio("postgres", tmp_path_factory.mktemp("fuzz-graphs"), extra) as studio:
        assert studio.process is not None
        _limit_memory(studio.process.pid)
        yield studio


def _limit_memory(pid: int) -> None:
    """The studio may allocate MEMORY_HEADROOM more than it holds now (Linux; elsewhere no limit)."""
    status = Path(f"/proc/{pid}/status")
    if not hasattr(resource, "prlimit") or not status.exists():
        return
    data = next(int(line.split()[1]) * 1024 for line in status.read_text().splitlines() if line.startswith("VmData:"))
    resource.prlimit(pid, resource.RLIMIT_DATA, (data + MEMORY_HEADROOM, data + MEMORY_HEADROOM))


@dataclass
class Sent:
    """A case and what became of it."""

    case: graph_fuzz.Case
    status: int = 0  # the enqueue's HTTP status
    code: str | None = None
    item_ids: list[int] = field(default_factory=list)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)  # last seen state of each item


@dataclass
class Run:
    studio: Studio
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): a kind is reported with a few examples
    outcomes: Counter[str] = field(default_factory=Counter)
    graphs: int = 0
    stopped: str | None = None  # why the run could not go on
    unreachable: str | None = None  # the studio stopped answering

    def problem(self, text: str, kind: str | None = None) -> None:
        self.problems.append((kind or text, text))

    def report(self, examples: int = 3) -> str:
        kinds: dict[str, list[str]] = {}
        for kind, text in self.problems:
            kinds.setdefault(kind, []).append(text)
        parts = []
        for texts in kinds.values():
            more = f"\n  ... and {len(texts) - examples} more of this kind" if len(texts) > examples else ""
            parts.append("\n".join(texts[:examples]) + more)
        return "\n\n".join(parts)


def test_every_fuzzed_graph_ends_terminal_charged_once_and_leaves_the_worker_serving(fuzz_studio: Studio, tmp_path: Path) -> None:
    seed = int(os.environ.get("PINGVAS_FUZZ_SEED") or secrets.randbelow(2**32))
    print(f"graph fuzz: seed {seed}, {TOTAL_GRAPHS} graphs in batches of {BATCH_SIZE}; replay with PINGVAS_FUZZ_SEED={seed}")
    owner = fuzz_studio.signup(unique_email("fuzz-graphs"), "Fuzz Graphs")
    escape_dir = tmp_path / "outside-the-data-folder"
    escape_dir.mkdir()
    targets, openapi = _targets(fuzz_studio, owner, escape_dir)
    run = Run(fuzz_studio)
    unknown = set(graph_fuzz.SKIPPED) - set(graph_fuzz.node_types(openapi))
    if unknown:
        run.problem(f"graph_fuzz.SKIPPED names node types the studio does not have (update the list): {sorted(unknown)}")
    with fuzz_studio.client(owner) as c:
        _fuzz(run, c, graph_fuzz.cases(openapi, seed, TOTAL_GRAPHS, targets))
        if not run.unreachable:
            _ledger_adds_up(run, c)
    written = sorted(p.name for p in escape_dir.iterdir())
    if written:
        run.problem(f"files were written outside the studio's data folder: {written}")

    summary = f"graph fuzz: seed {seed}, {run.graphs} graphs sent; outcomes: {dict(sorted(run.outcomes.items()))}"
    print(summary)
    assert not run.problems, (
        f"{summary}\nreplay: PINGVAS_FUZZ_SEED={seed}\n\n" + run.report()
        + f"\n\nserver log ({fuzz_studio.log_path}), last lines:\n{fuzz_studio.log_tail(80)}"
    )


def _targets(studio: Studio, owner: Account, escape_dir: Path) -> tuple[graph_fuzz.Targets, dict[str, Any]]:
    """The workspace's own image, another workspace's, the folder nothing may write to; the OpenAPI."""
    stranger = studio.signup(unique_email("fuzz-stranger"), "Stranger")
    with studio.client(owner) as c, studio.client(stranger) as s:
        image = upload_image(c).json()["image_name"]
        foreign = upload_image(s).json()["image_name"]
        openapi = c.get("/openapi.json").json()
    return graph_fuzz.Targets(image=image, foreign_image=foreign, escape_dir=str(escape_dir)), openapi


def _fuzz(run: Run, c: httpx.Client, cases: list[graph_fuzz.Case]) -> None:
    """The cases in batches, each judged once its items are terminal; stops when the worker or the studio did."""
    for start in range(0, len(cases), BATCH_SIZE):
        batch = [Sent(case) for case in cases[start : start + BATCH_SIZE]]
        try:
            _send(run, c, batch)
            _wait_terminal(run, c, batch)
            _judge(run, c, batch)
            if run.stopped is None:
                _worker_still_serves(run, c)
        except httpx.HTTPError as e:
            studio = run.studio
            state = "is running" if _alive(studio) else f"exited with {studio.process and studio.process.returncode}"
            run.stopped = run.unreachable = f"the studio stopped answering HTTP ({type(e).__name__}: {e}; its process {state})"
        run.graphs += len(batch)
        if run.stopped:
            run.problem(f"STOPPED after {run.graphs} graphs: {run.stopped}")
            return


def _send(run: Run, c: httpx.Client, batch: list[Sent]) -> None:
    for sent in batch:
        case = sent.case
        try:  # a connection of its own: after a 500 the server may drop the connection it came on
            r = c.post(f"{QUEUE}/enqueue_batch", content=case.encode(), headers=ENQUEUE_HEADERS)
        except httpx.TransportError as e:
            if isinstance(e, httpx.TimeoutException) or not _alive(run.studio):
                raise
            run.outcomes["connection dropped"] += 1
            run.problem(f"[{case.name}] the enqueue's connection was dropped ({type(e).__name__}: {e})", "dropped")
            continue
        sent.status = r.status_code
        body = _json(r)
        if r.is_success:
            sent.item_ids = list(body.get("item_ids") or [])
            if case.non_finite:
                run.problem(f"[{case.name}] a non-finite number was admitted (HTTP {r.status_code}), not refused with 422", "admitted")
            continue
        sent.code = body.get("code") if isinstance(body, dict) else None
        run.outcomes[f"refused {r.status_code} {sent.code}"] += 1
        if r.status_code >= 500:
            run.problem(f"[{case.name}] enqueue answered {r.status_code}: {r.text[:600]}", f"{r.status_code} {r.text[:200]}")
        elif not sent.code:
            run.problem(f"[{case.name}] enqueue refused with {r.status_code} but no `code`: {r.text[:300]}")
        elif case.non_finite and r.status_code != 422:
            run.problem(f"[{case.name}] a non-finite number was refused with {r.status_code} {sent.code}, not 422")


def _wait_terminal(run: Run, c: httpx.Client, batch: list[Sent]) -> None:
    """Until every admitted item is terminal, or none of them moved on for STALL_S."""
    owner_of = {item_id: sent for sent in batch for item_id in sent.item_ids}
    waiting = set(owner_of)
    started = last_progress = time.monotonic()
    while waiting:
        found = _items(c, sorted(waiting))
        for item_id, item in found.items():
            owner_of[item_id].items[item_id] = item
            if item["status"] in TERMINAL:
                waiting.discard(item_id)
                last_progress = time.monotonic()
        if not waiting:
            return
        now = time.monotonic()
        if now - last_progress > STALL_S or now - started > BATCH_TIMEOUT_S:
            stuck = [f"  item {i} {owner_of[i].items.get(i, {}).get('status', 'unreadable')}: {owner_of[i].case.name}" for i in sorted(waiting)]
            why = f"{STALL_S}s without progress" if now - last_progress > STALL_S else f"{BATCH_TIMEOUT_S}s"
            run.stopped = f"{len(waiting)} item(s) not terminal after {why}:\n" + "\n".join(stuck)
            return
        time.sleep(0.5)


def _items(c: httpx.Client, item_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The items by id. `items_by_ids` silently leaves out an item it cannot read; those are read
    one by one, and an item that cannot be read back is reported as its own status."""
    r = c.post(f"{QUEUE}/items_by_ids", json={"item_ids": item_ids})
    found = {item["item_id"]: item for item in r.json()} if r.is_success else {}
    for item_id in set(item_ids) - set(found):
        one = c.get(f"{QUEUE}/i/{item_id}")
        found[item_id] = one.json() if one.is_success else {"item_id": item_id, "status": f"unreadable ({one.status_code})", "error": one.text[:400]}
    return found


def _judge(run: Run, c: httpx.Client, batch: list[Sent]) -> None:
    by_item: dict[int, list[dict[str, Any]]] = {}
    for entry in _ledger(c):
        if entry["item_id"] is not None:
            by_item.setdefault(entry["item_id"], []).append(entry)
    for sent in batch:
        for item_id in sent.item_ids:
            item = sent.items.get(item_id, {"status": "never read"})
            status = item["status"]
            run.outcomes[status if status != "failed" else f"failed {item.get('error_type')}"] += 1
            if status.startswith("unreadable"):
                run.problem(f"[{sent.case.name}] item {item_id} cannot be read back: {item.get('error')}")
            if status not in TERMINAL:
                continue
            if status == "completed" and sent.case.must_not_complete:
                run.problem(f"[{sent.case.name}] item {item_id} completed, but {sent.case.must_not_complete}")
            _charged_by_the_rules(run, sent.case, item, by_item.get(item_id, []))


def _charged_by_the_rules(run: Run, case: graph_fuzz.Case, item: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """The ledger's rules for one terminal item, whether an attempt is charged once at its end or in
    slices while it runs (each entry then carries the attempt's seconds so far):
    - the attempt that ended the item, if it ran and completed or failed, is charged
      `gpu_seconds_cost` of its device time in all (every started second, so at least one): a node's
      failure as the graph's, and since issue 21 any exception while running, saving or completing
      the session too (no worker is lost in this test, so no failure here is the platform's);
    - no attempt is charged more than that (an attempt charged twice would be), and no attempt's
      device time exceeds the item's life from enqueue to end;
    - a refund gives back no more than its attempt was charged."""
    item_id, status = item["item_id"], item["status"]
    usage: dict[int, list[dict[str, Any]]] = {}
    refunded: Counter[int] = Counter()
    for e in entries:
        if e["kind"] == "usage":
            usage.setdefault(e["attempt"], []).append(e)
        elif e["kind"] == "refund":
            refunded[e["attempt"]] += e["amount"]
    life = _seconds_between(item.get("created_at"), item.get("completed_at") or item.get("updated_at"))
    for attempt, slices in usage.items():
        charged = -sum(e["amount"] for e in slices)
        seconds = max(e["seconds"] or 0.0 for e in slices)
        if charged > gpu_seconds_cost(seconds) or refunded[attempt] > charged:
            run.problem(f"[{case.name}] item {item_id} attempt {attempt}: charged {charged} and refunded {refunded[attempt]} for {seconds} s: {slices}")
        if life is not None and seconds > life + 1.0:
            run.problem(f"[{case.name}] item {item_id} attempt {attempt}: charged for {seconds} s of a life of {life:.3f} s: {slices}")
    if status in ("completed", "failed") and item.get("started_at"):
        last = usage[max(usage)] if usage else []
        charged = -sum(e["amount"] for e in last)
        seconds = max((e["seconds"] or 0.0 for e in last), default=0.0)
        if charged < CREDITS_PER_GPU_SECOND or charged != gpu_seconds_cost(seconds):
            node_failed = bool((item.get("session") or {}).get("errors"))
            why = "completed" if status == "completed" else f"failed ({item.get('error_type')}{', in a node' if node_failed else ''})"
            run.problem(f"[{case.name}] item {item_id} ran and {why} but its last attempt was charged {charged} credits for {seconds} s (ledger: {entries})")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _ledger(c: httpx.Client) -> list[dict[str, Any]]:
    """Every entry of the workspace's ledger, newest first."""
    entries: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        r = c.get("/api/v1/billing/usage", params={"limit": 500, **({"before": before} if before else {})})
        r.raise_for_status()
        page = r.json()
        entries += page["entries"]
        before = page["next_before"]
        if before is None:
            return entries


def _ledger_adds_up(run: Run, c: httpx.Client) -> None:
    entries = _ledger(c)
    balance = c.get("/api/v1/billing/usage", params={"limit": 1}).json()["credits"]
    total = sum(e["amount"] for e in entries)
    if balance != total:
        run.problem(f"the workspace's balance is {balance} but its ledger entries add up to {total}")
    keys = Counter((e["kind"], e["item_id"], e["attempt"], e["seconds"]) for e in entries if e["kind"] == "usage")
    twice = [k for k, n in keys.items() if n > 1]
    if twice:
        run.problem(f"identical usage entries in the ledger (kind, item, attempt, seconds): {twice}")


def _worker_still_serves(run: Run, c: httpx.Client) -> None:
    ready = c.get("/readyz")
    if ready.status_code != 200:
        run.problem(f"/readyz answered {ready.status_code} after a batch: {ready.text[:400]}")
    r = c.post(f"{QUEUE}/enqueue_batch", json=enqueue_batch_body(add_graph()))
    if not r.is_success:
        run.stopped = f"an ordinary graph was refused after the batch: {r.status_code} {r.text[:300]}"
        return
    item_id = r.json()["item_ids"][0]
    deadline = time.monotonic() + CANARY_TIMEOUT_S
    while time.monotonic() < deadline:
        status = c.get(f"{QUEUE}/i/{item_id}").json()["status"]
        if status in TERMINAL:
            if status != "completed":
                run.problem(f"an ordinary graph enqueued after the batch ended {status}")
            return
        time.sleep(0.25)
    run.stopped = f"an ordinary graph enqueued after the batch did not complete within {CANARY_TIMEOUT_S}s (the worker stopped)"


def _alive(studio: Studio) -> bool:
    return studio.process is not None and studio.process.poll() is None


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except json.JSONDecodeError:
        return {}
