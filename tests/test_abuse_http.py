"""Abuse over HTTP (issue 21): request bodies are bounded, sign-in guesses always count against the
account, InvokeAI's packaged defaults stay as shipped, and a route's inner 404 is never a 500.

One studio for the module: SQLite, 127.0.0.1 a trusted proxy (each sign-in names its own client in
X-Forwarded-For), `LIMIT` failed sign-ins a minute, and a small `PINGVAS_MAX_BODY_BYTES` so an
over-limit body is quick to send.
"""

import hashlib
import io
import random
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import HTTPException
from invokeai.app.services.style_preset_images import style_preset_images_disk
from invokeai.app.services.style_preset_images.style_preset_images_common import StylePresetImageFileNotFoundException
from invokeai.app.services.style_preset_images.style_preset_images_disk import StylePresetImageFileStorageDisk
from invokeai.app.services.style_preset_records.style_preset_records_common import PresetData, PresetType, StylePresetRecordDTO
from invokeai.app.services.urls.urls_default import LocalUrlService
from PIL import Image

import patches

from invokeai_saas.core.body_limits import AUTH_BODY_LIMIT
from invokeai_saas.wiring.client_errors import client_error
from tests import http
from tests.conftest import running_studio, unique_email
from tests.graphs import enqueue_batch_body
from tests.payloads import add_graph, png_bytes, upload_image
from tests.studio import Account, Studio

LIMIT = 3
MAX_BODY = 64 * 1024
LOGIN = "/api/v1/auth/login"
DEFAULT_IMAGES = Path(style_preset_images_disk.__file__).parent / "default_style_preset_images"


def fresh_address() -> str:
    return str(IPv4Address(random.randrange(0x0A000001, 0x0AFFFFFF)))


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text[:300]
    assert r.json()["code"] == code and r.json()["detail"], r.json()


