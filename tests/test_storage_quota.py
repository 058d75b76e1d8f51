"""The storage quota holds under concurrency (SQLite and Postgres, a real studio): a workspace one
byte under its quota that uploads in parallel, or runs a graph saving two images, stores at most
one object more; every refused object, and every write that fails, leaves no record, no file and no
bytes on the counter."""

import io
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from PIL import Image

from billing.entitlements import GB
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope

from tests.conftest import unique_email
from tests.graphs import enqueue_batch_body
from tests.payloads import upload_image
from tests.studio import Account, Studio

UPLOADS = 6


def one_byte_under_a_one_gb_quota(studio: Studio, account: Account) -> None:
    with system_scope(), studio.db.begin() as conn:
        conn.execute(
            sa.update(tenants).where(tenants.c.tenant_id == account.tenant_id)
            .values(overrides=json.dumps({"storage_gb": 1}), storage_bytes=GB - 1)
        )


def stored(studio: Studio, account: Account) -> int:
    with studio.client(account) as c:
        return c.get("/api/v1/tenant").json()["storage_bytes"]


def noise_png(side: int = 700) -> bytes:
    """About 1.5 MB that does not compress: each upload's size is its own."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def media_files(studio: Studio) -> dict[str, int]:
    """Every image and thumbnail file of the studio: {path: bytes}."""
    root = studio.data_dir / "outputs" / "images"
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file() and ".delete" not in str(p)}


def files_of(studio: Studio, image_names: list[str]) -> int:
    root = studio.data_dir / "outputs" / "images"
    return sum(p.stat().st_size for name in image_names for p in root.rglob(f"{Path(name).stem}*") if p.is_file())


def gallery(c: httpx.Client) -> list[str]:
    return c.get("/api/v1/images/names", params={"is_intermediate": False}).json()["image_names"]


def test_parallel_uploads_one_byte_under_the_quota_store_at_most_one_image_more(studio: Studio) -> None:
    alice = studio.signup(unique_email("quota"))
    one_byte_under_a_one_gb_quota(studio, alice)
    bodies = [noise_png() for _ in range(UPLOADS)]
    before = media_files(studio)
    with studio.client(alice) as c:
        with ThreadPoolExecutor(UPLOADS) as pool:
            answers = list(pool.map(lambda body: upload_image(c, body), bodies))
        kept = [a.json()["image_name"] for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code != 201]
        assert len(kept) <= 1, f"{len(kept)} of {UPLOADS} parallel uploads were stored over the quota"
        assert all((a.status_code, a.json()["code"]) == (403, "storage_quota_exceeded") for a in refused), [a.text for a in refused]
        assert sorted(gallery(c)) == sorted(kept)
    # The counter holds exactly what is stored, and a refused upload left no file behind.
    assert stored(studio, alice) == GB - 1 + files_of(studio, kept)
    new_files = set(media_files(studio)) - set(before)
    assert len(new_files) == 2 * len(kept), new_files  # an image and its thumbnail per kept upload
    with studio.client(alice) as c:  # full now: the next upload is refused before anything is written
        assert upload_image(c).status_code == 403


def cmyk_jpeg() -> bytes:
    """An image the studio reads but cannot write as a PNG: its write fails after the record exists
    (answered 500 "Failed to create image" today; once such uploads are converted, this test needs
    another write that fails)."""
    buffer = io.BytesIO()
    Image.new("CMYK", (32, 32), (10, 20, 30, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_an_upload_whose_write_fails_takes_no_room_one_byte_under_the_quota(studio: Studio) -> None:
    carol = studio.signup(unique_email("quota-fail"))
    one_byte_under_a_one_gb_quota(studio, carol)
    before = media_files(studio)
    with studio.client(carol) as c:
        failed = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": "false"},
                        files={"file": ("cmyk.jpg", cmyk_jpeg(), "image/jpeg")})
        assert failed.status_code != 201, "this upload was meant to fail in its write: see cmyk_jpeg()"
        assert (gallery(c), stored(studio, carol)) == ([], GB - 1)
        assert set(media_files(studio)) == set(before)
        kept = upload_image(c, noise_png(64))  # the room the failed write did not take
        assert kept.status_code == 201, kept.text
    assert stored(studio, carol) == GB - 1 + files_of(studio, [kept.json()["image_name"]])


def two_image_graph() -> dict[str, Any]:
    def blank(node_id: str) -> dict[str, Any]:
        return {"id": node_id, "type": "blank_image", "width": 64, "height": 64, "is_intermediate": False, "use_cache": False}

    first, second = blank("first"), blank("second")
    second["color"] = {"r": 10, "g": 200, "b": 30, "a": 255}
    return {"id": str(uuid.uuid4()), "nodes": {"first": first, "second": second}, "edges": []}


def test_a_generation_one_byte_under_the_quota_keeps_one_image_and_fails_on_the_next(studio: Studio) -> None:
    bob = studio.signup(unique_email("quota-gen"))
    one_byte_under_a_one_gb_quota(studio, bob)
    with studio.client(bob) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(two_image_graph()))
        assert r.status_code in (200, 201), r.text  # under the quota: admitted
        item_id = r.json()["item_ids"][0]

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            return item if item["status"] in ("completed", "failed", "canceled") else None

        item = studio.wait_for(finished, timeout=120)
        kept = gallery(c)
    assert (item["status"], len(kept)) == ("failed", 1), (item["status"], item.get("error_message"), kept)
    assert "Storage is full" in (item["error_message"] or "")
    assert stored(studio, bob) == GB - 1 + files_of(studio, kept)
