"""Signup, the tenant summary, members, invitations, API keys and suspension, over real HTTP."""

import httpx

from tests import http
import pytest

from tests.conftest import unique_email
from tests.studio import Studio


def _refusal(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["detail"], body


def test_signup_gives_a_token_that_works_everywhere(studio: Studio) -> None:
    owner = studio.signup(unique_email("owner"), "Acme Studio")
    with studio.client(owner) as c:
        tenant = c.get("/api/v1/tenant").json()
        summary = {k: tenant[k] for k in ("id", "name", "plan", "status", "member_count")}
        assert summary == {"id": owner.tenant_id, "name": "Acme Studio", "plan": "starter", "status": "active", "member_count": 1}
        me = c.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["user_id"] == owner.user_id and me.json()["is_admin"] is False
        assert c.get("/api/v1/boards/", params={"all": True}).status_code == 200


def test_signed_up_member_can_log_in_through_invokeai_login(studio: Studio) -> None:
    email = unique_email("login")
    owner = studio.signup(email)
    logged_in = studio.login(email, owner.password)
    with studio.client(logged_in) as c:
        assert c.get("/api/v1/tenant").json()["id"] == owner.tenant_id


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"email": "not-an-email", "password": "Passw0rd!x", "workspace_name": "A"}, 422, "invalid_input"),
        ({"email": "weak@example.com", "password": "password", "workspace_name": "A"}, 422, "invalid_input"),
        ({"email": "long@example.com", "password": "Passw0rd!x", "workspace_name": "x" * 101}, 422, "invalid_input"),
        ({"email": "blank@example.com", "password": "Passw0rd!x", "workspace_name": "   "}, 422, "invalid_input"),
        ({"email": "bytes@example.com", "password": "Aa1" + "é" * 40, "workspace_name": "A"}, 422, "invalid_input"),
        ({"email": "missing@example.com"}, 422, "invalid_input"),
    ],
)
def test_malformed_signup_is_refused_and_creates_nothing(studio: Studio, body: dict, status: int, code: str) -> None:
    r = http.post(f"{studio.url}/api/v1/signup", json=body)
    _refusal(r, status, code)
    if "@" in body.get("email", "") and body.get("password"):
        # nothing was created: the same email can still sign up with valid data
        studio.signup(body["email"], "Valid")


def test_duplicate_email_is_refused_case_insensitively(studio: Studio) -> None:
    email = unique_email("dup")
    studio.signup(email)
    r = http.post(f"{studio.url}/api/v1/signup", json={"email": email.upper(), "password": "Passw0rd!x", "workspace_name": "B"})
    _refusal(r, 409, "email_taken")


def test_forged_and_missing_tokens_are_401_with_code(studio: Studio) -> None:
    owner = studio.signup(unique_email())
    header, payload, _sig = owner.token.split(".")
    forged = f"{header}.{payload}.{'A' * 43}"
    for headers in ({"Authorization": f"Bearer {forged}"}, {}, {"Authorization": "Bearer garbage"}):
        _refusal(http.get(f"{studio.url}/api/v1/tenant", headers=headers), 401, "unauthorized")
        _refusal(http.get(f"{studio.url}/api/v1/boards/?all=true", headers=headers), 401, "unauthorized")


def test_expired_token_is_refused(studio: Studio) -> None:
    from datetime import timedelta

    from invokeai.app.services.auth.token_service import TokenData, create_access_token, set_jwt_secret

    from invokeai_saas.records.app_settings_sql import SqlAppSettingsService

    owner = studio.signup(unique_email())
    set_jwt_secret(SqlAppSettingsService(studio.db).get_jwt_secret())
    expired = create_access_token(TokenData(user_id=owner.user_id, email=owner.email, is_admin=False), timedelta(seconds=-5))
    _refusal(http.get(f"{studio.url}/api/v1/boards/?all=true", headers={"Authorization": f"Bearer {expired}"}), 401, "unauthorized")
    _refusal(http.get(f"{studio.url}/api/v1/tenant", headers={"Authorization": f"Bearer {expired}"}), 401, "unauthorized")


