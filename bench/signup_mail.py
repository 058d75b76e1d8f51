"""Sign-up to verification e-mail: 100 sign-ups through a real studio (`pingvas serve`, e-mail verification
on) and the delay from each sign-up's answer (202: its transaction, with the message in the outbox, has
committed) to the message's arrival at a real SMTP server (aiosmtpd, in this process). Sign-ups are sent
by `--clients` threads at once, each one after the other; per database.

The same pod that answers drains the outbox, woken by the commit; the numbers include rendering the
templates and one SMTP conversation per message.

Run: python bench/signup_mail.py [--n 100] [--clients 4] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import common
import httpx

MARKER = "<!-- sign-up mail runs: newest first; bench/signup_mail.py --write inserts below -->"
HEADER = f"## Sign-up to verification e-mail (bench/signup_mail.py)\n\n{MARKER}\n"


def sign_up(url: str, email: str) -> float:
    r = httpx.post(f"{url}/api/v1/signup", json={"email": email, "password": "Passw0rd!x", "workspace_name": "Bench"}, timeout=120)
    if r.status_code != 202:
        raise SystemExit(f"sign-up {email}: {r.status_code} {r.text}")
    return time.monotonic()


def run(url: str, arrivals: common.SmtpArrivals, n: int, clients: int) -> common.Stats:
    run_id = uuid.uuid4().hex[:8]
    emails = [f"owner{i:03d}-{run_id}@bench.example" for i in range(n)]
    with ThreadPoolExecutor(clients) as pool:
        answered = dict(zip(emails, pool.map(lambda e: sign_up(url, e), emails)))
    arrived = arrivals.wait_for(emails, timeout=180)
    return common.Stats.of([max(0.0, arrived[e] - answered[e]) * 1000 for e in emails])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    results: dict[str, common.Stats] = {}
    with common.smtp_arrivals() as arrivals, ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        mail_env = {"PINGVAS_EMAIL_VERIFICATION": "required", "PINGVAS_SMTP_URL": arrivals.url}
        url, _ = common.create_database(stack, args.keep)
        pg = common.start_pingvas(Path(tmp), stack, "pingvas-pg", **common.pingvas_postgres_env(url), **mail_env)
        results["Postgres"] = run(pg.url, arrivals, args.n, args.clients)
        common.log("Postgres: done")
        lite = common.start_pingvas(Path(tmp), stack, "pingvas-sqlite", **mail_env)
        results["SQLite"] = run(lite.url, arrivals, args.n, args.clients)
        common.log("SQLite: done")
    lines = ["| database | sign-ups | clients | p50 | p90 | p99 | mean |", "|---|---|---|---|---|---|---|"]
    for backend, s in results.items():
        lines.append(f"| {backend} | {s.n} | {args.clients} | {s.p50:.0f} ms | {s.p90:.0f} ms | {s.p99:.0f} ms | {s.mean:.0f} ms |")
    command = f"python bench/signup_mail.py --n {args.n} --clients {args.clients}" + (" --write" if args.write else "")
    section = "\n".join(common.run_head(command) + ["", *lines, ""])
    print(section)
    if args.write:
        common.write_results(section, MARKER, HEADER)


if __name__ == "__main__":
    main()
