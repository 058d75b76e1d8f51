"""The S3 file stores against a real SeaweedFS server that requires signatures (`tests/s3_server.py`).

Every test writes under its own key prefix, and every pod is a store instance with its own cache folder.
"""

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from invokeai.app.services.image_files.image_files_common import ImageFileNotFoundException
from invokeai.app.services.style_preset_images.style_preset_images_common import StylePresetImageFileNotFoundException
from invokeai.app.services.style_preset_records.style_preset_records_common import (
    PresetData,
    PresetType,
    StylePresetRecordDTO,
)
from invokeai.app.services.urls.urls_default import LocalUrlService
from invokeai.app.services.workflow_records.workflow_records_common import Workflow, WorkflowRecordDTO
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_common import WorkflowThumbnailFileNotFoundException
from invokeai_saas.media.image_files_s3 import S3ImageFileStorage
from invokeai_saas.media.media_files_s3 import (
    S3StylePresetImageFileStorage,
    S3VideoFileStorage,
    S3WorkflowThumbnailFileStorage,
)
from invokeai_saas.core.settings import parse_storage_url
from invokeai_saas.media.s3 import ObjectNotFound, ObjectStore, make_client
from tests.payloads import user_workflow
from tests.s3_server import S3Server, s3_server  # noqa: F401

METADATA = '{"seed": 42}'
WORKFLOW = '{"name": "wf", "nodes": []}'
GRAPH = '{"id": "g", "nodes": {}, "edges": []}'


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:  # noqa: F811
    return ObjectStore(s3_server.client(), s3_server.bucket, f"tests/{uuid.uuid4().hex}")


def pod(store: ObjectStore, tmp_path: Path) -> S3ImageFileStorage:
    """Another pod: the same bucket and prefix, its own empty cache folder."""
    return S3ImageFileStorage(store, tmp_path / uuid.uuid4().hex)


