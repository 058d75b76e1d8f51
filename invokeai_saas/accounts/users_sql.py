"""InvokeAI's user service on SQLAlchemy Core.

Lookups used to authenticate (`get`, `get_by_email`, `authenticate`, …) are global: the
caller's tenant is not known yet, so they run in system scope (row-level security hides
`users` rows from any other scope but their tenant's). `list_users` is tenant-scoped: a tenant member lists their
tenant, a platform operator (no tenant) lists operators, `system_scope()` lists everyone.
Administrators (`is_admin`) are platform operators, so the admin counts and guards are global.
`create()` leaves the tenant columns empty and `update()` never touches them: membership is
managed by the tenancy code.
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timezone

import sqlalchemy as sa
from invokeai.app.services.auth.password_utils import hash_password, validate_password_strength, verify_password
from invokeai.app.services.users.users_base import UserServiceBase
from invokeai.app.services.users.users_common import (
    LAST_ADMIN_DETAIL,
    SYSTEM_USER_ID,
    SYSTEM_USER_PROTECTED_DETAIL,
    LastAdministratorError,
    SystemUserProtectedError,
    UserCreateRequest,
    UserDTO,
    UserUpdateRequest,
)
from sqlalchemy.engine import Connection

from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.accounts.email_links import security_notice
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.tables.tenancy import users
from tenant_middleware.context import system_scope

_DTO_COLUMNS = (
    users.c.user_id,
    users.c.email,
    users.c.display_name,
    users.c.is_admin,
    users.c.is_active,
    users.c.created_at,
    users.c.updated_at,
    users.c.last_login_at,
    users.c.token_epoch,
)
# Built once: the lookups run on every request that misses the account cache.
_BY_ID = sa.select(*_DTO_COLUMNS).where(users.c.user_id == sa.bindparam("user_id"))
_BY_EMAIL = sa.select(*_DTO_COLUMNS).where(users.c.email == sa.bindparam("email"))
_BY_IDS = sa.select(*_DTO_COLUMNS).where(users.c.user_id.in_(sa.bindparam("user_ids", expanding=True)))
_ACTIVE_ADMIN = sa.and_(users.c.is_admin.is_(True), users.c.is_active.is_(True))
# `answers_from_cache` promises a cached record for this long, so the `get` right after it hits.
CACHED_MARGIN_S = 0.05
# Arbitrary constant key of the Postgres advisory lock that serializes admin-count checks with their writes.
_ADMIN_LOCK_KEY = 0x5049_4E47_0001


def _dto(row: sa.Row) -> UserDTO:
    return UserDTO(
        user_id=row.user_id,
        email=row.email,
        display_name=row.display_name,
        is_admin=bool(row.is_admin),
        is_active=bool(row.is_active),
        created_at=row.created_at,
        updated_at=row.updated_at,
        # Stock stores the login time as an aware UTC ISO string and reads it back aware.
        last_login_at=row.last_login_at.replace(tzinfo=timezone.utc) if row.last_login_at else None,
        token_epoch=int(row.token_epoch),
    )


def _check_password(password: str, strict: bool) -> None:
    if strict:
        is_valid, error_msg = validate_password_strength(password)
        if not is_valid:
            raise ValueError(error_msg)
    elif not password:
        raise ValueError("Password cannot be empty")


def _lock_admin_count(conn: Connection) -> None:
    """Make the admin count read next stable until this transaction ends.

    Postgres: a transaction-scoped advisory lock. SQLite: the process-wide lock held by
    `Database.begin()`; a second process writing meanwhile fails with "database is locked"
    rather than slipping in a change.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADMIN_LOCK_KEY)))


def _count_active_admins(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(users).where(_ACTIVE_ADMIN)).scalar_one())


