"""Gallery-list and enqueue latency: Pingvas on Postgres (100 tenants x 1,000 images) vs stock InvokeAI on SQLite.

One run starts every side at once on this machine and interleaves their requests one by one
(the machine is shared and noisy; interleaving puts its load on every side alike):

A. Pingvas: a throwaway Postgres database, `python -m invokeai_saas.cli serve` with
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
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("PINGVAS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_ROLE = "pingvas_app"
SCHEMA = "pingvas"
TARGET_RATIO = 1.5
BOOT_TIMEOUT_S = 180

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


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def percentile(sorted_ms: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of an ascending list."""
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    pos = (len(sorted_ms) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


@dataclass
class Stats:
    n: int
    p50: float
    p90: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> "Stats":
        s = sorted(samples_ms)
        return cls(len(s), percentile(s, 50), percentile(s, 90), percentile(s, 99), statistics.fmean(s))


class Server:
    """A web server subprocess with its log in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str) -> None:
        self.name, self.argv, self.env, self.log_path, self.port, self.ready_path = name, argv, env, log_path, port, ready_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log(f"starting {self.name} on :{self.port}")
        out = open(self.log_path, "a")
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < BOOT_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at boot:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=10).status_code == 200:
                    log(f"{self.name} up after {time.monotonic() - t0:.1f}s")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer within {BOOT_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        p = self.process
        if p is None or p.poll() is not None:
            return
        log(f"stopping {self.name}")
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


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


def measure_interleaved(clients: dict[str, httpx.Client], call: Call, n: int, warmup: int) -> dict[str, list[float]]:
    """Round-robin over the targets, request by request, so the machine's load (this one is
    shared and noisy) falls on every side alike; each side's order rotates every round."""
    names = list(clients)
    for _ in range(warmup):
        for name in names:
            call(clients[name]).raise_for_status()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            r = call(clients[name])
            dt_ms = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"{name}: {r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}")
            samples[name].append(dt_ms)
    return samples


def run_interleaved(targets: list[Target], args: argparse.Namespace) -> dict[str, dict[str, Stats]]:
    """Gallery pages; then enqueues with every session processor paused (the compared number: the
    API + queue-insert path alone); then, informational, enqueues with the processors running
    (InvokeAI's per-item `gc.collect()` then holds the GIL under the request)."""
    clients = {t.name: httpx.Client(base_url=t.url, headers=t.headers, timeout=60) for t in targets}
    try:
        for t in targets:
            page = clients[t.name].get(GALLERY_PATH, params=GALLERY_PARAMS)
            page.raise_for_status()
            items, total = len(page.json()["items"]), page.json()["total"]
            if items != 50 or total != t.expect_total:
                raise RuntimeError(f"{t.name}: unexpected gallery page: {items} items, total={total} (want 50, {t.expect_total})")
        log("measuring gallery pages (interleaved)")
        gallery = measure_interleaved(clients, lambda c: c.get(GALLERY_PATH, params=GALLERY_PARAMS), args.n_list, args.warmup)
        for t in targets:
            clients[t.name].put("/api/v1/queue/default/processor/pause", headers=t.admin_headers).raise_for_status()
        time.sleep(2)  # let any item in flight finish
        log("measuring enqueues, processors paused (interleaved)")
        enqueue = measure_interleaved(clients, lambda c: c.post(ENQUEUE_PATH, json=enqueue_body()), args.n_enqueue, args.warmup)
        for t in targets:
            clients[t.name].put("/api/v1/queue/default/processor/resume", headers=t.admin_headers).raise_for_status()
        log("measuring enqueues, processors running (interleaved; informational)")
        running = measure_interleaved(clients, lambda c: c.post(ENQUEUE_PATH, json=enqueue_body()), args.n_enqueue_running, 5)
    finally:
        for c in clients.values():
            c.close()
    return {
        t.name: {"gallery": Stats.of(gallery[t.name]), "enqueue": Stats.of(enqueue[t.name]), "enqueue_running": Stats.of(running[t.name])}
        for t in targets
    }


# --------------------------------------------------------------------------- side A: Pingvas


