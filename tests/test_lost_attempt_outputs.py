"""A lost attempt leaves nothing behind: a worker killed (`kill -9`) between two image-writing nodes
of an item (an API pod and a worker pod on Postgres, media in S3, short leases). The item goes
back to the queue and completes from its graph on the worker that replaces it; the image the dead attempt
saved is gone (record and objects) and off the storage counter, and the gallery holds exactly the
images of the attempt that completed."""

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from invokeai_saas.db.tables.media import images
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope
from tests.cluster import Cluster
from tests.conftest import unique_email
from tests.graphs import enqueue_batch_body
from tests.studio import Account

LOOP = 1500  # iterations between the two images: a few seconds of node runs on these CPUs


def _edge(src: str, src_field: str, dst: str, dst_field: str) -> dict[str, dict[str, str]]:
    return {"source": {"node_id": src, "field": src_field}, "destination": {"node_id": dst, "field": dst_field}}


def two_images_with_a_wait_between() -> dict[str, Any]:
    """`first` (an image) -> a loop of LOOP node runs that needs no model -> `second` (an image).
    The loop's length comes from `first`'s width, and `second` reads the loop's result as its
    metadata, so the order is fixed by the edges."""
    def node(node_id: str, node_type: str, **fields: Any) -> dict[str, Any]:
        return {"id": node_id, "type": node_type, "use_cache": False, **fields}

    nodes = [
        node("first", "blank_image", width=LOOP, height=8, is_intermediate=False),
        node("range", "range", start=0, step=1),
        node("iterate", "iterate"),
        node("item", "metadata_item", label="step"),
        node("collect", "collect"),
        node("metadata", "metadata"),
        node("second", "blank_image", width=64, height=64, is_intermediate=False),
    ]
    edges = [
        _edge("first", "width", "range", "stop"),
        _edge("range", "collection", "iterate", "collection"),
        _edge("iterate", "item", "item", "value"),
        _edge("item", "item", "collect", "item"),
        _edge("collect", "collection", "metadata", "items"),
        _edge("metadata", "metadata", "second", "metadata"),
    ]
    return {"id": str(uuid.uuid4()), "nodes": {n["id"]: n for n in nodes}, "edges": edges}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("lost-attempt"), lease_seconds=2.0)
    try:
        cluster.start(cluster.pod("api", "api"), cluster.pod("worker", "worker-1"))
        yield cluster
    finally:
        cluster.stop()


def item_row(cluster: Cluster, item_id: int) -> sa.Row:
    db = cluster.database()
    try:
        with system_scope(), db.begin() as conn:
            return conn.execute(sa.select(sq).where(sq.c.item_id == item_id)).one()
    finally:
        db.dispose()


def stored_images(cluster: Cluster, tenant_id: str) -> tuple[dict[str, int], int]:
    """({image name: size_bytes} of every image of the workspace, the workspace's counter)."""
    db = cluster.database()
    try:
        with system_scope(), db.begin() as conn:
            rows = conn.execute(sa.select(images.c.image_name, images.c.size_bytes).where(images.c.tenant_id == tenant_id)).all()
            counter = conn.execute(sa.select(tenants.c.storage_bytes).where(tenants.c.tenant_id == tenant_id)).scalar_one()
    finally:
        db.dispose()
    return {name: size for name, size in rows}, counter


def bucket_bytes_of(cluster: Cluster, image_name: str) -> int:
    """Bytes of every object (image and thumbnail) of `image_name` in the bucket."""
    stem = Path(image_name).stem
    listed = cluster.s3.client().list_objects_v2(Bucket=cluster.s3.bucket, Prefix="studio/")
    return sum(o["Size"] for o in listed.get("Contents", []) if stem in o["Key"])


def result_images(item: dict[str, Any]) -> set[str]:
    return {r["image"]["image_name"] for r in item["session"]["results"].values() if r.get("image")}


def test_a_killed_attempts_image_is_gone_and_uncounted_once_the_item_completes_on_the_retry(cluster: Cluster) -> None:
    api = cluster.pods[0]
    member: Account = api.signup(unique_email("lost"))
    with api.client(member) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(two_images_with_a_wait_between()))
        assert r.status_code in (200, 201), r.text
        item_id = r.json()["item_ids"][0]

        def first_image_saved() -> list[str]:  # its files written and counted
            return [name for name, size in stored_images(cluster, member.tenant_id)[0].items() if size]  # type: ignore[arg-type]

        lost = api.wait_for(first_image_saved, timeout=120, interval=0.05)
        victim = cluster.pods[1]
        os.kill(victim.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
        victim.process.wait(timeout=30)  # type: ignore[union-attr]
        assert len(lost) == 1, f"the loop was too short: both images were saved before the kill ({lost})"
        assert bucket_bytes_of(cluster, lost[0]) > 0
        cluster.start(cluster.pod("worker", "worker-2"))  # the pod's replacement: it reaps the item and runs it

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            assert item["status"] in ("pending", "in_progress", "completed"), item
            return item if item["status"] == "completed" else None

        item = api.wait_for(finished, timeout=180)
        gallery = c.get("/api/v1/images/names", params={"is_intermediate": False}).json()["image_names"]
        assert c.get(f"/api/v1/images/i/{lost[0]}").status_code == 404
    assert item_row(cluster, item_id).attempt == 2
    kept = result_images(item)
    assert len(kept) == 2 and lost[0] not in kept
    assert sorted(gallery) == sorted(kept)  # exactly the completed attempt's images
    sizes, counter = stored_images(cluster, member.tenant_id)  # type: ignore[arg-type]
    assert set(sizes) == kept  # no intermediate or other image of the dead attempt either
    assert counter == sum(sizes.values()) == sum(bucket_bytes_of(cluster, name) for name in kept)
    deadline = time.monotonic() + 10
    while bucket_bytes_of(cluster, lost[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bucket_bytes_of(cluster, lost[0]) == 0  # its image and thumbnail left the bucket


def test_a_stopping_workers_handed_back_item_keeps_no_image_of_the_interrupted_attempt(cluster: Cluster) -> None:
    api, worker = cluster.pods[0], cluster.pods[-1]  # the worker that replaced the killed one
    member: Account = api.signup(unique_email("handback"))
    with api.client(member) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(two_images_with_a_wait_between()))
        assert r.status_code in (200, 201), r.text
        item_id = r.json()["item_ids"][0]

        def first_image_saved() -> list[str]:
            return [name for name, size in stored_images(cluster, member.tenant_id)[0].items() if size]  # type: ignore[arg-type]

        lost = api.wait_for(first_image_saved, timeout=120, interval=0.05)
        worker.process.terminate()  # type: ignore[union-attr]  # SIGTERM: the pod hands its item back as it stops
        worker.process.wait(timeout=60)  # type: ignore[union-attr]
        assert len(lost) == 1, f"the loop was too short: both images were saved before the stop ({lost})"
        assert c.get(f"/api/v1/queue/default/i/{item_id}").json()["status"] == "pending"
        assert c.get("/api/v1/images/names").json()["image_names"] == []
    assert stored_images(cluster, member.tenant_id) == ({}, 0)  # type: ignore[arg-type]
    assert bucket_bytes_of(cluster, lost[0]) == 0
