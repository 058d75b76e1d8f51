"""Tenancy holds against an attacker with a real account: credentials, removals, operator scope,
suspension, invitations, the media cookie, races and workflow thumbnails, over real HTTP."""

import io
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
from PIL import Image

from invokeai_saas.db.tables.media import boards
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.db.tables.tenancy import users
from tenant_middleware.context import system_scope
from tests import http
from tests.conftest import unique_email
from tests.studio import Account, Studio
from tests.test_sockets import Listener

PASSWORD = "Membr!pass1"


def _refusal(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["detail"], body


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buf, format="PNG")
    return buf.getvalue()


def _invite(studio: Studio, inviter: Account, role: str = "member") -> str:
    with studio.client(inviter) as c:
        r = c.post("/api/v1/tenant/invitations", json={"email": unique_email(role), "role": role})
        assert r.status_code == 201, r.text
        return r.json()["token"]


def _accept(studio: Studio, token: str) -> httpx.Response:
    return http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})


def _join(studio: Studio, inviter: Account, role: str = "member") -> Account:
    r = _accept(studio, _invite(studio, inviter, role))
    assert r.status_code == 201, r.text
    body = r.json()
    return Account(body["token"], body["user_id"], body["tenant_id"], "", PASSWORD)


def _weightless_batch(runs: int = 1) -> dict[str, Any]:
    graph = {"id": str(uuid.uuid4()), "nodes": {"a": {"id": "a", "type": "add", "a": 1, "b": 2, "use_cache": False}}, "edges": []}
    return {"prepend": False, "batch": {"graph": graph, "runs": runs, "destination": f"hardening-{uuid.uuid4().hex[:6]}"}}


def _operator_patch_tenant(studio: Studio, operator: Account, tenant_id: str | None, status: str) -> None:
    with studio.client(operator) as c:
        r = c.patch(f"/api/v1/admin/tenants/{tenant_id}", json={"status": status})
        assert r.status_code == 200 and r.json()["status"] == status, r.text


# --- 1. API keys --------------------------------------------------------------------------


def test_an_api_key_never_mints_a_session_token(studio: Studio) -> None:
    owner = studio.signup(unique_email("keys"))
    with studio.client(owner) as c:
        key = c.post("/api/v1/tenant/api-keys", json={"name": "ci"}).json()
        session_write = c.post("/api/v1/boards/", params={"board_name": "by session"})
    assert session_write.status_code == 201 and "x-refreshed-token" in session_write.headers  # sessions do slide
    key_headers = {"Authorization": f"Bearer {key['secret']}"}
    by_key = http.post(f"{studio.url}/api/v1/boards/", params={"board_name": "by key"}, headers=key_headers)
    assert by_key.status_code == 201, by_key.text
    assert "x-refreshed-token" not in by_key.headers
    assert key["secret"] not in by_key.text
    with studio.client(owner) as c:
        assert c.delete(f"/api/v1/tenant/api-keys/{key['api_key_id']}").status_code == 200
    _refusal(http.post(f"{studio.url}/api/v1/boards/", params={"board_name": "after"}, headers=key_headers), 401, "unauthorized")


def test_an_api_key_cannot_administer_the_workspace(studio: Studio) -> None:
    owner = studio.signup(unique_email("keyadmin"))
    with studio.client(owner) as c:
        key = c.post("/api/v1/tenant/api-keys", json={"name": "ci"}).json()
    headers = {"Authorization": f"Bearer {key['secret']}"}
    refused = [
        ("POST", "/api/v1/tenant/api-keys", {"name": "second"}),
        ("GET", "/api/v1/tenant/api-keys", None),
        ("DELETE", f"/api/v1/tenant/api-keys/{key['api_key_id']}", None),
        ("GET", "/api/v1/tenant/members", None),
        ("DELETE", f"/api/v1/tenant/members/{owner.user_id}", None),
        ("POST", "/api/v1/tenant/invitations", {"email": unique_email()}),
        ("GET", "/api/v1/tenant/invitations", None),
        ("PATCH", "/api/v1/auth/me", {"display_name": "pwned", "current_password": "x", "new_password": "Newpass1!x"}),
        ("POST", "/api/v1/auth/media-cookie", None),
    ]
    for method, path, body in refused:
        _refusal(http.request(method, f"{studio.url}{path}", json=body, headers=headers), 403, "forbidden")
    # what a key is for still works
    assert http.get(f"{studio.url}/api/v1/boards/", params={"all": True}, headers=headers).status_code == 200
    assert http.get(f"{studio.url}/api/v1/auth/me", headers=headers).json()["user_id"] == owner.user_id
    with studio.client(owner) as c:
        assert [k["api_key_id"] for k in c.get("/api/v1/tenant/api-keys").json()] == [key["api_key_id"]]


