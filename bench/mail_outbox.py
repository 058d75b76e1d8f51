"""Mail outbox delay: from the commit of the transaction that wrote a message to its arrival at a real
SMTP server (aiosmtpd, in this process), for 100 messages written back to back, each in its own
transaction (the shape of 100 sign-ups). Two cases per database:

- same pod: the drainer runs in the process that commits, and a commit wakes it at once;
- other pod: the messages are written through another engine (as another pod would), so the drainer
  finds them at its next poll (every 2 s).

Run: python bench/mail_outbox.py [--n 100] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import common

sys.path.insert(0, str(common.ROOT))

from invokeai_saas.db import Database  # noqa: E402
from invokeai_saas.db.migrate import upgrade  # noqa: E402
from invokeai_saas.mail.outbox import Outbox, enqueue, start_drainer  # noqa: E402
from invokeai_saas.mail.templates import Templates  # noqa: E402
from invokeai_saas.mail.transport import SmtpTransport  # noqa: E402
from invokeai_saas.wiring.branding import load_brand  # noqa: E402
from tenant_middleware.context import system_scope  # noqa: E402

MARKER = "<!-- mail outbox runs: newest first; bench/mail_outbox.py --write inserts below -->"
HEADER = f"## Mail outbox (bench/mail_outbox.py)\n\n{MARKER}\n"


def run_case(writer: Database, arrivals: common.SmtpArrivals, n: int) -> list[float]:
    """Writes n messages, one transaction each; returns commit→arrival delays in ms."""
    committed: dict[str, float] = {}
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        to = f"user{i}-{run}@example.com"
        with system_scope(), writer.begin() as conn:
            enqueue(conn, f"bench:{run}:{i}", to, "notice", {"title": "Verify your e-mail", "text": "x", "link": None})
        committed[to] = time.monotonic()
    arrived = arrivals.wait_for(list(committed), timeout=120)
    return [(arrived[to] - committed[to]) * 1000 for to in committed]


def bench_backend(name: str, url: str, schema: str | None, role: str | None, smtp_url: str, arrivals: common.SmtpArrivals, n: int) -> dict[str, common.Stats]:
    db = Database(url, schema=schema, app_role=role)
    upgrade(db)
    outbox = Outbox(db, SmtpTransport(smtp_url), Templates(dataclasses.asdict(load_brand("pingvas"))), "Pingvas <no-reply@pingvas.test>")
    stop = start_drainer(outbox, poll_s=2.0)
    other_pod = Database(url, schema=schema, app_role=role)  # another engine: its commits wake no drainer here
    try:
        same = run_case(db, arrivals, n)
        other = run_case(other_pod, arrivals, n)
    finally:
        stop.set()
        other_pod.dispose()
    common.log(f"{name}: done")
    return {"same pod": common.Stats.of(same), "other pod": common.Stats.of(other)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, common.Stats]] = {}
    with common.smtp_arrivals() as arrivals, ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        url, _ = common.create_database(stack, args.keep)
        results["Postgres"] = bench_backend("Postgres", url, common.SCHEMA, common.APP_ROLE, arrivals.url, arrivals, args.n)
        sqlite_url = f"sqlite:///{Path(tmp) / 'pingvas.db'}"
        results["SQLite"] = bench_backend("SQLite", sqlite_url, None, None, arrivals.url, arrivals, args.n)
    lines = ["| database | writer | messages | p50 | p90 | p99 | mean |", "|---|---|---|---|---|---|---|"]
    for backend, cases in results.items():
        for case, s in cases.items():
            lines.append(f"| {backend} | {case} | {s.n} | {s.p50:.0f} ms | {s.p90:.0f} ms | {s.p99:.0f} ms | {s.mean:.0f} ms |")
    section = "\n".join(common.run_head(f"python bench/mail_outbox.py --n {args.n}" + (" --write" if args.write else "")) + ["", *lines, ""])
    print(section)
    if args.write:
        common.write_results(section, MARKER, HEADER)


if __name__ == "__main__":
    main()
