"""Per-request overhead of Pingvas against stock InvokeAI in its own multi-user mode.

Sides (each a fresh server in a temp folder):

- Pingvas on the embedded default (SQLite + local files): `python -m invokeai_saas.wiring.cli serve`,
  signed in as a workspace owner (POST /api/v1/signup);
- stock InvokeAI: `invokeai-web --root TMP` with `multiuser: true`, one user set up and signed in;
- with `--postgres`, for information: Pingvas on a throwaway Postgres database (schema `pingvas`,
  app role `pingvas_app`, row-level security on), dropped afterwards.

Routes, each of which must answer the stated status on every side (else the run stops):
an authenticated 404 (`GET /api/v1/boards/{random uuid}`), an authenticated list
(`GET /api/v1/boards/?all=true`, 5 boards created first), a validation error
(`GET /api/v1/images/?limit=notanint`, 422) and an unauthenticated route
(`GET /api/v1/app/version`, no Authorization header).

A. Latency: all sides up at once, one keep-alive httpx.Client per side, requests interleaved one by
   one (round-robin, rotating order). Goal: Pingvas p50 at most 1.0 ms above stock's.
B. Throughput: alternating windows in one run. One side at a time (the others stay up, idle),
   4 threads each with its own keep-alive client; per route many short windows (`--seconds`
   counted after `--warmup-seconds`), the sides in the order A B B A repeated `--rounds` times, so
   the shared machine's drift and bursts of load fall on every side alike. A side's number is the
   median of its windows; each window of Pingvas is also divided by stock's window of the same
   index (its neighbour in the order), and the spread of those window ratios is reported. Goal:
   Pingvas at least 1.0x stock on every route. (Separate runs one after another swing from 0.93x
   to 1.3x on the 2-core machine: compare only sides measured in one run.)

Each table is printed to stdout as soon as it is measured; `--write` also records the section in
bench/RESULTS.md. Exit code 0 on PASS, 1 on FAIL.

    .venv/bin/python bench/request_path.py [--n 400] [--seconds 1.5] [--rounds 8] [--postgres] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from common import (
    APP_ROLE,
    RESULTS,
    ROOT,
    Retries,
    Send,
    Stats,
    check_status,
    create_database,
    invokeai_version,
    log,
    measure_interleaved,
    pingvas_postgres_env,
    run_head,
    signup,
    start_pingvas,
    start_stock,
    timed,
    write_results,
)

MAX_ADDED_MS = 1.0
MIN_THROUGHPUT_RATIO = 1.0
MARKER = "<!-- request_path runs: newest first; bench/request_path.py --write inserts below -->"
HEADER = f"""## Request path (bench/request_path.py)

Per-request overhead of Pingvas (embedded default: SQLite + local files, signed in as a workspace
owner) against stock InvokeAI in its own multi-user mode (one signed-in user), on four cheap routes:
an authenticated 404, an authenticated board list, a validation error (422) and an unauthenticated
route. Goals: latency at most {MAX_ADDED_MS} ms added at p50; throughput (4 concurrent clients,
measured in short windows alternating the sides in one run) at least {MIN_THROUGHPUT_RATIO}x of stock.

