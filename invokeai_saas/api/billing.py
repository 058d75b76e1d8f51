"""A workspace's credits and subscription.

Every member may read the ledger page by page with per-day totals, a queue item's receipt (another
workspace's item is a 404), the price of a batch before it is queued and the subscription. Owners
and admins start a checkout, open the billing portal, change the plan, cancel and resume; those
calls go to Lemon Squeezy, and the workspace changes when its webhook says so. The webhook route
takes no credential: its signature is its proof, and a bad, missing or malformed one (any characters)
is a 401 that stores nothing. A checkout's custom data carries a signed reference, the only thing
that binds a subscription to the workspace (`invokeai_saas/money/subscriptions.py`).
"""

import asyncio
from datetime import date, datetime, timedelta
from collections.abc import Callable
from typing import Annotated, TypeVar

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from invokeai.app.services.session_queue.session_queue_common import Batch
from pydantic import BaseModel

from billing.plans import PLANS, Plan
from billing.lemonsqueezy import LemonSqueezyClient, LemonSqueezyError, signature_ok
from invokeai_saas.api.router import require_member
from invokeai_saas.db import utcnow
from invokeai_saas.money.ledger import CreditLedger, Entry
from invokeai_saas.core.metrics import WEBHOOKS
from invokeai_saas.money.subscriptions import Subscription, SubscriptionService
from invokeai_saas.accounts.workspace_admin import is_workspace_admin
from tenant_middleware.context import Principal
from tenant_middleware.errors import ErrorCode, ServiceError

Member_ = Annotated[Principal, Depends(require_member)]
T = TypeVar("T")


class DayTotal(BaseModel):
    day: date
    spent: int  # credits used (GPU seconds and external API requests), as a positive number
    added: int  # grants, period resets, refunds, positive adjustments
    by_kind: dict[str, int]


class UsagePage(BaseModel):
    credits: int
    entries: list[Entry]
    next_before: int | None  # pass as `before` for the next (older) page
    days: list[DayTotal]


class Receipt(BaseModel):
    item_id: int
    status: str
    credits_charged: int
    entries: list[Entry]
    explanation: str


class Estimate(BaseModel):
    sessions: int
    credits: int  # the least the batch can cost: one GPU second per session, plus 20 per nano-banana request
    nano_banana_requests: int
    balance: int
    held: int  # by the workspace's queued and running items
    allowed: bool
    refusal: dict[str, str] | None


class PlanChoice(BaseModel):
    plan: Literal["starter", "pro", "studio"]
    interval: Literal["month", "year"] = "month"


class PlanInfo(BaseModel):
    name: str
    price_usd_month: int | None  # None: negotiated
    credits_per_period: int | None  # None: per contract
    storage_gb: int | None
    concurrent_queues: int | None  # None: unlimited
    features: list[str]
    intervals: list[str]  # how it can be bought here: "month", "year" (none: not sold on this server)

    @classmethod
    def of(cls, plan: Plan, intervals: list[str]) -> "PlanInfo":
        return cls(
            name=plan.name,
            price_usd_month=plan.price_usd_month,
            credits_per_period=plan.credits_per_period,
            storage_gb=plan.storage_gb,
            concurrent_queues=plan.concurrent_queues,
            features=sorted(f.value for f in plan.features),
            intervals=intervals,
        )


class Url(BaseModel):
    url: str


class Requested(BaseModel):
    requested: str  # what was asked of Lemon Squeezy; the workspace changes when its webhook arrives


class WebhookReceipt(BaseModel):
    outcome: str


def require_billing_admin(me: Principal = Depends(require_member)) -> Principal:
    if not is_workspace_admin(me) or me.api_key_id is not None:
        raise ServiceError(ErrorCode.FORBIDDEN, "Only the workspace's owners and admins, signed in, manage its billing")
    return me


BillingAdmin = Annotated[Principal, Depends(require_billing_admin)]


