"""A studio of several pods for tests: `pingvas api` and `pingvas worker` processes on one Postgres
database, a private Redis server (so a test may restart it), media in a real S3 server (SeaweedFS,
signatures enforced) and one shared data folder for the models (EFS in production); each pod keeps
its scratch tensors and media cache in a folder of its own."""

import shutil
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from invokeai_saas.db import Database
from tests.conftest import NO_RATE_LIMITS
from tests.db_fixtures import APP_ROLE, create_pg_database, drop_pg_database, pg_url
from tests import http
from tests.s3_server import S3Server, running_s3_server
from tests.studio import Studio, free_port


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Starts (or restarts, on the same port) the server."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/ensure-services.sh installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
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


NGINX = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else (shutil.which("nginx") or "/usr/sbin/nginx")

NGINX_CONF = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream api_pods {{
        ip_hash;  # sticky: Socket.IO's long-polling requests of one client reach the pod that holds its session
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
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
    """Debian's nginx in front of the API pods: load balancing, WebSocket upgrade, sticky sessions."""

    def __init__(self, folder: Path, upstream_ports: list[int]) -> None:
        self.folder = folder
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstream_ports)
        (folder / "nginx.conf").write_text(NGINX_CONF.format(folder=folder, servers=servers, port=self.port))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-e", str(self.folder / "error.log"),
             "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http.get(f"{self.url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"nginx did not start: {(self.folder / 'error.log').read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class Cluster:
    folder: Path
    lease_seconds: float = 3.0
    pg_name: str = field(default_factory=create_pg_database)
    pods: list[Studio] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = self.folder / "shared"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._servers = ExitStack()
        self.s3: S3Server = self._servers.enter_context(running_s3_server("pingvas-cluster"))
        self.redis = RedisServer(self.folder)
        self.redis.start()
        self.url = pg_url(self.pg_name)

    def env(self, pod: str) -> dict[str, str]:
        scratch = self.folder / "scratch" / pod
        scratch.mkdir(parents=True, exist_ok=True)
        return {
            "PINGVAS_DATABASE_URL": self.url,
            "PINGVAS_DB_SCHEMA": "pingvas",
            "PINGVAS_DB_APP_ROLE": APP_ROLE,
            "PINGVAS_REDIS_URL": self.redis.url,
            "PINGVAS_LEASE_SECONDS": str(self.lease_seconds),
            "PINGVAS_SCRATCH_DIR": str(scratch),
            "PINGVAS_STORAGE_URL": f"s3://{self.s3.bucket}/studio",
            "PINGVAS_LOG_FORMAT": "json",
            **self.s3.env(),
            **NO_RATE_LIMITS,
        }

    def database(self) -> Database:
        return Database(self.url, schema="pingvas", app_role=APP_ROLE)

    def pod(self, role: str, name: str) -> Studio:
        studio = Studio("postgres", self.data_dir, self.env(name), self.database(), command=role, log_name=f"{name}.log")
        self.pods.append(studio)
        return studio

    def start(self, *pods: Studio) -> None:
        """Starts pods together (each boot takes seconds), then waits for every one."""
        for pod in pods:
            pod.start(wait=False)
        for pod in pods:
            pod.wait_started()

    def front(self, *pods: Studio) -> Nginx:
        """Nginx in front of these (started) API pods."""
        self.nginx = Nginx(self.folder / "nginx", [p.port for p in pods])
        self.nginx.start()
        return self.nginx

    def stop(self) -> None:
        if getattr(self, "nginx", None) is not None:
            self.nginx.stop()
        for pod in self.pods:
            pod.stop()
        self.redis.stop()
        self._servers.close()
        drop_pg_database(self.pg_name)
