"""Dispatch capacity on paper: what one Postgres writer spends per claim, at queue depths a busy
service reaches, and from it how many GPUs one writer can keep fed.

The bench starts its own throwaway PostgreSQL 15 server (initdb into a folder under /tmp, a free
loopback port, `pg_stat_statements` preloaded with `track = all`) and removes it at the end; it never
touches the shared server on :5432. Per depth it creates a database the way the project does
(`migrate.upgrade`: schema `pingvas`, app role `pingvas_app`, row-level security on), then seeds the
queue with set-based SQL, not through the API: W workspaces of mixed plans (10 % enterprise, 20 %
studio, 30 % pro, 40 % starter) with a billion credits each (and the ledger grant that gave them),
and N pending items in contiguous blocks of N/W per workspace, one batch each; every item's
`session` is a trivial `add` graph serialized once by InvokeAI's own `prepare_values_to_insert`
with the item's own session id; `model_keys` NULL.

Then for each claimant count K, K worker processes (forked once, reused) claim and complete for
`--seconds` through the queue service as a worker pod builds it: `SqlSessionQueue.dequeue` and
`complete_queue_item` with a `CreditLedger` (each completion posts its usage entry), NOTIFY signals,
the production dispatcher settings (30 s lease, 3 attempts, 10 s warm wait; the simulated worker
holds no models and no item names one). A refill connection (superuser, excluded from every count)
returns completed items to pending every 0.1 s, so the depth holds while the claimants run.
Measured per window:
- claims/s (claim + complete cycles finished), and checks no (item, attempt) was claimed twice;
- `pg_stat_statements` (reset before the window): executor and planner ms per claim of the top-level
  statements the app role sent (nested statements, e.g. inside a function, listed separately);
- CPU seconds (utime + stime from /proc) of the server's processes over the window, per claim: the
  client backends, and all server processes (background writers, autovacuum, and children that
  exited, through the postmaster's cutime/cstime), both without the bench's own connections;
- the claimants' own CPU per claim (Python, SQLAlchemy, psycopg).
On a small machine the claimants share the cores with Postgres: claims/s is this machine's, the CPU
per claim is what carries over to a bigger writer.

`--write` records the run in bench/RESULTS.md; `--write-doc` replaces the measured tables in
docs/architecture/dispatch-capacity.md (between its markers) with this run's.

    .venv/bin/python bench/claim_capacity.py [--depths 1000,100000,1000000] [--workspaces 10000]
        [--claimants 1,2,4,8,16] [--seconds 10] [--write] [--write-doc]

The defaults take about 7 to 8 minutes on 2 cores (most of it seeding 1M items, 75-100 s, and the
15 windows) and about 3 GB of memory (the 16 claimants are forked after InvokeAI's import and share it).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import free_port, log

# This checkout's code, not whatever the venv's editable install points at (the forked claimants
# inherit sys.path).
sys.path.insert(0, str(common.ROOT))

PG_BIN = Path(os.environ.get("PINGVAS_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"  # initdb and the server refuse to run as root
DATABASE = "pingvas_capacity"
MARKER = "<!-- claim capacity runs: newest first; bench/claim_capacity.py --write inserts below -->"
HEADER = f"## Claim capacity (bench/claim_capacity.py)\n\n{MARKER}\n"
DOC = common.ROOT / "docs" / "architecture" / "dispatch-capacity.md"
DOC_BEGIN = "<!-- claim_capacity tables: begin (bench/claim_capacity.py --write-doc replaces this part) -->"
DOC_END = "<!-- claim_capacity tables: end -->"
CREDITS = 1_000_000_000
SESSION_ID_PLACEHOLDER = "00000000-0000-4000-8000-00000000abcd"
REFILL_EVERY_S = 0.1
# Production's claim settings (invokeai_saas/core/settings.py defaults).
LEASE_S, MAX_ATTEMPTS, WARM_WAIT_S = 30.0, 3, 10.0
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_planning": "on",
    "pg_stat_statements.max": "10000",
    "shared_buffers": "1GB",
    "max_connections": "100",
    "max_wal_size": "8GB",  # no checkpoint inside a window (a CHECKPOINT runs before each)
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "512MB",
    "listen_addresses": "127.0.0.1",
    "logging_collector": "off",
}


# --------------------------------------------------------------------------- the throwaway server


def _as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_OS_USER, "--", *argv] if os.geteuid() == 0 else argv


class PrivateServer:
    """A PostgreSQL server of its own in `folder` (data, socket, log), on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.data, self.port = folder, folder / "data", free_port()
        self.log_path = folder / "server.log"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, PG_OS_USER)
        subprocess.run(
            _as_pg_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8"]),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
        argv = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "start"]
        subprocess.run(_as_pg_user([*argv, "-o", f"-p {self.port} -k {self.folder} {options}"]), check=True, stdout=subprocess.DEVNULL)
        log(f"private PostgreSQL on 127.0.0.1:{self.port} ({self.data})")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            stop = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            subprocess.run(_as_pg_user(stop), check=False, stdout=subprocess.DEVNULL)  # already down is fine

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return self.dsn(database).replace("postgresql://", "postgresql+psycopg://", 1)

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


