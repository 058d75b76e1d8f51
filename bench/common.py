"""Shared pieces of the benchmarks in bench/: server subprocesses, timing with retries on dropped
connections, statistics, the machine description and the RESULTS.md writer.

The scripts run as `python bench/x.py`, so bench/ is on `sys.path` and they `import common`.
"""

from __future__ import annotations

import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("PINGVAS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_ROLE = "pingvas_app"
SCHEMA = "pingvas"
BOOT_TIMEOUT_S = 180
MAX_RETRIES = 3
# A dropped keep-alive socket or a reset: worth another try on a fresh connection (httpx opens one
# by itself on the next request of the same Client). Timeouts are not retried.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.RemoteProtocolError, httpx.NetworkError)

Send = Callable[[], httpx.Response]


# --------------------------------------------------------------------------- small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class SmtpArrivals:
    """An aiosmtpd handler that notes when a message for each recipient arrived (time.monotonic)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.url = ""  # smtp://127.0.0.1:<port> while `smtp_arrivals()` serves it

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.at[rcpt] = now
        return "250 OK"

    def wait_for(self, recipients: list[str], timeout: float) -> dict[str, float]:
        """When each recipient's message arrived, once all have; exits the benchmark if some never do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(r not in self.at for r in recipients):
            time.sleep(0.02)
        missing = [r for r in recipients if r not in self.at]
        if missing:
            raise SystemExit(f"{len(missing)} of {len(recipients)} messages never arrived")
        return {r: self.at[r] for r in recipients}


@contextmanager
def smtp_arrivals() -> Iterator[SmtpArrivals]:
    """A real SMTP server (aiosmtpd) on a free loopback port in this process, noting arrivals."""
    from aiosmtpd.controller import Controller

    arrivals = SmtpArrivals()
    port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    arrivals.url = f"smtp://127.0.0.1:{port}"
    try:
        yield arrivals
    finally:
        controller.stop()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PINGVAS_*/INVOKEAI_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINGVAS_", "INVOKEAI_"))}
    env.update(extra)
    return env


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def invokeai_version() -> str:
    try:
        from importlib.metadata import version

        return version("invokeai")
    except Exception:  # pragma: no cover
        return "?"


def postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except Exception:
        return "?"


def machine_line() -> str:
    return f"- machine: {os.cpu_count()} CPUs (`nproc` {len(os.sched_getaffinity(0))}), {cpu_model()}, {platform.platform()}"


def software_line(with_postgres: bool = True) -> str:
    pg = f"PostgreSQL {postgres_version()}, " if with_postgres else ""
    return f"- software: Python {platform.python_version()}, InvokeAI {invokeai_version()}, {pg}SQLite {sqlite3.sqlite_version}"


def run_head(command: str, with_postgres: bool = True, when: str | None = None) -> list[str]:
    """The first lines of a run's section in RESULTS.md: when (UTC unless given), machine, software, command."""
    import datetime as dt

    when = when or f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    return [f"### {when}", "", machine_line(), software_line(with_postgres), f"- command: `{command}`"]


# --------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------- timing with retries


@dataclass
class Retries:
    """Requests sent again after a transport error (thread-safe count, with the reasons)."""

    count: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, side: str, exc: Exception) -> None:
        key = f"{side}: {type(exc).__name__}"
        with self._lock:
            self.count += 1
            self.reasons[key] = self.reasons.get(key, 0) + 1
        log(f"retrying a request to {side} after {type(exc).__name__}: {exc}")

    def summary(self) -> str:
        if not self.count:
            return "0"
        return f"{self.count} ({', '.join(f'{k} x{v}' for k, v in sorted(self.reasons.items()))})"


def timed(send: Send, side: str, retries: Retries) -> tuple[httpx.Response, float]:
    """One request and its wall time in ms. A transport error sends it again (up to MAX_RETRIES
    times, on a fresh connection); the failed attempt's time is not counted."""
    for attempt in range(MAX_RETRIES + 1):
        t0 = time.perf_counter()
        try:
            response = send()
        except TRANSPORT_ERRORS as exc:
            if attempt == MAX_RETRIES:
                raise
            retries.add(side, exc)
            continue
        return response, (time.perf_counter() - t0) * 1000
    raise AssertionError("unreachable")


