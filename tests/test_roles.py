"""`pingvas api` runs no sessions; a `pingvas worker` on the same database runs what the API enqueued."""

import uuid
from collections.abc import Iterator

import pytest

from invokeai_saas.db import Database
from tests.conftest import unique_email
from tests.db_fixtures import APP_ROLE, create_pg_database, drop_pg_database, pg_url
from tests.studio import Studio


@pytest.fixture(scope="module")
def pg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Database]]:
    name = create_pg_database()
    url = pg_url(name)
    db = Database(url, schema="pingvas", app_role=APP_ROLE)
    yield {"PINGVAS_DATABASE_URL": url, "PINGVAS_DB_SCHEMA": "pingvas", "PINGVAS_DB_APP_ROLE": APP_ROLE}, db
    db.dispose()
    drop_pg_database(name)


def test_api_pod_enqueues_and_worker_pod_runs(pg_env: tuple[dict[str, str], Database], tmp_path_factory: pytest.TempPathFactory) -> None:
    env, db = pg_env
    api = Studio("postgres", tmp_path_factory.mktemp("api"), env, db, command="api")
    api.start()
    worker = None
    try:
        member = api.signup(unique_email("roles"))
        with api.client(member) as c:
            assert c.get("/api/v1/queue/default/status").json()["processor"]["is_started"] is False
            graph = {"id": str(uuid.uuid4()), "nodes": {"n": {"id": "n", "type": "add", "a": 1, "b": 1, "use_cache": False}}, "edges": []}
            item_id = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": graph, "runs": 1}}).json()["item_ids"][0]
            assert c.get(f"/api/v1/queue/default/i/{item_id}").json()["status"] == "pending"
        worker = Studio("postgres", tmp_path_factory.mktemp("worker"), env, Database(db.url.render_as_string(hide_password=False), schema="pingvas", app_role=APP_ROLE), command="worker")
        worker.start()
        with api.client(member) as c:
            api.wait_for(lambda: c.get(f"/api/v1/queue/default/i/{item_id}").json()["status"] == "completed", timeout=60)
    finally:
        api.stop()
        if worker:
            worker.stop()