# --- 2. credentials that resolve to no active principal -------------------------------------


def test_a_removed_members_token_is_refused_at_once_and_writes_nothing(studio: Studio) -> None:
    owner = studio.signup(unique_email("remover"))
    member = _join(studio, owner)
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    with studio.client(member) as c:  # warm every cache on the way
        assert c.get("/api/v1/auth/me").status_code == 200
        assert c.post("/api/v1/boards/", params={"board_name": "mine"}).status_code == 201
    socket = Listener(studio, member)
    try:
        with studio.client(owner) as c:
            assert c.delete(f"/api/v1/tenant/members/{member.user_id}").status_code == 200
        with studio.client(member) as c:
            _refusal(c.post("/api/v1/boards/", params={"board_name": ghost}), 401, "unauthorized")
            _refusal(c.post("/api/v1/system_prompts/", json={"name": ghost, "prompt": ghost, "is_public": True}), 401, "unauthorized")
            _refusal(c.get("/api/v1/boards/", params={"all": True}), 401, "unauthorized")
            _refusal(c.get("/api/v1/tenant"), 401, "unauthorized")
        studio.wait_for(lambda: not socket.sio.connected, timeout=30)  # user_access_changed dropped the socket
    finally:
        if socket.sio.connected:
            socket.close()
    with system_scope(), studio.db.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(boards.c.board_name == ghost)).scalar_one() == 0


def test_a_deactivated_member_is_refused_at_once(studio: Studio) -> None:
    owner = studio.signup(unique_email("deact"))
    member = _join(studio, owner)
    operator = studio.operator(unique_email("ops"))
    with studio.client(member) as c:
        assert c.get("/api/v1/boards/", params={"all": True}).status_code == 200
    with studio.client(operator) as c:
        r = c.patch(f"/api/v1/auth/users/{member.user_id}", json={"is_active": False})
        assert r.status_code == 200, r.text
    with studio.client(member) as c:
        _refusal(c.post("/api/v1/boards/", params={"board_name": "after"}), 401, "unauthorized")


def test_an_account_in_no_workspace_gets_no_scope(studio: Studio) -> None:
    """InvokeAI's own user admin makes users without a tenant: they are neither members nor operators."""
    operator = studio.operator(unique_email("ops"))
    email = unique_email("stray")
    with studio.client(operator) as c:
        r = c.post("/api/v1/auth/users", json={"email": email, "password": PASSWORD, "is_admin": False})
        assert r.status_code in (200, 201), r.text
        c.post("/api/v1/boards/", params={"board_name": "operators-only"})
    stray = studio.login(email, PASSWORD)
    with studio.client(stray) as c:
        _refusal(c.get("/api/v1/boards/", params={"all": True}), 401, "unauthorized")
        _refusal(c.post("/api/v1/boards/", params={"board_name": "stray"}), 401, "unauthorized")