def check_status(side: str, response: httpx.Response, expect: int) -> None:
    if response.status_code != expect:
        req = response.request
        raise RuntimeError(f"{side}: {req.method} {req.url} -> {response.status_code} (want {expect}): {response.text[:500]}")


def measure_interleaved(senders: dict[str, Send], n: int, warmup: int, retries: Retries, expect: int = 200) -> dict[str, list[float]]:
    """Round-robin over the sides, request by request, so the machine's load (this one is
    shared and noisy) falls on every side alike; each side's order rotates every round.
    Every response must have status `expect`."""
    names = list(senders)
    for _ in range(warmup):
        for name in names:
            check_status(name, timed(senders[name], name, retries)[0], expect)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names):] + names[: i % len(names)]:
            response, ms = timed(senders[name], name, retries)
            check_status(name, response, expect)
            samples[name].append(ms)
    return samples


# --------------------------------------------------------------------------- servers


class Server:
    """A web server subprocess with its log in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str) -> None:
        self.name, self.argv, self.env, self.log_path, self.port, self.ready_path = name, argv, env, log_path, port, ready_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: TextIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log(f"starting {self.name} on :{self.port}")
        self._log_file = open(self.log_path, "a")
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
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
        if p is not None and p.poll() is None:
            log(f"stopping {self.name}")
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class StockServer:
    """A started stock InvokeAI: its server, root folder, and (multi-user) the signed-in user."""

    server: Server
    root: Path
    headers: dict[str, str]
    user_id: str

    @property
    def db_path(self) -> Path:
        return self.root / "databases" / "invokeai.db"


def start_stock(work: Path, stack: ExitStack, multiuser: bool) -> StockServer:
    """Stock `invokeai-web --root work/...` on SQLite; with `multiuser`, its own multi-user mode with
    one user set up and signed in (auth on every request, as on Pingvas), else the default
    single-user mode (no auth at all, user `system`). Stopped when `stack` closes."""
    root = work / ("invokeai-multiuser" if multiuser else "invokeai")
    root.mkdir()
    port = free_port()
    (root / "invokeai.yaml").write_text(
        f"schema_version: 4.0.2\nhost: 127.0.0.1\nport: {port}\n" + ("multiuser: true\n" if multiuser else "")
    )
    name = "stock_mu" if multiuser else "stock"
    argv = [str(VENV_BIN / "invokeai-web"), "--root", str(root)]
    server = Server(f"stock InvokeAI ({name})", argv, clean_env(), work / f"{name}.log", port, "/api/v1/app/version")
    stack.callback(server.stop)
    server.start()  # first boot creates and migrates databases/invokeai.db
    if not multiuser:
        return StockServer(server, root, {}, "system")
    headers, user_id = _stock_sign_in(server.url)
    return StockServer(server, root, headers, user_id)


def _stock_sign_in(url: str) -> tuple[dict[str, str], str]:
    account = {"email": "bench@stock.example", "display_name": "Bench", "password": "Bench!pass1"}
    r = httpx.post(f"{url}/api/v1/auth/setup", json=account, timeout=60)
    r.raise_for_status()
    r = httpx.post(f"{url}/api/v1/auth/login", json={"email": account["email"], "password": account["password"]}, timeout=60)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}, r.json()["user"]["user_id"]


# Every signup comes from 127.0.0.1, and a benchmark's workspaces generate at once (no e-mail link to open).
PINGVAS_BENCH_ENV = {"PINGVAS_SIGNUP_RATE_LIMIT": "100000/minute", "PINGVAS_EMAIL_VERIFICATION": "off"}


def start_pingvas(work: Path, stack: ExitStack, name: str = "pingvas", **env: str) -> Server:
    """`python -m invokeai_saas.wiring.cli serve --data-dir work/<name>` with a clean environment plus `env`
    (a signup rate limit high enough for a benchmark is set, and the trial granted at sign-up unless `env`
    turns e-mail verification on). Stopped when `stack` closes."""
    data_dir = work / name
    data_dir.mkdir()
    port = free_port()
    argv = [sys.executable, "-m", "invokeai_saas.wiring.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    server_env = clean_env(**{**PINGVAS_BENCH_ENV, **env})
    server = Server(name, argv, server_env, work / f"{name}.log", port, "/api/v1/auth/status")
    stack.callback(server.stop)
    server.start()
    return server


def signup(url: str, i: int) -> dict[str, str]:
    """Sign up workspace owner #i through `POST /api/v1/signup`: {token, user_id, tenant_id, ...}."""
    body = {"email": f"owner{i:03d}@bench.example", "password": "Passw0rd!x", "workspace_name": f"Bench {i:03d}"}
    r = httpx.post(f"{url}/api/v1/signup", json=body, timeout=60)
    if r.status_code != 201:
        raise RuntimeError(f"signup {i}: {r.status_code} {r.text}")
    return r.json()


