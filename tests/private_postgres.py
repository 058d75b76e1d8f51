"""A Postgres cluster of a test's own (initdb in a temporary folder, a free port), for tests that stop
or restart the database server: the machine's shared cluster is never touched."""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.studio import free_port

USER = "postgres"  # initdb and the server refuse to run as root


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or name]
    return found[-1]


def _as_postgres(*args: str) -> None:
    command = list(args) if os.geteuid() != 0 else ["runuser", "-u", USER, "--", *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)


@dataclass
class PrivatePostgres:
    folder: Path
    port: int

    @property
    def data(self) -> str:
        return str(self.folder / "data")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def pg_ctl(self, *args: str) -> None:
        _as_postgres(_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", *args)

    def restart(self) -> None:
        """What a failover looks like to a pod: every connection dropped, the server back a moment later."""
        self.pg_ctl("restart", "-m", "fast", "-l", str(self.folder / "server.log"))


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="pingvas-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, USER)
        cluster = PrivatePostgres(folder, free_port())
        _as_postgres(_bin("initdb"), "-D", cluster.data, "-U", USER, "--auth=trust", "--no-sync")
        options = f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        cluster.pg_ctl("start", "-o", options, "-l", str(folder / "server.log"))
        try:
            yield cluster
        finally:
            cluster.pg_ctl("stop", "-m", "immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
