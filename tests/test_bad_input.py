"""Bad input gets a 4xx with `detail` and `code`, and changes nothing (issue 11's regressions).

Each of the first seven tests holds the input that got a 500 from the operation it names, as
found by fuzzing (tests/test_fuzz.py); the rest hold what the fuzz test found after them.
"""

import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import unique_email
from tests.graphs import enqueue_batch_body
from tests.studio import Account, Studio
from tests.payloads import add_graph, upload_image, user_workflow

BEYOND_64_BITS = 23218661262570164224
PRESET = {"name": "p", "positive_prompt": "a", "negative_prompt": "b", "type": "user"}


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["detail"], body


def presets(c: httpx.Client) -> list[dict[str, object]]:
    """The caller's presets, without the image URL (it carries a fresh cache-buster each time)."""
    return [{k: v for k, v in p.items() if k != "image"} for p in c.get("/api/v1/style_presets/").json()]


@pytest.fixture
def owner(studio: Studio) -> Account:
    return studio.signup(unique_email("bad-input"), "Bad Input")


def test_a_queue_item_id_beyond_64_bits_is_invalid_input(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        assert_refused(c.get(f"/api/v1/queue/default/i/{BEYOND_64_BITS}"), 422, "invalid_input")
        assert_refused(c.delete(f"/api/v1/queue/default/i/{BEYOND_64_BITS}"), 422, "invalid_input")
        assert_refused(c.put(f"/api/v1/queue/default/i/{BEYOND_64_BITS}/cancel"), 422, "invalid_input")
        assert_refused(c.get("/api/v1/images/", params={"offset": BEYOND_64_BITS}), 422, "invalid_input")


def test_retrying_an_id_beyond_64_bits_is_invalid_input(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        assert_refused(c.put("/api/v1/queue/default/retry_items_by_id", json=[2**70]), 422, "invalid_input")


def test_a_style_preset_without_an_image_has_no_image(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        preset = c.post("/api/v1/style_presets/", files={"data": (None, json.dumps(PRESET))})
        assert preset.status_code == 200, preset.text
        assert_refused(c.get(f"/api/v1/style_presets/i/{preset.json()['id']}/image"), 404, "not_found")


def test_style_preset_data_that_is_not_an_object_is_refused_and_changes_nothing(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        preset_id = c.post("/api/v1/style_presets/", files={"data": (None, json.dumps(PRESET))}).json()["id"]
        before = presets(c)
        assert_refused(c.patch(f"/api/v1/style_presets/i/{preset_id}", files={"data": (None, "0")}), 400, "invalid_input")
        assert presets(c) == before


def test_creating_a_style_preset_from_data_that_is_not_an_object_is_refused(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        before = presets(c)
        for data in ("0", "[]", "null", '"name"'):
            assert_refused(c.post("/api/v1/style_presets/", files={"data": (None, data)}), 400, "invalid_input")
        image_is_text = {"data": (None, json.dumps(PRESET)), "image": ("p.png", b"not an image", "image/png")}
        assert_refused(c.post("/api/v1/style_presets/", files=image_is_text), 415, "invalid_input")
        assert presets(c) == before


def test_the_unimplemented_image_upload_entry_is_not_found(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        assert_refused(c.post("/api/v1/images/", json={"width": 0, "height": 0}), 404, "not_found")


def test_a_workflow_without_a_thumbnail_has_none(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        workflow_id = c.post("/api/v1/workflows/", json={"workflow": user_workflow()}).json()["workflow_id"]
        assert_refused(c.get(f"/api/v1/workflows/i/{workflow_id}/thumbnail"), 404, "not_found")
        assert_refused(c.delete(f"/api/v1/workflows/i/{workflow_id}/thumbnail"), 404, "not_found")
        defaults = c.get("/api/v1/workflows/", params={"categories": "default", "per_page": 100}).json()["items"]
        statuses = {c.get(f"/api/v1/workflows/i/{w['workflow_id']}/thumbnail").status_code for w in defaults}
        assert defaults and statuses <= {200, 404}, statuses


def test_a_default_workflow_cannot_be_deleted(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        default = c.get("/api/v1/workflows/", params={"categories": "default"}).json()["items"][0]["workflow_id"]
        assert_refused(c.delete(f"/api/v1/workflows/i/{default}"), 403, "forbidden")
        assert c.get(f"/api/v1/workflows/i/{default}").status_code == 200


def test_a_board_cover_that_does_not_exist_is_not_found_and_changes_nothing(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        board = c.post("/api/v1/boards/", params={"board_name": "cover"}).json()["board_id"]
        r = c.patch(f"/api/v1/boards/{board}", json={"board_name": "0" * 300, "cover_image_name": ""})
        assert_refused(r, 404, "not_found")
        assert c.get(f"/api/v1/boards/{board}").json()["board_name"] == "cover"


def test_a_node_field_of_the_wrong_shape_is_invalid_input(studio: Studio, owner: Account) -> None:
    node = {"id": "x", "type": "t2i_adapter", "weight": [False]}
    body = {"batch": {"graph": {"id": "g", "nodes": {"x": node}, "edges": []}, "runs": 1}, "prepend": False}
    with studio.client(owner) as c:
        assert_refused(c.post("/api/v1/queue/default/enqueue_batch", json=body), 422, "invalid_input")
        assert c.get("/api/v1/queue/default/item_ids").json()["item_ids"] == []


def test_malformed_bodies_are_refused_and_the_connection_stays_open(studio: Studio, owner: Account) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with studio.client(owner) as c:
        enqueue = "/api/v1/queue/default/enqueue_batch"
        assert_refused(c.post(enqueue, content=deep, headers={"content-type": "application/json"}), 400, "invalid_input")
        broken = b'--xx\r\nContent-Disposition: form-data; name="data"\r\n\r\n{'
        assert_refused(c.post("/api/v1/style_presets/", content=broken, headers={"content-type": "multipart/form-data; boundary=xx"}), 422, "invalid_input")
        upload = upload_image(c, b"garbage")
        assert_refused(upload, 415, "invalid_input")
        # An out-of-range value used to escape as an uncaught error, which also dropped the keep-alive connection.
        assert_refused(c.get("/api/v1/images/", params={"offset": BEYOND_64_BITS}), 422, "invalid_input")
        assert c.post(enqueue, json=enqueue_batch_body(add_graph())).status_code == 200
        assert c.get("/api/v1/images/", params={"limit": 1}).status_code == 200


def test_operator_model_maintenance_routes_answer(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops-bad-input"))
    with studio.client(operator) as c:
        # A 204 without a content type used to lose its status line in the gzip responder.
        assert c.delete("/api/v2/models/install", headers={"accept-encoding": "gzip"}).status_code == 204
        orphaned = c.get("/api/v2/models/sync/orphaned")
        assert orphaned.status_code == 200 and isinstance(orphaned.json(), list), orphaned.text


def test_an_image_upload_of_an_image_still_works(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        r = upload_image(c)
        assert r.status_code == 201, r.text


def test_a_board_with_a_long_name_downloads(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        board = c.post("/api/v1/boards/", params={"board_name": "long"}).json()["board_id"]
        assert c.patch(f"/api/v1/boards/{board}", json={"board_name": "0" * 300}).status_code == 201
        upload = upload_image(c, board_id=board)
        assert upload.status_code == 201, upload.text
        r = c.post("/api/v1/images/download", json={"board_id": board})
        assert r.status_code == 202, r.text
        item = r.json()["bulk_download_item_name"]
        assert len(item.encode()) < 255
        # Stock writes the zip in place and deletes it once served: wait until it is whole on disk.
        studio.wait_for(lambda: _zip_entries(studio.data_dir / "outputs" / "bulk_downloads" / item))
        zipped = c.get(f"/api/v1/images/download/{item}")
        assert zipped.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()) == 1


def _zip_entries(path: Path) -> int:
    try:
        return len(zipfile.ZipFile(path).namelist())
    except (OSError, zipfile.BadZipFile):
        return 0


def test_a_zip_fetched_twice_at_once_is_whole_or_gone(studio: Studio, owner: Account) -> None:
    """Stock deletes a zip once served: a fetch racing that delete got a truncated body."""
    with studio.client(owner) as c:
        upload = upload_image(c)
        item = c.post("/api/v1/images/download", json={"image_names": [upload.json()["image_name"]]}).json()["bulk_download_item_name"]
        studio.wait_for(lambda: _zip_entries(studio.data_dir / "outputs" / "bulk_downloads" / item))

    def fetch(_: int) -> tuple[int, bytes]:
        with studio.client(owner) as client:
            r = client.get(f"/api/v1/images/download/{item}")
            return r.status_code, r.content

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fetch, range(4)))
    assert any(status == 200 for status, _ in results), results
    for status, content in results:
        assert status in (200, 404)
        if status == 200:
            assert len(zipfile.ZipFile(io.BytesIO(content)).namelist()) == 1
