"""A workspace's owners and admins run it as InvokeAI's admin runs its instance: they see, move,
re-share and delete every member's content, and see queue items unredacted. A member still cannot,
another workspace's owner gets a 404 for all of it, and platform routes stay with operators. Every
such change lands in the workspace's audit log."""

import io
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from tests import http
from tests.conftest import unique_email
from tests.studio import Account, Studio

PASSWORD = "Membr!pass1"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "purple").save(buf, format="PNG")
    return buf.getvalue()


def _join(studio: Studio, inviter: Account, role: str) -> Account:
    email = unique_email(role)
    with studio.client(inviter) as c:
        token = c.post("/api/v1/tenant/invitations", json={"email": email, "role": role}).json()["token"]
    r = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert r.status_code == 201, r.text
    body = r.json()
    return Account(body["token"], body["user_id"], body["tenant_id"], email, PASSWORD)


def _workflow(name: str) -> dict[str, Any]:
    return {"workflow": {"name": name, "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "",
                         "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"}, "nodes": [],
                         "edges": [], "form": None}}


@dataclass
class Content:
    """A member's private content, one of each kind."""

    image: str
    board: str
    workflow: str
    preset: str
    prompt: str
    item_id: int


def _make_content(studio: Studio, member: Account) -> Content:
    with studio.client(member) as c:
        board = c.post("/api/v1/boards/", params={"board_name": "private"}).json()["board_id"]
        image = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False, "board_id": board},
                       files={"file": ("a.png", _png(), "image/png")}).json()["image_name"]
        workflow = c.post("/api/v1/workflows/", json=_workflow("private flow")).json()["workflow_id"]
        preset = c.post("/api/v1/style_presets/", data={"data": '{"name": "mine", "positive_prompt": "x", "negative_prompt": "", "type": "user"}'},
                        files={"image": ("p.png", _png(), "image/png")}).json()["id"]
        prompt = c.post("/api/v1/system_prompts/", json={"name": "mine", "content": "be terse"}).json()["id"]
        graph = {"id": str(uuid.uuid4()), "nodes": {"a": {"id": "a", "type": "add", "a": 1, "b": 2, "use_cache": False}}, "edges": []}
        item_id = c.post("/api/v1/queue/default/enqueue_batch",
                         json={"batch": {"graph": graph, "runs": 1, "destination": "secret-destination"}}).json()["item_ids"][0]
    return Content(image, board, workflow, preset, prompt, item_id)


def _sees_everything(c: httpx.Client, member: Account, content: Content) -> None:
    assert c.get(f"/api/v1/images/i/{content.image}").status_code == 200
    assert c.get(f"/api/v1/images/i/{content.image}/full").status_code == 200
    assert content.board in {b["board_id"] for b in c.get("/api/v1/boards/", params={"all": True}).json()}
    assert c.get(f"/api/v1/workflows/i/{content.workflow}").status_code == 200
    assert c.get(f"/api/v1/style_presets/i/{content.preset}").status_code == 200
    item = c.get(f"/api/v1/queue/default/i/{content.item_id}").json()
    assert item["user_id"] == member.user_id and item["destination"] == "secret-destination"  # unredacted


