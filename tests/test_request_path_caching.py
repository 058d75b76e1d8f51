"""What the request path remembers never outlives a revocation, an expiry or a tenant boundary.

Each request's token verification (`tenant_middleware/tokens.py`), user record and principal
(`accounts/account_cache.py`) are remembered per pod, and the hot queries are built once per kind of scope
(`db/prepared.py`). These tests hold those shortcuts to the promises they must not bend.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from invokeai.app.services.auth import token_service
from invokeai.app.services.auth.token_service import TokenData, create_access_token, set_jwt_secret, verify_token
from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException, BoardRecordOrderBy
from invokeai.app.services.gallery.gallery_common import BoardMediaSummary
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.app.services.users.users_common import UserUpdateRequest

from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.tenancy import users
from invokeai_saas.records.board_records_sql import SqlBoardRecordStorage
from invokeai_saas.records.gallery_sql import SqlGalleryService
from invokeai_saas.accounts.users_sql import SqlUserService
from invokeai_saas.core.ttl_cache import TtlCache
from tenant_middleware import tokens
from tenant_middleware.context import as_tenant, system_scope
from tenant_middleware.tokens import verified_token
from tests import http
from tests.conftest import unique_email
from tests.records.media_rows import add_board, add_image
from tests.studio import Studio

BY_CREATED, DESC = BoardRecordOrderBy.CreatedAt, SQLiteDirection.Descending


@pytest.fixture
def jwt_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A signing secret of this test's own (the module-wide one is restored afterwards)."""
    secret = uuid.uuid4().hex
    monkeypatch.setattr(token_service, "_jwt_secret", secret)
    return secret


def _token(user_id: str = "u1", expires_in: timedelta = timedelta(hours=1)) -> str:
    return create_access_token(TokenData(user_id=user_id, email=f"{user_id}@example.com", is_admin=False), expires_in)


# --- token verifications ------------------------------------------------------------------


def test_a_remembered_token_is_refused_once_it_expires(jwt_secret: str) -> None:
    token = _token(expires_in=timedelta(seconds=2))
    assert verified_token(token) is not None
    time.sleep(2.1)
    assert verify_token(token) is None
    assert verified_token(token) is None


def test_a_remembered_token_is_refused_under_another_signing_secret(jwt_secret: str) -> None:
    token = _token()
    assert verified_token(token) is not None
    set_jwt_secret(uuid.uuid4().hex)
    assert verified_token(token) is None


def test_a_forged_token_is_refused_after_the_genuine_one_was_remembered(jwt_secret: str) -> None:
    token = _token("victim")
    assert verified_token(token) is not None
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload = base64.urlsafe_b64encode(json.dumps({**claims, "user_id": "attacker"}).encode()).decode().rstrip("=")
    assert verified_token(f"{header}.{forged_payload}.{signature}") is None
    assert verified_token(token + "x") is None


def test_remembered_tokens_are_bounded(jwt_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "MAX_TOKENS", 3)
    monkeypatch.setattr(tokens, "_verified", {})
    for i in range(10):
        assert verified_token(_token(f"u{i}")) is not None
    assert len(tokens._verified) <= 3


# --- the account cache ----------------------------------------------------------------------


def test_a_value_loaded_while_its_key_was_forgotten_is_not_kept() -> None:
    cache: TtlCache[str] = TtlCache(60)
    loading, forgotten = threading.Event(), threading.Event()

    def load() -> str:
        loading.set()
        forgotten.wait(5)
        return "read before the change"

    reader = threading.Thread(target=lambda: cache.get("user", load))
    reader.start()
    loading.wait(5)
    cache.forget(lambda key: key == "user")
    forgotten.set()
    reader.join(5)
    assert cache.get("user", lambda: "read after the change") == "read after the change"


def test_a_cached_record_counts_as_cached_only_while_it_stays_fresh() -> None:
    cache: TtlCache[str | None] = TtlCache(0.2)
    assert not cache.holds("gone")
    cache.get("gone", lambda: None)
    assert cache.holds("gone") and not cache.holds("gone", for_s=1.0)
    time.sleep(0.25)
    assert not cache.holds("gone")


@pytest.fixture
def user_id(database: Database) -> Iterator[str]:
    user_id, now = str(uuid.uuid4()), utcnow()
    with system_scope(), database.begin() as conn:
        conn.execute(sa.insert(users).values(user_id=user_id, email=unique_email(), password_hash="x", created_at=now,
                                             updated_at=now, display_name="Before"))
    yield user_id
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(users).where(users.c.user_id == user_id))