def test_invitation_flow_and_roles(studio: Studio) -> None:
    owner = studio.signup(unique_email("owner"))
    with studio.client(owner) as c:
        member_email = unique_email("member")
        inv = c.post("/api/v1/tenant/invitations", json={"email": member_email, "role": "member"})
        assert inv.status_code == 201, inv.text
        token = inv.json()["token"]
    accepted = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": "Membr!pass1"})
    assert accepted.status_code == 201, accepted.text
    member = accepted.json()
    assert member["tenant_id"] == owner.tenant_id
    # one-time
    again = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": "Membr!pass1"})
    _refusal(again, 404, "not_found")
    member_headers = {"Authorization": f"Bearer {member['token']}"}
    with studio.client(owner) as c:
        members = c.get("/api/v1/tenant/members").json()
        assert {m["role"] for m in members} == {"owner", "member"}
        assert c.get("/api/v1/tenant").json()["member_count"] == 2
    # a member cannot manage members, nor delete the owner
    _refusal(http.post(f"{studio.url}/api/v1/tenant/invitations", json={"email": unique_email()}, headers=member_headers), 403, "forbidden")
    _refusal(http.delete(f"{studio.url}/api/v1/tenant/members/{owner.user_id}", headers=member_headers), 403, "forbidden")
    _refusal(http.patch(f"{studio.url}/api/v1/tenant/members/{member['user_id']}", json={"role": "owner"}, headers=member_headers), 403, "forbidden")
    with studio.client(owner) as c:
        assert c.get("/api/v1/tenant").json()["member_count"] == 2
        # the last owner can neither leave nor be demoted
        _refusal(c.delete(f"/api/v1/tenant/members/{owner.user_id}"), 409, "last_owner")
        _refusal(c.patch(f"/api/v1/tenant/members/{owner.user_id}", json={"role": "member"}), 409, "last_owner")
        _refusal(c.patch(f"/api/v1/tenant/members/{owner.user_id}", json={"role": "king"}), 422, "invalid_input")
        # promote the member to owner, then the first owner may leave
        assert c.patch(f"/api/v1/tenant/members/{member['user_id']}", json={"role": "owner"}).json()["role"] == "owner"
        assert c.delete(f"/api/v1/tenant/members/{owner.user_id}").status_code == 200
    remaining = http.get(f"{studio.url}/api/v1/tenant/members", headers=member_headers).json()
    assert [m["user_id"] for m in remaining] == [member["user_id"]]


def test_an_invitation_to_an_address_with_an_account_is_answered_alike_and_fails_only_at_accept(studio: Studio) -> None:
    other = studio.signup(unique_email("taken"))
    owner = studio.signup(unique_email("owner"))
    with studio.client(owner) as c:
        taken = c.post("/api/v1/tenant/invitations", json={"email": other.email})
        free = c.post("/api/v1/tenant/invitations", json={"email": unique_email("free")})
    assert (taken.status_code, sorted(taken.json())) == (free.status_code, sorted(free.json())) == (201, sorted(free.json()))
    # Only the address's owner, holding the link, learns it cannot join with it.
    accepted = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": taken.json()["token"], "password": "Matey!pass1"})
    _refusal(accepted, 409, "email_taken")


def test_api_key_acts_as_its_creator_and_dies_when_revoked(studio: Studio) -> None:
    owner = studio.signup(unique_email("keys"))
    with studio.client(owner) as c:
        created = c.post("/api/v1/tenant/api-keys", json={"name": "ci"})
        assert created.status_code == 201, created.text
        key = created.json()
        assert key["secret"].startswith(key["prefix"])
        listed = c.get("/api/v1/tenant/api-keys").json()
        assert [k["api_key_id"] for k in listed] == [key["api_key_id"]] and "secret" not in listed[0]
        assert listed[0]["user_id"] == owner.user_id
    key_headers = {"Authorization": f"Bearer {key['secret']}"}
    assert http.get(f"{studio.url}/api/v1/tenant", headers=key_headers).json()["id"] == owner.tenant_id
    me = http.get(f"{studio.url}/api/v1/auth/me", headers=key_headers)
    assert me.status_code == 200 and me.json()["user_id"] == owner.user_id
    with studio.client(owner) as c:
        assert c.delete(f"/api/v1/tenant/api-keys/{key['api_key_id']}").status_code == 200
    _refusal(http.get(f"{studio.url}/api/v1/tenant", headers=key_headers), 401, "unauthorized")
    _refusal(http.get(f"{studio.url}/api/v1/boards/?all=true", headers=key_headers), 401, "unauthorized")


