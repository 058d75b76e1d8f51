"""SqlUserService on both backends: bcrypt auth, admin guards, system user, tenant-scoped listing.

`users` is global and shared by the test session: every user made here is deleted after its test.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timezone

import pytest
import sqlalchemy as sa
from invokeai.app.services.auth.password_utils import hash_password, verify_password
from invokeai.app.services.users.users_common import (
    SYSTEM_USER_ID,
    LastAdministratorError,
    SystemUserProtectedError,
    UserCreateRequest,
    UserDTO,
    UserUpdateRequest,
)

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.tenancy import users
from invokeai_saas.accounts.users_sql import SqlUserService
from tenant_middleware.context import as_tenant, system_scope

PASSWORD = "Secret123"

MakeUser = Callable[..., UserDTO]


@pytest.fixture
def service(database: Database) -> SqlUserService:
    return SqlUserService(database)


@pytest.fixture
def created_ids(database: Database) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(users).where(users.c.user_id.in_(ids)))


@pytest.fixture
def make_user(service: SqlUserService, created_ids: list[str]) -> MakeUser:
    def make(is_admin: bool = False, password: str = PASSWORD, display_name: str | None = None, strict: bool = True) -> UserDTO:
        email = f"u-{uuid.uuid4().hex[:12]}@example.com"
        request = UserCreateRequest(email=email, password=password, is_admin=is_admin, display_name=display_name)
        user = service.create(request, strict_password_checking=strict)
        created_ids.append(user.user_id)
        return user

    return make


@pytest.fixture
def no_admins(database: Database) -> Iterator[None]:
    """Deactivate the session's other active admins for this test, then restore them."""
    with system_scope(), database.begin() as conn:
        active = users.c.is_admin.is_(True) & users.c.is_active.is_(True)
        others = list(conn.execute(sa.select(users.c.user_id).where(active)).scalars())
        conn.execute(sa.update(users).where(users.c.user_id.in_(others)).values(is_active=False))
    yield
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(users).where(users.c.user_id.in_(others)).values(is_active=True))


def _set_tenant(db: Database, user_id: str, tenant_id: str | None, role: str | None) -> None:
    with system_scope(), db.begin() as conn:
        conn.execute(sa.update(users).where(users.c.user_id == user_id).values(tenant_id=tenant_id, tenant_role=role))


def _tenant_columns(db: Database, user_id: str) -> tuple[str | None, str | None]:
    with system_scope(), db.begin() as conn:
        row = conn.execute(sa.select(users.c.tenant_id, users.c.tenant_role).where(users.c.user_id == user_id)).one()
    return row.tenant_id, row.tenant_role


def test_create_and_lookups(service: SqlUserService, make_user: MakeUser, database: Database) -> None:
    user = make_user(display_name="Ann")
    assert user.display_name == "Ann" and not user.is_admin and user.is_active
    assert user.token_epoch == 0 and user.last_login_at is None and user.created_at.tzinfo is None
    assert _tenant_columns(database, user.user_id) == (None, None)
    assert service.get(user.user_id) == user
    assert service.get_by_email(user.email) == user
    assert service.get(str(uuid.uuid4())) is None
    assert service.get_by_email("nobody@example.com") is None
    other = make_user()
    many = service.get_many([user.user_id, other.user_id, user.user_id, "missing"])
    assert many == {user.user_id: user, other.user_id: other}
    assert service.get_many([]) == {}


def test_password_is_stock_bcrypt(service: SqlUserService, make_user: MakeUser, database: Database) -> None:
    user = make_user()
    with system_scope(), database.begin() as conn:
        stored = conn.execute(sa.select(users.c.password_hash).where(users.c.user_id == user.user_id)).scalar_one()
    assert stored.startswith("$2b$") and verify_password(PASSWORD, stored)


def test_authenticate(service: SqlUserService, make_user: MakeUser) -> None:
    user = make_user()
    assert service.authenticate(user.email, "Wrong1234") is None
    assert service.authenticate("nobody@example.com", PASSWORD) is None
    before = utcnow().replace(tzinfo=timezone.utc)
    logged_in = service.authenticate(user.email, PASSWORD)
    assert logged_in is not None and logged_in.user_id == user.user_id
    assert logged_in.last_login_at is not None and logged_in.last_login_at >= before
    stored = service.get(user.user_id)
    assert stored is not None and stored.last_login_at == logged_in.last_login_at


def test_create_rejects_bad_input(service: SqlUserService, make_user: MakeUser) -> None:
    user = make_user()
    with pytest.raises(ValueError, match="already exists"):
        service.create(UserCreateRequest(email=user.email, password=PASSWORD))
    with pytest.raises(ValueError, match="at least 8"):
        service.create(UserCreateRequest(email="weak@example.com", password="short"))
    with pytest.raises(ValueError, match="cannot be empty"):
        service.create(UserCreateRequest(email="empty@example.com", password=""), strict_password_checking=False)
    weak = make_user(password="short", strict=False)
    assert service.authenticate(weak.email, "short") is not None


