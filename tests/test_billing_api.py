"""Credits through the HTTP API of a running studio (SQLite and Postgres): a new workspace's trial,
a real generation charged its device time, the usage page, a receipt only its workspace can read,
and the price of a batch before it is queued."""

import io
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from invokeai_saas.db.tables.media import images
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope

from tests.conftest import unique_email
from tests.generation import generate
from tests.graphs import enqueue_batch_body, txt2img_graph
from tests.payloads import upload_image
from tests.studio import Studio


def test_a_new_workspace_starts_on_a_trial(studio: Studio) -> None:
    alice = studio.signup(unique_email("alice"))
    with studio.client(alice) as c:
        tenant = c.get("/api/v1/tenant").json()
    assert (tenant["plan"], tenant["credits"], tenant["concurrent_queues"], tenant["subscription"]) == ("starter", 300, 1, None)
    assert "generate" in tenant["features"] and "flux_models" not in tenant["features"]
    assert tenant["storage_limit_bytes"] == 20 * 1024**3
    ends = datetime.fromisoformat(tenant["trial_ends_at"])
    assert timedelta(days=13, hours=23) < ends - datetime.utcnow() <= timedelta(days=14)


def test_a_generation_is_charged_its_device_time_and_the_receipt_is_the_workspaces_own(
    studio: Studio, tiny_model_key: str
) -> None:
    alice, bob = studio.signup(unique_email("alice")), studio.signup(unique_email("bob"))
    body = enqueue_batch_body(txt2img_graph(tiny_model_key, seed=3))
    with studio.client(alice) as c:
        estimate = c.post("/api/v1/billing/estimate", json={"batch": body["batch"]}).json()
        assert (estimate["sessions"], estimate["credits"], estimate["allowed"], estimate["balance"]) == (1, 1, True, 300)
    item = generate(studio, alice, tiny_model_key, seed=3)
    held = (datetime.fromisoformat(item["completed_at"]) - datetime.fromisoformat(item["started_at"])).total_seconds()
    with studio.client(alice) as c:
        receipt = c.get(f"/api/v1/billing/usage/items/{item['item_id']}").json()
        usage = c.get("/api/v1/billing/usage").json()
        credits = c.get("/api/v1/tenant").json()["credits"]
    charged = receipt["credits_charged"]
    assert charged >= 1 and abs(charged - math.ceil(held)) <= 1, (charged, held)
    assert credits == usage["credits"] == 300 - charged
    # One entry, or slices charged while it ran (a heartbeat every 10 s) and the rest when it ended.
    charges = [(e["kind"], -e["amount"]) for e in usage["entries"] if e["item_id"] == item["item_id"]]
    assert {kind for kind, _ in charges} == {"usage"} and sum(amount for _, amount in charges) == charged
    assert usage["days"][-1]["spent"] == charged
    assert "attempt 1" in receipt["explanation"]
    with studio.client(bob) as c:
        assert c.get(f"/api/v1/billing/usage/items/{item['item_id']}").status_code == 404
        assert c.get("/api/v1/billing/usage").json()["entries"][0]["kind"] == "grant"  # only Bob's trial


def png_bytes_of(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((16 + seed, 16), 40 + seed).save(buffer, format="PNG")  # each a different size
    return buffer.getvalue()


def stored(studio: Studio, account: object) -> int:
    with studio.client(account) as c:  # type: ignore[arg-type]
        return c.get("/api/v1/tenant").json()["storage_bytes"]


def files_on_disk(studio: Studio, image_names: list[str]) -> int:
    root = studio.data_dir / "outputs" / "images"
    return sum(p.stat().st_size for name in image_names for p in root.rglob(f"{Path(name).stem}*") if p.is_file())


def test_stored_bytes_stay_exact_under_concurrent_uploads_and_deletes_and_recount_repairs_drift(studio: Studio) -> None:
    alice = studio.signup(unique_email("alice"))
    with studio.client(alice) as c:
        with ThreadPoolExecutor(6) as pool:
            uploads = list(pool.map(lambda i: upload_image(c, png_bytes_of(i)).json()["image_name"], range(12)))
        assert stored(studio, alice) == files_on_disk(studio, uploads) > 0
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda n: c.delete(f"/api/v1/images/i/{n}").status_code, uploads[:6]))
        assert set(codes) == {200}
    kept = uploads[6:]
    assert stored(studio, alice) == files_on_disk(studio, kept)

    with system_scope(), studio.db.begin() as conn:  # drift: a pod died between the files and their size
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == alice.tenant_id).values(storage_bytes=1))
        conn.execute(sa.update(images).where(images.c.image_name == kept[0]).values(size_bytes=0))
    done = subprocess.run(
        [sys.executable, "-m", "invokeai_saas.wiring.cli", "recount-storage", "--data-dir", str(studio.data_dir)],
        env={**os.environ, **studio.env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert alice.tenant_id in done.stdout
    assert stored(studio, alice) == files_on_disk(studio, kept)


def test_a_full_workspace_cannot_upload_or_queue_generation(studio: Studio, tiny_model_key: str) -> None:
    alice = studio.signup(unique_email("alice"))
    with system_scope(), studio.db.begin() as conn:  # an enterprise contract's quota of 0 GB: full at once
        conn.execute(
            sa.update(tenants).where(tenants.c.tenant_id == alice.tenant_id).values(overrides=json.dumps({"storage_gb": 0}))
        )
    with studio.client(alice) as c:
        refused = upload_image(c)
        assert (refused.status_code, refused.json()["code"]) == (403, "storage_quota_exceeded"), refused.text
        body = enqueue_batch_body(txt2img_graph(tiny_model_key))
        queued = c.post("/api/v1/queue/default/enqueue_batch", json=body)
        assert (queued.status_code, queued.json()["code"]) == (403, "storage_quota_exceeded"), queued.text
        assert c.get("/api/v1/images/", params={"limit": 5}).json()["total"] == 0
        assert c.get("/api/v1/queue/default/status").json()["queue"]["total"] == 0