def test_suspended_tenant_reads_but_cannot_enqueue_or_upload(studio: Studio) -> None:
    owner = studio.signup(unique_email("susp"))
    ops = studio.operator(unique_email("ops"))
    with studio.client(ops) as c:
        r = c.patch(f"/api/v1/admin/tenants/{owner.tenant_id}", json={"status": "suspended"})
        assert r.status_code == 200 and r.json()["status"] == "suspended", r.text
    relogged = studio.login(owner.email, owner.password)  # a suspended tenant's members can still sign in
    with studio.client(relogged) as c:
        assert c.get("/api/v1/tenant").json()["status"] == "suspended"
        assert c.get("/api/v1/boards/", params={"all": True}).status_code == 200
        _refusal(c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {}}), 403, "tenant_suspended")
        png = _png_bytes()
        upload = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                        files={"file": ("a.png", png, "image/png")})
        _refusal(upload, 403, "tenant_suspended")
    # a member of another tenant is not an operator
    with studio.client(studio.signup(unique_email())) as c:
        _refusal(c.patch(f"/api/v1/admin/tenants/{owner.tenant_id}", json={"status": "active"}), 403, "forbidden")


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_ui_is_served_under_the_product_name(studio: Studio) -> None:
    page = http.get(f"{studio.url}/")
    assert page.status_code == 200 and "<title>Pingvas Studio</title>" in page.text
    assert http.get(f"{studio.url}/pingvas/static/branding.css").status_code == 200
    # InvokeAI's own UI assets still come from its mount
    asset = next(part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("./assets") or part.startswith("/assets") or "assets/" in part.split('"')[0])
    assert http.get(f"{studio.url}/{asset.lstrip('./')}").status_code == 200


def test_unknown_api_path_is_a_json_404(studio: Studio) -> None:
    owner = studio.signup(unique_email())
    with studio.client(owner) as c:
        _refusal(c.get("/api/v1/no/such/route"), 404, "not_found")
        _refusal(c.post("/api/v9/anything", json={}), 404, "not_found")


def test_shared_board_is_shared_inside_the_tenant_only(studio: Studio) -> None:
    owner = studio.signup(unique_email("sharer"))
    with studio.client(owner) as c:
        board = c.post("/api/v1/boards/", params={"board_name": "Team board"}).json()["board_id"]
        assert c.patch(f"/api/v1/boards/{board}", json={"board_visibility": "shared"}).status_code == 201
        token = c.post("/api/v1/tenant/invitations", json={"email": unique_email("teammate")}).json()["token"]
    mate = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": "Teammate1!"}).json()
    outsider = studio.signup(unique_email("outsider"))
    boards_of = lambda headers: {b["board_id"] for b in http.get(f"{studio.url}/api/v1/boards/", params={"all": True}, headers=headers).json()}  # noqa: E731
    assert board in boards_of({"Authorization": f"Bearer {mate['token']}"})
    assert board not in boards_of(outsider.headers)
    assert http.get(f"{studio.url}/api/v1/boards/{board}", headers=outsider.headers).status_code == 404


def test_ui_strings_carry_the_product_name(studio: Studio) -> None:
    strings = http.get(f"{studio.url}/locales/en.json").json()
    assert strings["auth"]["login"]["title"] == "Sign In to Pingvas Studio"
    assert strings["common"]  # the rest is InvokeAI's own
    assert http.get(f"{studio.url}/locales/de.json").json()["auth"]["login"]["title"]  # no override: InvokeAI's
    assert http.get(f"{studio.url}/locales/zz-nothing.json").status_code == 404
