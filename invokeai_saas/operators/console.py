"""The platform operators' console: find and inspect workspaces, change their plan, contract overrides
and status, adjust credits with a reason, report usage, see the queue and the workers. Every change
writes an `operator_audit` entry in its own transaction. All of it runs in system scope; the routes
(`api/admin.py`) admit operators only, from the operations network only."""

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from billing.credits import EntryKind
from billing.entitlements import check_overrides, parse_overrides
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.billing import credit_ledger
from invokeai_saas.db.tables.dispatch import queue_workers
from invokeai_saas.db.tables.operators import operator_audit
from invokeai_saas.db.tables.tenancy import tenants, users
from invokeai_saas.money.ledger import CreditLedger, Entry
from invokeai_saas.core.metrics import queue_counts
from invokeai_saas.accounts.tenancy import TenancyService, TenantSummary
from tenant_middleware.context import system_scope
from tenant_middleware.errors import ErrorCode, ServiceError


class TenantRow(BaseModel):
    id: str
    name: str
    plan: str
    status: str
    credits: int
    storage_bytes: int
    created_at: datetime


class TenantDetail(BaseModel):
    summary: TenantSummary
    overrides: dict[str, Any]
    recent_entries: list[Entry]


class UsageRow(BaseModel):
    tenant_id: str
    name: str
    by_kind: dict[str, int]
    spent: int


class WorkerRow(BaseModel):
    worker_id: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool
    models: list[str]


class QueueOverview(BaseModel):
    pending_by_tier: dict[str, int]
    running: int
    workers: list[WorkerRow]


class AuditRow(BaseModel):
    entry_id: int
    at: datetime
    operator_user_id: str
    action: str
    tenant_id: str | None
    detail: dict[str, Any] | None