def start_pingvas(args: argparse.Namespace, work: Path, stack: ExitStack) -> Target:
    import psycopg
    import sqlalchemy as sa

    sys.path.insert(0, str(ROOT))
    from invokeai_saas.db.tables.media import images

    name = f"pingvas_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin_url = sa.engine.make_url(PG_ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    url = admin_url.render_as_string(hide_password=False)
    data_dir = work / "pingvas"
    data_dir.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINGVAS_", "INVOKEAI_"))}
    env.update(PINGVAS_DATABASE_URL=url, PINGVAS_DB_SCHEMA=SCHEMA, PINGVAS_DB_APP_ROLE=APP_ROLE)
    env.update(PINGVAS_SIGNUP_RATE_LIMIT="100000/minute")  # it signs up every tenant from 127.0.0.1
    server = Server(
        "pingvas",
        [sys.executable, "-m", "invokeai_saas.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env,
        work / "pingvas.log",
        port,
        "/api/v1/auth/status",
    )
    stack.callback(_drop_database, name, args.keep)
    stack.callback(server.stop)
    engine = None
    try:
        server.start()
        log(f"signing up {args.tenants} tenants")
        accounts = []
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for i in range(args.tenants):
                r = c.post(
                    "/api/v1/signup",
                    json={"email": f"owner{i:03d}@bench.example", "password": "Passw0rd!x", "workspace_name": f"Bench {i:03d}"},
                )
                if r.status_code != 201:
                    raise RuntimeError(f"signup {i}: {r.status_code} {r.text}")
                accounts.append(r.json())
        log(f"seeding {args.tenants} x {args.images} image rows")
        # Superuser connection (the tables' owner): bypasses RLS, so we stamp tenant_id ourselves.
        engine = sa.create_engine(admin_url, connect_args={"options": f"-csearch_path={SCHEMA}"})
        rng = random.Random(42)
        start = dt.datetime(2025, 1, 1)
        t0 = time.monotonic()
        with engine.begin() as conn:
            for acc in accounts:
                rows = image_rows(args.images, acc["user_id"], rng, start)
                for row in rows:
                    row["tenant_id"] = acc["tenant_id"]
                conn.execute(sa.insert(images), rows)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE images"))
        log(f"seeded in {time.monotonic() - t0:.1f}s")
        # A platform operator (InvokeAI admin, no tenant) may pause the session processor.
        from invokeai_saas.db import Database
        from invokeai_saas.tenancy import TenancyService

        app_db = Database(url, schema=SCHEMA, app_role=APP_ROLE)
        try:
            TenancyService(app_db).create_operator("ops@bench.example", "Operat0r!pass")
        finally:
            app_db.dispose()
        r = httpx.post(server.url + "/api/v1/auth/login", json={"email": "ops@bench.example", "password": "Operat0r!pass"}, timeout=60)
        r.raise_for_status()
        ops = {"Authorization": f"Bearer {r.json()['token']}"}
        me = accounts[len(accounts) // 2]
        log(f"Pingvas measured as the owner of tenant #{len(accounts) // 2}")
        return Target("pingvas", server.url, {"Authorization": f"Bearer {me['token']}"}, ops, args.images)
    finally:
        if engine is not None:
            engine.dispose()


def _drop_database(name: str, keep: bool) -> None:
    import psycopg

    if keep:
        log(f"kept Postgres database {name}")
        return
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- side B: stock InvokeAI


def start_stock(args: argparse.Namespace, work: Path, stack: ExitStack, multiuser: bool) -> Target:
    """Stock InvokeAI; with `multiuser`, its own multi-user mode with one signed-in user (auth on
    every request, as on Pingvas), else the default single-user mode (no auth at all)."""
    root = work / ("invokeai-multiuser" if multiuser else "invokeai")
    root.mkdir()
    port = free_port()
    (root / "invokeai.yaml").write_text(
        f"schema_version: 4.0.2\nhost: 127.0.0.1\nport: {port}\n" + ("multiuser: true\n" if multiuser else "")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINGVAS_", "INVOKEAI_"))}
    name = "stock_mu" if multiuser else "stock"
    server = Server(f"stock InvokeAI ({name})", [str(VENV_BIN / "invokeai-web"), "--root", str(root)], env, work / f"{name}.log", port, "/api/v1/app/version")
    stack.callback(server.stop)
    server.start()  # first boot creates and migrates databases/invokeai.db
    headers: dict[str, str] = {}
    user_id = "system"
    if multiuser:
        account = {"email": "bench@stock.example", "display_name": "Bench", "password": "Bench!pass1"}
        r = httpx.post(f"{server.url}/api/v1/auth/setup", json=account, timeout=60)
        r.raise_for_status()
        r = httpx.post(f"{server.url}/api/v1/auth/login", json={"email": account["email"], "password": account["password"]}, timeout=60)
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        user_id = r.json()["user"]["user_id"]
    db_path = root / "databases" / "invokeai.db"
    log(f"seeding {args.images} image rows into {db_path}")
    rows = image_rows(args.images, user_id, random.Random(43), dt.datetime(2025, 1, 1))
    cols = list(rows[0])
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        with conn:
            conn.executemany(
                f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [
                    tuple(
                        r[c].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if isinstance(r[c], dt.datetime) else r[c]
                        for c in cols
                    )
                    for r in rows
                ],
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return Target(name, server.url, headers, headers, args.images)


# --------------------------------------------------------------------------- report


def render(results: dict[str, dict[str, Stats]], args: argparse.Namespace, command: str, elapsed_s: float) -> tuple[str, bool]:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    try:
        import sqlalchemy  # noqa: F401
        from importlib.metadata import version

        invokeai_version = version("invokeai")
    except Exception:  # pragma: no cover
        invokeai_version = "?"
    pg_version = "?"
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        pass
    lines = [
        f"### {now}",
        "",
        f"- machine: {os.cpu_count()} CPUs (`nproc` {len(os.sched_getaffinity(0))}), {cpu_model()}, {platform.platform()}",
        f"- software: Python {platform.python_version()}, InvokeAI {invokeai_version}, PostgreSQL {pg_version}, SQLite {sqlite3.sqlite_version}",
        f"- command: `{command}`",
        f"- data: Pingvas {args.tenants} tenants x {args.images} images on Postgres (RLS, app role `{APP_ROLE}`); "
        f"stock {args.images} images for its one user on SQLite (multi-user: the signed-in user; single-user: `system`)",
        f"- requests: {args.warmup} warm-up, then {args.n_list} x `GET {GALLERY_PATH}?{'&'.join(f'{k}={v}' for k, v in GALLERY_PARAMS)}`, "
        f"{args.n_enqueue} x `POST {ENQUEUE_PATH}` (add -> integer_math) with the session processors paused, "
        f"then {args.n_enqueue_running} with them running (informational); all sides up at once, requests "
        f"interleaved one by one (round-robin, rotating order), keep-alive, loopback",
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
    ok_all = True
    rows = (
        ("gallery", "GET images ?limit=50", True),
        ("enqueue", "POST enqueue_batch (processor paused)", True),
        ("enqueue_running", "POST enqueue_batch (processor running; info)", False),
    )
    for endpoint, label, gated in rows:
        p = results["pingvas"][endpoint]
        lines.append(f"| {label} | Pingvas (Postgres) | {p.n} | {p.p50:.2f} | {p.p90:.2f} | {p.p99:.2f} | {p.mean:.2f} | | | |")
        for key, side, is_gate in (("stock_mu", "stock multi-user (SQLite)", gated), ("stock", "stock single-user (SQLite)", False)):
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
    lines += ["", f"Overall: **{'PASS' if ok_all else 'FAIL'}** (target: Pingvas p50 within {TARGET_RATIO}x of stock)", ""]
    return "\n".join(lines), ok_all


HEADER = f"""# Benchmark results

`bench/gallery_enqueue.py`: gallery list and enqueue latency, Pingvas on Postgres (100 tenants x
1,000 images, row-level security on) against stock InvokeAI on SQLite with the same data for one
user, measured in one run on one machine. Target: Pingvas within {TARGET_RATIO}x of stock at p50.

{MARKER}
"""


def write_results(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    if MARKER not in text:
        text = HEADER + "\n" + text
    head, tail = text.split(MARKER, 1)
    rest = tail.lstrip("\n")
    RESULTS.write_text(head + MARKER + "\n\n" + section + ("\n" + rest if rest.strip() else ""))


def main() -> int:
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
    args = ap.parse_args()
    command = " ".join([".venv/bin/python", "bench/gallery_enqueue.py", *sys.argv[1:]])
    work = Path(tempfile.mkdtemp(prefix="pingvas-bench-"))
    t0 = time.monotonic()
    try:
        with ExitStack() as stack:
            targets = []
            if args.only in (None, "pingvas"):
                targets.append(start_pingvas(args, work, stack))
            if args.only in (None, "stock"):
                targets.append(start_stock(args, work, stack, multiuser=True))
                targets.append(start_stock(args, work, stack, multiuser=False))
            results = run_interleaved(targets, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.only:
        for side, stats in results.items():
            for endpoint, st in stats.items():
                print(f"{side} {endpoint}: n={st.n} p50={st.p50:.2f} p90={st.p90:.2f} p99={st.p99:.2f} mean={st.mean:.2f} ms")
        return 0
    section, ok = render(results, args, command, time.monotonic() - t0)
    print(section)
    if args.write:
        write_results(section)
        log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
