"""A workspace's Lemon Squeezy subscription: webhooks applied once and in order, and the workspace's
plan, credits and billing hold derived from them.

Each delivery is applied in one transaction with its record in `webhook_deliveries` (keyed by the
SHA-256 of its body): a retried delivery is acknowledged and changes nothing, and a pod dying midway
leaves nothing half-applied (Lemon Squeezy retries). A subscription's state is taken from its own
`updated_at`: an older delivery arriving late never rolls it back. A paid invoice starts a period
(the plan's allowance; a yearly one twelve months' worth) once its subscription is known, since a
payment may arrive before its subscription; the ledger key `period:<invoice>` grants it once.

Statuses: active, on_trial and cancelled (paid until `ends_at`) keep the paid plan; past_due and
unpaid keep it for `grace_days`, then generation is refused (`billing_hold_at`); paused refuses at
once; expired returns the workspace to the unpaid plan with no allowance.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from billing.credits import EntryKind
from billing.entitlements import entitlements, parse_overrides
from billing.lemonsqueezy import LemonSqueezyClient, Variants, WebhookEvent, parse_time
from billing.plans import PLANS
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore, upsert
from invokeai_saas.db.tables.billing import subscription_payments as payments
from invokeai_saas.db.tables.billing import subscriptions as subs
from invokeai_saas.db.tables.billing import webhook_deliveries
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.ledger import CreditLedger
from tenant_middleware.context import system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

logger = logging.getLogger("pingvas.billing")

PAID_STATUSES = frozenset({"active", "on_trial", "cancelled", "past_due", "unpaid"})
GRACE_STATUSES = frozenset({"past_due", "unpaid"})


class Subscription(BaseModel):
    subscription_id: str
    plan: str
    interval: str
    status: str  # Lemon Squeezy's
    renews_at: datetime | None
    ends_at: datetime | None


class SubscriptionService:
    def __init__(
        self, db: Database, ledger: CreditLedger, variants: Variants, grace_days: int = 7, unpaid_plan: str = "starter",
        test_mode: bool = False,
    ) -> None:
        self._db = db
        self._test_mode = test_mode  # which of the store's modes this studio follows: never both
        self._ledger = ledger
        self.variants = variants
        self._grace = timedelta(days=grace_days)
        self._unpaid_plan = unpaid_plan

    # region webhooks

    def apply_delivery(self, raw_body: bytes) -> str:
        """Applies a verified delivery once; returns what became of it (for the log and the test)."""
        try:
            body = json.loads(raw_body)
            event = WebhookEvent.parse(body)
        except (ValueError, AttributeError) as e:
            raise ServiceError(ErrorCode.INVALID_INPUT, f"The webhook body is not a Lemon Squeezy event: {e}") from None
        key = hashlib.sha256(raw_body).hexdigest()
        with system_scope(), self._db.begin() as conn:
            record = {"delivery_key": key, "event_name": event.name[:64], "tenant_id": event.tenant_id,
                      "outcome": "applying", "received_at": utcnow()}  # fmt: skip
            if not insert_ignore(conn, webhook_deliveries, record, key=["delivery_key"]):
                return "duplicate"
            outcome = self._apply(conn, event)
            recorded = outcome[: webhook_deliveries.c.outcome.type.length]  # the log keeps it whole
            conn.execute(sa.update(webhook_deliveries).where(webhook_deliveries.c.delivery_key == key).values(outcome=recorded))
        logger.info("lemonsqueezy %s for %s: %s", event.name, event.tenant_id, outcome)
        return outcome

    def _apply(self, conn: Connection, event: WebhookEvent) -> str:
        if event.test_mode != self._test_mode:
            return "ignored: a test-mode delivery" if event.test_mode else "ignored: a live delivery (test mode is on)"
        if not event.tenant_id or not _tenant_exists(conn, event.tenant_id):
            return "ignored: no workspace in its custom data"
        if event.name.startswith("subscription_payment_"):
            return self._payment(conn, event)
        if event.name.startswith("subscription_") and event.object_type == "subscriptions":
            return self._subscription(conn, event)
        return "ignored: not a subscription event"

    def _subscription(self, conn: Connection, event: WebhookEvent) -> str:
        a = event.attributes
        variant = self.variants.by_id.get(str(a.get("variant_id")))
        if variant is None:
            return f"ignored: variant {a.get('variant_id')} is not in PINGVAS_LEMONSQUEEZY_VARIANTS"
        updated = parse_time(a.get("updated_at")) or utcnow()
        seen = conn.execute(
            sa.select(subs.c.source_updated_at).where(subs.c.subscription_id == event.object_id).with_for_update()
        ).scalar_one_or_none()
        if seen is not None and seen > updated:
            return "stale: a newer state of this subscription was already applied"
        row = {
            "subscription_id": event.object_id,
            "tenant_id": event.tenant_id,
            "variant_id": str(a.get("variant_id")),
            "plan": variant[0],
            "interval": variant[1],
            "status": str(a.get("status", "")),
            "renews_at": parse_time(a.get("renews_at")),
            "ends_at": parse_time(a.get("ends_at")),
            "customer_id": str(a.get("customer_id")) if a.get("customer_id") is not None else None,
            "source_updated_at": updated,
            "updated_at": utcnow(),
        }
        upsert(conn, subs, row, key=["subscription_id"], update=[k for k in row if k != "subscription_id"])
        assert event.tenant_id is not None
        self._sync_workspace(conn, event.tenant_id)
        granted = self._start_paid_periods(conn, event.tenant_id)
        return f"subscription {row['status']} on {row['plan']}" + (f", {granted} period(s) started" if granted else "")

    def _payment(self, conn: Connection, event: WebhookEvent) -> str:
        a, tenant_id = event.attributes, event.tenant_id
        assert tenant_id is not None
        status = {"subscription_payment_failed": "failed", "subscription_payment_refunded": "refunded"}.get(event.name, "paid")
        updated = parse_time(a.get("updated_at")) or utcnow()
        seen = conn.execute(
            sa.select(payments.c.source_updated_at, payments.c.status, payments.c.applied)
            .where(payments.c.invoice_id == event.object_id)
            .with_for_update()
        ).first()
        if seen is not None and (seen.source_updated_at > updated or seen.status == "refunded"):
            return "stale: a newer state of this payment was already applied"
        row = {
            "invoice_id": event.object_id,
            "tenant_id": tenant_id,
            "subscription_id": str(a.get("subscription_id", "")),
            "status": status,
            "billing_reason": a.get("billing_reason"),
            "source_updated_at": updated,
            "created_at": utcnow(),
        }
        upsert(conn, payments, row, key=["invoice_id"], update=["status", "billing_reason", "source_updated_at"])
        if status == "failed":
            self._hold(conn, tenant_id, utcnow() + self._grace, only_if_clear=True)
            return "payment failed: grace period started"
        if status == "refunded":
            if seen is not None and seen.applied:
                self._refund_period(conn, tenant_id, event.object_id)
            return "payment refunded: its period's remaining credits withdrawn"
        if event.name == "subscription_payment_recovered":
            self._hold(conn, tenant_id, None)
        granted = self._start_paid_periods(conn, tenant_id)
        return "payment recorded" + (f", {granted} period(s) started" if granted else ", waiting for its subscription")

    # endregion

    # region the workspace's state

    def _sync_workspace(self, conn: Connection, tenant_id: str) -> None:
        sub = _latest(conn, tenant_id)
        if sub is None:
            return
        hold = conn.execute(sa.select(tenants.c.billing_hold_at).where(tenants.c.tenant_id == tenant_id)).scalar_one()
        values: dict[str, Any] = {"updated_at": utcnow()}
        if sub.status in PAID_STATUSES:
            values |= {"plan": sub.plan, "trial_ends_at": None}
        else:
            values["plan"] = self._unpaid_plan
        if sub.status in GRACE_STATUSES:
            values["billing_hold_at"] = hold or utcnow() + self._grace
        elif sub.status == "paused":
            values["billing_hold_at"] = hold or utcnow()
        else:
            values["billing_hold_at"] = None
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(**values))
        if sub.status == "expired":
            self._ledger.reset_period(conn, tenant_id, 0, f"expired:{sub.subscription_id}", "The subscription ended")

    def _start_paid_periods(self, conn: Connection, tenant_id: str) -> int:
        """Grants the period of each paid invoice whose subscription is known, once."""
        rows = conn.execute(
            sa.select(payments.c.invoice_id, subs.c.plan, subs.c.interval, tenants.c.overrides)
            .select_from(
                payments.join(subs, subs.c.subscription_id == payments.c.subscription_id).join(
                    tenants, tenants.c.tenant_id == payments.c.tenant_id
                )
            )
            .where(payments.c.tenant_id == tenant_id, payments.c.status == "paid", payments.c.applied == sa.false())
            .order_by(payments.c.source_updated_at, payments.c.invoice_id)
        ).all()
        for invoice_id, plan, interval, overrides in rows:
            monthly = entitlements(plan, parse_overrides(overrides)).credits_per_period
            allowance = monthly * (12 if interval == "year" else 1)
            reason = f"{plan.title()} plan, paid by the {interval}: {allowance} credits for the period"
            self._ledger.reset_period(conn, tenant_id, allowance, f"period:{invoice_id}", reason)
            conn.execute(sa.update(payments).where(payments.c.invoice_id == invoice_id).values(applied=True))
        if rows:
            conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(trial_ends_at=None))
        return len(rows)

    def _refund_period(self, conn: Connection, tenant_id: str, invoice_id: str) -> None:
        period = conn.execute(
            sa.select(tenants.c.credits_period).where(tenants.c.tenant_id == tenant_id).with_for_update()
        ).scalar_one()
        if period > 0:
            reason = f"Payment {invoice_id} refunded: the period's remaining credits are withdrawn"
            self._ledger.post(conn, tenant_id, EntryKind.REFUND, -period, f"refund:{invoice_id}", to_period=True, reason=reason)

    def _hold(self, conn: Connection, tenant_id: str, at: datetime | None, only_if_clear: bool = False) -> None:
        query = sa.update(tenants).where(tenants.c.tenant_id == tenant_id)
        if only_if_clear:
            query = query.where(tenants.c.billing_hold_at.is_(None))
        conn.execute(query.values(billing_hold_at=at))

    # endregion

    # region reads

    def current(self, tenant_id: str) -> Subscription | None:
        with system_scope(), self._db.begin() as conn:
            return latest_subscription(conn, tenant_id)

    # endregion


def latest_subscription(conn: Connection, tenant_id: str) -> Subscription | None:
    row = _latest(conn, tenant_id)
    if row is None:
        return None
    return Subscription(
        subscription_id=row.subscription_id, plan=row.plan, interval=row.interval, status=row.status,
        renews_at=row.renews_at, ends_at=row.ends_at,
    )  # fmt: skip


def _latest(conn: Connection, tenant_id: str) -> sa.Row | None:
    return conn.execute(
        sa.select(subs).where(subs.c.tenant_id == tenant_id).order_by(subs.c.source_updated_at.desc()).limit(1)
    ).first()


def _tenant_exists(conn: Connection, tenant_id: str) -> bool:
    return conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)).first() is not None


def subscriptions_for(settings: Any, db: Database, ledger: CreditLedger) -> SubscriptionService:
    variants = Variants.parse(settings.lemonsqueezy_variants, set(PLANS))
    return SubscriptionService(db, ledger, variants, settings.billing_grace_days, unpaid_plan=settings.default_plan,
                               test_mode=settings.lemonsqueezy_test_mode)


def lemonsqueezy_client(settings: Any) -> LemonSqueezyClient | None:
    """The API client, when the settings configure one (key and store)."""
    if not settings.lemonsqueezy_api_key or not settings.lemonsqueezy_store_id:
        return None
    return LemonSqueezyClient(settings.lemonsqueezy_api_url, settings.lemonsqueezy_api_key, settings.lemonsqueezy_store_id)