def test_update(service: SqlUserService, make_user: MakeUser, database: Database, tenant: str) -> None:
    user = make_user()
    _set_tenant(database, user.user_id, tenant, "member")
    assert service.update(user.user_id, UserUpdateRequest()) == user
    renamed = service.update(user.user_id, UserUpdateRequest(display_name="Renamed"))
    assert renamed.display_name == "Renamed" and renamed.updated_at >= user.updated_at
    changed = service.update(user.user_id, UserUpdateRequest(password="NewSecret456"))
    assert changed.token_epoch == 1
    assert service.authenticate(user.email, PASSWORD) is None
    assert service.authenticate(user.email, "NewSecret456") is not None
    with pytest.raises(ValueError, match="uppercase"):
        service.update(user.user_id, UserUpdateRequest(password="alllowercase1"))
    assert service.update(user.user_id, UserUpdateRequest(is_active=False)).is_active is False
    assert _tenant_columns(database, user.user_id) == (tenant, "member")
    with pytest.raises(ValueError, match="not found"):
        service.update(str(uuid.uuid4()), UserUpdateRequest(display_name="x"))


def test_delete(service: SqlUserService, make_user: MakeUser) -> None:
    user = make_user()
    service.delete(user.user_id)
    assert service.get(user.user_id) is None
    with pytest.raises(ValueError, match="not found"):
        service.delete(user.user_id)


def test_system_user_is_protected(service: SqlUserService, database: Database) -> None:
    now = utcnow()
    with system_scope(), database.begin() as conn:
        created = insert_ignore(
            conn,
            users,
            {"user_id": SYSTEM_USER_ID, "email": "system@system.invokeai", "password_hash": "", "created_at": now, "updated_at": now},
            key=["user_id"],
        )
    try:
        for change in (UserUpdateRequest(is_admin=True), UserUpdateRequest(is_active=False), UserUpdateRequest(password="Secret123")):
            with pytest.raises(SystemUserProtectedError):
                service.update(SYSTEM_USER_ID, change)
        with pytest.raises(SystemUserProtectedError):
            service.delete(SYSTEM_USER_ID)
        if created:  # even a usable hash on the row must not let it log in
            service.update(SYSTEM_USER_ID, UserUpdateRequest(display_name="System"))
            system_email = service.get(SYSTEM_USER_ID).email  # type: ignore[union-attr]
            with system_scope(), database.begin() as conn:
                conn.execute(sa.update(users).where(users.c.user_id == SYSTEM_USER_ID).values(password_hash=hash_password(PASSWORD)))
            assert service.authenticate(system_email, PASSWORD) is None
    finally:
        if created:
            with system_scope(), database.begin() as conn:
                conn.execute(sa.delete(users).where(users.c.user_id == SYSTEM_USER_ID))


@pytest.mark.usefixtures("no_admins")
def test_first_admin_and_last_admin_guards(service: SqlUserService, make_user: MakeUser, created_ids: list[str]) -> None:
    assert not service.has_admin() and service.count_admins() == 0 and service.get_admin_email() is None
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    admin = service.create_admin(UserCreateRequest(email=email, password=PASSWORD))
    created_ids.append(admin.user_id)
    assert admin.is_admin and service.has_admin() and service.count_admins() == 1
    assert service.get_admin_email() == email
    with pytest.raises(ValueError, match="Admin user already exists"):
        service.create_admin(UserCreateRequest(email="second@example.com", password=PASSWORD))
    assert service.get_by_email("second@example.com") is None

    for change in (UserUpdateRequest(is_admin=False), UserUpdateRequest(is_active=False)):
        with pytest.raises(LastAdministratorError):
            service.update(admin.user_id, change)
    with pytest.raises(LastAdministratorError):
        service.delete(admin.user_id)
    assert service.update(admin.user_id, UserUpdateRequest(display_name="Boss")).display_name == "Boss"

    second = make_user(is_admin=True)
    assert service.count_admins() == 2
    assert service.update(admin.user_id, UserUpdateRequest(is_admin=False)).is_admin is False
    assert service.get_admin_email() == second.email
    with pytest.raises(LastAdministratorError):
        service.delete(second.user_id)


@pytest.mark.usefixtures("no_admins")
def test_concurrent_setup_creates_one_admin(service: SqlUserService, created_ids: list[str]) -> None:
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            admin = service.create_admin(UserCreateRequest(email=f"race{n}-{uuid.uuid4().hex[:6]}@example.com", password=PASSWORD))
            created_ids.append(admin.user_id)
            outcomes.append("created")
        except ValueError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused", "refused"]
    assert service.count_admins() == 1


def test_list_users_is_tenant_scoped(service: SqlUserService, make_user: MakeUser, database: Database, tenant: str, other_tenant: str) -> None:
    first, second, rival, operator = make_user(), make_user(), make_user(), make_user()
    _set_tenant(database, first.user_id, tenant, "owner")
    _set_tenant(database, second.user_id, tenant, "member")
    _set_tenant(database, rival.user_id, other_tenant, "owner")

    def listed() -> list[str]:
        return [u.user_id for u in service.list_users(limit=1000)]

    assert listed() == [second.user_id, first.user_id]  # newest first
    assert [u.user_id for u in service.list_users(limit=1)] == [second.user_id]
    assert [u.user_id for u in service.list_users(limit=1, offset=1)] == [first.user_id]
    with as_tenant(other_tenant):
        assert listed() == [rival.user_id]
        assert service.get(first.user_id) == service.get_by_email(first.email)  # lookups stay global
    with as_tenant(None):
        mine = listed()
        assert operator.user_id in mine and not {first.user_id, rival.user_id} & set(mine)
    with system_scope():
        assert {first.user_id, second.user_id, rival.user_id, operator.user_id} <= set(listed())
