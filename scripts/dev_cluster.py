"""`make cluster`: the studio as production runs it, on one machine. Nginx on one port (the studio's
URL) in front of two `pingvas api` pods, two `pingvas worker` pods sharing one models folder,
Postgres, Redis and a SeaweedFS S3 server for the media; the same pieces `tests/test_cluster.py`
runs (`scripts/local_servers.py`).

    .venv/bin/python -m scripts.dev_cluster [--port 9090] [--dir .dev-cluster] [--help]

Postgres and Redis are `PINGVAS_DATABASE_URL` and `PINGVAS_REDIS_URL` when set; otherwise the
database `--database` (created if missing) on the local server `--postgres`, and Redis on
127.0.0.1:6379, or a private `redis-server` when none answers there. Everything else lives in
`--dir`: the S3 server's data (images survive a restart), the models, each pod's scratch folder, the
operator's credentials and a log per process (`logs/api-1.log`…). Every other `PINGVAS_*` variable
in the environment reaches the pods.

Every process it starts leads a process group of its own, so a terminal's Ctrl-C reaches only this
one, which then stops them in order (Nginx, the pods, Redis, S3) and exits 0; SIGTERM does the same.
A process that ends by itself is reported with the end of its log and stops the whole cluster (exit
1). It never drops or empties a database, and never leaves a process behind: whatever it started and
lost track of (a start interrupted half-way) is found among its children and killed at the end.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psycopg
import sqlalchemy as sa

if __package__ in (None, ""):  # `python scripts/dev_cluster.py`: import this checkout, as `-m` does
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.local_servers import (
    ROOT, Nginx, RedisServer, SeaweedS3, free_ports, log_tail, pingvas_command, port_open, start_pod, stop_group,
    wait_healthy,
)

POD_BOOT_TIMEOUT_S = 300  # four pods importing InvokeAI at once on a 2-core laptop
STOP_TIMEOUT_S = 30  # a worker hands its items back on SIGTERM
BUCKET = "pingvas-dev"
DEFAULT_OPERATOR = "ops@pingvas.example"


class Stop(Exception):
    """SIGINT or SIGTERM: stop the cluster and exit 0."""


@dataclass
class Child:
    """A process of the cluster: a pod (`process`) or a server object whose `process` it reads."""

    name: str
    url: str
    log_path: Path
    process: subprocess.Popen | None = None
    server: object | None = None  # Nginx, RedisServer or SeaweedS3: stopped through it

    @property
    def popen(self) -> subprocess.Popen | None:
        return getattr(self.server, "process", None) if self.server is not None else self.process


@dataclass
class Launch:
    args: argparse.Namespace
    children: list[Child] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.args.dir

    @property
    def logs(self) -> Path:
        return self.dir / "logs"


def say(line: str = "") -> None:
    print(line, flush=True)


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.dev_cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=9090, help="the studio's port (Nginx); default 9090")
    p.add_argument("--host", default="127.0.0.1", help="the interface Nginx listens on; default 127.0.0.1")
    p.add_argument("--dir", type=Path, default=ROOT / ".dev-cluster", help="data and logs; default .dev-cluster/")
    p.add_argument("--api-pods", type=int, default=2, help="`pingvas api` pods behind Nginx; default 2")
    p.add_argument("--workers", type=int, default=2, help="`pingvas worker` pods; default 2")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="the Postgres server to create --database on, without PINGVAS_DATABASE_URL; default the local one")
    p.add_argument("--database", default="pingvas_dev", help="the database's name there; default pingvas_dev")
    p.add_argument("--operator-email", default=DEFAULT_OPERATOR, help=f"the operator account made on first start; default {DEFAULT_OPERATOR}")
    args = p.parse_args(argv)
    if args.api_pods < 1 or args.workers < 1:
        p.error("--api-pods and --workers need at least 1")
    args.dir = args.dir.resolve()
    return args


# --- the servers it uses -----------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    """PINGVAS_DATABASE_URL, else --database on --postgres (created if missing)."""
    given = os.environ.get("PINGVAS_DATABASE_URL")
    if given:
        if not given.startswith("postgresql"):
            raise SystemExit(f"PINGVAS_DATABASE_URL must be a Postgres URL for a cluster (not {given.split(':')[0]})")
        return given
    try:
        with psycopg.connect(args.postgres, autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{args.database}"')
                say(f"Postgres: created the database {args.database}")
    except psycopg.OperationalError as e:
        raise SystemExit(
            f"Postgres is not reachable at {args.postgres} ({str(e).strip().splitlines()[0]}).\n"
            "Start it with `make services` (it installs and starts Postgres and Redis), "
            "or name another server with --postgres, or a database with PINGVAS_DATABASE_URL."
        ) from e
    url = sa.engine.make_url(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=args.database).render_as_string(hide_password=False)


def migrate(url: str) -> None:
    """Brings the database to the code's schema, as a deploy's migration job does (pods refuse to
    start on an older one)."""
    from invokeai_saas.db import Database
    from invokeai_saas.db.migrate import upgrade

    db = Database(url, schema=os.environ.get("PINGVAS_DB_SCHEMA") or None,
                  app_role=os.environ.get("PINGVAS_DB_APP_ROLE") or "pingvas_app")
    try:
        upgrade(db)
    finally:
        db.dispose()


def redis_url(launch: Launch) -> str:
    """PINGVAS_REDIS_URL, else the Redis on 127.0.0.1:6379, else a private one (in memory)."""
    given = os.environ.get("PINGVAS_REDIS_URL")
    if given:
        return given
    if port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    say("Redis: none on 127.0.0.1:6379; starting a private one (`make services` starts a lasting one)")
    server = RedisServer(launch.dir / "redis", log_path=launch.logs / "redis.log")
    launch.children.append(Child("redis", server.url, launch.logs / "redis.log", server=server))
    server.start(own_group=True)
    return server.url


def start_s3(launch: Launch) -> SeaweedS3:
    sockets = Path(tempfile.mkdtemp(prefix="weed-"))  # short: a unix socket's path must stay under 108 bytes
    weed = SeaweedS3(launch.dir / "s3", sockets, BUCKET, log_path=launch.logs / "s3.log")
    launch.children.append(Child("s3", weed.server.endpoint_url, weed.log_path, server=weed))
    weed.start()
    return weed


def new_password() -> str:
    """Random, and always with what InvokeAI asks of a password (upper and lower case, a digit)."""
    return f"Op{secrets.randbelow(90) + 10}-{secrets.token_urlsafe(12)}"


@contextmanager
def operator_account(launch: Launch, env: dict[str, str], url: str) -> Iterator[tuple[str, str]]:
    """The operator's email and password, kept in --dir/operator.json; on the first start on a
    database it is made there by `pingvas create-operator`, while the pods boot."""
    path = launch.dir / "operator.json"
    email = launch.args.operator_email
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("email") != email:
        saved = {"email": email, "password": new_password(), "databases": []}
    database = sa.engine.make_url(url).render_as_string(hide_password=True)
    if database in saved["databases"]:
        yield email, saved["password"]
        return
    log_path = launch.logs / "create-operator.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            pingvas_command("create-operator", "--email", email, "--password", saved["password"],
                            "--data-dir", str(launch.dir / "shared")),
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    launch.children.append(Child("create-operator", "", log_path, process=process))
    yield email, saved["password"]
    code = process.wait(timeout=POD_BOOT_TIMEOUT_S)
    launch.children.remove(next(c for c in launch.children if c.process is process))
    if code != 0:
        say(f"warning: could not make the operator {email} ({shown(log_path)}):\n{log_tail(log_path, 5)}\n"
            "If it exists with another password: `pingvas create-operator` with another email, or --operator-email.")
        return
    saved["databases"].append(database)
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)


# --- start, watch, stop ------------------------------------------------------------------------


def start(launch: Launch) -> None:
    args = launch.args
    began = time.monotonic()
    launch.logs.mkdir(parents=True, exist_ok=True)
    if port_open("127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host, args.port):
        raise SystemExit(f"Something already listens on {args.host}:{args.port}: choose another port with --port (make cluster PORT=…)")
    url = database_url(args)
    say(f"Postgres: {sa.engine.make_url(url).render_as_string(hide_password=True)}")
    migrate(url)
    redis = redis_url(launch)
    say(f"Redis: {redis}")
    say("S3: starting SeaweedFS…")
    weed = start_s3(launch)
    shared = launch.dir / "shared"  # the models (EFS in production)
    shared.mkdir(parents=True, exist_ok=True)
    env = {
        "PINGVAS_DATABASE_URL": url,
        "PINGVAS_REDIS_URL": redis,
        "PINGVAS_STORAGE_URL": f"s3://{BUCKET}/studio",
        "PINGVAS_TRUSTED_PROXIES": os.environ.get("PINGVAS_TRUSTED_PROXIES", "127.0.0.1/32"),  # Nginx, as the ingress
        "PINGVAS_PUBLIC_URL": os.environ.get("PINGVAS_PUBLIC_URL", f"http://{args.host}:{args.port}"),  # links in e-mails
        **weed.server.env(),
    }
    names = [f"api-{i + 1}" for i in range(args.api_pods)] + [f"worker-{i + 1}" for i in range(args.workers)]
    say(f"Starting {args.api_pods} API pods and {args.workers} workers (each imports InvokeAI: a minute or so)…")
    with operator_account(launch, env, url) as (email, password):
        pods = []
        for name, port in zip(names, free_ports(len(names))):
            scratch = launch.dir / "scratch" / name
            scratch.mkdir(parents=True, exist_ok=True)
            child = Child(name, f"http://127.0.0.1:{port}", launch.logs / f"{name}.log")
            launch.children.append(child)
            child.process = start_pod(name.split("-")[0], port, shared, env | {"PINGVAS_SCRATCH_DIR": str(scratch)}, child.log_path,
                                      own_group=True)
            pods.append(child)
        for child in pods:
            assert child.process is not None
            wait_healthy(child.url, child.process, POD_BOOT_TIMEOUT_S, lambda c=child: log_tail(c.log_path), name=child.name)
    nginx = Nginx(launch.dir / "nginx", [int(c.url.rsplit(":", 1)[1]) for c in pods if c.name.startswith("api")],
                  port=args.port, host=args.host, error_log=launch.logs / "nginx.log", access_log=launch.logs / "nginx-access.log")
    launch.children.insert(0, Child("nginx", nginx.url, nginx.error_log, server=nginx))
    nginx.start(own_group=True)

    say()
    say(f"Pingvas dev cluster is up: {nginx.url}  (started in {time.monotonic() - began:.0f} s)")
    say(f"  sign up a workspace at {nginx.url}/signup, or sign in as the operator (installs models):")
    say(f"  {email} / {password}  (kept in {shown(launch.dir / 'operator.json')})")
    for child in launch.children:
        popen = child.popen
        say(f"  {child.name:<9} pid {popen.pid if popen else '-':<7} {child.url:<28} log {shown(child.log_path)}")
    say("Ctrl-C stops it all.")


def watch(launch: Launch) -> Child:
    """Until a signal (Stop) or a process ends: returns that process."""
    while True:
        for child in launch.children:
            popen = child.popen
            if popen is not None and popen.poll() is not None:
                return child
        time.sleep(0.5)


def stop(launch: Launch) -> None:
    """Nginx and the pods together (SIGTERM: the workers hand their items back), then Redis and S3,
    then any child it lost track of; a second Ctrl-C kills what is left at once."""
    def hurry(signum: int, frame: FrameType | None) -> None:
        for child in launch.children:
            popen = child.popen
            if popen is not None and popen.poll() is None:
                try:
                    os.killpg(popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    signal.signal(signal.SIGINT, hurry)
    signal.signal(signal.SIGTERM, hurry)
    servers = [c for c in launch.children if isinstance(c.server, (RedisServer, SeaweedS3))]
    processes = [c.popen for c in launch.children if c.popen is not None and c not in servers]
    for popen in processes:  # nginx and the pods, all at once
        if popen.poll() is None:
            try:
                os.killpg(popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for popen in processes:
        stop_group(popen, timeout=max(0.1, deadline - time.monotonic()))
    for child in servers:
        if isinstance(child.server, SeaweedS3):
            child.server.stop()
            shutil.rmtree(child.server.socket_dir, ignore_errors=True)
        elif child.popen is not None:
            stop_group(child.popen, timeout=10)
    for pid in children_of(os.getpid()):  # anything started and lost track of (a start interrupted half-way)
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], check=False, capture_output=True, text=True, timeout=30).stdout
    return [int(p) for p, pp in (line.split() for line in out.splitlines() if line.strip()) if int(pp) == pid and int(p) != pid]


def main(argv: list[str] | None = None) -> int:
    launch = Launch(parse_args(argv))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Stop(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        start(launch)
        ended = watch(launch)
        returned = ended.popen.returncode if ended.popen else None
        say(f"\n{ended.name} stopped by itself (exit code {returned}); the end of {shown(ended.log_path)}:")
        say(log_tail(ended.log_path, 30))
        code = 1
    except Stop:
        say("\nStopping the cluster…")
    except (RuntimeError, OSError) as e:
        say(f"\nThe cluster could not start: {e}")
        code = 1
    finally:
        stop(launch)
    say("Stopped." if code == 0 else "Stopped everything else.")
    return code


if __name__ == "__main__":
    sys.exit(main())
