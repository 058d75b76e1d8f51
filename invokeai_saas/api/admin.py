"""The operator console's API (`/api/v1/admin/…`): platform operators only, and only from the
operations network (`PINGVAS_ADMIN_ALLOWED_CIDRS`); from anywhere else every route is a 404, as if
it did not exist. The work is `operators/console.py`'s."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from invokeai_saas.api.router import require_operator
from invokeai_saas.db import utcnow
from invokeai_saas.operators.console import AuditRow, OperatorService, QueueOverview, TenantDetail, TenantRow, UsageRow
from invokeai_saas.accounts.rate_limits import Network, client_address
from invokeai_saas.accounts.tenancy import TenantSummary
from tenant_middleware.context import Principal
from tenant_middleware.errors import ErrorCode, ServiceError


class TenantUpdate(BaseModel):
    status: str | None = None
    plan: str | None = None
    overrides: dict[str, Any] | None = None  # sent as null: cleared; left out: unchanged


class CreditAdjustment(BaseModel):
    amount: int = Field(ge=-10_000_000, le=10_000_000)
    reason: str = Field(min_length=3, max_length=500)
    idempotency_key: str | None = Field(default=None, max_length=120)


class Balance(BaseModel):
    credits: int


def admin_router(operators: OperatorService, allowed: Sequence[Network], trusted_proxies: Sequence[Network]) -> APIRouter:
    def from_operations_network(request: Request) -> None:
        address = client_address(request.scope, trusted_proxies)
        if not any(_contains(network, address) for network in allowed):
            raise ServiceError(ErrorCode.NOT_FOUND, f"No such API route: {request.url.path}")

    router = APIRouter(prefix="/api/v1/admin", tags=["operators"], dependencies=[Depends(from_operations_network)])
    Operator = Annotated[Principal, Depends(require_operator)]

    @router.get("/tenants", response_model=list[TenantRow])
    def search(
        _op: Operator, q: str = Query(default="", max_length=200), limit: int = Query(default=50, ge=1, le=500),
        offset: int = Query(default=0, ge=0, le=10_000_000),
    ) -> list[TenantRow]:  # fmt: skip
        return operators.search(q, limit, offset)

    @router.get("/tenants/{tenant_id}", response_model=TenantDetail)
    def detail(tenant_id: str, _op: Operator) -> TenantDetail:
        return operators.detail(tenant_id)

    @router.patch("/tenants/{tenant_id}", response_model=TenantSummary)
    def update(tenant_id: str, body: TenantUpdate, op: Operator) -> TenantSummary:
        return operators.update(
            op.user_id, tenant_id, body.status, body.plan, body.overrides, set_overrides="overrides" in body.model_fields_set
        )

    @router.post("/tenants/{tenant_id}/credits", response_model=Balance)
    def adjust(tenant_id: str, body: CreditAdjustment, op: Operator) -> Balance:
        return Balance(credits=operators.adjust_credits(op.user_id, tenant_id, body.amount, body.reason, body.idempotency_key))

    @router.get("/usage", response_model=list[UsageRow])
    def usage(
        _op: Operator, since: datetime | None = None, until: datetime | None = None, tenant_id: str | None = None
    ) -> list[UsageRow]:
        until = until or utcnow() + timedelta(seconds=1)
        return operators.usage(since or until - timedelta(days=30), until, tenant_id)

    @router.get("/queue", response_model=QueueOverview)
    def queue(_op: Operator) -> QueueOverview:
        return operators.queue()

    @router.get("/audit", response_model=list[AuditRow])
    def audit(
        _op: Operator, before: int | None = Query(default=None, ge=1, le=2**31 - 1), limit: int = Query(default=50, ge=1, le=500),
        tenant_id: str | None = None,
    ) -> list[AuditRow]:  # fmt: skip
        return operators.audit(before, limit, tenant_id)

    return router


def _contains(network: Network, address: str) -> bool:
    from ipaddress import ip_address

    try:
        return ip_address(address) in network
    except ValueError:
        return False
