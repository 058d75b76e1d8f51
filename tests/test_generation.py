"""A real text-to-image run through the queue with a tiny random-weight SD 1.5 model, on each database."""

import io
from pathlib import Path

from PIL import Image

from tests.conftest import unique_email
from tests.generation import generate
from tests.studio import Studio


def test_member_generates_an_image_only_their_tenant_sees(studio: Studio, tiny_model_key: str, tmp_path: Path) -> None:
    alice = studio.signup(unique_email("alice"), "Alice Co")
    bob = studio.signup(unique_email("bob"), "Bob Co")
    generate(studio, alice, tiny_model_key)
    with studio.client(alice) as c:
        page = c.get("/api/v1/images/", params={"limit": 50, "is_intermediate": False}).json()
        assert page["total"] == 1, page
        image = page["items"][0]
        assert (image["width"], image["height"]) == (64, 64)
        png = c.get(f"/api/v1/images/i/{image['image_name']}/full")
        assert png.status_code == 200
        assert Image.open(io.BytesIO(png.content)).size == (64, 64)
    with studio.client(bob) as c:
        assert c.get("/api/v1/images/", params={"limit": 50}).json()["total"] == 0
        for suffix in ("", "/full", "/thumbnail", "/metadata", "/urls", "/workflow"):
            assert c.get(f"/api/v1/images/i/{image['image_name']}{suffix}").status_code == 404, suffix


def test_identical_runs_in_two_tenants_are_not_served_from_each_others_cache(studio: Studio, tiny_model_key: str) -> None:
    alice = studio.signup(unique_email("alice"))
    bob = studio.signup(unique_email("bob"))
    generate(studio, alice, tiny_model_key, prompt="same", seed=7, use_cache=True)
    generate(studio, alice, tiny_model_key, prompt="same", seed=7, use_cache=True)  # served from Alice's cache
    generate(studio, bob, tiny_model_key, prompt="same", seed=7, use_cache=True)
    # Alice's second run hit her cache (no new image); Bob's identical run was computed for him.
    for member in (alice, bob):
        with studio.client(member) as c:
            page = c.get("/api/v1/images/", params={"limit": 50}).json()
            assert page["total"] == 1, page
            name = page["items"][0]["image_name"]
            assert c.get(f"/api/v1/images/i/{name}/full").status_code == 200