def picture(size: tuple[int, int] = (300, 200)) -> Image.Image:
    image = Image.new("RGB", size)
    image.putdata([(x % 256, y % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    return image


def save_one(images: S3ImageFileStorage, name: str = "a.png", subfolder: str = "") -> Image.Image:
    image = picture()
    images.save(image.copy(), name, metadata=METADATA, workflow=WORKFLOW, graph=GRAPH, image_subfolder=subfolder)
    return image


def test_a_saved_image_comes_back_identical_with_its_metadata_workflow_and_graph(store: ObjectStore, tmp_path: Path) -> None:
    original = save_one(pod(store, tmp_path))

    other = pod(store, tmp_path)
    loaded = other.get("a.png")
    assert loaded.tobytes() == original.tobytes() and loaded.size == original.size
    assert loaded.info["invokeai_metadata"] == METADATA
    assert other.get_workflow("a.png") == WORKFLOW and other.get_graph("a.png") == GRAPH
    stored = Image.open(io.BytesIO(store.get_bytes("images/a.png")))
    assert stored.format == "PNG" and stored.info["invokeai_graph"] == GRAPH


def test_every_saved_image_has_a_webp_thumbnail_in_the_bucket(store: ObjectStore, tmp_path: Path) -> None:
    save_one(pod(store, tmp_path))
    thumbnail = Image.open(io.BytesIO(store.get_bytes("thumbnails/a.webp")))
    assert thumbnail.format == "WEBP" and max(thumbnail.size) == 256


def test_another_pod_with_an_empty_cache_downloads_the_image_on_get_path(store: ObjectStore, tmp_path: Path) -> None:
    save_one(pod(store, tmp_path))

    other = pod(store, tmp_path)
    path = other.get_path("a.png")
    assert path.read_bytes() == store.get_bytes("images/a.png") and path.is_relative_to(other.image_root)
    thumbnail = other.get_path("a.png", thumbnail=True)
    assert thumbnail.read_bytes() == store.get_bytes("thumbnails/a.webp")
    assert thumbnail.is_relative_to(other.thumbnail_root)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temp file left beside it


def test_a_missing_image_is_not_found_and_its_path_holds_no_file(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    assert not images.get_path("nope.png").exists()
    assert not images.validate_path(str(images.get_path("nope.png")))
    with pytest.raises(ImageFileNotFoundException):
        images.get("nope.png")


def test_a_committed_delete_removes_the_objects_and_the_local_copies(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    save_one(images, "a.png")
    save_one(images, "b.png", subfolder="x")
    path = images.get_path("a.png")

    token = images.begin_delete([("a.png", ""), ("b.png", "x")])
    images.commit_delete(token)

    for key in ("images/a.png", "thumbnails/a.webp", "images/x/b.png", "thumbnails/x/b.webp"):
        assert not store.exists(key), key
    assert not path.exists()
    with pytest.raises(ImageFileNotFoundException):
        images.get("a.png")


def test_a_commit_narrowed_to_the_deleted_records_keeps_the_others(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    save_one(images, "a.png")
    save_one(images, "b.png")

    images.commit_delete(images.begin_delete([("a.png", ""), ("b.png", "")]), image_names=["a.png"])

    assert not store.exists("images/a.png") and store.exists("images/b.png")


def test_a_rolled_back_or_abandoned_delete_keeps_every_object(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    original = save_one(images)

    images.rollback_delete(images.stage_delete("a.png"))
    images.abandon_delete(images.begin_delete([("a.png", "")]))

    assert store.exists("images/a.png") and store.exists("thumbnails/a.webp")
    assert pod(store, tmp_path).get("a.png").tobytes() == original.tobytes()


def test_a_pod_that_dies_between_begin_and_commit_leaves_the_objects_intact(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    original = save_one(images)
    images.stage_delete("a.png")
    images.begin_delete([("a.png", "")])
    del images  # the crash: no commit, no rollback

    assert store.exists("images/a.png") and store.exists("thumbnails/a.webp")
    assert pod(store, tmp_path).get("a.png").tobytes() == original.tobytes()


def test_delete_removes_an_image_and_its_thumbnail(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    save_one(images, subfolder="2024/05")

    images.delete("a.png", image_subfolder="2024/05")

    assert not store.exists("images/2024/05/a.png") and not store.exists("thumbnails/2024/05/a.webp")


def test_subfolders_keep_same_named_images_apart_and_refuse_traversal(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    images.save(picture((10, 10)), "same.png", image_subfolder="one")
    images.save(picture((20, 20)), "same.png", image_subfolder="one/two")

    other = pod(store, tmp_path)
    assert other.get("same.png", image_subfolder="one").size == (10, 10)
    assert other.get("same.png", image_subfolder="one/two").size == (20, 20)
    assert other.get_path("same.png", image_subfolder="one/two") == other.image_root / "one" / "two" / "same.png"
    for name, subfolder in (("../x.png", ""), ("x.png", "../up"), ("x.png", "a//b"), ("x.png", "/abs"), ("..", "")):
        with pytest.raises(ValueError):
            images.get_path(name, image_subfolder=subfolder)


def test_moving_an_image_to_another_subfolder_carries_its_thumbnail(store: ObjectStore, tmp_path: Path) -> None:
    images = pod(store, tmp_path)
    save_one(images, subfolder="old")

    images.move("a.png", "old", "new")

    assert store.exists("images/new/a.png") and store.exists("thumbnails/new/a.webp")
    assert not store.exists("images/old/a.png") and not store.exists("thumbnails/old/a.webp")


def test_the_server_refuses_a_request_signed_with_the_wrong_secret(s3_server: S3Server, store: ObjectStore) -> None:  # noqa: F811
    store.put_bytes("secret.txt", b"x", "text/plain")
    with pytest.raises(ClientError) as refused:
        s3_server.client(secret_key="not-the-secret").get_object(Bucket=store.bucket, Key=store.full_key("secret.txt"))
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError):
        ObjectStore(s3_server.client(secret_key="not-the-secret"), s3_server.bucket).ping()
    with httpx.Client(timeout=30) as anonymous:
        assert anonymous.get(f"{s3_server.endpoint_url}/{store.bucket}/{store.full_key('secret.txt')}").status_code == 403


def test_a_presigned_url_serves_the_bytes_to_a_plain_get_until_it_expires(store: ObjectStore) -> None:
    store.put_bytes("file.png", b"png bytes", "image/png")
    with httpx.Client(timeout=30) as browser:
        response = browser.get(store.presigned_url("file.png", expires_s=60))
        assert response.status_code == 200 and response.content == b"png bytes"
        assert response.headers["content-type"] == "image/png"
        assert browser.get(store.presigned_url("file.png", content_type="image/webp")).headers["content-type"] == "image/webp"

        short = store.presigned_url("file.png", expires_s=1)
        time.sleep(2)
        assert browser.get(short).status_code == 403


def test_the_client_reads_its_endpoint_and_credentials_from_the_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    assert parse_storage_url(f"s3://{s3_server.bucket}/tenants/t1/") == (s3_server.bucket, "tenants/t1")

    store = ObjectStore.from_url(f"s3://{s3_server.bucket}/env-{uuid.uuid4().hex}", make_client(read_timeout=30))
    store.ping()
    store.put_bytes("a", b"1")
    assert store.get_bytes("a") == b"1"


def test_the_object_store_copies_deletes_and_reports_missing_objects(store: ObjectStore) -> None:
    store.put_bytes("a", b"1")
    store.copy("a", "b")
    assert store.get_bytes("b") == b"1"

    store.delete_many(["a", "b", "never-existed"])

    assert not store.exists("a") and not store.exists("b")
    with pytest.raises(ObjectNotFound) as missing:
        store.get_bytes("a")
    assert isinstance(missing.value, FileNotFoundError)
    with pytest.raises(ValueError):
        parse_storage_url("https://bucket/prefix")


def test_a_video_round_trips_with_its_thumbnail_and_sidecar(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.mp4"
    content = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    source.write_bytes(content)
    videos = S3VideoFileStorage(store, tmp_path / "pod-a")
    videos.save(source, "v.mp4", video_subfolder="s", workflow=WORKFLOW, graph=GRAPH, first_frame=picture())
    assert not source.exists()  # consumed, as stock moves it

    other = S3VideoFileStorage(store, tmp_path / "pod-b")
    assert other.get_path("v.mp4", video_subfolder="s").read_bytes() == content
    assert Image.open(other.get_path("v.mp4", thumbnail=True, video_subfolder="s")).format == "WEBP"
    assert other.get_workflow("v.mp4", "s") == WORKFLOW and other.get_graph("v.mp4", "s") == GRAPH

    other.rollback_delete(other.stage_delete("v.mp4", "s"))
    assert store.exists("videos/s/v.mp4")
    other.delete("v.mp4", "s")
    assert [store.exists(k) for k in ("videos/s/v.mp4", "videos/thumbnails/s/v.webp", "videos/sidecars/s/v.json")] == [False] * 3
    assert other.get_workflow("v.mp4", "s") is None


def invoker(**records: Any) -> Any:
    """What the preset and workflow stores read from InvokeAI's services: the records and the URL service."""
    return SimpleNamespace(services=SimpleNamespace(urls=LocalUrlService(), **records))


def preset(preset_id: str, preset_type: PresetType, name: str = "mine") -> StylePresetRecordDTO:
    data = PresetData(positive_prompt="", negative_prompt="")
    return StylePresetRecordDTO(id=preset_id, user_id="u", name=name, preset_data=data, type=preset_type)


@pytest.fixture
def presets(store: ObjectStore, tmp_path: Path) -> Iterator[tuple[S3StylePresetImageFileStorage, S3StylePresetImageFileStorage]]:
    records = {"p1": preset("p1", PresetType.User), "d1": preset("d1", PresetType.Default, name="Anime")}
    pods = (S3StylePresetImageFileStorage(store, tmp_path / "a"), S3StylePresetImageFileStorage(store, tmp_path / "b"))
    for p in pods:
        p.start(invoker(style_preset_records=records))
    yield pods


def test_a_style_preset_image_round_trips_behind_the_apps_own_url(presets: Any, store: ObjectStore) -> None:
    one, other = presets
    assert one.get_url("p1") is None
    one.save("p1", picture())

    assert store.exists("style_preset_images/p1.webp")
    assert other.get("p1").size == (256, 171)
    url = other.get_url("p1")
    assert url is not None and url.startswith("api/v1/style_presets/i/p1/image?")
    other.delete("p1")
    assert one.get_url("p1") is None
    with pytest.raises(StylePresetImageFileNotFoundException):
        one.delete("p1")


def test_a_default_style_preset_image_comes_from_invokeai_not_the_bucket(presets: Any) -> None:
    one, _ = presets
    assert one.get_path("d1").name == "Anime.png" and one.get_path("d1").exists()
    assert one.get_url("d1") is not None


def test_a_workflow_thumbnail_round_trips_behind_the_apps_own_url(store: ObjectStore, tmp_path: Path) -> None:
    workflow = Workflow(id="w1", **user_workflow())
    record = WorkflowRecordDTO(workflow_id="w1", name="test", created_at="now", updated_at="now", user_id="u",
                               is_public=False, workflow=workflow)
    one, other = S3WorkflowThumbnailFileStorage(store, tmp_path / "a"), S3WorkflowThumbnailFileStorage(store, tmp_path / "b")
    for p in (one, other):
        p.start(invoker(workflow_records={"w1": record}))

    one.save("w1", picture())

    assert other.get_url("w1", with_hash=False) == "api/v1/workflows/i/w1/thumbnail"
    assert Image.open(other.get_path("w1")).format == "WEBP"
    other.delete("w1")
    assert not store.exists("workflow_thumbnails/w1.webp") and one.get_url("w1") is None
    with pytest.raises(WorkflowThumbnailFileNotFoundException):
        other.delete("w1")
