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

A subscription is the workspace's only when bound to it, and a delivery about a subscription changes
no other workspace than the one it is bound to, whatever its custom data says (anyone can put custom
data on a public buy link). It is bound once, by a delivery whose custom data holds a valid checkout
reference (`billing.lemonsqueezy.CheckoutRef`) for the workspace it names, whose nonce bound no other
subscription, at the reference's plan (`subscription_created` must be; a later state at another plan
waits as `pending` for it) and, while the workspace has a live subscription of another Lemon Squeezy
customer, never. A refusal at that moment is for good. Payments follow their subscription's binding:
one of a subscription not yet bound waits, and a refused one's never counts. Every ignored delivery
is acknowledged and written to the operators' audit (`operator_audit`, action `webhook_ignored`).
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
from billing.lemonsqueezy import (
    CheckoutRef,
    LemonSqueezyClient,
    Variants,
    WebhookEvent,
    checkout_signing_key,
    parse_time,
    ref_scope,
)
from billing.plans import PLANS
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore, upsert
from invokeai_saas.db.tables.billing import subscription_payments as payments
from invokeai_saas.db.tables.billing import subscriptions as subs
from invokeai_saas.db.tables.billing import webhook_deliveries
from invokeai_saas.db.tables.operators import operator_audit
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.money import billing_notices
from invokeai_saas.money.ledger import CreditLedger
from tenant_middleware.context import system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

logger = logging.getLogger("pingvas.billing")

