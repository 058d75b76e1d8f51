"""After a database restart (what an Aurora failover looks like to a pod), the studio resumes on its
own: every queued item completes, each charged once, and the worker never stops.

`pingvas serve` on a Postgres cluster of the test's own (`private_postgres.py`), two workspaces with
work queued, the cluster restarted with `-m fast` while items run."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from invokeai_saas.db import Database
from invokeai_saas.db.tables.billing import credit_ledger
from invokeai_saas.db.tables.session_queue import session_queue
from tenant_middleware.context import system_scope
from tests import http
from tests.conftest import SUITE_ENV, unique_email
from tests.db_fixtures import APP_ROLE
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.studio import Studio
from tests.test_worker_faults import counting_graph, enqueue

ITEMS_PER_WORKSPACE = 12


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        cluster.create_database("pingvas")
        yield cluster


@pytest.fixture(scope="module")
def studio(cluster: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    url = cluster.url("pingvas")
    env = {"PINGVAS_DATABASE_URL": url, "PINGVAS_DB_SCHEMA": "pingvas", "PINGVAS_DB_APP_ROLE": APP_ROLE, "PINGVAS_LEASE_SECONDS": "6"}
    studio = Studio("postgres", Path(tmp_path_factory.mktemp("restart")), env | SUITE_ENV, Database(url, schema="pingvas"))
    studio.start()
    yield studio
    studio.stop()


def statuses(db: Database) -> dict[str, int]:
    with system_scope(), db.begin() as conn:
        rows = conn.execute(sa.select(session_queue.c.status, sa.func.count()).group_by(session_queue.c.status)).all()
    return dict(rows)


def test_every_item_completes_once_charged_after_a_database_restart(studio: Studio, cluster: PrivatePostgres) -> None:
    owners = [studio.signup(unique_email(f"restart{n}")) for n in range(2)]
    for owner in owners:
        r = enqueue(studio, owner, counting_graph(150), runs=ITEMS_PER_WORKSPACE)
        assert r.status_code == 200, r.text
    total = ITEMS_PER_WORKSPACE * len(owners)
    studio.wait_for(lambda: statuses(studio.db).get("completed", 0) >= 2, timeout=120, interval=0.1)

    cluster.restart()
    studio.db.dispose()  # the test's own connections were dropped too
    time.sleep(1)

    done = studio.wait_for(lambda: statuses(studio.db).get("completed", 0) == total and statuses(studio.db), timeout=240, interval=1)
    assert done == {"completed": total}, done
    with system_scope(), studio.db.begin() as conn:
        charged = conn.execute(
            sa.select(credit_ledger.c.item_id, sa.func.count(sa.distinct(credit_ledger.c.attempt)))
            .where(credit_ledger.c.kind == "usage")
            .group_by(credit_ledger.c.item_id)
        ).all()
    assert len(charged) == total and all(attempts == 1 for _, attempts in charged), charged
    for path in ("/healthz", "/readyz"):
        assert http.get(studio.url + path).status_code == 200, path
    r = enqueue(studio, owners[0], counting_graph(10))  # and new work still runs
    item_id = r.json()["item_ids"][0]
    studio.wait_for(lambda: http.get(f"{studio.url}/api/v1/queue/default/i/{item_id}", headers=owners[0].headers).json()["status"] == "completed")
