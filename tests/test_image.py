"""The container image: it builds where a Docker engine runs, and its entry point, run here with the
same command lines the chart gives each role, starts that role.

This machine has the docker client but no engine, so the build test skips with that reason here;
the entry point is exercised directly (deploy/entrypoint.sh → `pingvas <role>`), as the image runs it.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import http

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"


def role_env(data_dir: Path) -> dict[str, str]:
    """The image's environment (its ENV lines) on the embedded database, with the venv's `pingvas` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGVAS_")}
    env.update(PINGVAS_DATA_DIR=str(data_dir), PINGVAS_HOST="127.0.0.1", PINGVAS_LOG_FORMAT="json")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_dockerfile_copies_what_exists_runs_unprivileged_and_enters_through_the_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert 'ENTRYPOINT ["tini", "--", "deploy/entrypoint.sh"]' in text
    assert re.search(r"^USER 10001$", text, re.M)  # the chart's runAsUser
    assert "frontend-overrides/app/dist" in text  # the committed build: no Node.js stage


def test_an_unknown_role_is_refused_with_the_roles_there_are(tmp_path: Path) -> None:
    done = subprocess.run([str(ENTRYPOINT), "scheduler"], env=role_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 64 and "api, worker, migrate" in done.stderr


def test_the_migrate_role_brings_the_schema_up_and_a_second_run_finds_nothing_to_do(tmp_path: Path) -> None:
    first = subprocess.run([str(ENTRYPOINT), "migrate"], env=role_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "upgraded from revision (empty)" in first.stdout
    again = subprocess.run([str(ENTRYPOINT), "migrate"], env=role_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr


def test_the_worker_role_answers_its_probes_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    subprocess.run([str(ENTRYPOINT), "migrate"], env=role_env(tmp_path), capture_output=True, timeout=300, check=True)
    worker = subprocess.Popen([str(ENTRYPOINT), "worker", "--port", str(port)], env=role_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if http.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert worker.poll() is None and time.monotonic() < deadline, "the worker did not become ready"
            time.sleep(0.5)
        assert http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        worker.send_signal(signal.SIGTERM)  # what the kubelet sends: exec made `pingvas` the signalled process
        assert worker.wait(timeout=60) is not None
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_the_image_builds_where_a_docker_engine_runs(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        pytest.skip(f"no Docker engine on this machine (`docker info`: {(info.stderr or info.stdout).strip().splitlines()[-1][:200]})")
    built = subprocess.run(["docker", "build", "-t", "pingvas:test", str(ROOT)], capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    roles = subprocess.run(["docker", "run", "--rm", "pingvas:test", "scheduler"], capture_output=True, text=True, timeout=120)
    assert roles.returncode == 64