PAID_STATUSES = frozenset({"active", "on_trial", "cancelled", "past_due", "unpaid"})
GRACE_STATUSES = frozenset({"past_due", "unpaid"})
BOUND, PENDING, REFUSED = "bound", "pending", "refused"  # subscriptions.binding
WEBHOOK_ACTOR = "webhook:lemonsqueezy"  # the actor of an ignored delivery's entry in operator_audit


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
        test_mode: bool = False, signing_key: bytes | None = None, store_id: str | None = None,
    ) -> None:
        self._db = db
        self._test_mode = test_mode  # which of the store's modes this studio follows: never both
        self._signing_key = signing_key  # of checkout references; None: no checkout can be bound
        self._store_id = store_id
        self._scope = ref_scope(store_id, test_mode)
        self._ledger = ledger
        self.variants = variants
        self._grace = timedelta(days=grace_days)
        self._unpaid_plan = unpaid_plan

    def checkout_reference(self, tenant_id: str, plan: str) -> str | None:
        """A fresh signed reference for the custom data of `tenant_id`'s checkout of `plan`; None without a key."""
        if self._signing_key is None:
            return None
        return CheckoutRef.new(tenant_id, plan).token(self._signing_key, self._scope)

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
            if outcome.startswith("ignored"):
                _audit_ignored(conn, event, key, outcome)
            recorded = outcome[: webhook_deliveries.c.outcome.type.length]  # the log keeps it whole
            conn.execute(sa.update(webhook_deliveries).where(webhook_deliveries.c.delivery_key == key).values(outcome=recorded))
        logger.info("lemonsqueezy %s for %s: %s", event.name, event.tenant_id, outcome)
        return outcome

    def _apply(self, conn: Connection, event: WebhookEvent) -> str:
        if event.test_mode != self._test_mode:
            return "ignored: a test-mode delivery" if event.test_mode else "ignored: a live delivery (test mode is on)"
        if self._store_id and event.store_id not in (None, self._store_id):
            return f"ignored: a delivery of another store ({event.store_id[:20]})"
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
            sa.select(subs.c.tenant_id, subs.c.binding, subs.c.source_updated_at, subs.c.status, subs.c.plan)
            .where(subs.c.subscription_id == event.object_id)
            .with_for_update()
        ).first()
        nonce, refusal = None, None
        if seen is not None and seen.binding == BOUND:
            tenant_id, binding = seen.tenant_id, BOUND
        elif seen is not None and seen.binding == REFUSED:
            return "ignored: a subscription refused for the workspace it names"
        else:
            ref, why = self._reference(conn, event, seen.tenant_id if seen is not None else None)
            if ref is None:
                return f"ignored: {why}"
            tenant_id, binding = ref.tenant_id, PENDING
            if event.name == "subscription_created" or variant[0] == ref.plan:
                refusal = self._binding_refusal(conn, event, ref, variant[0])
                binding, nonce = (REFUSED, None) if refusal else (BOUND, ref.nonce)
        state = {
            "variant_id": str(a.get("variant_id")),
            "plan": variant[0],
            "interval": variant[1],
            "status": str(a.get("status", "")),
            "renews_at": parse_time(a.get("renews_at")),
            "ends_at": parse_time(a.get("ends_at")),
            "customer_id": event.customer_id,
            "source_updated_at": updated,
            "updated_at": utcnow(),
        }
        stale = seen is not None and seen.source_updated_at > updated
        if seen is None:
            row = {"subscription_id": event.object_id, "tenant_id": tenant_id, "binding": binding, "checkout_nonce": nonce}
            upsert(conn, subs, row | state, key=["subscription_id"], update=list(state))
        else:
            if not stale:
                conn.execute(sa.update(subs).where(subs.c.subscription_id == event.object_id).values(**state))
            if binding != seen.binding:
                conn.execute(
                    sa.update(subs).where(subs.c.subscription_id == event.object_id).values(binding=binding, checkout_nonce=nonce)
                )
        if binding == REFUSED:
            return f"ignored: {refusal}"
        if binding == PENDING:
            waiting = "its workspace is bound by its subscription_created"
            return f"subscription {state['status']} on {state['plan']} pending: {waiting}"
        if stale and seen is not None and seen.binding == BOUND:
            return "stale: a newer state of this subscription was already applied"
        self._sync_workspace(conn, tenant_id)
        granted = self._start_paid_periods(conn, tenant_id)
        latest = conn.execute(sa.select(subs.c.status, subs.c.plan).where(subs.c.subscription_id == event.object_id)).one()
        before = seen if seen is not None and seen.binding == BOUND else None
        billing_notices.subscription_changed(conn, tenant_id, event.object_id, before, latest.status, latest.plan,
                                             state["ends_at"], updated)
        return f"subscription {latest.status} on {latest.plan}" + (f", {granted} period(s) started" if granted else "")

    def _reference(self, conn: Connection, event: WebhookEvent, named_before: str | None) -> tuple[CheckoutRef | None, str]:
        """The checkout reference that may bind the event's subscription to the workspace its custom
        data names, or why there is none."""
        if not event.tenant_id or not _tenant_exists(conn, event.tenant_id):
            return None, "no workspace in its custom data"
        ref = CheckoutRef.verify(event.checkout_ref, self._signing_key, self._scope) if self._signing_key else None
        if ref is None or ref.tenant_id != event.tenant_id:
            return None, "no valid checkout reference for the workspace it names"
        if named_before is not None and named_before != ref.tenant_id:
            return None, "its subscription named another workspace before"
        used_by = conn.execute(sa.select(subs.c.subscription_id).where(subs.c.checkout_nonce == ref.nonce)).scalar_one_or_none()
        if used_by is not None and used_by != event.subscription_id:
            return None, "its checkout reference already bound another subscription"
        return ref, ""

    def _binding_refusal(self, conn: Connection, event: WebhookEvent, ref: CheckoutRef, plan: str) -> str | None:
        """Why a subscription with a valid reference may not be bound now (and never will be), if so."""
        if plan != ref.plan:
            return f"bought at {plan}, not at its checkout reference's {ref.plan}"
        customers = conn.execute(
            sa.select(subs.c.customer_id).where(
                subs.c.tenant_id == ref.tenant_id, subs.c.binding == BOUND, subs.c.status != "expired",
                subs.c.subscription_id != event.object_id,
            )
        ).scalars()  # fmt: skip
        if any(c is not None and c != event.customer_id for c in customers):
            return "another customer's subscription: the workspace has a live one of its own"
        return None

    def _payment(self, conn: Connection, event: WebhookEvent) -> str:
        a, sub_id = event.attributes, event.subscription_id
        sub = conn.execute(sa.select(subs.c.tenant_id, subs.c.binding).where(subs.c.subscription_id == sub_id)).first()
        if sub is not None and sub.binding == BOUND:
            tenant_id, bound = sub.tenant_id, True
        elif sub is not None and sub.binding == REFUSED:
            return "ignored: a payment of a subscription refused for the workspace it names"
        else:  # its subscription is not bound yet: the payment waits for it, if its reference is valid
            ref, why = self._reference(conn, event, sub.tenant_id if sub is not None else None)
            if ref is None:
                return f"ignored: {why}"
            tenant_id, bound = ref.tenant_id, False
        status = {"subscription_payment_failed": "failed", "subscription_payment_refunded": "refunded"}.get(event.name, "paid")
        updated = parse_time(a.get("updated_at")) or utcnow()
        seen = conn.execute(
            sa.select(
                payments.c.source_updated_at, payments.c.status, payments.c.applied, payments.c.tenant_id,
                payments.c.subscription_id,
            )  # fmt: skip
            .where(payments.c.invoice_id == event.object_id)
            .with_for_update()
        ).first()
        if seen is not None and (seen.tenant_id != tenant_id or seen.subscription_id != sub_id):
            return "ignored: its invoice was recorded for another subscription"
        if seen is not None and (seen.source_updated_at > updated or seen.status == "refunded"):
            return "stale: a newer state of this payment was already applied"
        row = {
            "invoice_id": event.object_id,
            "tenant_id": tenant_id,
            "subscription_id": sub_id,
            "status": status,
            "billing_reason": a.get("billing_reason"),
            "source_updated_at": updated,
            "created_at": utcnow(),
        }
        upsert(conn, payments, row, key=["invoice_id"], update=["status", "billing_reason", "source_updated_at"])
        if not bound:
            return ("payment recorded" if status == "paid" else f"payment {status} recorded") + ", waiting for its subscription"
        if status == "failed":
            self._hold(conn, tenant_id, utcnow() + self._grace, only_if_clear=True)
            billing_notices.payment_failed(conn, tenant_id, event.object_id, updated)
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
            .where(
                payments.c.tenant_id == tenant_id, payments.c.status == "paid", payments.c.applied == sa.false(),
                subs.c.tenant_id == tenant_id, subs.c.binding == BOUND,
            )
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
        sa.select(subs)
        .where(subs.c.tenant_id == tenant_id, subs.c.binding == BOUND)
        .order_by(subs.c.source_updated_at.desc())
        .limit(1)
    ).first()