def chunked(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """The body as a stream: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    env = {"PINGVAS_TRUSTED_PROXIES": "127.0.0.1", "PINGVAS_LOGIN_RATE_LIMIT": f"{LIMIT}/minute",
           "PINGVAS_MAX_BODY_BYTES": str(MAX_BODY)}
    with running_studio("sqlite", tmp_path_factory.mktemp("studio-abuse"), env) as studio:
        yield studio


@pytest.fixture(scope="module")
def owner(studio: Studio) -> Account:
    return studio.signup(unique_email("abuse"), "Abuse")


@pytest.fixture(scope="module")
def packaged_images() -> Iterator[dict[Path, bytes]]:
    """InvokeAI's default preset images as installed. Should a regression delete or change one, it is
    put back afterwards, so one failing test never breaks the rest of the run (or the next one)."""
    shipped = {path: path.read_bytes() for path in DEFAULT_IMAGES.glob("*.png")}
    assert shipped, f"no default style preset images in {DEFAULT_IMAGES}"
    yield shipped
    for path, content in shipped.items():
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)


# --- sign-in limits ---------------------------------------------------------------------------------


def _login(studio: Studio, email: str, password: str, pad: int = 0) -> httpx.Response:
    body = {"email": email, "password": password, **({"pad": "x" * pad} if pad else {})}
    return http.post(f"{studio.url}{LOGIN}", json=body, headers={"X-Forwarded-For": fresh_address()})


def test_padding_a_sign_in_never_escapes_the_accounts_limit(studio: Studio) -> None:
    victim = studio.signup(unique_email("victim"), "Victim")
    past_the_limit, within_it = 70 * 1024, AUTH_BODY_LIMIT - 200
    for _ in range(LIMIT + 2):  # padded past the limit: refused unread, so no answer says anything about the password
        assert_refused(_login(studio, victim.email, "Wrong!pass1", past_the_limit), 413, "payload_too_large")
    assert_refused(_login(studio, victim.email, victim.password, past_the_limit), 413, "payload_too_large")
    for _ in range(LIMIT):  # every body the server reads is counted against the account, padded or not
        assert _login(studio, victim.email, "Wrong!pass1", within_it).status_code == 401
    r = _login(studio, victim.email, victim.password, within_it)
    assert_refused(r, 429, "rate_limited")
    assert_refused(_login(studio, victim.email, victim.password), 429, "rate_limited")


@pytest.mark.parametrize("path", [LOGIN, "/api/v1/signup", "/api/v1/invitations/accept", "/api/v1/auth/setup"])
def test_a_big_body_to_a_sign_in_or_sign_up_route_is_refused_with_or_without_its_length(studio: Studio, path: str) -> None:
    body = b'{"email": "a@example.com", "password": "' + b"x" * (AUTH_BODY_LIMIT + 1) + b'"}'
    headers = {"Content-Type": "application/json", "X-Forwarded-For": fresh_address()}
    assert_refused(http.post(f"{studio.url}{path}", content=body, headers=headers), 413, "payload_too_large")
    assert_refused(http.post(f"{studio.url}{path}", content=chunked(body), headers=headers), 413, "payload_too_large")
    multipart = {**headers, "Content-Type": "multipart/form-data; boundary=xx"}
    assert_refused(http.post(f"{studio.url}{path}", content=body, headers=multipart), 413, "payload_too_large")


# --- every other body -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_on_any_route_but_an_upload(studio: Studio, owner: Account) -> None:
    graph = add_graph()
    graph["nodes"]["add"]["pad"] = "x" * MAX_BODY  # type: ignore[index]
    big = httpx.Request("POST", "http://x", json=enqueue_batch_body(graph)).content
    noise = io.BytesIO()
    Image.frombytes("RGB", (256, 256), random.randbytes(256 * 256 * 3)).save(noise, format="PNG")
    assert len(noise.getvalue()) > 2 * MAX_BODY
    enqueue, json_type = "/api/v1/queue/default/enqueue_batch", {"Content-Type": "application/json"}
    with studio.client(owner) as c:
        queued = c.get("/api/v1/queue/default/item_ids").json()["item_ids"]
        assert_refused(c.post(enqueue, content=big, headers=json_type), 413, "payload_too_large")
        assert_refused(c.post(enqueue, content=chunked(big), headers=json_type), 413, "payload_too_large")
        # a JSON route reads a body of any other type whole too: calling it an upload changes nothing
        as_upload = {"Content-Type": "multipart/form-data; boundary=xx"}
        assert_refused(c.post(enqueue, content=big, headers=as_upload), 413, "payload_too_large")
        assert_refused(c.post("/api/v1/workflows/", content=chunked(big), headers=json_type), 413, "payload_too_large")
        assert c.get("/api/v1/queue/default/item_ids").json()["item_ids"] == queued
        assert c.post(enqueue, json=enqueue_batch_body(add_graph())).status_code == 200, "a body within the limit goes through"
        upload = upload_image(c, noise.getvalue())  # an upload has limits of its own, not this one
        assert upload.status_code == 201, upload.text[:300]
        assert c.get(f"/api/v1/images/i/{upload.json()['image_name']}/full").content[:8] == b"\x89PNG\r\n\x1a\n"


# --- InvokeAI's packaged defaults -----------------------------------------------------------------


def _defaults(studio: Studio, account: Account) -> dict[str, str]:
    """Default preset name → id, as the account lists them."""
    with studio.client(account) as c:
        return {p["name"]: p["id"] for p in c.get("/api/v1/style_presets/").json() if p["type"] == "default"}


def test_a_workspace_owner_cannot_change_or_delete_a_default_preset_or_its_image(
    studio: Studio, owner: Account, packaged_images: dict[Path, bytes]
) -> None:
    other = studio.signup(unique_email("neighbour"), "Neighbour")
    name = sorted(n for n in _defaults(studio, owner) if n != "Anime")[0]
    preset_id, image = _defaults(studio, owner)[name], DEFAULT_IMAGES / f"{name}.png"
    before = digest(image)
    data = {"data": (None, '{"name": "mine", "positive_prompt": "a", "negative_prompt": "b", "type": "default"}')}
    with studio.client(owner) as c:
        assert_refused(c.delete(f"/api/v1/style_presets/i/{preset_id}"), 403, "forbidden")
        assert_refused(c.patch(f"/api/v1/style_presets/i/{preset_id}", files=data), 403, "forbidden")
        with_image = {**data, "image": ("p.png", png_bytes(), "image/png")}
        assert_refused(c.patch(f"/api/v1/style_presets/i/{preset_id}", files=with_image), 403, "forbidden")
        # a preset of the owner's own, typed "default", would be served from (and deleted in) InvokeAI's folder
        assert_refused(c.post("/api/v1/style_presets/", files=data), 403, "forbidden")
        assert [p for p in c.get("/api/v1/style_presets/").json() if p["name"] == "mine"] == []
    assert image.exists() and digest(image) == before
    with studio.client(other) as c:
        r = c.get(f"/api/v1/style_presets/i/{preset_id}/image")
        assert r.status_code == 200 and r.content == packaged_images[image]
        assert _defaults(studio, other)[name] == preset_id


def test_an_operator_deleting_a_default_preset_leaves_invokeais_file_alone(
    studio: Studio, owner: Account, packaged_images: dict[Path, bytes]
) -> None:
    operator = studio.operator(unique_email("ops"))
    name = sorted(n for n in _defaults(studio, operator) if n != "Anime")[-1]
    preset_id, image = _defaults(studio, operator)[name], DEFAULT_IMAGES / f"{name}.png"
    before = digest(image)
    with studio.client(operator) as c:
        assert c.patch(f"/api/v1/style_presets/i/{preset_id}", files={"data": (None, f'{{"name": "{name}", '
                       '"positive_prompt": "a", "negative_prompt": "b", "type": "default"}')}).status_code == 200
        assert c.delete(f"/api/v1/style_presets/i/{preset_id}").status_code == 200
    assert image.exists() and digest(image) == before


def test_invokeais_disk_store_never_deletes_or_escapes_its_packaged_images(tmp_path: Path, packaged_images: dict[Path, bytes]) -> None:
    patches.apply_all()  # what the app applies at start
    shipped = sorted(packaged_images)[1]
    data = PresetData(positive_prompt="", negative_prompt="")
    records = {key: StylePresetRecordDTO(id=key, user_id="u", name=name, preset_data=data, type=kind) for key, name, kind in [
        ("default", shipped.stem, PresetType.Default), ("escaping", "../../../../../outside", PresetType.Default),
        ("mine", "mine", PresetType.User)]}
    store = StylePresetImageFileStorageDisk(tmp_path / "images")
    store.start(SimpleNamespace(services=SimpleNamespace(style_preset_records=records, urls=LocalUrlService())))  # type: ignore[arg-type]
    with pytest.raises(StylePresetImageFileNotFoundException):
        store.delete("default")
    assert shipped.read_bytes() == packaged_images[shipped] and store.get_path("default") == shipped
    assert store.get_path("escaping") == tmp_path / "images" / "escaping.webp" and store.get_url("escaping") is None
    store.save("mine", Image.open(io.BytesIO(png_bytes())))
    store.delete("mine")  # a preset's own image is still deleted
    assert not store.get_path("mine").exists()


# --- a route's inner refusal ----------------------------------------------------------------------


def test_a_queue_item_asked_for_under_another_queue_is_not_found(studio: Studio, owner: Account) -> None:
    with studio.client(owner) as c:
        item = c.post("/api/v1/queue/default/enqueue_batch", json=enqueue_batch_body(add_graph())).json()["item_ids"][0]
        assert c.get(f"/api/v1/queue/default/i/{item}").status_code == 200
        for queue in ("other", "x" * 200):
            assert_refused(c.get(f"/api/v1/queue/{queue}/i/{item}"), 404, "not_found")


def test_an_inner_refusal_a_route_wrapped_as_500_keeps_its_status() -> None:
    for inner, code in [(404, "not_found"), (403, "forbidden"), (409, "conflict"), (415, "invalid_input")]:
        try:
            try:
                raise HTTPException(status_code=inner, detail="the inner reason")
            except Exception as e:
                raise HTTPException(status_code=500, detail=f"Unexpected error: {e}")
        except HTTPException as outer:
            refusal = client_error(outer)
        assert refusal is not None and refusal.status_code == inner
        assert refusal.body() == {"detail": "the inner reason", "code": code}
    assert client_error(HTTPException(status_code=500, detail="a server fault")) is None
