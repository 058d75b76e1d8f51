"""A studio of several pods for tests: `pingvas api` and `pingvas worker` processes on one Postgres
database, a private Redis server (so a test may restart it), media in a real S3 server (SeaweedFS,
signatures enforced) and one shared data folder for the models (EFS in production); each pod keeps
its scratch tensors and media cache in a folder of its own. The servers are the ones `make cluster`
starts (`scripts/local_servers.py`)."""

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from invokeai_saas.db import Database
from scripts.local_servers import Nginx, RedisServer
from tests.conftest import SUITE_ENV
from tests.db_fixtures import APP_ROLE, create_pg_database, drop_pg_database, pg_url
from tests.s3_server import S3Server, running_s3_server
from tests.studio import Studio


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
            **SUITE_ENV,
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