@contextmanager
def private_server(keep: bool) -> Iterator[PrivateServer]:
    folder = Path(tempfile.mkdtemp(prefix="pingvas-capacity-pg-"))
    server = PrivateServer(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- CPU from /proc

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own utime + stime, waited-for children's cutime + cstime) in clock ticks."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def server_ticks(postmaster: int) -> dict[int, int]:
    """CPU ticks per server process: the postmaster's own plus its exited children's (key 0), and
    each live child's."""
    stat = _proc_stat(postmaster)
    ticks = {0: (stat[1] + stat[2]) if stat else 0}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (child := _proc_stat(int(entry))) is not None and child[0] == postmaster:
            ticks[int(entry)] = child[1]
    return ticks


def cpu_seconds(before: dict[int, int], after: dict[int, int], pids: set[int] | None = None, exclude: set[int] = frozenset()) -> float:  # type: ignore[assignment]
    keys = (pids if pids is not None else set(after)) - exclude
    return sum(after.get(p, 0) - before.get(p, 0) for p in keys if p in after) / CLOCK_TICKS


# --------------------------------------------------------------------------- seeding


def session_template() -> str:
    """An `add` graph's session as the queue stores it, its id replaced by a placeholder."""
    from invokeai.app.invocations.math import AddInvocation
    from invokeai.app.services.session_queue.session_queue_common import (
        Batch,
        prepare_values_to_insert,
    )
    from invokeai.app.services.shared.graph import Graph

    from invokeai_saas.queue.session_queue_sql import _INSERT_KEYS

    graph = Graph()
    graph.add_node(AddInvocation(id="add", a=1, b=2))
    [values] = prepare_values_to_insert(queue_id="default", batch=Batch(graph=graph), priority=0, max_new_queue_items=1, user_id="system")
    row = dict(zip(_INSERT_KEYS, values, strict=True))
    return str(row["session"]).replace(str(row["session_id"]), SESSION_ID_PLACEHOLDER)


SEED_TENANTS = """
INSERT INTO tenants (tenant_id, name, plan, status, created_at, updated_at, credits_extra)
SELECT md5('bench-tenant-' || t)::uuid::text, 'Bench ' || t,
       (ARRAY['enterprise','studio','studio','pro','pro','pro','starter','starter','starter','starter'])[t %% 10 + 1],
       'active', timezone('utc', now()), timezone('utc', now()), %(credits)s
  FROM generate_series(0, %(workspaces)s - 1) t"""
SEED_GRANTS = """
INSERT INTO credit_ledger (tenant_id, kind, amount, balance_after, idempotency_key, reason, created_at)
SELECT tenant_id, 'grant', %(credits)s, %(credits)s, 'bench-grant:' || tenant_id, 'bench credits', created_at FROM tenants"""
SEED_ITEMS = """
INSERT INTO session_queue (tenant_id, batch_id, queue_id, session_id, field_values, session, status, priority,
                           created_at, updated_at, user_id, model_keys, estimate_credits)
SELECT md5('bench-tenant-' || w)::uuid::text, md5('bench-batch-' || w)::uuid::text, 'default', sid, '[]',
       replace(%(template)s, %(placeholder)s, sid), 'pending', 0, timezone('utc', now()), timezone('utc', now()),
       'system', NULL, 1
  FROM (SELECT g, (g::bigint * %(workspaces)s / %(items)s) AS w, md5('bench-item-' || g)::uuid::text AS sid
          FROM generate_series(0, %(items)s - 1) g) s
 ORDER BY g"""


def seed(dsn: str, items: int, workspaces: int, template: str) -> float:
    """Seeds `items` pending items over `workspaces` workspaces; returns the seconds it took."""
    import psycopg

    t0 = time.monotonic()
    params = {"credits": CREDITS, "workspaces": workspaces, "items": items, "template": template, "placeholder": SESSION_ID_PLACEHOLDER}
    with psycopg.connect(dsn, autocommit=True, options=f"-csearch_path={common.SCHEMA}") as conn:
        with conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute(SEED_TENANTS, params)
            conn.execute(SEED_GRANTS, params)
            conn.execute(SEED_ITEMS, params)
        conn.execute("VACUUM (ANALYZE) tenants, credit_ledger, session_queue")
    return time.monotonic() - t0


def prepare_database(server: PrivateServer, items: int, workspaces: int, template: str) -> str:
    """A fresh migrated, seeded database; returns its SQLAlchemy URL."""
    import psycopg

    from invokeai_saas.db import Database
    from invokeai_saas.db.migrate import upgrade

    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(server.dsn(DATABASE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public")
    url = server.url(DATABASE)
    db = Database(url, schema=common.SCHEMA, app_role=common.APP_ROLE)
    upgrade(db)
    db.dispose()
    log(f"seeding {items} pending items over {workspaces} workspaces")
    log(f"seeded in {seed(server.dsn(DATABASE), items, workspaces, template):.1f} s")
    return url


# --------------------------------------------------------------------------- claimant processes


def _production_queue(url: str) -> tuple[Any, Any]:
    """(Database, started queue) as a worker pod builds them, minus the session processor: the
    ledger, NOTIFY signals and the dispatcher's default settings; the worker holds no models."""
    import logging

    from invokeai_saas.db import Database
    from invokeai_saas.money.ledger import CreditLedger
    from invokeai_saas.queue.claims import Dispatcher
    from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
    from invokeai_saas.queue.signals import PostgresSignals

    class NoModelsQueue(SqlSessionQueue):
        def _warm_models(self) -> frozenset[str] | None:
            return frozenset() if self.dispatcher.warm_wait.total_seconds() > 0 else None

    db = Database(url, schema=common.SCHEMA, app_role=common.APP_ROLE)
    dispatcher = Dispatcher(db, lease_seconds=LEASE_S, max_attempts=MAX_ATTEMPTS, warm_wait_seconds=WARM_WAIT_S)
    queue = NoModelsQueue(db, dispatcher=dispatcher, signals=PostgresSignals(db), ledger=CreditLedger(db))
    return db, common.started_queue(db, logging.getLogger("bench"), queue)


def _claim_until(queue: Any, stop: Any, worker: str) -> tuple[list[tuple[int, int]], int, float]:
    """Claims and completes until `stop`: ((item, attempt) claimed, empty polls, end time)."""
    from invokeai_saas.core.running_claim import as_worker, held_claim, hold
    from tenant_middleware.context import as_tenant

    claimed: list[tuple[int, int]] = []
    polls = 0
    with as_worker(worker):
        while not stop.is_set():
            item = queue.dequeue()
            if item is None:
                polls += 1
                time.sleep(0.001)
                continue
            claim = held_claim(item.item_id)
            with as_tenant(claim.tenant_id):  # as a worker thread is, while it runs the item
                queue.complete_queue_item(item.item_id, queue_item=item)
            hold(None)
            claimed.append((item.item_id, claim.attempt))
    return claimed, polls, time.monotonic()


def _claimant(index: int, commands: Any, results: Any, go: Any, stop: Any) -> None:
    """One worker process: on ("run", url) it binds to that database, says it is armed, waits for
    `go` and claims until `stop`; ("exit",) ends it."""
    import sqlalchemy as sa

    bound: tuple[str, Any, Any] | None = None

    results.put(("ready", index))
    while (command := commands.get())[0] == "run":
        url = command[1]
        if bound is None or bound[0] != url:
            if bound is not None:
                bound[1].dispose()
            bound = (url, *_production_queue(url))
            with bound[1].engine.connect() as conn:  # the connection exists before the window opens
                conn.execute(sa.text("SELECT 1"))
        results.put(("armed", index))
        go.wait()
        cpu0 = os.times()
        claimed, polls, ended = _claim_until(bound[2], stop, f"capacity-{index}#0")
        cpu1 = os.times()
        results.put((index, claimed, polls, ended, (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)))
    if bound is not None:
        bound[1].dispose()


def _import_queue() -> None:
    """What the claimants run, imported once here before they fork: InvokeAI's import takes seconds and
    about 700 MB per process, which forked children share with this one instead of repeating."""
    import invokeai_saas.core.running_claim
    import invokeai_saas.money.ledger
    import invokeai_saas.queue.claims
    import invokeai_saas.queue.session_queue_sql
    import invokeai_saas.queue.signals  # noqa: F401
    import tenant_middleware.context  # noqa: F401


class Claimants:
    """`n` claimant processes, forked once (before this process opens any database connection or
    thread) and used K at a time."""

    def __init__(self, n: int) -> None:
        _import_queue()
        ctx = mp.get_context("fork")
        self.go, self.stop, self.results = ctx.Event(), ctx.Event(), ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(n)]
        self.procs = [ctx.Process(target=_claimant, args=(i, self.commands[i], self.results, self.go, self.stop)) for i in range(n)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            self.results.get(timeout=900)
        log(f"{n} claimant processes ready")

    def arm(self, url: str, k: int) -> None:
        self.go.clear()
        self.stop.clear()
        for i in range(k):
            self.commands[i].put(("run", url))
        for _ in range(k):
            self.results.get(timeout=300)

    def run(self, k: int, seconds: float) -> tuple[float, list[tuple[int, list[tuple[int, int]], int, float, float]]]:
        t0 = time.monotonic()
        self.go.set()
        time.sleep(seconds)
        self.stop.set()
        outcomes = [self.results.get(timeout=300) for _ in range(k)]
        return t0, outcomes

    def close(self) -> None:
        self.stop.set()  # an armed claimant (a window that failed to start) finishes at once
        self.go.set()
        for q in self.commands:
            q.put(("exit",))
        for p in self.procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()


# --------------------------------------------------------------------------- one window

REFILL = """
UPDATE session_queue SET status = 'pending', started_at = NULL, completed_at = NULL, worker_id = NULL,
       lease_expires_at = NULL, updated_at = timezone('utc', now())
 WHERE status = 'completed'"""

STATEMENTS = """
SELECT s.toplevel, s.calls, s.total_exec_time, s.total_plan_time, s.query
  FROM pg_stat_statements s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND (NOT s.toplevel OR s.userid = (SELECT oid FROM pg_roles WHERE rolname = %s))"""


class Refill(threading.Thread):
    """Returns completed items to pending every REFILL_EVERY_S, on a superuser connection of its own."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True, options=f"-csearch_path={common.SCHEMA}")
        self.pid = self.conn.info.backend_pid
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(REFILL_EVERY_S):
            self.conn.execute(REFILL)

    def finish(self) -> None:
        self.halt.set()
        self.join()
        self.conn.execute(REFILL)
        self.conn.close()


@dataclass
class Window:
    depth: int
    workspaces: int
    claimants: int
    seconds: float
    claims: int
    twice: int
    polls: int
    server_cpu_s: float  # all server processes
    backend_cpu_s: float  # the claimants' backends
    claimant_cpu_s: float
    exec_ms: float  # top-level statements of the app role
    plan_ms: float
    statements: int
    nested_exec_ms: float  # statements run inside functions (already inside exec_ms)
    top: list[tuple[str, float, float]]  # (query, exec ms per claim, calls per claim)

    @property
    def rate(self) -> float:
        return self.claims / self.seconds

    def per_claim(self, value: float, scale: float = 1000.0) -> float:
        return scale * value / max(self.claims, 1)

    @property
    def server_ms(self) -> float:
        """`c`: Postgres CPU ms per claim, all server processes."""
        return self.per_claim(self.server_cpu_s)


def measure(server: PrivateServer, claimants: Claimants, url: str, depth: int, workspaces: int, k: int, seconds: float) -> Window:
    import psycopg

    with psycopg.connect(server.dsn(DATABASE), autocommit=True, options=f"-csearch_path={common.SCHEMA},public") as admin:
        admin.execute("VACUUM (ANALYZE) session_queue, tenants, credit_ledger, queue_turns")
        admin.execute("CHECKPOINT")
        claimants.arm(url, k)
        refill = Refill(server.dsn(DATABASE))
        refill.start()
        ours = {admin.info.backend_pid, refill.pid}
        admin.execute("SELECT pg_stat_statements_reset()")
        before = server_ticks(server.postmaster_pid)
        t0, outcomes = claimants.run(k, seconds)
        after = server_ticks(server.postmaster_pid)
        refill.finish()
        backends = {pid for (pid,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'")}
        rows = admin.execute(STATEMENTS, (common.APP_ROLE,)).fetchall()
    claimed = [pair for _, pairs, _, _, _ in outcomes for pair in pairs]
    top = [r for r in rows if r[0]]
    window = Window(
        depth=depth, workspaces=workspaces, claimants=k,
        seconds=max(ended for _, _, _, ended, _ in outcomes) - t0,
        claims=len(claimed), twice=len(claimed) - len(set(claimed)), polls=sum(o[2] for o in outcomes),
        server_cpu_s=cpu_seconds(before, after, exclude=ours),
        backend_cpu_s=cpu_seconds(before, after, pids=backends, exclude=ours),
        claimant_cpu_s=sum(o[4] for o in outcomes),
        exec_ms=sum(r[2] for r in top), plan_ms=sum(r[3] for r in top) + sum(r[3] for r in rows if not r[0]),
        statements=sum(r[1] for r in top), nested_exec_ms=sum(r[2] for r in rows if not r[0]),
        top=[],
    )  # fmt: skip
    heaviest = sorted(rows, key=lambda r: r[2], reverse=True)[:6]
    window.top = [(("" if r[0] else "(nested) ") + " ".join(r[4].split()), window.per_claim(r[2], 1.0), r[1] / max(window.claims, 1)) for r in heaviest]
    log(
        f"depth {depth}, {plural(k, 'claimant')}: {window.rate:.0f} claims/s, server CPU {window.server_ms:.2f} ms/claim, "
        f"executor {window.per_claim(window.exec_ms, 1.0):.2f} ms/claim, {window.statements / max(window.claims, 1):.1f} statements/claim"
    )
    return window


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Writer:
    name: str
    vcpus: int


def parse_writers(text: str) -> list[Writer]:
    return [Writer(name, int(vcpus)) for name, vcpus in (part.split(":") for part in text.split(","))]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def depth_label(w: Window) -> str:
    return f"{w.depth:,} / {w.workspaces:,}"


def measured_table(windows: list[Window]) -> list[str]:
    lines = [
        (
            "| pending items / workspaces | claimants | claims/s (this machine) | Postgres CPU ms per claim: all processes / backends "
            "| executor + planner ms per claim | statements per claim | claimant CPU ms per claim | empty polls | claimed twice |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        lines.append(
            f"| {depth_label(w)} | {w.claimants} | {w.rate:.0f} | {w.server_ms:.2f} / {w.per_claim(w.backend_cpu_s):.2f} "
            f"| {w.per_claim(w.exec_ms, 1.0):.2f} + {w.per_claim(w.plan_ms, 1.0):.2f} | {w.statements / max(w.claims, 1):.1f} "
            f"| {w.per_claim(w.claimant_cpu_s):.2f} | {w.polls} | {w.twice} |"
        )
    return lines


def worst_by_depth(windows: list[Window]) -> list[Window]:
    """Per depth, the window whose claims cost the writer the most CPU (the sweep's worst case)."""
    worst: dict[int, Window] = {}
    for w in windows:
        if w.claims and (w.depth not in worst or w.server_ms > worst[w.depth].server_ms):
            worst[w.depth] = w
    return [worst[d] for d in sorted(worst)]


def capacity_table(windows: list[Window], writers: list[Writer], usable: float, item_seconds: list[float]) -> list[str]:
    cols = " | ".join(f"GPUs at {s:g} s per item" for s in item_seconds)
    lines = [
        f"| pending items / workspaces | Postgres CPU ms per claim (worst of the sweep, all processes) | writer | claims/s at {100 * usable:.0f} % of its vCPUs | {cols} |",
        "|---|---|---|---|" + "---|" * len(item_seconds),
    ]
    for w in worst_by_depth(windows):
        ms = w.server_ms
        for writer in writers:
            rate = writer.vcpus * usable * 1000 / ms
            gpus = " | ".join(f"{rate * s:,.0f}" for s in item_seconds)
            lines.append(f"| {depth_label(w)} | {ms:.2f} ({plural(w.claimants, 'claimant')}) | {writer.name} ({writer.vcpus} vCPU) | {rate:,.0f} | {gpus} |")
    return lines


def heaviest_statements(windows: list[Window]) -> list[str]:
    lines = ["| pending items / workspaces | claimants | statement | executor ms per claim | calls per claim |", "|---|---|---|---|---|"]
    for w in worst_by_depth(windows):
        for query, ms, calls in w.top:
            text = query if len(query) <= 110 else query[:107] + "..."
            lines.append(f"| {depth_label(w)} | {w.claimants} | `{text.replace('|', '/')}` | {ms:.3f} | {calls:.2f} |")
    return lines


def tables(windows: list[Window], writers: list[Writer], usable: float, item_seconds: list[float], command: str, head: list[str]) -> str:
    return "\n".join(
        [
            *head,
            "",
            "Measured (one window per row):",
            "",
            *measured_table(windows),
            "",
            f"What one writer serves, from the measured CPU per claim (usable share {100 * usable:.0f} %; GPUs = claims/s x seconds per item):",
            "",
            *capacity_table(windows, writers, usable, item_seconds),
            "",
            "Where the executor time goes (the heaviest statements of each depth's worst window):",
            "",
            *heaviest_statements(windows),
            "",
        ]
    )


def run_head(command: str, server_version: str, seconds: float) -> list[str]:
    return [
        *common.run_head(command, with_postgres=False),
        (
            f"- Postgres: a private PostgreSQL {server_version} started by the bench (shared_buffers 1GB, fsync and "
            f"synchronous_commit on, a CHECKPOINT and VACUUM before each {seconds:g} s window); claimants share the cores with it"
        ),
    ]


def write_doc(section: str) -> None:
    text = DOC.read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"{DOC} lacks its table markers")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    DOC.write_text(f"{head}{DOC_BEGIN}\n\n{section}\n{DOC_END}{tail}")


# --------------------------------------------------------------------------- main


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", default="1000,100000,1000000", help="pending items per database, comma-separated")
    ap.add_argument("--workspaces", type=int, default=10_000, help="workspaces holding them (at most one per item)")
    ap.add_argument("--claimants", default="1,2,4,8,16", help="claimant process counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measured window")
    ap.add_argument("--writers", default="db.r7g.2xlarge:8,db.r7g.8xlarge:32", help="name:vCPUs of the writers to size")
    ap.add_argument("--usable", type=float, default=0.6, help="share of a writer's vCPUs the claims may use")
    ap.add_argument("--item-seconds", default="1,5,30", help="seconds a GPU spends per item, comma-separated")
    ap.add_argument("--write", action="store_true", help="record the run in bench/RESULTS.md")
    ap.add_argument("--write-doc", action="store_true", help=f"replace the measured tables in {DOC.relative_to(common.ROOT)}")
    ap.add_argument("--keep", action="store_true", help="keep the server's folder (its log) afterwards")
    args = ap.parse_args()
    command = "python bench/claim_capacity.py " + " ".join(sys.argv[1:])
    counts = ints(args.claimants)
    windows: list[Window] = []
    template = session_template()
    with ExitStack() as stack:
        claimants = Claimants(max(counts))
        stack.callback(claimants.close)
        server = stack.enter_context(private_server(args.keep))
        for depth in ints(args.depths):
            workspaces = min(args.workspaces, depth)
            url = prepare_database(server, depth, workspaces, template)
            for k in counts:
                windows.append(measure(server, claimants, url, depth, workspaces, k, args.seconds))
        import psycopg

        with psycopg.connect(server.dsn()) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    writers = parse_writers(args.writers)
    item_seconds = [float(s) for s in args.item_seconds.split(",")]
    section = tables(windows, writers, args.usable, item_seconds, command, run_head(command, version, args.seconds))
    print(section)
    if args.write:
        common.write_results(section, MARKER, HEADER)
    if args.write_doc:
        write_doc(section)
    return 0 if all(w.claims and not w.twice for w in windows) else 1


if __name__ == "__main__":
    sys.exit(main())