def _tenant_exists(conn: Connection, tenant_id: str) -> bool:
    return conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)).first() is not None


def _audit_ignored(conn: Connection, event: WebhookEvent, delivery_key: str, outcome: str) -> None:
    """An ignored delivery in the operators' audit, under the workspace it named when that exists."""
    named = event.tenant_id if event.tenant_id and _tenant_exists(conn, event.tenant_id) else None
    detail = {
        "outcome": outcome, "event": event.name, "object": f"{event.object_type}/{event.object_id}",
        "subscription_id": event.subscription_id or None, "customer_id": event.customer_id, "store_id": event.store_id,
        "test_mode": event.test_mode, "named_tenant_id": event.tenant_id, "delivery_key": delivery_key,
    }  # fmt: skip
    conn.execute(
        sa.insert(operator_audit).values(
            at=utcnow(), operator_user_id=WEBHOOK_ACTOR, action="webhook_ignored", tenant_id=named, detail=json.dumps(detail)
        )
    )


def subscriptions_for(settings: Any, db: Database, ledger: CreditLedger) -> SubscriptionService:
    variants = Variants.parse(settings.lemonsqueezy_variants, set(PLANS))
    key = checkout_signing_key(settings.checkout_signing_secret, settings.lemonsqueezy_webhook_secret)
    return SubscriptionService(db, ledger, variants, settings.billing_grace_days, unpaid_plan=settings.default_plan,
                               test_mode=settings.lemonsqueezy_test_mode, signing_key=key,
                               store_id=settings.lemonsqueezy_store_id)


def lemonsqueezy_client(settings: Any) -> LemonSqueezyClient | None:
    """The API client, when the settings configure one (key and store)."""
    if not settings.lemonsqueezy_api_key or not settings.lemonsqueezy_store_id:
        return None
    return LemonSqueezyClient(settings.lemonsqueezy_api_url, settings.lemonsqueezy_api_key, settings.lemonsqueezy_store_id)