{MARKER}
"""


# --------------------------------------------------------------------------- routes and sides


@dataclass(frozen=True)
class Route:
    label: str
    expect: int
    authenticated: bool
    path: Callable[[], str]


ROUTES: tuple[Route, ...] = (
    Route("authenticated 404: `GET /api/v1/boards/{random uuid}`", 404, True, lambda: f"/api/v1/boards/{uuid.uuid4()}"),
    Route("authenticated list: `GET /api/v1/boards/?all=true`", 200, True, lambda: "/api/v1/boards/?all=true"),
    Route("validation error: `GET /api/v1/images/?limit=notanint`", 422, True, lambda: "/api/v1/images/?limit=notanint"),
    Route("unauthenticated: `GET /api/v1/app/version`", 200, False, lambda: "/api/v1/app/version"),
)


@dataclass
class Side:
    key: str
    label: str
    url: str
    auth: dict[str, str]
    gated: bool  # compared against stock with a PASS/FAIL (False: shown for information)
    boards_listed: int = 0


STOCK = "stock"


def sender(client: httpx.Client, side: Side, route: Route) -> Send:
    headers = side.auth if route.authenticated else None
    return lambda: client.get(route.path(), headers=headers)


def start_sides(args: argparse.Namespace, work: Path, stack: ExitStack) -> list[Side]:
    sides = [pingvas_side(work, stack, "pingvas", "Pingvas (SQLite)", {}, gated=True)]
    stock = start_stock(work, stack, multiuser=True)
    sides.append(Side(STOCK, "stock multi-user (SQLite)", stock.server.url, stock.headers, gated=False))
    if args.postgres:
        url, _ = create_database(stack, args.keep)
        env = pingvas_postgres_env(url)
        sides.append(pingvas_side(work, stack, "pingvas_pg", "Pingvas (Postgres; info)", env, gated=False))
    return sides


def pingvas_side(work: Path, stack: ExitStack, key: str, label: str, env: dict[str, str], gated: bool) -> Side:
    server = start_pingvas(work, stack, key, **env)
    account = signup(server.url, 0)
    return Side(key, label, server.url, {"Authorization": f"Bearer {account['token']}"}, gated)


def prepare(sides: list[Side], boards: int) -> None:
    """Create the boards on every side, then check each route's status once everywhere."""
    for side in sides:
        with httpx.Client(base_url=side.url, timeout=60) as c:
            for i in range(1, boards + 1):
                r = c.post("/api/v1/boards/", params={"board_name": f"bench-{i}"}, headers=side.auth)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"{side.key}: creating board bench-{i} -> {r.status_code}: {r.text[:500]}")
            side.boards_listed = len(c.get("/api/v1/boards/?all=true", headers=side.auth).json())
            for route in ROUTES:
                check_status(side.key, sender(c, side, route)(), route.expect)
    log("every route answers its expected status on every side")


# --------------------------------------------------------------------------- latency


def measure_latency(sides: list[Side], args: argparse.Namespace, retries: Retries) -> dict[Route, dict[str, Stats]]:
    clients = {s.key: httpx.Client(base_url=s.url, timeout=60) for s in sides}
    results: dict[Route, dict[str, Stats]] = {}
    try:
        for route in ROUTES:
            log(f"latency: {route.label} (interleaved)")
            senders = {s.key: sender(clients[s.key], s, route) for s in sides}
            samples = measure_interleaved(senders, args.n, args.warmup, retries, expect=route.expect)
            results[route] = {key: Stats.of(ms) for key, ms in samples.items()}
            log("  " + ", ".join(f"{k} p50={st.p50:.2f} ms" for k, st in results[route].items()))
    finally:
        for c in clients.values():
            c.close()
    return results


# --------------------------------------------------------------------------- throughput


@dataclass
class Window:
    """The counted interval of one throughput run, and what its workers report."""

    start: float
    end: float
    stop: threading.Event = field(default_factory=threading.Event)
    counts: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(side: Side, route: Route, window: Window, retries: Retries) -> None:
    """Requests back to back until the window ends; counts those completed inside it."""
    done = 0
    try:
        with httpx.Client(base_url=side.url, timeout=60) as client:
            send = sender(client, side, route)
            while not window.stop.is_set():
                response, _ = timed(send, side.key, retries)
                now = time.monotonic()
                if now >= window.end:
                    break
                check_status(side.key, response, route.expect)
                if now >= window.start:
                    done += 1
    except BaseException as exc:  # reported by the caller once every thread has stopped
        window.stop.set()
        with window.lock:
            window.errors.append(exc)
    with window.lock:
        window.counts.append(done)


