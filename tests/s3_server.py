"""A real SeaweedFS S3 server for tests (`weed server -s3` in a subprocess, `scripts/local_servers.py`),
so storage tests talk S3 over HTTP.

Its identity file requires signed requests: a client with the wrong secret is refused, as on real S3.
It never listens beyond 127.0.0.1, never phones home (telemetry off), logs to a file in its own temp folder
and is killed and reaped when the session ends, so no `weed` process outlives the tests; the unix sockets
it leaves in /tmp are removed with the folder.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts.local_servers import S3Server, SeaweedS3

__all__ = ["S3Server", "running_s3_server", "s3_server"]


@contextmanager
def running_s3_server(bucket: str = "pingvas-test") -> Iterator[S3Server]:
    # A short folder of our own: the unix socket paths inside it must stay under 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="weed-"))
    weed = SeaweedS3(workdir, workdir, bucket)
    try:
        weed.start()
        yield weed.server
    finally:
        weed.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 server with one bucket, shared by the session; tests isolate by key prefix."""
    with running_s3_server() as server:
        yield server
