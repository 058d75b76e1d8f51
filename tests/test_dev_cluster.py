"""`make cluster` (`scripts/dev_cluster.py`) gives a laptop the studio as production runs it: the
studio answers at one URL through Nginx, every pod behind it is ready, an operator can sign in and a
customer can sign up; Ctrl-C stops every process it started and exits 0; a second start on the same
folder finds the first one's media and operator, and a pod that dies stops the whole cluster. Without
Postgres it says how to start it, and starts nothing."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.local_servers import ROOT, S3Server, free_port, port_open
from tests import http
from tests.conftest import SUITE_ENV, unique_email
from tests.db_fixtures import PG_ADMIN_DSN, drop_pg_database

UP_TIMEOUT_S = 240  # four pods importing InvokeAI at once on a busy 2-core machine: about a minute
EXIT_TIMEOUT_S = 60
UP = re.compile(r"^Pingvas dev cluster is up: (\S+)")
PROCESS = re.compile(r"^  (\S+)\s+pid (\d+)\s+(\S+)\s+log (\S+)$")
OPERATOR = re.compile(r"^  (\S+@\S+) / (\S+)  \(kept in")
PROBE_KEY = "studio/dev-cluster-probe.txt"


class Launcher:
    """`python -m scripts.dev_cluster` as a user runs it, its output read line by line."""

    def __init__(self, folder: Path, database: str, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PINGVAS_DATABASE_URL", "PINGVAS_REDIS_URL")}
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.dev_cluster", "--dir", str(folder), "--port", str(self.port),
             "--postgres", PG_ADMIN_DSN, "--database", database, *extra],
            cwd=ROOT, env=env | SUITE_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.pids: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.logs: dict[str, Path] = {}
        self.operator: tuple[str, str] = ("", "")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_up(self) -> None:
        """Until the launcher prints the studio's URL and every process it started."""
        deadline = time.monotonic() + UP_TIMEOUT_S
        while time.monotonic() < deadline and not any(line.startswith("Ctrl-C stops it all") for line in self.lines):
            assert self.process.poll() is None, f"the launcher exited ({self.process.returncode}):\n{self.output}"
            time.sleep(0.5)
        assert any(line.startswith("Ctrl-C") for line in self.lines), f"not up within {UP_TIMEOUT_S}s:\n{self.output}"
        for line in self.lines:
            if m := UP.match(line):
                self.url = m.group(1)
            elif m := PROCESS.match(line):
                self.pids[m.group(1)] = int(m.group(2))
                self.urls[m.group(1)] = m.group(3)
                self.logs[m.group(1)] = Path(m.group(4))
            elif m := OPERATOR.match(line):
                self.operator = (m.group(1), m.group(2))

    def wait_exit(self) -> tuple[int, float]:
        """(exit code, seconds it took)."""
        began = time.monotonic()
        code = self.process.wait(timeout=EXIT_TIMEOUT_S)
        self._reader.join(timeout=10)
        return code, time.monotonic() - began

    def close(self) -> None:
        """After a failed test: SIGTERM (it stops what it started), then kill whatever is left."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in self.pids.values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def living_in_groups(pgids: set[int]) -> list[str]:
    """Every process (zombies aside) in these process groups."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,pgid=,stat=,args="], check=False, capture_output=True, text=True, timeout=30).stdout
    rows = [line.split(None, 3) for line in out.splitlines() if line.strip()]
    return [" ".join(r) for r in rows if len(r) >= 3 and int(r[1]) in pgids and not r[2].startswith("Z")]


def s3_of(folder: Path, launcher: Launcher) -> S3Server:
    """The launcher's S3 server, with the keys it keeps in its folder."""
    identity = json.loads((folder / "s3" / "s3.json").read_text())["identities"][0]["credentials"][0]
    return S3Server(launcher.urls["s3"], identity["accessKey"], identity["secretKey"], "pingvas-dev")


def sign_in(url: str, email: str, password: str) -> dict:
    r = http.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