def throughput(side: Side, route: Route, args: argparse.Namespace, retries: Retries) -> float:
    """Requests per second in one window on one side: `args.clients` threads for warm-up + counted seconds."""
    t0 = time.monotonic()
    window = Window(t0 + args.warmup_seconds, t0 + args.warmup_seconds + args.seconds)
    threads = [threading.Thread(target=worker, args=(side, route, window, retries)) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if window.errors:
        raise window.errors[0]
    return sum(window.counts) / args.seconds


def run_order(sides: list[Side], rounds: int) -> list[Side]:
    """A B ... B A, repeated: a linear drift of the machine's speed falls on every side alike."""
    return (sides + sides[::-1]) * rounds


def measure_throughput(sides: list[Side], args: argparse.Namespace, retries: Retries) -> dict[Route, dict[str, list[float]]]:
    """Per route, each side's req/s in each of its windows, in the order of `run_order`."""
    results: dict[Route, dict[str, list[float]]] = {}
    for route in ROUTES:
        windows: dict[str, list[float]] = {s.key: [] for s in sides}
        for side in run_order(sides, args.rounds):
            windows[side.key].append(throughput(side, route, args, retries))
        results[route] = windows
        log(f"throughput: {route.label}: " + ", ".join(f"{k} {statistics.median(w):.0f} req/s" for k, w in windows.items()))
    return results


def window_ratios(windows: dict[str, list[float]], key: str) -> list[float]:
    """Each window of `key` divided by stock's window of the same index (neighbours in A B B A)."""
    return [this / stock for this, stock in zip(windows[key], windows[STOCK])]


# --------------------------------------------------------------------------- report


def header_lines(args: argparse.Namespace, command: str, sides: list[Side]) -> list[str]:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    boards = ", ".join(f"{s.key} {s.boards_listed}" for s in sides)
    return [
        *run_head(command, with_postgres=args.postgres, when=now),
        f"- sides: Pingvas `python -m invokeai_saas.wiring.cli serve` on the embedded default (SQLite + local files), "
        f"signed in as a workspace owner (`POST /api/v1/signup`); stock InvokeAI {invokeai_version()} `invokeai-web` "
        f"with `multiuser: true`, one user (`/api/v1/auth/setup` + `/api/v1/auth/login`)"
        + (f"; informational: Pingvas on a throwaway Postgres database (RLS, app role `{APP_ROLE}`)" if args.postgres else ""),
        f"- data: {args.boards} boards created per side (`POST /api/v1/boards/?board_name=bench-N`); boards listed: {boards}",
    ]


def latency_lines(args: argparse.Namespace, results: dict[Route, dict[str, Stats]], sides: list[Side]) -> tuple[list[str], bool]:
    lines = [
        "#### Latency",
        "",
        f"All sides up at once, one keep-alive httpx.Client per side (loopback); per route {args.warmup} warm-up, then "
        f"{args.n} requests per side, interleaved one by one (round-robin, rotating order).",
        "",
        "| route | side | n | p50 ms | p90 ms | p99 ms | mean ms | added ms at p50 (this - stock) | target | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok_all = True
    for route, stats in results.items():
        for side in sides:
            row, ok = latency_row(route, side, stats)
            lines.append(row)
            ok_all &= ok
    return lines + [""], ok_all


def latency_row(route: Route, side: Side, stats: dict[str, Stats]) -> tuple[str, bool]:
    st = stats[side.key]
    cells = f"| {route.label} → {route.expect} | {side.label} | {st.n} | {st.p50:.2f} | {st.p90:.2f} | {st.p99:.2f} | {st.mean:.2f} |"
    if side.key == STOCK:
        return cells + " | | |", True
    added = st.p50 - stats[STOCK].p50
    ok = added <= MAX_ADDED_MS
    verdict = ("PASS" if ok else "FAIL") if side.gated else "info"
    target = f"<= {MAX_ADDED_MS:.1f}" if side.gated else "-"
    return cells + f" {added:+.2f} | {target} | **{verdict}** |", ok or not side.gated


def throughput_lines(args: argparse.Namespace, results: dict[Route, dict[str, list[float]]], sides: list[Side]) -> tuple[list[str], bool]:
    order = " ".join(s.key for s in sides + sides[::-1])
    lines = [
        "#### Throughput",
        "",
        f"Alternating windows in one run: one side at a time (the other servers stay up but get no requests), "
        f"{args.clients} threads each with its own keep-alive httpx.Client; per route {2 * args.rounds} windows per side "
        f"of {args.warmup_seconds:g} s warm-up then {args.seconds:g} s counted, in the order {order} repeated "
        f"{args.rounds} times. A side's req/s is the median of its windows; the ratio is Pingvas's median over "
        "stock's. Window ratios: each Pingvas window over stock's window of the same index (its neighbour in the "
        "order), their median and range.",
        "",
        "| route | side | windows | req/s (median) | windows min-max req/s | ratio (this / stock) | window ratios: median (min-max) | target | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok_all = True
    for route, windows in results.items():
        for side in sides:
            row, ok = throughput_row(route, side, windows)
            lines.append(row)
            ok_all &= ok
    return lines + [""], ok_all


def throughput_row(route: Route, side: Side, windows: dict[str, list[float]]) -> tuple[str, bool]:
    mine = windows[side.key]
    rate = statistics.median(mine)
    cells = f"| {route.label} → {route.expect} | {side.label} | {len(mine)} | {rate:.0f} | {min(mine):.0f}-{max(mine):.0f} |"
    if side.key == STOCK:
        return cells + " | | | |", True
    ratio = rate / statistics.median(windows[STOCK])
    each = window_ratios(windows, side.key)
    spread = f"{statistics.median(each):.2f}x ({min(each):.2f}-{max(each):.2f})"
    ok = ratio >= MIN_THROUGHPUT_RATIO
    verdict = ("PASS" if ok else "FAIL") if side.gated else "info"
    target = f">= {MIN_THROUGHPUT_RATIO:.1f}x" if side.gated else "-"
    return cells + f" {ratio:.2f}x | {spread} | {target} | **{verdict}** |", ok or not side.gated


def footer_lines(args: argparse.Namespace, retries: Retries, elapsed_s: float, ok: bool) -> list[str]:
    measured = [name for name, skip in (("latency", args.only_throughput), ("throughput", args.only_latency)) if not skip]
    return [
        f"- retries after a dropped connection (the failed attempt is not timed or counted): {retries.summary()}",
        f"- total run time: {elapsed_s:.0f} s",
        "",
        f"Overall: **{'PASS' if ok else 'FAIL'}** ({' and '.join(measured)}; targets: Pingvas p50 at most "
        f"{MAX_ADDED_MS} ms above stock, throughput at least {MIN_THROUGHPUT_RATIO:.1f}x of stock, on every route)",
        "",
    ]


class Report:
    """The markdown section, printed to stdout piece by piece as it is measured."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, lines: list[str]) -> None:
        self.lines += lines
        print("\n".join(lines), flush=True)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400, help="latency: timed requests per route per side")
    ap.add_argument("--warmup", type=int, default=30, help="latency: warm-up requests per route per side")
    ap.add_argument("--seconds", type=float, default=1.5, help="throughput: counted seconds per window")
    ap.add_argument("--warmup-seconds", type=float, default=0.5, help="throughput: warm-up seconds per window")
    ap.add_argument("--clients", type=int, default=4, help="throughput: concurrent clients (threads)")
    ap.add_argument("--rounds", type=int, default=8, help="throughput: repeats of the A B B A order (2 windows per side each)")
    ap.add_argument("--boards", type=int, default=5, help="boards created per side before measuring")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--only-latency", action="store_true")
    only.add_argument("--only-throughput", action="store_true")
    ap.add_argument("--postgres", action="store_true", help="add Pingvas on a throwaway Postgres database (informational)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (and the Postgres database)")
    ap.add_argument("--write", action="store_true", help=f"record the section in {RESULTS.relative_to(ROOT)}")
    return ap.parse_args()


def run(args: argparse.Namespace, work: Path, report: Report, retries: Retries) -> bool:
    command = " ".join([".venv/bin/python", "bench/request_path.py", *sys.argv[1:]])
    ok = True
    with ExitStack() as stack:
        sides = start_sides(args, work, stack)
        prepare(sides, args.boards)
        report.add(header_lines(args, command, sides) + [""])
        if not args.only_throughput:
            lines, passed = latency_lines(args, measure_latency(sides, args, retries), sides)
            report.add(lines)
            ok &= passed
        if not args.only_latency:
            lines, passed = throughput_lines(args, measure_throughput(sides, args, retries), sides)
            report.add(lines)
            ok &= passed
    return ok


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="pingvas-bench-"))
    report, retries = Report(), Retries()
    t0 = time.monotonic()
    try:
        ok = run(args, work, report, retries)
    finally:
        if retries.count:
            log(f"retries after a dropped connection: {retries.summary()}")
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report.add(footer_lines(args, retries, time.monotonic() - t0, ok))
    if args.write:
        write_results(report.text, MARKER, HEADER)
        log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
