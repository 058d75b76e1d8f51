"""Installing the tiny model as an operator and generating with it as a member."""

from pathlib import Path
from typing import Any

from tests.graphs import enqueue_batch_body, txt2img_graph
from tests.studio import Account, Studio
from tests.tiny_model import build_tiny_sd15


def install_tiny_model(studio: Studio, operator: Account, folder: Path) -> str:
    model_dir = build_tiny_sd15(folder)
    with studio.client(operator) as c:
        r = c.post("/api/v2/models/install", params={"source": str(model_dir), "inplace": True}, json={})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]

        def installed() -> dict[str, Any] | None:
            job = c.get(f"/api/v2/models/install/{job_id}").json()
            assert job["status"] not in ("error", "cancelled"), job
            return job if job["status"] == "completed" else None

        job = studio.wait_for(installed, timeout=120)
    return job["config_out"]["key"]


def generate(
    studio: Studio, member: Account, model_key: str, prompt: str = "a cat", seed: int = 1, use_cache: bool = False
) -> dict[str, Any]:
    """Enqueue one txt2img run and wait for it; returns the finished queue item."""
    with studio.client(member) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(txt2img_graph(model_key, prompt=prompt, seed=seed, use_cache=use_cache)))
        assert r.status_code in (200, 201), r.text
        item_id = r.json()["item_ids"][0]

        def finished() -> dict[str, Any] | None:
            item = c.get(f"/api/v1/queue/default/i/{item_id}").json()
            assert item["status"] not in ("failed", "canceled"), item
            return item if item["status"] == "completed" else None

        return studio.wait_for(finished, timeout=180)