def billing_router(
    ledger: CreditLedger,
    subscriptions: SubscriptionService,
    client: LemonSqueezyClient | None,
    webhook_secret: str | None,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

    def lemonsqueezy() -> LemonSqueezyClient:
        if client is None:
            raise ServiceError(ErrorCode.SERVICE_UNAVAILABLE, "Billing is not configured on this server")
        return client

    def current(me: Principal) -> Subscription:
        found = subscriptions.current(me.tenant_id or "")
        if found is None:
            raise ServiceError(ErrorCode.NOT_FOUND, "The workspace has no subscription; start one with a checkout")
        return found

    def ask(call: Callable[[LemonSqueezyClient], T]) -> T:
        """A call to Lemon Squeezy; unreachable or refusing, it is a 503 to retry."""
        try:
            return call(lemonsqueezy())
        except LemonSqueezyError as e:
            raise ServiceError(ErrorCode.SERVICE_UNAVAILABLE, f"{e}; try again in a moment") from None

    def variant_for(choice: PlanChoice) -> str:
        variant = subscriptions.variants.variant_for(choice.plan, choice.interval)
        if variant is None:
            raise ServiceError(ErrorCode.INVALID_INPUT, f"The {choice.plan} plan is not sold by the {choice.interval}")
        return variant

    @router.post("/checkout", response_model=Url)
    def checkout(me: BillingAdmin, choice: PlanChoice, request: Request) -> Url:
        """The checkout's custom data carries a signed reference: the workspace, the plan and a nonce; only
        a subscription bought with it changes the workspace (the workspace id alone is public)."""
        variant, tenant_id = variant_for(choice), me.tenant_id or ""
        ref = subscriptions.checkout_reference(tenant_id, choice.plan)
        if ref is None:
            why = "Billing is not configured on this server: no checkout signing secret"
            raise ServiceError(ErrorCode.SERVICE_UNAVAILABLE, why)
        return Url(url=ask(lambda ls: ls.create_checkout(variant, tenant_id, ref, None, str(request.base_url))))

    @router.get("/portal", response_model=Url)
    def portal(me: BillingAdmin) -> Url:
        sub = current(me)
        urls = ask(lambda ls: ls.subscription(sub.subscription_id).get("urls") or {})
        if not urls.get("customer_portal"):
            raise ServiceError(ErrorCode.SERVICE_UNAVAILABLE, "Lemon Squeezy gave no billing portal for this subscription")
        return Url(url=urls["customer_portal"])

    @router.get("/subscription", response_model=Subscription | None)
    def subscription(me: Member_) -> Subscription | None:
        return subscriptions.current(me.tenant_id or "")

    @router.post("/subscription/plan", response_model=Requested, status_code=202)
    def change_plan(me: BillingAdmin, choice: PlanChoice) -> Requested:
        sub, variant = current(me), variant_for(choice)
        ask(lambda ls: ls.change_variant(sub.subscription_id, variant))
        return Requested(requested=f"change to {choice.plan} by the {choice.interval}")

    @router.delete("/subscription", response_model=Requested, status_code=202)
    def cancel(me: BillingAdmin) -> Requested:
        sub = current(me)
        ask(lambda ls: ls.cancel(sub.subscription_id))
        return Requested(requested="cancel at the end of the period")

    @router.post("/subscription/resume", response_model=Requested, status_code=202)
    def resume(me: BillingAdmin) -> Requested:
        sub = current(me)
        ask(lambda ls: ls.resume(sub.subscription_id))
        return Requested(requested="resume")

    @router.post("/webhooks/lemonsqueezy", response_model=WebhookReceipt)
    async def webhook(request: Request) -> WebhookReceipt:
        raw = await request.body()
        if not signature_ok(raw, request.headers.get("X-Signature"), webhook_secret or ""):
            WEBHOOKS.labels("bad_signature").inc()
            raise ServiceError(ErrorCode.BAD_WEBHOOK_SIGNATURE, "The webhook's signature does not match its body")
        try:
            outcome = await asyncio.to_thread(subscriptions.apply_delivery, raw)
        except Exception:
            WEBHOOKS.labels("failed").inc()
            raise
        WEBHOOKS.labels(outcome.split(":")[0].split(" ")[0]).inc()  # applied kinds: subscription, payment, duplicate, stale, ignored
        return WebhookReceipt(outcome=outcome)

    @router.get("/plans", response_model=list[PlanInfo])
    def plans() -> list[PlanInfo]:
        """The plan catalog (public: the sign-up and upgrade pages show it)."""
        on_sale = client is not None  # without the API client no checkout can start
        return [PlanInfo.of(plan, subscriptions.variants.intervals_of(plan.name) if on_sale else []) for plan in PLANS.values()]

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
            entries=entries,
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
            entries=entries,
            explanation=_explain(item.status, entries),
        )

    @router.post("/estimate", response_model=Estimate, operation_id="estimate_batch")
    def estimate(me: Member_, batch: Batch = Body(embed=True)) -> Estimate:
        from invokeai.app.api.dependencies import ApiDependencies

        found = ApiDependencies.invoker.services.session_queue.estimate_batch("default", batch)
        refusal = found.refusal.body() if found.refusal is not None else None
        return Estimate(
            sessions=found.sessions,
            credits=found.need,
            nano_banana_requests=found.nano_banana_requests,
            balance=found.balance,
            held=found.held,
            allowed=refusal is None,
            refusal=refusal,
        )

    return router


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