def test_owner_names_in_board_lists_follow_a_profile_change_at_once(database: Database, user_id: str) -> None:
    service = SqlUserService(database, AccountCache())
    assert service.get(user_id) is not None and service.answers_from_cache(user_id)
    service.update(user_id, UserUpdateRequest(display_name="After"))
    assert service.get_many([user_id, user_id, "nobody"])[user_id].display_name == "After"
    assert service.get_many([]) == {}


# --- statements built once --------------------------------------------------------------


def _board_ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [r.board_id for r in records]


def test_statements_built_once_show_each_scope_only_its_own_rows(
    database: Database, tenant: str, other_tenant: str
) -> None:
    boards, gallery = SqlBoardRecordStorage(database), SqlGalleryService(database)
    board = boards.save("Mine", "alice").board_id
    image = add_image(database, utcnow(), board_id=board)
    mine = BoardMediaSummary(cover_image_name=image, image_count=1)
    assert gallery.get_board_media_summaries([board]) == {board: mine}
    assert _board_ids(boards.get_all("alice", False, BY_CREATED, DESC)) == [board]

    with as_tenant(other_tenant):  # the same statements, another tenant's parameters
        theirs = add_board(database, "alice")
        assert _board_ids(boards.get_all("alice", False, BY_CREATED, DESC)) == [theirs]
        assert _board_ids(boards.get_many("alice", True, BY_CREATED, DESC, 0, 10).items) == [theirs]
        with pytest.raises(BoardRecordNotFoundException):
            boards.get(board)
        assert gallery.get_board_media_summaries([board]) == {board: BoardMediaSummary()}
    with as_tenant(None):  # the platform's rows only
        assert board not in _board_ids(boards.get_all("alice", True, BY_CREATED, DESC))
        with pytest.raises(BoardRecordNotFoundException):
            boards.get(board)
    with system_scope():  # every row
        assert {board, theirs} <= set(_board_ids(boards.get_all("alice", True, BY_CREATED, DESC)))

    seen_without_scope: list[object] = []  # a new thread starts in no scope at all

    def without_scope() -> None:
        seen_without_scope.append(_board_ids(boards.get_all("alice", True, BY_CREATED, DESC)))
        seen_without_scope.append(gallery.get_board_media_summaries([board]))

    reader = threading.Thread(target=without_scope)
    reader.start()
    reader.join(30)
    assert seen_without_scope == [[], {board: BoardMediaSummary()}]
    assert gallery.get_board_media_summaries([board]) == {board: mine}
    assert boards.get(board).board_name == "Mine"


# --- through the API ----------------------------------------------------------------------


def test_a_password_change_refuses_the_old_token_at_once(studio: Studio) -> None:
    owner = studio.signup(unique_email("owner"))
    with studio.client(owner) as c:
        for _ in range(3):  # every per-pod memory of this token is warm
            assert c.get("/api/v1/boards/", params={"all": "true"}).status_code == 200
        changed = c.patch("/api/v1/auth/me", json={"current_password": owner.password, "new_password": "N3w!Passw0rd"})
        assert changed.status_code == 200, changed.text
        for path in ("/api/v1/boards/?all=true", f"/api/v1/boards/{uuid.uuid4()}", "/api/v1/auth/me"):
            assert c.get(path).status_code == 401, path
    renewed = http.get(f"{studio.url}/api/v1/boards/?all=true",
                       headers={"Authorization": f"Bearer {changed.headers['x-refreshed-token']}"})
    assert renewed.status_code == 200


def test_a_workspace_admin_demoted_to_member_loses_content_powers_at_once(studio: Studio) -> None:
    owner = studio.signup(unique_email("owner"))
    with studio.client(owner) as c:
        token = c.post("/api/v1/tenant/invitations", json={"email": unique_email("admin"), "role": "admin"}).json()["token"]
    accepted = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": "Adm1n!pass"})
    assert accepted.status_code == 201, accepted.text
    joined = accepted.json()
    with studio.client(owner) as c:
        private = c.post("/api/v1/boards/", params={"board_name": "owner's own"}).json()["board_id"]
    admin_headers = {"Authorization": f"Bearer {joined['token']}"}
    listed = http.get(f"{studio.url}/api/v1/boards/?all=true", headers=admin_headers).json()
    assert private in {b["board_id"] for b in listed}  # an admin sees every board of the workspace
    with studio.client(owner) as c:
        assert c.patch(f"/api/v1/tenant/members/{joined['user_id']}", json={"role": "member"}).status_code == 200
    listed = http.get(f"{studio.url}/api/v1/boards/?all=true", headers=admin_headers).json()
    assert private not in {b["board_id"] for b in listed}