def test_an_account_in_no_workspace_hears_no_ones_events(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops"))
    email = unique_email("stray")
    with studio.client(operator) as c:
        assert c.post("/api/v1/auth/users", json={"email": email, "password": PASSWORD, "is_admin": False}).status_code in (200, 201)
    ops_socket, stray_socket = Listener(studio, operator), Listener(studio, studio.login(email, PASSWORD))
    try:
        ops_socket.subscribe("default")
        stray_socket.subscribe("default")
        time.sleep(0.5)
        with studio.client(operator) as c:
            batch = _weightless_batch()
            r = c.post("/api/v1/queue/default/enqueue_batch", json=batch)
            assert r.status_code in (200, 201), r.text
        destination = batch["batch"]["destination"]
        studio.wait_for(lambda: "'completed'" in ops_socket.text() and destination in ops_socket.text(), timeout=60)
        assert destination not in stray_socket.text() and "queue_item_status_changed" not in stray_socket.text()
    finally:
        ops_socket.close()
        stray_socket.close()


# --- 3. operator maintenance counts every tenant ---------------------------------------------


def test_image_moves_refuse_to_start_while_any_tenant_has_queued_work(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops"))
    busy = studio.signup(unique_email("busy"))
    # Suspended right after enqueueing, the tenant's items stay pending: queued work that is
    # certainly there while the operator asks.
    with studio.client(busy) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=_weightless_batch(runs=20))
        assert r.status_code in (200, 201), r.text
    _operator_patch_tenant(studio, operator, busy.tenant_id, "suspended")
    try:
        assert "pending" in _statuses(studio, r.json()["item_ids"])
        with studio.client(operator) as c:
            _refusal(c.post("/api/v1/image_moves/start"), 409, "conflict")
    finally:
        with studio.client(busy) as c:
            assert c.put("/api/v1/queue/default/clear").status_code == 200
        _operator_patch_tenant(studio, operator, busy.tenant_id, "active")


# --- 4. suspended means suspended -------------------------------------------------------------


def _statuses(studio: Studio, item_ids: list[int]) -> list[str]:
    with system_scope(), studio.db.begin() as conn:
        rows = conn.execute(sa.select(session_queue.c.item_id, session_queue.c.status).where(session_queue.c.item_id.in_(item_ids)))
        return [status for _, status in sorted(rows)]


def test_a_suspended_tenants_queued_items_wait_and_run_after_reactivation(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops"))
    owner = studio.signup(unique_email("paused"))
    with studio.client(owner) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json=_weightless_batch(runs=8))
        assert r.status_code in (200, 201), r.text
        item_ids = r.json()["item_ids"]
    _operator_patch_tenant(studio, operator, owner.tenant_id, "suspended")
    studio.wait_for(lambda: "in_progress" not in _statuses(studio, item_ids), timeout=60)  # what had started, finishes
    waiting = _statuses(studio, item_ids).count("pending")
    assert waiting > 0, "every item ran before the suspension: the test proves nothing"
    time.sleep(3)  # the processor looks for work at least every second: suspended items must not start meanwhile
    assert _statuses(studio, item_ids).count("pending") == waiting
    _operator_patch_tenant(studio, operator, owner.tenant_id, "active")
    studio.wait_for(lambda: set(_statuses(studio, item_ids)) == {"completed"}, timeout=120)


def test_a_suspended_tenant_can_read_download_and_delete_but_not_compute_or_store(studio: Studio) -> None:
    operator = studio.operator(unique_email("ops"))
    owner = studio.signup(unique_email("frozen"))
    with studio.client(owner) as c:
        image = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                       files={"file": ("a.png", _png(), "image/png")}).json()["image_name"]
        board = c.post("/api/v1/boards/", params={"board_name": "kept"}).json()["board_id"]
        workflow = c.post("/api/v1/workflows/", json={"workflow": {
            "name": "w", "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "", "notes": "",
            "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [], "form": None}}).json()["workflow_id"]
    _operator_patch_tenant(studio, operator, owner.tenant_id, "suspended")
    with studio.client(owner) as c:
        refused: list[Callable[[], httpx.Response]] = [
            lambda: c.post("/api/v1/queue/default/enqueue_batch", json=_weightless_batch()),
            lambda: c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                           files={"file": ("b.png", _png(), "image/png")}),
            lambda: c.post("/api/v1/utilities/expand-prompt", json={"prompt": "a cat", "model_key": "any"}),
            lambda: c.post("/api/v1/utilities/image-to-prompt", json={"image_name": image, "model_key": "any"}),
            lambda: c.put(f"/api/v1/workflows/i/{workflow}/thumbnail", files={"image": ("t.png", _png(), "image/png")}),
            lambda: c.post("/api/v1/style_presets/", data={"data": '{"name": "p", "positive_prompt": "x", "negative_prompt": "", "type": "user"}'},
                           files={"image": ("p.png", _png(), "image/png")}),
            lambda: c.post("/api/v1/boards/", params={"board_name": "new"}),
            lambda: c.patch(f"/api/v1/boards/{board}", json={"board_name": "renamed"}),
            lambda: c.post("/api/v1/tenant/invitations", json={"email": unique_email()}),
            lambda: c.post("/api/v1/tenant/api-keys", json={"name": "k"}),
        ]
        for call in refused:
            _refusal(call(), 403, "tenant_suspended")
        # reading, downloading and deleting stay allowed: a customer can take their data
        assert c.get(f"/api/v1/images/i/{image}/full").status_code == 200
        assert c.get("/api/v1/boards/", params={"all": True}).status_code == 200
        assert c.post("/api/v1/images/images_by_names", json={"image_names": [image]}).status_code == 200
        assert c.post("/api/v1/images/download", json={"image_names": [image]}).status_code in (200, 202)
        assert c.put("/api/v1/queue/default/clear").status_code == 200
        assert c.delete(f"/api/v1/boards/{board}").status_code == 200
        assert c.post("/api/v1/images/delete", json={"image_names": [image]}).status_code == 200


# --- 5. invitations ----------------------------------------------------------------------------


def test_owners_list_and_revoke_pending_invitations(studio: Studio) -> None:
    owner = studio.signup(unique_email("inviter"))
    first, second = _invite(studio, owner), _invite(studio, owner, "admin")
    assert _accept(studio, first).status_code == 201
    with studio.client(owner) as c:
        pending = c.get("/api/v1/tenant/invitations").json()
        assert [p["role"] for p in pending] == ["admin"] and "token" not in pending[0]
        invitation_id = pending[0]["invitation_id"]
        # another workspace cannot see or revoke it
        with studio.client(studio.signup(unique_email("other"))) as other:
            assert other.get("/api/v1/tenant/invitations").json() == []
            _refusal(other.delete(f"/api/v1/tenant/invitations/{invitation_id}"), 404, "not_found")
        assert c.delete(f"/api/v1/tenant/invitations/{invitation_id}").status_code == 200
        assert c.get("/api/v1/tenant/invitations").json() == []
        _refusal(c.delete(f"/api/v1/tenant/invitations/{invitation_id}"), 404, "not_found")
    _refusal(_accept(studio, second), 404, "not_found")


def test_members_cannot_list_invitations_and_admins_cannot_invite_owners(studio: Studio) -> None:
    owner = studio.signup(unique_email("roles"))
    member, admin = _join(studio, owner), _join(studio, owner, "admin")
    with studio.client(member) as c:
        _refusal(c.get("/api/v1/tenant/invitations"), 403, "forbidden")
    with studio.client(admin) as c:
        _refusal(c.post("/api/v1/tenant/invitations", json={"email": unique_email(), "role": "owner"}), 403, "forbidden")
        assert c.post("/api/v1/tenant/invitations", json={"email": unique_email(), "role": "admin"}).status_code == 201


def test_accepting_rechecks_the_inviter_and_the_workspace(studio: Studio) -> None:
    owner = studio.signup(unique_email("recheck"))
    admin = _join(studio, owner, "admin")
    from_admin = _invite(studio, admin, "admin")
    with studio.client(owner) as c:  # the admin is demoted before their invitee accepts
        assert c.patch(f"/api/v1/tenant/members/{admin.user_id}", json={"role": "member"}).status_code == 200
    _refusal(_accept(studio, from_admin), 403, "forbidden")

    from_owner = _invite(studio, owner)
    operator = studio.operator(unique_email("ops"))
    _operator_patch_tenant(studio, operator, owner.tenant_id, "suspended")
    _refusal(_accept(studio, from_owner), 403, "tenant_suspended")
    _operator_patch_tenant(studio, operator, owner.tenant_id, "active")
    assert _accept(studio, from_owner).status_code == 201  # a refused accept used nothing up


# --- 7. the media cookie -------------------------------------------------------------------------


def _cookie_login(studio: Studio, email: str, password: str) -> httpx.Cookies:
    r = http.post(f"{studio.url}/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200 and r.cookies.get("invokeai_media_token"), r.headers
    return r.cookies


def test_the_media_cookie_opens_media_only(studio: Studio) -> None:
    owner = studio.signup(unique_email("cookie"))
    with studio.client(owner) as c:
        image = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                       files={"file": ("a.png", _png(), "image/png")}).json()["image_name"]
    cookies = _cookie_login(studio, owner.email, owner.password)
    with httpx.Client(base_url=studio.url, cookies=cookies, timeout=http.TIMEOUT) as browser:
        assert browser.get(f"/api/v1/images/i/{image}/full").status_code == 200
        assert browser.get(f"/api/v1/images/i/{image}/thumbnail").status_code == 200
        _refusal(browser.post("/api/v1/tenant/api-keys", json={"name": "csrf"}), 401, "unauthorized")
        _refusal(browser.get("/api/v1/tenant"), 401, "unauthorized")
        _refusal(browser.get("/api/v1/tenant/members"), 401, "unauthorized")
        _refusal(browser.post("/api/v1/boards/", params={"board_name": "csrf"}), 401, "unauthorized")
    with studio.client(owner) as c:
        assert c.get("/api/v1/tenant/api-keys").json() == []


# --- 8. races ------------------------------------------------------------------------------------


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def test_concurrent_duplicate_sign_ups_answer_409_never_500(studio: Studio) -> None:
    email = unique_email("race")
    body = {"email": email, "password": PASSWORD, "workspace_name": "Race"}
    statuses = sorted(r.status_code for r in _at_once([lambda: http.post(f"{studio.url}/api/v1/signup", json=body)] * 4))
    assert statuses == [201, 409, 409, 409], statuses


def test_concurrent_accepts_for_one_email_answer_409_never_500(studio: Studio) -> None:
    email = unique_email("twice")
    tokens = []
    for _ in range(3):  # three workspaces invite the same address
        with studio.client(studio.signup(unique_email("host"))) as c:
            tokens.append(c.post("/api/v1/tenant/invitations", json={"email": email}).json()["token"])
    results = _at_once([lambda t=t: _accept(studio, t) for t in tokens])
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]


def _owner_count(studio: Studio, tenant_id: str | None) -> int:
    with system_scope(), studio.db.begin() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(users.c.tenant_id == tenant_id, users.c.tenant_role == "owner")
        ).scalar_one()