@dataclass
class FirstRun:
    folder: Path
    database: str
    launcher: Launcher
    answers: dict[str, httpx.Response]  # what it answered while it ran, by path or pod
    signup: httpx.Response
    operator: dict[str, Any]  # the operator's sign-in
    exit_code: int
    exit_seconds: float
    left_running: list[str]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    """The default cluster (two API pods, two workers) started, used, then sent SIGINT."""
    folder = tmp_path_factory.mktemp("dev-cluster")
    database = f"pingvas_test_{uuid.uuid4().hex[:10]}"
    launcher = Launcher(folder, database)
    try:
        launcher.wait_up()
        answers = {path: http.get(f"{launcher.url}{path}") for path in ("/", "/healthz", "/readyz")}
        answers |= {name: http.get(f"{url}/readyz") for name, url in launcher.urls.items() if re.fullmatch(r"(api|worker)-\d+", name)}
        signup = http.post(f"{launcher.url}/api/v1/signup",
                           json={"email": unique_email("dev"), "password": "Passw0rd!x", "workspace_name": "Dev"})
        operator = sign_in(launcher.url, *launcher.operator)
        s3_of(folder, launcher).client().put_object(Bucket="pingvas-dev", Key=PROBE_KEY, Body=b"kept")
        launcher.process.send_signal(signal.SIGINT)
        code, seconds = launcher.wait_exit()
        left = living_in_groups(set(launcher.pids.values()))
        yield FirstRun(folder, database, launcher, answers, signup, operator, code, seconds, left)
    finally:
        launcher.close()
        drop_pg_database(database)


def test_the_studio_answers_at_one_url_through_nginx_and_every_pod_behind_it_is_ready(first_run: FirstRun) -> None:
    launcher, answers = first_run.launcher, first_run.answers
    assert set(launcher.pids) == {"nginx", "s3", "api-1", "api-2", "worker-1", "worker-2"}, launcher.output
    assert launcher.url == f"http://127.0.0.1:{launcher.port}" and launcher.urls["nginx"] == launcher.url
    assert answers["/"].status_code == 200 and "text/html" in answers["/"].headers["content-type"]
    assert answers["/healthz"].status_code == 200 and answers["/healthz"].json()["role"] == "api"
    assert answers["/readyz"].status_code == 404  # Nginx is the trusted proxy: readiness is for inside the cluster
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        ready = answers[name]
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["role"] == name.split("-")[0]
        assert set(ready.json()["checks"]) == {"database", "redis", "storage", "processor"}  # S3 and Redis among them
    for name, log in launcher.logs.items():
        assert log == first_run.folder / "logs" / f"{name}.log" and log.exists(), (name, log)
    for name in ("api-1", "api-2", "worker-1", "worker-2"):  # each pod's own output, in its own file
        assert launcher.urls[name] in launcher.logs[name].read_text(), name


def test_a_customer_signs_up_and_the_operator_signs_in_with_what_it_printed(first_run: FirstRun) -> None:
    assert first_run.signup.status_code == 201, first_run.signup.text
    assert first_run.operator["user"]["is_admin"] is True, first_run.operator
    saved = json.loads((first_run.folder / "operator.json").read_text())
    assert (saved["email"], saved["password"]) == first_run.launcher.operator
    assert (first_run.folder / "operator.json").stat().st_mode & 0o077 == 0  # a password: for its owner only


def test_ctrl_c_stops_every_process_it_started_and_exits_0(first_run: FirstRun) -> None:
    launcher = first_run.launcher
    assert first_run.exit_code == 0, launcher.output
    assert first_run.exit_seconds < 45, first_run.exit_seconds
    assert first_run.left_running == []
    assert launcher.lines[-1] == "Stopped."
    for name, url in launcher.urls.items():
        assert not port_open("127.0.0.1", int(url.rsplit(":", 1)[1])), name


def test_a_second_start_keeps_media_and_operator_and_a_pod_that_dies_stops_the_cluster(first_run: FirstRun) -> None:
    launcher = Launcher(first_run.folder, first_run.database, "--api-pods", "1", "--workers", "1")
    try:
        launcher.wait_up()
        assert set(launcher.pids) == {"nginx", "s3", "api-1", "worker-1"}
        assert launcher.operator == first_run.launcher.operator
        sign_in(launcher.url, *launcher.operator)
        probe = s3_of(first_run.folder, launcher).client().get_object(Bucket="pingvas-dev", Key=PROBE_KEY)
        assert probe["Body"].read() == b"kept"  # the first run's objects, on the S3 server's new ports

        os.kill(launcher.pids["worker-1"], signal.SIGKILL)
        code, _ = launcher.wait_exit()
        assert code == 1
        assert "worker-1 stopped by itself (exit code -9)" in launcher.output
        assert living_in_groups(set(launcher.pids.values())) == []
    finally:
        launcher.close()


def test_without_postgres_it_says_how_to_start_it_and_starts_nothing(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = {k: v for k, v in os.environ.items() if k != "PINGVAS_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "scripts.dev_cluster", "--dir", str(tmp_path), "--port", str(free_port()), "--postgres", nowhere],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Postgres is not reachable at {nowhere}" in done.stderr and "make services" in done.stderr
    assert not (tmp_path / "s3").exists()  # nothing started