def test_a_workspace_owner_and_admin_administer_members_content(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    admin, member = _join(studio, owner, "admin"), _join(studio, owner, "member")
    for manager in (owner, admin):
        content = _make_content(studio, member)
        with studio.client(manager) as c:
            _sees_everything(c, member, content)
            assert c.patch(f"/api/v1/images/i/{content.image}", json={"starred": True}).status_code == 200
            assert c.patch(f"/api/v1/boards/{content.board}", json={"board_visibility": "shared"}).status_code == 201
            assert c.patch(f"/api/v1/workflows/i/{content.workflow}/is_public", json={"is_public": True}).status_code == 200
            mine = c.post("/api/v1/boards/", params={"board_name": "cleanup"}).json()["board_id"]
            moved = c.post("/api/v1/board_images/", json={"board_id": mine, "image_name": content.image})
            assert moved.status_code == 201, moved.text
            assert c.put(f"/api/v1/queue/default/i/{content.item_id}/cancel").status_code == 200
            for path in (f"/api/v1/images/i/{content.image}", f"/api/v1/boards/{content.board}",
                         f"/api/v1/workflows/i/{content.workflow}", f"/api/v1/style_presets/i/{content.preset}",
                         f"/api/v1/system_prompts/i/{content.prompt}"):
                r = c.delete(path)
                assert r.status_code == 200, (path, r.text)
            assert c.get(f"/api/v1/images/i/{content.image}").status_code == 404


def test_a_member_cannot_administer_anothers_content(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    member, peer = _join(studio, owner, "member"), _join(studio, owner, "member")
    content = _make_content(studio, member)
    with studio.client(peer) as c:
        assert c.get(f"/api/v1/images/i/{content.image}").status_code == 403
        assert content.board not in {b["board_id"] for b in c.get("/api/v1/boards/", params={"all": True}).json()}
        assert c.get(f"/api/v1/queue/default/i/{content.item_id}").json().get("destination") != "secret-destination"
        for call in (lambda: c.delete(f"/api/v1/images/i/{content.image}"), lambda: c.delete(f"/api/v1/boards/{content.board}"),
                     lambda: c.delete(f"/api/v1/workflows/i/{content.workflow}"),
                     lambda: c.patch(f"/api/v1/boards/{content.board}", json={"board_visibility": "public"})):
            assert call().status_code == 403
        assert c.get("/api/v1/tenant/audit").status_code == 403
    with studio.client(member) as c:
        assert c.get(f"/api/v1/images/i/{content.image}").status_code == 200  # all still there


def test_another_workspaces_owner_gets_404_for_all_of_it(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    member = _join(studio, owner, "member")
    content = _make_content(studio, member)
    rival = studio.signup(unique_email("rival"))
    with studio.client(rival) as c:
        mine = c.post("/api/v1/boards/", params={"board_name": "grab"}).json()["board_id"]
        for call in (
            lambda: c.get(f"/api/v1/images/i/{content.image}"),
            lambda: c.get(f"/api/v1/images/i/{content.image}/urls"),
            lambda: c.patch(f"/api/v1/images/i/{content.image}", json={"starred": True}),
            lambda: c.delete(f"/api/v1/images/i/{content.image}"),
            lambda: c.post("/api/v1/board_images/", json={"board_id": mine, "image_name": content.image}),
            lambda: c.post("/api/v1/board_images/", json={"board_id": content.board, "image_name": content.image}),
            lambda: c.patch(f"/api/v1/boards/{content.board}", json={"board_visibility": "public"}),
            lambda: c.delete(f"/api/v1/boards/{content.board}"),
            lambda: c.get(f"/api/v1/workflows/i/{content.workflow}"),
            lambda: c.delete(f"/api/v1/workflows/i/{content.workflow}"),
            lambda: c.delete(f"/api/v1/style_presets/i/{content.preset}"),
            lambda: c.delete(f"/api/v1/system_prompts/i/{content.prompt}"),
            lambda: c.get(f"/api/v1/queue/default/i/{content.item_id}"),
            lambda: c.post("/api/v1/recall/default", json={"reference_images": [{"image_name": content.image}]}),
        ):
            r = call()
            assert r.status_code == 404, (r.request.method, r.request.url.path, r.status_code, r.text)
    with studio.client(member) as c:
        assert c.get(f"/api/v1/images/i/{content.image}").status_code == 200


def test_platform_routes_stay_with_operators(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    with studio.client(owner) as c:
        for call in (
            lambda: c.post("/api/v2/models/install", params={"source": "/nowhere"}, json={}),
            lambda: c.patch("/api/v1/app/runtime_config", json={}),
            lambda: c.put("/api/v1/queue/default/processor/pause"),
            lambda: c.post("/api/v1/image_moves/start"),
            lambda: c.get("/api/v1/auth/users"),
            lambda: c.post("/api/v2/custom_nodes/reload"),
        ):
            r = call()
            assert r.status_code == 403, (r.request.url.path, r.status_code, r.text)
    operator = studio.operator(unique_email("ops"))
    with studio.client(operator) as c:
        assert c.get("/api/v1/auth/users").status_code == 200


def test_a_removed_members_content_stays_with_the_workspace(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    member = _join(studio, owner, "member")
    content = _make_content(studio, member)
    with studio.client(owner) as c:
        assert c.delete(f"/api/v1/tenant/members/{member.user_id}").status_code == 200
        _sees_everything(c, member, content)
        listed = c.get("/api/v1/images/", params={"board_id": content.board, "limit": 50}).json()
        assert content.image in {i["image_name"] for i in listed["items"]}
        mine = c.post("/api/v1/boards/", params={"board_name": "inherited"}).json()["board_id"]
        assert c.post("/api/v1/board_images/", json={"board_id": mine, "image_name": content.image}).status_code == 201
        assert c.delete(f"/api/v1/images/i/{content.image}").status_code == 200
        assert c.delete(f"/api/v1/workflows/i/{content.workflow}").status_code == 200


def test_owners_read_who_did_what_to_whose_content(studio: Studio) -> None:
    owner = studio.signup(unique_email("boss"))
    admin, member = _join(studio, owner, "admin"), _join(studio, owner, "member")
    content = _make_content(studio, member)
    with studio.client(admin) as c:
        assert c.patch(f"/api/v1/boards/{content.board}", json={"board_visibility": "public"}).status_code == 201
        assert c.delete(f"/api/v1/images/i/{content.image}").status_code == 200
    with studio.client(owner) as c:
        key = c.post("/api/v1/tenant/api-keys", json={"name": "ci"}).json()
        assert c.delete(f"/api/v1/tenant/api-keys/{key['api_key_id']}").status_code == 200
        assert c.patch(f"/api/v1/tenant/members/{admin.user_id}", json={"role": "member"}).status_code == 200
        assert c.delete(f"/api/v1/tenant/members/{member.user_id}").status_code == 200
        log = c.get("/api/v1/tenant/audit", params={"limit": 200}).json()
    seen = [(e["action"], e["object_type"], e["object_id"], e["actor_user_id"], e["owner_user_id"]) for e in reversed(log["items"])]
    assert ("visibility_changed", "board", content.board, admin.user_id, member.user_id) in seen
    assert ("deleted", "image", content.image, admin.user_id, member.user_id) in seen
    assert ("created", "api_key", key["api_key_id"], owner.user_id, owner.user_id) in seen
    assert ("revoked", "api_key", key["api_key_id"], owner.user_id, owner.user_id) in seen
    assert ("role_changed", "member", admin.user_id, owner.user_id, admin.user_id) in seen
    assert ("removed", "member", member.user_id, owner.user_id, member.user_id) in seen
    assert log["total"] == len(log["items"])
    # another workspace's log is its own
    with studio.client(studio.signup(unique_email("other"))) as c:
        assert c.get("/api/v1/tenant/audit").json()["items"] == []


def test_a_bulk_download_is_fetchable_by_its_owner_only(studio: Studio) -> None:
    owner = studio.signup(unique_email("zip"))
    with studio.client(owner) as c:
        image = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                       files={"file": ("a.png", _png(), "image/png")}).json()["image_name"]
        name = c.post("/api/v1/images/download", json={"image_names": [image]}).json()["bulk_download_item_name"]
    rival = studio.signup(unique_email("rival"))
    with studio.client(rival) as c:
        assert c.get(f"/api/v1/images/download/{name}").status_code == 404
    with studio.client(owner) as c:
        r = studio.wait_for(lambda: (resp := c.get(f"/api/v1/images/download/{name}")).status_code == 200 and resp, timeout=60)
        assert r.headers["content-type"] == "application/zip" and r.content[:2] == b"PK"
        studio.wait_for(lambda: c.get(f"/api/v1/images/download/{name}").status_code == 404, timeout=30)  # served once, then deleted


def test_owners_administer_members_videos_and_presets(studio: Studio) -> None:
    from tests.test_isolation import _insert_video_row

    owner = studio.signup(unique_email("boss"))
    member, peer = _join(studio, owner, "member"), _join(studio, owner, "member")
    video = _insert_video_row(studio, member)
    content = _make_content(studio, member)
    with studio.client(peer) as c:
        assert c.patch(f"/api/v1/videos/i/{video}", json={"starred": True}).status_code == 403
        assert c.patch(f"/api/v1/style_presets/i/{content.preset}", data={"data": '{"name": "x", "positive_prompt": "x", "negative_prompt": "", "type": "user", "is_public": true}'}).status_code == 403
    with studio.client(studio.signup(unique_email("rival"))) as c:
        assert c.get(f"/api/v1/videos/i/{video}").status_code == 404
        assert c.delete(f"/api/v1/videos/i/{video}").status_code == 404
    with studio.client(owner) as c:
        assert c.get(f"/api/v1/videos/i/{video}").status_code == 200
        assert c.patch(f"/api/v1/videos/i/{video}", json={"starred": True}).status_code == 200
        shared = c.patch(f"/api/v1/style_presets/i/{content.preset}",
                         data={"data": '{"name": "mine", "positive_prompt": "x", "negative_prompt": "", "type": "user", "is_public": true}'})
        assert shared.status_code == 200, shared.text
        assert c.patch(f"/api/v1/system_prompts/i/{content.prompt}", json={"is_public": True}).status_code == 200
        assert c.delete(f"/api/v1/videos/i/{video}").status_code == 200
        log = c.get("/api/v1/tenant/audit").json()["items"]
    seen = {(e["action"], e["object_type"], e["object_id"], e["owner_user_id"]) for e in log}
    assert {("deleted", "video", video, member.user_id), ("visibility_changed", "style_preset", content.preset, member.user_id),
            ("visibility_changed", "system_prompt", content.prompt, member.user_id)} <= seen