class OperatorService:
    def __init__(self, db: Database, ledger: CreditLedger, tenancy: TenancyService, lease_seconds: float = 30.0) -> None:
        self._db = db
        self._ledger = ledger
        self._tenancy = tenancy
        self._lease_seconds = lease_seconds

    def search(self, query: str = "", limit: int = 50, offset: int = 0) -> list[TenantRow]:
        """Workspaces whose name, id or a member's e-mail contains `query` (all when empty), newest first."""
        select = sa.select(
            tenants.c.tenant_id, tenants.c.name, tenants.c.plan, tenants.c.status,
            (tenants.c.credits_period + tenants.c.credits_extra).label("credits"), tenants.c.storage_bytes, tenants.c.created_at,
        )  # fmt: skip
        if query:
            pattern = f"%{query.lower()}%"
            members = sa.select(users.c.tenant_id).where(sa.func.lower(users.c.email).like(pattern))
            select = select.where(
                sa.or_(sa.func.lower(tenants.c.name).like(pattern), tenants.c.tenant_id == query, tenants.c.tenant_id.in_(members))
            )
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(select.order_by(tenants.c.created_at.desc(), tenants.c.tenant_id).limit(limit).offset(offset))
            return [TenantRow(id=r.tenant_id, **{k: v for k, v in r._mapping.items() if k != "tenant_id"}) for r in rows]

    def detail(self, tenant_id: str) -> TenantDetail:
        summary = self._tenancy.summary(tenant_id)
        with system_scope(), self._db.begin() as conn:
            overrides = conn.execute(sa.select(tenants.c.overrides).where(tenants.c.tenant_id == tenant_id)).scalar_one()
        with system_scope():
            entries = self._ledger.entries(tenant_id, limit=20)
        return TenantDetail(summary=summary, overrides=parse_overrides(overrides), recent_entries=entries)

    def update(
        self, operator_id: str, tenant_id: str, status: str | None, plan: str | None, overrides: dict[str, Any] | None, set_overrides: bool
    ) -> TenantSummary:
        """Changes status, plan and (when `set_overrides`) the contract's overrides (None clears them)."""
        if set_overrides:
            try:
                checked = check_overrides(overrides) if overrides else None
            except ValueError as e:
                raise ServiceError(ErrorCode.INVALID_INPUT, f"Overrides: {e}") from None
            with system_scope(), self._db.begin() as conn:
                done = conn.execute(
                    sa.update(tenants)
                    .where(tenants.c.tenant_id == tenant_id)
                    .values(overrides=json.dumps(checked) if checked else None, updated_at=utcnow())
                ).rowcount
                if not done:
                    raise ServiceError(ErrorCode.NOT_FOUND, "Workspace not found")
                _audit(conn, operator_id, "set_overrides", tenant_id, {"overrides": checked})
        if status is not None or plan is not None:
            summary = self._tenancy.update_tenant(tenant_id, status=status, plan=plan)
            with system_scope(), self._db.begin() as conn:
                _audit(conn, operator_id, "update_workspace", tenant_id, {"status": status, "plan": plan})
            return summary
        return self._tenancy.summary(tenant_id)

    def adjust_credits(self, operator_id: str, tenant_id: str, amount: int, reason: str, key: str | None) -> int:
        """An operator's adjustment (extra credits, either sign), once per `key`; returns the balance."""
        key = f"adjustment:{key or uuid.uuid4()}"
        with system_scope(), self._db.begin() as conn:
            if conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)).first() is None:
                raise ServiceError(ErrorCode.NOT_FOUND, "Workspace not found")
            balance = self._ledger.post(
                conn, tenant_id, EntryKind.ADJUSTMENT, amount, key, reason=reason, actor_user_id=operator_id
            )
            if balance is not None:
                _audit(conn, operator_id, "adjust_credits", tenant_id, {"amount": amount, "reason": reason, "key": key})
        if balance is None:  # this key was applied before: the balance as it is now
            with system_scope():
                return self._ledger.balance(tenant_id).total
        return balance

    def usage(self, since: datetime, until: datetime, tenant_id: str | None = None) -> list[UsageRow]:
        """Credits moved per workspace and kind in [since, until)."""
        query = (
            sa.select(credit_ledger.c.tenant_id, tenants.c.name, credit_ledger.c.kind, sa.func.sum(credit_ledger.c.amount))
            .select_from(credit_ledger.join(tenants, tenants.c.tenant_id == credit_ledger.c.tenant_id))
            .where(credit_ledger.c.created_at >= since, credit_ledger.c.created_at < until)
            .group_by(credit_ledger.c.tenant_id, tenants.c.name, credit_ledger.c.kind)
        )
        if tenant_id is not None:
            query = query.where(credit_ledger.c.tenant_id == tenant_id)
        report: dict[str, UsageRow] = {}
        with system_scope(), self._db.begin() as conn:
            for tid, name, kind, amount in conn.execute(query):
                row = report.setdefault(tid, UsageRow(tenant_id=tid, name=name, by_kind={}, spent=0))
                row.by_kind[kind] = int(amount)
                if kind in ("usage", "external_api"):
                    row.spent -= int(amount)
        return sorted(report.values(), key=lambda r: (-r.spent, r.tenant_id))

    def queue(self) -> QueueOverview:
        pending, running = queue_counts(self._db)
        now = utcnow()
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(sa.select(queue_workers).order_by(queue_workers.c.worker_id)).all()
        workers = [
            WorkerRow(
                worker_id=r.worker_id, started_at=r.started_at, heartbeat_at=r.heartbeat_at,
                alive=(now - r.heartbeat_at).total_seconds() <= self._lease_seconds, models=json.loads(r.models or "[]"),
            )  # fmt: skip
            for r in rows
        ]
        return QueueOverview(pending_by_tier=pending, running=running, workers=workers)

    def audit(self, before: int | None = None, limit: int = 50, tenant_id: str | None = None) -> list[AuditRow]:
        query = sa.select(operator_audit)
        if before is not None:
            query = query.where(operator_audit.c.entry_id < before)
        if tenant_id is not None:
            query = query.where(operator_audit.c.tenant_id == tenant_id)
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(query.order_by(operator_audit.c.entry_id.desc()).limit(limit)).all()
        return [AuditRow(**(dict(r._mapping) | {"detail": json.loads(r.detail) if r.detail else None})) for r in rows]


def _audit(conn: sa.Connection, operator_id: str, action: str, tenant_id: str | None, detail: dict[str, Any]) -> None:
    conn.execute(
        sa.insert(operator_audit).values(
            at=utcnow(), operator_user_id=operator_id, action=action, tenant_id=tenant_id, detail=json.dumps(detail)
        )
    )