class SqlUserService(UserServiceBase):
    def __init__(self, db: Database, cache: AccountCache | None = None) -> None:
        self._db = db
        self._cache = cache or AccountCache()

    @contextmanager
    def _global(self) -> Iterator[Connection]:
        with system_scope(), self._db.begin() as conn:
            yield conn

    def create(self, user_data: UserCreateRequest, strict_password_checking: bool = True) -> UserDTO:
        return self._create(user_data, strict_password_checking, require_no_admin=False)

    def create_admin(self, user_data: UserCreateRequest, strict_password_checking: bool = True) -> UserDTO:
        """Create the first admin; "no admin yet" is checked inside the INSERT's transaction (setup race)."""
        admin = user_data.model_copy(update={"is_admin": True})
        return self._create(admin, strict_password_checking, require_no_admin=True)

    def _create(self, user_data: UserCreateRequest, strict: bool, require_no_admin: bool) -> UserDTO:
        _check_password(user_data.password, strict)
        if self.get_by_email(user_data.email) is not None:
            raise ValueError(f"User with email {user_data.email} already exists")
        user_id = str(uuid.uuid4())
        password_hash = hash_password(user_data.password)  # slow on purpose: outside the transaction
        now = utcnow()
        with self._global() as conn:
            if require_no_admin:
                _lock_admin_count(conn)
                if _count_active_admins(conn) > 0:
                    raise ValueError("Admin user already exists")
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(users).values(
                            user_id=user_id,
                            email=user_data.email,
                            display_name=user_data.display_name,
                            password_hash=password_hash,
                            is_admin=user_data.is_admin,
                            is_active=True,
                            token_epoch=0,
                            created_at=now,
                            updated_at=now,
                            email_verified_at=now,  # made by an operator, who vouches for the address
                        )
                    )
            except sa.exc.IntegrityError as e:
                raise ValueError(f"Failed to create user: {e.orig}") from e
            created = self._get_by_id(conn, user_id)
        if created is None:
            raise RuntimeError("Failed to retrieve created user")
        return created

    def get(self, user_id: str) -> UserDTO | None:
        # InvokeAI reads the caller's record on every request; a short cache saves a transaction each.
        return self._cache.users.get(user_id, lambda: self._load(user_id))

    def answers_from_cache(self, user_id: str) -> bool:
        """True when `get(user_id)` will answer from the cache, without I/O, for a while yet."""
        return self._cache.users.holds(user_id, for_s=CACHED_MARGIN_S)

    def _load(self, user_id: str) -> UserDTO | None:
        with system_scope(), self._db.read() as conn:
            return self._get_by_id(conn, user_id)

    def get_many(self, user_ids: Sequence[str]) -> dict[str, UserDTO]:
        """Records the account cache holds (as `get` would answer) plus one query for the rest."""
        found: dict[str, UserDTO] = {}
        missing: list[str] = []
        for user_id in dict.fromkeys(user_ids):
            cached = self._cache.users.peek(user_id)
            if cached is not None:
                found[user_id] = cached
            else:
                missing.append(user_id)
        if missing:
            with system_scope(), self._db.read() as conn:
                rows = conn.execute(_BY_IDS, {"user_ids": missing}).all()
            found.update((row.user_id, _dto(row)) for row in rows)
        return found

    def get_by_email(self, email: str) -> UserDTO | None:
        with system_scope(), self._db.read() as conn:
            row = conn.execute(_BY_EMAIL, {"email": email}).first()
        return _dto(row) if row is not None else None

    def update(self, user_id: str, changes: UserUpdateRequest, strict_password_checking: bool = True) -> UserDTO:
        user = self._load(user_id)
        if user is None:
            raise ValueError(f"User {user_id} not found")
        _assert_system_user_protected(user_id, is_admin=changes.is_admin, is_active=changes.is_active, password=changes.password)
        if changes.password is not None:
            _check_password(changes.password, strict_password_checking)

        values: dict[str, object] = {}
        if changes.display_name is not None:
            values["display_name"] = changes.display_name
        if changes.password is not None:
            values["password_hash"] = hash_password(changes.password)
            # A new password revokes every token minted under the old one; bumped in SQL so
            # concurrent bumps cannot overwrite each other.
            values["token_epoch"] = users.c.token_epoch + 1
        if changes.is_admin is not None:
            values["is_admin"] = changes.is_admin
        if changes.is_active is not None:
            values["is_active"] = changes.is_active
        if not values:
            return user

        with self._global() as conn:
            self._assert_not_last_admin(conn, user_id, is_admin=changes.is_admin, is_active=changes.is_active)
            conn.execute(sa.update(users).where(users.c.user_id == user_id).values(**values, updated_at=utcnow()))
            updated = self._get_by_id(conn, user_id)
            if changes.password is not None and updated is not None:
                security_notice(conn, f"password-changed:{user_id}:{updated.token_epoch}", updated.email,
                                "Your password was changed", "The password of your account was changed, and every "
                                "other session signed in with the old one was signed out. API keys still work.")
        self._forget(user_id)
        if updated is None:
            raise RuntimeError("Failed to retrieve updated user")
        return updated

    def delete(self, user_id: str) -> None:
        if self._load(user_id) is None:
            raise ValueError(f"User {user_id} not found")
        _assert_system_user_protected(user_id, is_deleting=True)
        with self._global() as conn:
            self._assert_not_last_admin(conn, user_id, is_deleting=True)
            conn.execute(sa.delete(users).where(users.c.user_id == user_id))
        self._forget(user_id)

    def _forget(self, user_id: str) -> None:
        self._cache.forget_user(user_id)

    def authenticate(self, email: str, password: str) -> UserDTO | None:
        with self._global() as conn:
            row = conn.execute(sa.select(*_DTO_COLUMNS, users.c.password_hash).where(users.c.email == email)).first()
        # The system account owns pre-multiuser content and is never a login account, whatever its row holds.
        if row is None or row.user_id == SYSTEM_USER_ID:
            return None
        if not verify_password(password, row.password_hash):
            return None
        now = utcnow()
        with self._global() as conn:
            conn.execute(sa.update(users).where(users.c.user_id == row.user_id).values(last_login_at=now, updated_at=now))
        return _dto(row).model_copy(update={"last_login_at": now.replace(tzinfo=timezone.utc)})

    def has_admin(self) -> bool:
        return self.count_admins() > 0

    def count_admins(self) -> int:
        with self._global() as conn:
            return _count_active_admins(conn)

    def get_admin_email(self) -> str | None:
        with self._global() as conn:
            return conn.execute(
                sa.select(users.c.email).where(_ACTIVE_ADMIN).order_by(users.c.created_at.asc()).limit(1)
            ).scalar_one_or_none()

    def list_users(self, limit: int = 100, offset: int = 0) -> list[UserDTO]:
        """Users of the current tenant (operators when no tenant; everyone in system scope), newest first."""
        query = (
            sa.select(*_DTO_COLUMNS)
            .where(tenant_clause(users))
            .order_by(users.c.created_at.desc(), users.c.user_id)
            .limit(limit)
            .offset(offset)
        )
        with self._db.begin() as conn:
            return [_dto(row) for row in conn.execute(query)]

    @staticmethod
    def _get_by_id(conn: Connection, user_id: str) -> UserDTO | None:
        row = conn.execute(_BY_ID, {"user_id": user_id}).first()
        return _dto(row) if row is not None else None

    @staticmethod
    def _assert_not_last_admin(
        conn: Connection,
        user_id: str,
        *,
        is_deleting: bool = False,
        is_admin: bool | None = None,
        is_active: bool | None = None,
    ) -> None:
        """Refuse a change that would leave no active administrator; runs in the writing transaction."""
        if not (is_deleting or is_admin is False or is_active is False):
            return
        _lock_admin_count(conn)
        row = conn.execute(sa.select(users.c.is_admin, users.c.is_active).where(users.c.user_id == user_id)).first()
        if row is None or not (row.is_admin and row.is_active):
            return
        if _count_active_admins(conn) <= 1:
            raise LastAdministratorError(LAST_ADMIN_DETAIL)


def _assert_system_user_protected(
    user_id: str,
    *,
    is_deleting: bool = False,
    is_admin: bool | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> None:
    """The `system` row owns pre-multiuser content: never delete, deactivate, promote it or give it a password."""
    if user_id != SYSTEM_USER_ID:
        return
    if is_deleting or is_active is False or is_admin is True or password is not None:
        raise SystemUserProtectedError(SYSTEM_USER_PROTECTED_DETAIL)
