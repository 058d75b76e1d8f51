"""Gallery-list and enqueue latency: Pingvas on Postgres (100 tenants x 1,000 images) vs stock InvokeAI on SQLite.

One run starts every side at once on this machine and interleaves their requests one by one
(the machine is shared and noisy; interleaving puts its load on every side alike):

A. Pingvas: a throwaway Postgres database, `python -m invokeai_saas.wiring.cli serve` with
   PINGVAS_DATABASE_URL / PINGVAS_DB_SCHEMA=pingvas / PINGVAS_DB_APP_ROLE=pingvas_app (the app
   SET ROLEs to a non-superuser, so row-level security applies: the production shape).
   N tenants sign up through POST /api/v1/signup; M image rows per tenant are bulk-inserted
   into `images` (owner's user_id, ~1 KB metadata JSON, some starred, created_at spread).
B. Stock InvokeAI 6.14.2: `invokeai-web --root TMP` on SQLite, twice: in its multi-user mode with
   one signed-in user (the gated comparison) and in its default single-user mode (information).
   After first boot, M image rows for that one user are inserted into its `images` table.

Then, over loopback with httpx (keep-alive), round-robin across the sides: warm-up, then
`GET /api/v1/images/?limit=50&...` (the web UI's default gallery filters) and
`POST /api/v1/queue/default/enqueue_batch` with a weight-free graph (add -> integer_math).
Pingvas requests carry the bearer token of the owner of a tenant in the middle of the set.

Prints a markdown table (p50/p90/p99/mean ms, Pingvas/stock ratio at p50, PASS/FAIL against
1.5x); `--write` also records it in bench/RESULTS.md. Cleans up: stops the servers and drops
the Postgres database.

    .venv/bin/python bench/gallery_enqueue.py [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import httpx

from common import (
    APP_ROLE,
    RESULTS,
    ROOT,
    SCHEMA,
    Retries,
    Stats,
    create_database,
    log,
    measure_interleaved,
    pingvas_postgres_env,
    run_head,
    signup,
    start_pingvas as start_pingvas_server,
    start_stock as start_stock_server,
    write_results,
)

TARGET_RATIO = 1.5

# What the web UI (invokeai/frontend/web/dist) sends for the default gallery view:
# board "none" (Uncategorized), image categories, DESC, starred first, no intermediates.
GALLERY_PARAMS: list[tuple[str, str | int]] = [
    ("limit", 50),
    ("offset", 0),
    ("order_dir", "DESC"),
    ("starred_first", "true"),
    ("is_intermediate", "false"),
    ("board_id", "none"),
    *[("categories", c) for c in ("general", "user", "control", "mask", "other")],
]
GALLERY_PATH = "/api/v1/images/"
ENQUEUE_PATH = "/api/v1/queue/default/enqueue_batch"

MARKER = "<!-- runs: newest first; bench/gallery_enqueue.py --write inserts below -->"


# --------------------------------------------------------------------------- seed data

PROMPTS = [
    "a lighthouse on a basalt cliff at dusk, volumetric fog, cinematic lighting, 35mm",
    "portrait of an elderly fisherman, weathered skin, rembrandt lighting, film grain",
    "isometric cozy bookshop interior, warm lamps, rain outside the window, highly detailed",
    "a red fox in fresh snow, shallow depth of field, golden hour, wildlife photography",
    "futuristic tram station in a mossy forest, solarpunk, soft morning light, matte painting",
]


def image_metadata(rng: random.Random, width: int, height: int) -> str:
    """~1 KB of InvokeAI-style generation metadata."""
    md = {
        "generation_mode": "txt2img",
        "positive_prompt": rng.choice(PROMPTS),
        "negative_prompt": "blurry, low quality, jpeg artifacts, watermark, text, deformed hands",
        "width": width,
        "height": height,
        "seed": rng.randrange(2**32),
        "rand_device": "cpu",
        "cfg_scale": 7.5,
        "cfg_rescale_multiplier": 0,
        "steps": 30,
        "scheduler": "dpmpp_2m_k",
        "clip_skip": 0,
        "model": {
            "key": "5f0c3b9e-3c2a-4b5e-9a7e-1d2f3a4b5c6d",
            "hash": "blake3:8d2f0a9c1e7b4f3a6d5c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
            "name": "Juggernaut XL v9",
            "base": "sdxl",
            "type": "main",
        },
        "vae": None,
        "loras": [],
        "seamless_x": False,
        "seamless_y": False,
        "positive_style_prompt": "",
        "negative_style_prompt": "",
        "regions": [],
        "ref_images": [],
        "app_version": "6.14.2",
    }
    return json.dumps(md)


def image_rows(n: int, user_id: str, rng: random.Random, start: dt.datetime) -> list[dict[str, Any]]:
    """`n` gallery image rows (the shape InvokeAI's `images` table holds), created over ~90 days."""
    rows = []
    for i in range(n):
        w, h = rng.choice([(512, 512), (768, 768), (1024, 1024), (832, 1216), (1216, 832)])
        created = start + dt.timedelta(seconds=i * 7777 + rng.randrange(600))
        rows.append(
            {
                "image_name": f"{uuid.uuid4()}.png",
                "image_origin": "internal",
                "image_category": "general",
                "width": w,
                "height": h,
                "session_id": str(uuid.uuid4()),
                "node_id": str(uuid.uuid4()),
                "metadata": image_metadata(rng, w, h),
                "is_intermediate": False,
                "starred": rng.random() < 0.05,
                "has_workflow": False,
                "user_id": user_id,
                "image_subfolder": "",
                "created_at": created,
                "updated_at": created,
                "deleted_at": None,
            }
        )
    return rows


def enqueue_body() -> dict[str, Any]:
    """A weight-free graph: add(a, b) -> integer_math(a=sum, b=3, MUL). No model, runs in milliseconds."""
    nodes = {
        "add": {"id": "add", "type": "add", "a": 2, "b": 3, "is_intermediate": True, "use_cache": False},
        "mul": {"id": "mul", "type": "integer_math", "operation": "MUL", "b": 3, "is_intermediate": True, "use_cache": False},
    }
    edges = [{"source": {"node_id": "add", "field": "value"}, "destination": {"node_id": "mul", "field": "a"}}]
    return {"batch": {"graph": {"id": f"bench-{uuid.uuid4()}", "nodes": nodes, "edges": edges}, "runs": 1}, "prepend": False}


# --------------------------------------------------------------------------- measurement


@dataclass
class Target:
    """A running server to measure: who we are there, and who may pause its session processor."""

    name: str
    url: str
    headers: dict[str, str]
    admin_headers: dict[str, str]
    expect_total: int


Call = Callable[[httpx.Client], httpx.Response]


def gallery_page(c: httpx.Client) -> httpx.Response:
    return c.get(GALLERY_PATH, params=GALLERY_PARAMS)


def enqueue(c: httpx.Client) -> httpx.Response:
    return c.post(ENQUEUE_PATH, json=enqueue_body())


def check_first_page(t: Target, client: httpx.Client) -> None:
    page = gallery_page(client)
    page.raise_for_status()
    items, total = len(page.json()["items"]), page.json()["total"]
    if items != 50 or total != t.expect_total:
        raise RuntimeError(f"{t.name}: unexpected gallery page: {items} items, total={total} (want 50, {t.expect_total})")


def set_processors(targets: list[Target], clients: dict[str, httpx.Client], action: str) -> None:
    for t in targets:
        clients[t.name].put(f"/api/v1/queue/default/processor/{action}", headers=t.admin_headers).raise_for_status()


def run_interleaved(targets: list[Target], args: argparse.Namespace, retries: Retries) -> dict[str, dict[str, Stats]]:
    """Gallery pages; then enqueues with every session processor paused (the compared number: the
    API + queue-insert path alone); then, informational, enqueues with the processors running
    (InvokeAI's per-item `gc.collect()` then holds the GIL under the request)."""
    clients = {t.name: httpx.Client(base_url=t.url, headers=t.headers, timeout=60) for t in targets}

    def senders(call: Call) -> dict[str, Callable[[], httpx.Response]]:
        return {name: partial(call, c) for name, c in clients.items()}

    try:
        for t in targets:
            check_first_page(t, clients[t.name])
        log("measuring gallery pages (interleaved)")
        gallery = measure_interleaved(senders(gallery_page), args.n_list, args.warmup, retries)
        set_processors(targets, clients, "pause")
        time.sleep(2)  # let any item in flight finish
        log("measuring enqueues, processors paused (interleaved)")
        paused = measure_interleaved(senders(enqueue), args.n_enqueue, args.warmup, retries)
        set_processors(targets, clients, "resume")
        log("measuring enqueues, processors running (interleaved; informational)")
        running = measure_interleaved(senders(enqueue), args.n_enqueue_running, 5, retries)
    finally:
        for c in clients.values():
            c.close()
    return {
        t.name: {"gallery": Stats.of(gallery[t.name]), "enqueue": Stats.of(paused[t.name]), "enqueue_running": Stats.of(running[t.name])}
        for t in targets
    }


# --------------------------------------------------------------------------- side A: Pingvas


def start_pingvas(args: argparse.Namespace, work: Path, stack: ExitStack) -> Target:
    url, _ = create_database(stack, args.keep)
    server = start_pingvas_server(work, stack, **pingvas_postgres_env(url))
    log(f"signing up {args.tenants} tenants")
    accounts = [signup(server.url, i) for i in range(args.tenants)]
    seed_pingvas_images(url, accounts, args.images)
    ops = operator_headers(url, server.url)
    me = accounts[len(accounts) // 2]
    log(f"Pingvas measured as the owner of tenant #{len(accounts) // 2}")
    return Target("pingvas", server.url, {"Authorization": f"Bearer {me['token']}"}, ops, args.images)


def seed_pingvas_images(url: str, accounts: list[dict[str, str]], per_tenant: int) -> None:
    """Bulk-insert image rows over a superuser connection (the tables' owner): it bypasses RLS, so
    we stamp tenant_id ourselves."""
    import sqlalchemy as sa

    sys.path.insert(0, str(ROOT))
    from invokeai_saas.db.tables.media import images

    log(f"seeding {len(accounts)} x {per_tenant} image rows")
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
    try:
        rng = random.Random(42)
        start = dt.datetime(2025, 1, 1)
        t0 = time.monotonic()
        with engine.begin() as conn:
            for acc in accounts:
                rows = image_rows(per_tenant, acc["user_id"], rng, start)
                for row in rows:
                    row["tenant_id"] = acc["tenant_id"]
                conn.execute(sa.insert(images), rows)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE images"))
        log(f"seeded in {time.monotonic() - t0:.1f}s")
    finally:
        engine.dispose()


def operator_headers(db_url: str, server_url: str) -> dict[str, str]:
    """A platform operator (InvokeAI admin, no tenant) may pause the session processor."""
    sys.path.insert(0, str(ROOT))
    from invokeai_saas.db import Database
    from invokeai_saas.accounts.tenancy import TenancyService

    app_db = Database(db_url, schema=SCHEMA, app_role=APP_ROLE)
    try:
        TenancyService(app_db).create_operator("ops@bench.example", "Operat0r!pass")
    finally:
        app_db.dispose()
    r = httpx.post(server_url + "/api/v1/auth/login", json={"email": "ops@bench.example", "password": "Operat0r!pass"}, timeout=60)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


# --------------------------------------------------------------------------- side B: stock InvokeAI


def start_stock(args: argparse.Namespace, work: Path, stack: ExitStack, multiuser: bool) -> Target:
    """Stock InvokeAI; with `multiuser`, its own multi-user mode with one signed-in user (auth on
    every request, as on Pingvas), else the default single-user mode (no auth at all)."""
    stock = start_stock_server(work, stack, multiuser)
    seed_stock_images(stock.db_path, stock.user_id, args.images)
    name = "stock_mu" if multiuser else "stock"
    return Target(name, stock.server.url, stock.headers, stock.headers, args.images)


def seed_stock_images(db_path: Path, user_id: str, n: int) -> None:
    log(f"seeding {n} image rows into {db_path}")
    rows = image_rows(n, user_id, random.Random(43), dt.datetime(2025, 1, 1))
    cols = list(rows[0])
    values = [tuple(_sqlite_value(r[c]) for c in cols) for r in rows]
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        with conn:
            conn.executemany(f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", values)
        conn.execute("ANALYZE")
    finally:
        conn.close()


def _sqlite_value(v: Any) -> Any:
    return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if isinstance(v, dt.datetime) else v


# --------------------------------------------------------------------------- report


def render(
    results: dict[str, dict[str, Stats]], args: argparse.Namespace, command: str, elapsed_s: float, retries: Retries
) -> tuple[str, bool]:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        *run_head(command, when=now),
        f"- data: Pingvas {args.tenants} tenants x {args.images} images on Postgres (RLS, app role `{APP_ROLE}`); "
        f"stock {args.images} images for its one user on SQLite (multi-user: the signed-in user; single-user: `system`)",
        f"- requests: {args.warmup} warm-up, then {args.n_list} x `GET {GALLERY_PATH}?{'&'.join(f'{k}={v}' for k, v in GALLERY_PARAMS)}`, "
        f"{args.n_enqueue} x `POST {ENQUEUE_PATH}` (add -> integer_math) with the session processors paused, "
        f"then {args.n_enqueue_running} with them running (informational); all sides up at once, requests "
        f"interleaved one by one (round-robin, rotating order), keep-alive, loopback",
        f"- retries after a dropped connection (attempt not timed): {retries.summary()}",
        f"- total run time: {elapsed_s:.0f} s",
        "",
        "",
        "The gated comparison is against stock in its own multi-user mode with one signed-in user (both sides",
        "authenticate every request); stock's default single-user mode, which authenticates nothing, is shown",
        "beside it with its ratio for information.",
        "",
        "| endpoint | side | n | p50 ms | p90 ms | p99 ms | mean ms | p50 ratio (Pingvas/this) | target | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    table, ok_all = render_rows(results)
    lines += table
    lines += ["", f"Overall: **{'PASS' if ok_all else 'FAIL'}** (target: Pingvas p50 within {TARGET_RATIO}x of stock)", ""]
    return "\n".join(lines), ok_all


ENDPOINT_ROWS = (
    ("gallery", "GET images ?limit=50", True),
    ("enqueue", "POST enqueue_batch (processor paused)", True),
    ("enqueue_running", "POST enqueue_batch (processor running; info)", False),
)
STOCK_SIDES = (("stock_mu", "stock multi-user (SQLite)"), ("stock", "stock single-user (SQLite)"))


def render_rows(results: dict[str, dict[str, Stats]]) -> tuple[list[str], bool]:
    lines: list[str] = []
    ok_all = True
    for endpoint, label, gated in ENDPOINT_ROWS:
        p = results["pingvas"][endpoint]
        lines.append(f"| {label} | Pingvas (Postgres) | {p.n} | {p.p50:.2f} | {p.p90:.2f} | {p.p99:.2f} | {p.mean:.2f} | | | |")
        for key, side in STOCK_SIDES:
            is_gate = gated and key == "stock_mu"
            st = results[key][endpoint]
            ratio = p.p50 / st.p50
            ok = ratio <= TARGET_RATIO
            if is_gate:
                ok_all &= ok
            verdict = ("PASS" if ok else "FAIL") if is_gate else "info"
            lines.append(
                f"| {label} | {side} | {st.n} | {st.p50:.2f} | {st.p90:.2f} | {st.p99:.2f} | {st.mean:.2f} | "
                f"{ratio:.2f}x | {f'<= {TARGET_RATIO}x' if is_gate else '-'} | **{verdict}** |"
            )
    return lines, ok_all


HEADER = f"""# Benchmark results

`bench/gallery_enqueue.py`: gallery list and enqueue latency, Pingvas on Postgres (100 tenants x
1,000 images, row-level security on) against stock InvokeAI on SQLite with the same data for one
user, measured in one run on one machine. Target: Pingvas within {TARGET_RATIO}x of stock at p50.

{MARKER}
"""


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--images", type=int, default=1000, help="images per tenant (and for stock's single user)")
    ap.add_argument("--n-list", type=int, default=300)
    ap.add_argument("--n-enqueue", type=int, default=200)
    ap.add_argument("--n-enqueue-running", type=int, default=50, help="enqueues with the processor running (informational)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--only", choices=["pingvas", "stock"], help="run one side only (no ratio, nothing written)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder and Postgres database (for profiling)")
    ap.add_argument("--write", action="store_true", help=f"record the table in {RESULTS.relative_to(ROOT)}")
    return ap.parse_args()


def run_sides(args: argparse.Namespace, work: Path, retries: Retries) -> dict[str, dict[str, Stats]]:
    with ExitStack() as stack:
        targets = []
        if args.only in (None, "pingvas"):
            targets.append(start_pingvas(args, work, stack))
        if args.only in (None, "stock"):
            targets.append(start_stock(args, work, stack, multiuser=True))
            targets.append(start_stock(args, work, stack, multiuser=False))
        return run_interleaved(targets, args, retries)


def main() -> int:
    args = parse_args()
    command = " ".join([".venv/bin/python", "bench/gallery_enqueue.py", *sys.argv[1:]])
    work = Path(tempfile.mkdtemp(prefix="pingvas-bench-"))
    retries = Retries()
    t0 = time.monotonic()
    try:
        results = run_sides(args, work, retries)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.only:
        for side, stats in results.items():
            for endpoint, st in stats.items():
                print(f"{side} {endpoint}: n={st.n} p50={st.p50:.2f} p90={st.p90:.2f} p99={st.p99:.2f} mean={st.mean:.2f} ms")
        print(f"retries after a dropped connection: {retries.summary()}")
        return 0
    section, ok = render(results, args, command, time.monotonic() - t0, retries)
    print(section)
    if args.write:
        write_results(section, MARKER, HEADER, prepend=True)
        log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
