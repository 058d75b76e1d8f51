"""The tenant scope of the running request, queue item or task.

Record services read it to filter and stamp every tenant-owned row. It fails closed:
with no scope set, the current tenant is ``None``, which matches only rows that belong
to no tenant (platform operators' own rows), never another tenant's.
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


@dataclass(frozen=True)
class _Scope:
    tenant_id: str | None
    system: bool


_scope: ContextVar[_Scope] = ContextVar("pingvas_tenant_scope", default=_Scope(None, False))
_principal: ContextVar[Principal | None] = ContextVar("pingvas_principal", default=None)


def current_tenant_id() -> str | None:
    return _scope.get().tenant_id


def is_system_scope() -> bool:
    """True only inside `system_scope()`: platform-wide maintenance that sees every tenant."""
    return _scope.get().system


def current_principal() -> Principal | None:
    return _principal.get()


@contextmanager
def as_tenant(tenant_id: str | None) -> Iterator[None]:
    token = _scope.set(_Scope(tenant_id, False))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def system_scope() -> Iterator[None]:
    token = _scope.set(_Scope(None, True))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def as_principal(principal: Principal) -> Iterator[None]:
    p_token = _principal.set(principal)
    s_token = _scope.set(_Scope(principal.tenant_id, False))
    try:
        yield
    finally:
        _scope.reset(s_token)
        _principal.reset(p_token)


def bind_principal(principal: Principal | None) -> None:
    """Set the principal for the rest of the current context (used by ASGI middleware)."""
    _principal.set(principal)
    _scope.set(_Scope(principal.tenant_id if principal else None, False))


def bind_tenant(tenant_id: str | None) -> None:
    """Enter a tenant for the rest of this thread's context (a worker thread, per queue item)."""
    _scope.set(_Scope(tenant_id, False))
