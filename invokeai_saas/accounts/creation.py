"""What every way of creating an account shares: input checks, the user row, the session token.

Used by sign-up and operator creation (`accounts/tenancy.py`) and by invitation accepts (`accounts/invitations.py`).
Two concurrent creations of one e-mail both pass `assert_email_free`; the unique index decides,
and the loser gets 409 `email_taken` from `insert_user`, never a 500.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from invokeai.app.services.auth.password_utils import hash_password, validate_password_strength
from invokeai.app.services.auth.token_service import TokenData, create_access_token
from invokeai.app.services.users.users_common import validate_email_with_special_domains

from invokeai_saas.db.tables.tenancy import users
from tenant_middleware.context import TenantRole
from tenant_middleware.errors import ErrorCode, ServiceError

MAX_NAME_LENGTH = 100
MAX_PASSWORD_BYTES = 72  # bcrypt ignores bytes past 72: refuse rather than silently truncate
EMAIL_TAKEN_DETAIL = "An account with this email already exists"


@dataclass(frozen=True)
class SignedIn:
    token: str
    user_id: str
    tenant_id: str | None


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_email(email: str) -> str:
    try:
        return validate_email_with_special_domains(email.strip()).lower()
    except ValueError as e:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"Invalid email address: {e}") from e


def check_password(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"Password must be at most {MAX_PASSWORD_BYTES} bytes long")
    ok, reason = validate_password_strength(password)
    if not ok:
        raise ServiceError(ErrorCode.INVALID_INPUT, reason)


def check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"{what} must be at most {MAX_NAME_LENGTH} characters")
    return name


def issue_token(user_id: str, email: str, is_admin: bool = False, token_epoch: int = 0) -> str:
    return create_access_token(TokenData(user_id=user_id, email=email, is_admin=is_admin, token_epoch=token_epoch))


def user_with_email(conn: sa.Connection, email: str) -> str | None:
    return conn.execute(sa.select(users.c.user_id).where(sa.func.lower(users.c.email) == email)).scalar_one_or_none()


def assert_email_free(conn: sa.Connection, email: str) -> None:
    if user_with_email(conn, email) is not None:
        raise ServiceError(ErrorCode.EMAIL_TAKEN, EMAIL_TAKEN_DETAIL)


def insert_user(
    conn: sa.Connection,
    user_id: str,
    email: str,
    password_hash: str,
    tenant_id: str | None,
    role: TenantRole | None,
    now: datetime,
    is_admin: bool = False,
    display_name: str | None = None,
    verified: bool = True,
) -> None:
    """Insert the user row; an e-mail taken meanwhile (a concurrent sign-up or accept) is a 409.
    `verified`: the address is proven already (an invitation's link, an operator); else a link must prove it."""
    try:
        with conn.begin_nested():
            conn.execute(
                sa.insert(users).values(
                    user_id=user_id, email=email, display_name=display_name, password_hash=password_hash,
                    is_admin=is_admin, is_active=True, token_epoch=0, created_at=now, updated_at=now,
                    tenant_id=tenant_id, tenant_role=role.value if role else None,
                    email_verified_at=now if verified else None,
                )
            )
    except sa.exc.IntegrityError as e:
        raise ServiceError(ErrorCode.EMAIL_TAKEN, EMAIL_TAKEN_DETAIL) from e


def slow_hash(password: str) -> str:
    """bcrypt, on purpose slow: call it before opening a transaction, not inside one."""
    return hash_password(password)
