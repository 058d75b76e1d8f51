"""A workspace's credits: its ledger page by page with per-day totals, a queue item's receipt, and
the price of a batch before it is queued. Every member may read them; the rows are the workspace's
own (another workspace's queue item is a 404)."""

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from invokeai.app.services.session_queue.session_queue_common import Batch
from pydantic import BaseModel

from invokeai_saas.api.router import require_member
from invokeai_saas.db import utcnow
from invokeai_saas.ledger import CreditLedger, Entry
from tenant_middleware.context import Principal

Member_ = Annotated[Principal, Depends(require_member)]


class LedgerEntry(BaseModel):
    entry_id: int
    kind: str
    amount: int
    balance_after: int
    item_id: int | None
    attempt: int | None
    seconds: float | None
    reason: str | None
    created_at: datetime


class DayTotal(BaseModel):
    day: date
    spent: int  # credits used (GPU seconds and external API requests), as a positive number
    added: int  # grants, period resets, refunds, positive adjustments
    by_kind: dict[str, int]


class UsagePage(BaseModel):
    credits: int
    entries: list[LedgerEntry]
    next_before: int | None  # pass as `before` for the next (older) page
    days: list[DayTotal]


class Receipt(BaseModel):
    item_id: int
    status: str
    credits_charged: int
    entries: list[LedgerEntry]
    explanation: str


class Estimate(BaseModel):
    sessions: int
    credits: int  # the least the batch can cost: one GPU second per session, plus 20 per nano-banana request
    nano_banana_requests: int
    balance: int
    held: int  # by the workspace's queued and running items
    allowed: bool
    refusal: dict[str, str] | None


def billing_router(ledger: CreditLedger) -> APIRouter:
    router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

    @router.get("/usage", response_model=UsagePage)
    def usage(
        me: Member_,
        before: int | None = Query(default=None, ge=1, le=2**31 - 1),
        limit: int = Query(default=50, ge=1, le=500),
        days: int = Query(default=30, ge=1, le=366),
    ) -> UsagePage:
        tenant_id = me.tenant_id or ""
        entries = ledger.entries(tenant_id, before=before, limit=limit)
        since = datetime.combine(utcnow().date() - timedelta(days=days - 1), datetime.min.time())
        return UsagePage(
            credits=ledger.balance(tenant_id).total,
            entries=[_entry(e) for e in entries],
            next_before=entries[-1].entry_id if len(entries) == limit else None,
            days=[_day(day, kinds) for day, kinds in ledger.daily_spend(tenant_id, since).items()],
        )

    @router.get("/usage/items/{item_id}", response_model=Receipt)
    def receipt(me: Member_, item_id: int) -> Receipt:
        from invokeai.app.api.dependencies import ApiDependencies

        item = ApiDependencies.invoker.services.session_queue.get_queue_item(item_id)  # another workspace's: 404
        entries = ledger.item_entries(me.tenant_id or "", item_id)
        charged = -sum(e.amount for e in entries)
        return Receipt(
            item_id=item_id,
            status=item.status,
            credits_charged=charged,
            entries=[_entry(e) for e in entries],
            explanation=_explain(item.status, entries),
        )

    @router.post("/estimate", response_model=Estimate)
    def estimate(me: Member_, batch: Batch = Body(embed=True)) -> Estimate:
        from invokeai.app.api.dependencies import ApiDependencies

        found = ApiDependencies.invoker.services.session_queue.estimate_batch("default", batch)
        refusal = found.refusal.body() if found.refusal is not None else None
        return Estimate(
            sessions=len(found.estimates),
            credits=found.need,
            nano_banana_requests=found.nano_banana_requests,
            balance=found.balance,
            held=found.held,
            allowed=refusal is None,
            refusal=refusal,
        )

    return router


def _entry(entry: Entry) -> LedgerEntry:
    return LedgerEntry(**entry.__dict__)


def _day(day: date, kinds: dict[str, int]) -> DayTotal:
    spent = -sum(amount for kind, amount in kinds.items() if kind in ("usage", "external_api"))
    added = sum(amount for amount in kinds.values() if amount > 0)
    return DayTotal(day=day, spent=spent, added=added, by_kind=kinds)


def _explain(status: str, entries: list[Entry]) -> str:
    if not entries:
        if status in ("pending", "in_progress", "waiting"):
            return "Nothing charged yet: the item is charged when each attempt ends."
        return "Nothing charged: the item never held a generation device for its own work, or it failed on the platform's side."
    return " ".join(e.reason or "" for e in entries)
