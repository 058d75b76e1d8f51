"""The workspace audit log: who did what to whose content.

Entries are written by the code that makes the change, inside the change's own transaction, so the
change and its entry commit or roll back together. The actor is the request's principal (and the
API key it came through); the workspace is the current tenant scope or the one named. Changes made
with no workspace (the platform's own objects, maintenance) are not a workspace's history and are
not logged. Owners and admins read the log (`GET /api/v1/tenant/audit`); it is append-only.
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.workspace import tenant_audit
from tenant_middleware.context import Principal, TenantRole, current_principal, current_tenant_id, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

MAX_PAGE = 200


class AuditEntry(BaseModel):
    entry_id: int
    at: datetime
    actor_user_id: str | None
    via_api_key_id: str | None
    action: str
    object_type: str
    object_id: str
    owner_user_id: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    offset: int
    limit: int
    total: int


def record(
    conn: sa.Connection,
    action: str,
    object_type: str,
    objects: Iterable[tuple[str, str | None]],
    detail: dict[str, Any] | None = None,
    tenant_id: str | None = None,
) -> None:
    """One entry per (object id, owner user id) for `action` (e.g. "deleted") on `object_type`."""
    tenant_id = tenant_id or current_tenant_id()
    if tenant_id is None:
        return
    principal = current_principal()
    now = utcnow()
    rows = [
        {
            "tenant_id": tenant_id, "at": now, "action": action, "object_type": object_type,
            "object_id": str(object_id), "owner_user_id": owner,
            "actor_user_id": principal.user_id if principal else None,
            "via_api_key_id": principal.api_key_id if principal else None,
            "detail": json.dumps(detail) if detail else None,
        }
        for object_id, owner in objects
    ]
    if rows:
        conn.execute(sa.insert(tenant_audit), rows)


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def page(self, actor: Principal, offset: int = 0, limit: int = 50) -> AuditPage:
        """The actor's workspace's entries, newest first; owners and admins only."""
        if actor.tenant_id is None or actor.role not in (TenantRole.OWNER, TenantRole.ADMIN):
            raise ServiceError(ErrorCode.FORBIDDEN, "Only workspace owners and admins can read the audit log")
        return _page(self._db, actor.tenant_id, offset, limit)


def publicity_changed(conn: sa.Connection, object_type: str, object_id: str, owner: str | None, was: bool, now: bool) -> None:
    """Logs a public/private switch of a workflow, preset or prompt (nothing when it did not change)."""
    if bool(was) != bool(now):
        label = {True: "public", False: "private"}
        record(conn, "visibility_changed", object_type, [(object_id, owner)], {"from": label[bool(was)], "to": label[bool(now)]})


def _page(db: Database, tenant_id: str, offset: int, limit: int) -> AuditPage:
    limit = max(1, min(limit, MAX_PAGE))
    where = tenant_audit.c.tenant_id == tenant_id
    with system_scope(), db.begin() as conn:
        total = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
        rows = conn.execute(
            sa.select(tenant_audit).where(where).order_by(tenant_audit.c.entry_id.desc()).offset(offset).limit(limit)
        ).all()
    items = [
        AuditEntry(**{**r._asdict(), "detail": json.loads(r.detail) if r.detail else None})
        for r in rows
    ]
    return AuditPage(items=items, offset=offset, limit=limit, total=total)