def test_two_owners_demoting_each_other_at_once_leave_an_owner(studio: Studio) -> None:
    for _ in range(5):
        first = studio.signup(unique_email("own1"))
        second = _join(studio, first, "owner")
        results = _at_once([
            lambda: http.patch(f"{studio.url}/api/v1/tenant/members/{second.user_id}", json={"role": "member"}, headers=first.headers),
            lambda: http.patch(f"{studio.url}/api/v1/tenant/members/{first.user_id}", json={"role": "member"}, headers=second.headers),
        ])
        assert all(r.status_code < 500 for r in results), [r.text for r in results]
        assert _owner_count(studio, first.tenant_id) == 1


def test_two_owners_removing_each_other_at_once_leave_an_owner(studio: Studio) -> None:
    for _ in range(5):
        first = studio.signup(unique_email("rm1"))
        second = _join(studio, first, "owner")
        results = _at_once([
            lambda: http.delete(f"{studio.url}/api/v1/tenant/members/{second.user_id}", headers=first.headers),
            lambda: http.delete(f"{studio.url}/api/v1/tenant/members/{first.user_id}", headers=second.headers),
        ])
        assert all(r.status_code < 500 for r in results), [r.text for r in results]
        assert _owner_count(studio, first.tenant_id) == 1


# --- 10. workflow thumbnails ------------------------------------------------------------------------


def test_workflow_thumbnails_need_a_login_and_the_right_workspace(studio: Studio) -> None:
    owner = studio.signup(unique_email("thumbs"))
    with studio.client(owner) as c:
        workflow = c.post("/api/v1/workflows/", json={"workflow": {
            "name": "secret", "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "", "notes": "",
            "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [], "form": None}}).json()["workflow_id"]
        assert c.put(f"/api/v1/workflows/i/{workflow}/thumbnail", files={"image": ("t.png", _png(), "image/png")}).status_code == 200
        assert c.get(f"/api/v1/workflows/i/{workflow}/thumbnail").status_code == 200
    path = f"{studio.url}/api/v1/workflows/i/{workflow}/thumbnail"
    _refusal(http.get(path), 401, "unauthorized")
    _refusal(http.get(path, headers=studio.signup(unique_email("peek")).headers), 404, "not_found")
    cookies = _cookie_login(studio, owner.email, owner.password)  # what an <img> sends
    assert http.get(path, cookies=cookies).status_code == 200
