"""Statements built once and reused, for the queries every request runs.

SQLAlchemy spends longer building a statement (a union of subqueries, a window function) and
keying it for its compiled cache than SQLite spends running it; a statement object that is
reused keeps its cache key. So the hot queries are built once per shape, with every value,
the caller's tenant included, left as a bound parameter filled at each execution.

Each kind of scope filters a tenant-owned table differently (see `tenant_clause`): its tenant's
rows, the platform's, every row, or none. A reused statement is therefore built per kind of
scope, and `scope_params()` supplies the tenant it names. It must never bake a tenant id into a
reused statement, nor run a statement built for one kind of scope under another: callers read
`scope_kind()` and `scope_params()` together, in the context that executes the statement.
"""

from enum import Enum

import sqlalchemy as sa

from tenant_middleware.context import current_tenant_id, is_platform_scope, is_system_scope

TENANT_PARAM = "scope_tenant_id"


class ScopeKind(Enum):
    TENANT = "tenant"
    PLATFORM = "platform"
    SYSTEM = "system"
    NONE = "none"


def scope_kind() -> ScopeKind:
    """The kind of the current scope, in the order `tenant_clause` decides it."""
    if is_system_scope():
        return ScopeKind.SYSTEM
    if current_tenant_id() is not None:
        return ScopeKind.TENANT
    if is_platform_scope():
        return ScopeKind.PLATFORM
    return ScopeKind.NONE


def scope_clause(table: sa.Table, kind: ScopeKind) -> sa.ColumnElement[bool]:
    """`tenant_clause(table)` for a statement built once: the tenant is the `TENANT_PARAM` parameter."""
    if kind is ScopeKind.SYSTEM:
        return sa.true()
    if kind is ScopeKind.TENANT:
        return table.c.tenant_id == sa.bindparam(TENANT_PARAM)
    if kind is ScopeKind.PLATFORM:
        return table.c.tenant_id.is_(None)
    return sa.false()


def scope_params() -> dict[str, str | None]:
    """The parameters `scope_clause` leaves open, for the current scope."""
    return {TENANT_PARAM: current_tenant_id()}
