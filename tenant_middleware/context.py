"""The tenant scope of the running request, queue item or task.

Record services read it to filter and stamp every tenant-owned row. There are three scopes:
a tenant's (its rows), the platform's (rows that belong to no tenant: the operators' own, entered
by an operator's request, `as_tenant(None)` or a worker running a platform item) and the system's
(every row: maintenance, claims across tenants). It fails closed: with no scope set, nothing is
visible, neither a tenant's rows nor the platform's.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum


class TenantRole(str, Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True)
class Principal:
    """A resolved caller: the user, their tenant and role (operators have neither)."""

    user_id: str
    tenant_id: str | None
    role: TenantRole | None
    is_operator: bool = False
    api_key_id: str | None = None
    tenant_suspended: bool = False
    email_verified: bool = True  # False until the user opens the link e-mailed to their address


@dataclass(frozen=True)
class _Scope:
    tenant_id: str | None
    system: bool = False
    platform: bool = False


_NO_SCOPE = _Scope(None)
_SYSTEM = _Scope(None, system=True)
_PLATFORM = _Scope(None, platform=True)

_scope: ContextVar[_Scope] = ContextVar("pingvas_tenant_scope", default=_NO_SCOPE)
_principal: ContextVar[Principal | None] = ContextVar("pingvas_principal", default=None)


def current_tenant_id() -> str | None:
    return _scope.get().tenant_id


def is_system_scope() -> bool:
    """True only inside `system_scope()`: platform-wide maintenance that sees every tenant."""
    return _scope.get().system


def is_platform_scope() -> bool:
    """True in the platform's scope: rows that belong to no tenant (operators' own) are visible."""
    return _scope.get().platform


def current_principal() -> Principal | None:
    return _principal.get()


def _tenant_scope(tenant_id: str | None) -> _Scope:
    return _Scope(tenant_id) if tenant_id is not None else _PLATFORM


def _principal_scope(principal: Principal | None) -> _Scope:
    if principal is None:
        return _NO_SCOPE
    if principal.tenant_id is None:
        return _PLATFORM if principal.is_operator else _NO_SCOPE
    return _Scope(principal.tenant_id)


@contextmanager
def as_tenant(tenant_id: str | None) -> Iterator[None]:
    """Act as a tenant; `None` is the platform's scope (operators' own rows)."""
    token = _scope.set(_tenant_scope(tenant_id))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def system_scope() -> Iterator[None]:
    token = _scope.set(_SYSTEM)
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def as_principal(principal: Principal) -> Iterator[None]:
    p_token = _principal.set(principal)
    s_token = _scope.set(_principal_scope(principal))
    try:
        yield
    finally:
        _scope.reset(s_token)
        _principal.reset(p_token)


def bind_principal(principal: Principal | None) -> None:
    """Set the principal for the rest of the current context (used by ASGI middleware)."""
    _principal.set(principal)
    _scope.set(_principal_scope(principal))


def bind_tenant(tenant_id: str | None) -> None:
    """Enter a tenant (None: the platform) for the rest of this thread's context (a worker thread, per queue item)."""
    _scope.set(_tenant_scope(tenant_id))