# --------------------------------------------------------------------------- throwaway Postgres


def create_database(stack: ExitStack, keep: bool) -> tuple[str, str]:
    """A fresh Postgres database, dropped when `stack` closes (unless `keep`).
    Returns (its SQLAlchemy URL, its name)."""
    import psycopg
    import sqlalchemy as sa

    name = f"pingvas_bench_{os.urandom(5).hex()}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    stack.callback(drop_database, name, keep)
    url = sa.engine.make_url(PG_ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_database(name: str, keep: bool) -> None:
    import psycopg

    if keep:
        log(f"kept Postgres database {name}")
        return
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pingvas_postgres_env(url: str) -> dict[str, str]:
    """The production shape: schema `pingvas`, the app SET ROLEs to a non-superuser (RLS applies)."""
    return {"PINGVAS_DATABASE_URL": url, "PINGVAS_DB_SCHEMA": SCHEMA, "PINGVAS_DB_APP_ROLE": APP_ROLE}


# --------------------------------------------------------------------------- RESULTS.md


def write_results(section: str, marker: str, header: str, prepend: bool = False, path: Path = RESULTS) -> None:
    """Insert `section` right below `marker` in `path` (newest first). Where the marker is missing,
    `header` (which must contain it) is first appended to the file (put before it if `prepend`)."""
    if marker not in header:
        raise ValueError("header must contain the marker")
    text = path.read_text() if path.exists() else ""
    if marker not in text:
        text = _add_header(text, header, prepend)
    head, tail = text.split(marker, 1)
    rest = tail.lstrip("\n")
    path.write_text(head + marker + "\n\n" + section + ("\n" + rest if rest.strip() else ""))


def _add_header(text: str, header: str, prepend: bool) -> str:
    if not text.strip():
        return header
    return header + "\n" + text if prepend else text.rstrip("\n") + "\n\n" + header


# --------------------------------------------------------------------------- the queue without HTTP


def started_queue(db: Any, logger: Any, queue: Any = None) -> Any:
    """A SqlSessionQueue (or `queue`) started by a real Invoker whose services hold only what it uses."""
    import inspect

    from invokeai.app.services.config.config_default import InvokeAIAppConfig
    from invokeai.app.services.events.events_base import EventServiceBase
    from invokeai.app.services.invocation_services import InvocationServices
    from invokeai.app.services.invoker import Invoker

    from invokeai_saas.queue.session_queue_sql import SqlSessionQueue

    class NoEvents(EventServiceBase):
        def dispatch(self, event: Any) -> None:
            pass

    queue = queue or SqlSessionQueue(db)
    names = [p for p in inspect.signature(InvocationServices.__init__).parameters if p != "self"]
    used = {"configuration": InvokeAIAppConfig(), "events": NoEvents(), "logger": logger, "session_queue": queue}
    Invoker(InvocationServices(**(dict.fromkeys(names) | used)))  # type: ignore[arg-type]
    return queue


def make_tenant(db: Any, name: str, plan: str, credits: int = 1_000_000) -> str:
    """An active workspace row on `plan`, written directly (no HTTP)."""
    import sqlalchemy as sa

    from billing.credits import EntryKind
    from invokeai_saas.db.database import utcnow
    from invokeai_saas.db.tables.tenancy import tenants
    from invokeai_saas.money.ledger import CreditLedger
    from tenant_middleware.context import system_scope

    tenant_id = str(uuid.uuid4())
    with system_scope(), db.begin() as conn:
        now = utcnow()
        conn.execute(sa.insert(tenants).values(tenant_id=tenant_id, name=name, plan=plan, status="active", created_at=now, updated_at=now))
        if credits:  # enough to run whatever a test queues, unless it is about credits
            CreditLedger(db).post(conn, tenant_id, EntryKind.GRANT, credits, f"test-grant:{tenant_id}", reason="test credits")
    return tenant_id
