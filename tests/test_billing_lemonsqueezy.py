"""Subscriptions through Lemon Squeezy, end to end on a running studio (SQLite and Postgres): checkout
and portal calls against a local stand-in of its API, and signed webhook deliveries to the studio's
route: grants once however often a delivery repeats, the right state whatever their order, renewal,
upgrade, downgrade, cancel, pause, a failed payment's grace, expiry and refunds; a bad signature
stores nothing. Each subscriber pays through a checkout the studio made, so its deliveries carry that
checkout's custom data (tests/test_money_attacks_webhooks.py delivers what others could send)."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from invokeai_saas.db import utcnow
from invokeai_saas.db.tables.billing import credit_ledger, subscriptions, webhook_deliveries
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope
from tests import http
from tests.conftest import unique_email
from billing.lemonsqueezy import CheckoutRef, checkout_signing_key, ref_scope
from tests.lemonsqueezy_server import (
    STORE_ID,
    VARIANTS,
    WEBHOOK_SECRET,
    Clock,
    LemonSqueezyStandIn,
    invoice_event,
    signed,
    subscription_event,
)
from tests.studio import Account, Studio
from tests.test_hardening import _join as join

WEBHOOK = "/api/v1/billing/webhooks/lemonsqueezy"
PRO, PRO_YEAR, STUDIO = "101", "102", "201"


def deliver(studio: Studio, event: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    raw, headers = signed(event) if secret is None else signed(event, secret)
    with studio.client() as c:
        r = c.post(WEBHOOK, content=raw, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def workspace(studio: Studio, account: Account) -> dict[str, Any]:
    with studio.client(account) as c:
        return c.get("/api/v1/tenant").json()


def period_entries(studio: Studio, tenant_id: str) -> list[tuple[str, int]]:
    with system_scope(), studio.db.begin() as conn:
        rows = conn.execute(
            sa.select(credit_ledger.c.kind, credit_ledger.c.amount)
            .where(credit_ledger.c.tenant_id == tenant_id, credit_ledger.c.kind.in_(("period_reset", "refund")))
            .order_by(credit_ledger.c.entry_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def noop_graph() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "nodes": {"add": {"id": "add", "type": "add", "a": 1, "b": 2, "use_cache": False}}, "edges": []}


def enqueue_status(studio: Studio, account: Account) -> tuple[int, str | None]:
    with studio.client(account) as c:
        r = c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {"graph": noop_graph(), "runs": 1}, "prepend": False})
    return r.status_code, (r.json().get("code") if r.status_code >= 400 else None)


class Subscriber:
    """A workspace that checks out and the deliveries Lemon Squeezy would send for it: its custom data is
    the checkout's, made by the studio when its first subscription event is built (at that event's plan)."""

    def __init__(self, studio: Studio, lemonsqueezy: LemonSqueezyStandIn, customer_id: int = 77) -> None:
        self.studio, self.lemonsqueezy = studio, lemonsqueezy
        self.account = studio.signup(unique_email("owner"))
        self.tenant_id = self.account.tenant_id or ""
        self.sub_id = str(uuid.uuid4().int % 10**9)
        self.customer_id = customer_id
        self.clock = Clock()
        self.custom: dict[str, Any] | None = None

    def checkout(self, plan: str = "pro", interval: str = "month") -> dict[str, Any]:
        with self.studio.client(self.account) as c:
            r = c.post("/api/v1/billing/checkout", json={"plan": plan, "interval": interval})
        assert r.status_code == 200, r.text
        self.custom = self.lemonsqueezy.custom_data[r.json()["url"]]
        return self.custom

    def sub(self, name: str, status: str = "active", variant: str = PRO, ends_at: str | None = None) -> dict[str, Any]:
        if self.custom is None:
            self.checkout(*VARIANTS.get(variant, "pro:month").split(":"))
        return subscription_event(
            name, self.tenant_id, self.sub_id, variant, status, self.clock.tick(), ends_at, self.custom, self.customer_id
        )

    def invoice(self, name: str = "subscription_payment_success", reason: str = "initial", invoice_id: str | None = None) -> dict[str, Any]:
        if self.custom is None:
            self.checkout()
        return invoice_event(
            name, self.tenant_id, invoice_id or str(uuid.uuid4().int % 10**9), self.sub_id, self.clock.tick(), reason,
            self.custom, self.customer_id,
        )  # fmt: skip


@pytest.fixture
def owner(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> Subscriber:
    return Subscriber(studio, lemonsqueezy)


def test_checkout_asks_lemonsqueezy_for_the_variant_with_the_workspace_in_its_custom_data(
    studio: Studio, owner: Subscriber, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    with studio.client(owner.account) as c:
        r = c.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "year"})
        assert r.status_code == 200, r.text
        assert r.json()["url"].startswith("https://pingvas.lemonsqueezy.com/checkout/")
        assert c.post("/api/v1/billing/checkout", json={"plan": "studio", "interval": "year"}).json()["code"] == "invalid_input"
        assert c.get("/api/v1/billing/portal").status_code == 404  # no subscription yet
    body = lemonsqueezy.calls_to("POST", "/v1/checkouts")[-1]
    assert body is not None
    custom = body["data"]["attributes"]["checkout_data"]["custom"]
    assert set(custom) == {"tenant_id", "checkout_ref"} and custom["tenant_id"] == owner.tenant_id
    key = checkout_signing_key(None, WEBHOOK_SECRET)  # the stand-in's studio sets no PINGVAS_CHECKOUT_SIGNING_SECRET
    assert key is not None
    ref = CheckoutRef.verify(custom["checkout_ref"], key, ref_scope(STORE_ID, True))
    assert ref is not None and (ref.tenant_id, ref.plan) == (owner.tenant_id, "pro")
    assert body["data"]["relationships"]["variant"]["data"]["id"] == PRO_YEAR
    assert body["data"]["attributes"]["product_options"]["enabled_variants"] == [int(PRO_YEAR)]  # no other to pick
    assert body["data"]["relationships"]["store"]["data"]["id"] == STORE_ID


def test_the_catalog_says_how_each_plan_is_sold_here(studio: Studio) -> None:
    """By the configured variants (the stand-in's: Starter and Studio monthly, Pro monthly and yearly)."""
    plans = {p["name"]: p["intervals"] for p in http.get(f"{studio.url}/api/v1/billing/plans").json()}
    assert plans == {"starter": ["month"], "pro": ["month", "year"], "studio": ["month"], "enterprise": []}


def test_a_member_cannot_manage_billing(studio: Studio, owner: Subscriber) -> None:
    member = join(studio, owner.account)
    with studio.client(member) as c:
        assert c.post("/api/v1/billing/checkout", json={"plan": "pro"}).status_code == 403
        assert c.get("/api/v1/billing/usage").status_code == 200  # reading is for every member


def test_a_paid_subscription_makes_the_workspace_pro_once_however_often_it_is_delivered(studio: Studio, owner: Subscriber) -> None:
    created, paid = owner.sub("subscription_created"), owner.invoice()
    outcomes = [deliver(studio, created)["outcome"]] + [deliver(studio, paid)["outcome"] for _ in range(3)]
    assert outcomes[2:] == ["duplicate", "duplicate"]
    tenant = workspace(studio, owner.account)
    assert (tenant["plan"], tenant["credits"], tenant["trial_ends_at"]) == ("pro", 15_000, None)
    assert tenant["subscription"]["status"] == "active" and "flux_models" in tenant["features"]
    assert period_entries(studio, owner.tenant_id) == [("period_reset", 15_000 - 300)]  # the trial's 300 do not carry over


def test_deliveries_in_reverse_order_reach_the_same_state(studio: Studio, owner: Subscriber) -> None:
    created, paid = owner.sub("subscription_created"), owner.invoice()
    updated = owner.sub("subscription_updated", variant=STUDIO)  # an upgrade, newest of the three
    upgrade_paid = owner.invoice(reason="updated")
    for event in (upgrade_paid, updated, paid, created):
        deliver(studio, event)
    tenant = workspace(studio, owner.account)
    assert (tenant["plan"], tenant["credits"], tenant["concurrent_queues"]) == ("studio", 30_000, 3)
    assert tenant["subscription"]["plan"] == "studio"


def test_an_older_state_arriving_late_does_not_roll_back(studio: Studio, owner: Subscriber) -> None:
    active = owner.sub("subscription_created")
    cancelled = owner.sub("subscription_cancelled", status="cancelled", ends_at=owner.clock.tick())
    deliver(studio, owner.invoice())
    deliver(studio, cancelled)
    assert deliver(studio, active)["outcome"].startswith("stale")
    tenant = workspace(studio, owner.account)
    assert tenant["subscription"]["status"] == "cancelled" and tenant["plan"] == "pro"  # paid until it ends


def test_renewal_resets_the_allowance_and_keeps_granted_credits(studio: Studio, owner: Subscriber) -> None:
    from billing.credits import EntryKind
    from invokeai_saas.money.ledger import CreditLedger

    deliver(studio, owner.sub("subscription_created"))
    deliver(studio, owner.invoice())
    ledger = CreditLedger(studio.db)
    with system_scope(), studio.db.begin() as conn:
        ledger.post(conn, owner.tenant_id, EntryKind.USAGE, -1_000, f"test-use:{owner.tenant_id}")
        ledger.post(conn, owner.tenant_id, EntryKind.GRANT, 50, f"test-grant:{owner.tenant_id}:1", reason="goodwill")
    assert workspace(studio, owner.account)["credits"] == 14_050
    deliver(studio, owner.invoice(reason="renewal"))
    assert workspace(studio, owner.account)["credits"] == 15_050


def test_downgrade_cancel_resume_and_expiry(studio: Studio, owner: Subscriber) -> None:
    deliver(studio, owner.sub("subscription_created", variant=STUDIO))
    deliver(studio, owner.invoice())
    deliver(studio, owner.sub("subscription_updated", variant=PRO))
    deliver(studio, owner.invoice(reason="updated"))
    assert (workspace(studio, owner.account)["plan"], workspace(studio, owner.account)["credits"]) == ("pro", 15_000)
    deliver(studio, owner.sub("subscription_cancelled", status="cancelled", ends_at=owner.clock.tick()))
    assert workspace(studio, owner.account)["plan"] == "pro"
    deliver(studio, owner.sub("subscription_resumed"))
    assert workspace(studio, owner.account)["subscription"]["status"] == "active"
    deliver(studio, owner.sub("subscription_cancelled", status="cancelled", ends_at=owner.clock.tick()))
    deliver(studio, owner.sub("subscription_expired", status="expired"))
    tenant = workspace(studio, owner.account)
    assert (tenant["plan"], tenant["credits"]) == ("starter", 0)
    assert enqueue_status(studio, owner.account) == (402, "insufficient_credits")


def test_pause_refuses_generation_at_once_and_unpause_allows_it(studio: Studio, owner: Subscriber) -> None:
    deliver(studio, owner.sub("subscription_created"))
    deliver(studio, owner.invoice())
    deliver(studio, owner.sub("subscription_paused", status="paused"))
    assert enqueue_status(studio, owner.account) == (402, "payment_overdue")
    deliver(studio, owner.sub("subscription_unpaused", status="active"))
    assert enqueue_status(studio, owner.account) == (200, None)


def test_a_failed_payment_has_a_grace_period_then_refuses_until_recovered(studio: Studio, owner: Subscriber) -> None:
    deliver(studio, owner.sub("subscription_created"))
    deliver(studio, owner.invoice())
    failed = owner.invoice("subscription_payment_failed", reason="renewal")
    deliver(studio, failed)
    deliver(studio, owner.sub("subscription_updated", status="past_due"))
    assert enqueue_status(studio, owner.account) == (200, None)  # within the grace period
    hold = workspace(studio, owner.account)["billing_hold_at"]
    assert hold is not None
    with system_scope(), studio.db.begin() as conn:  # the grace period runs out
        conn.execute(
            sa.update(tenants).where(tenants.c.tenant_id == owner.tenant_id).values(billing_hold_at=utcnow() - timedelta(seconds=1))
        )
    assert enqueue_status(studio, owner.account) == (402, "payment_overdue")
    deliver(studio, owner.invoice("subscription_payment_recovered", reason="renewal", invoice_id=failed["data"]["id"]))
    deliver(studio, owner.sub("subscription_updated", status="active"))
    assert workspace(studio, owner.account)["billing_hold_at"] is None
    assert enqueue_status(studio, owner.account) == (200, None)


def test_a_refund_withdraws_what_is_left_of_the_period(studio: Studio, owner: Subscriber) -> None:
    deliver(studio, owner.sub("subscription_created"))
    paid = owner.invoice()
    deliver(studio, paid)
    refunded = owner.invoice("subscription_payment_refunded", invoice_id=paid["data"]["id"])
    deliver(studio, refunded)
    deliver(studio, {**refunded, "meta": {**refunded["meta"], "webhook_id": "again"}})  # a second, different delivery
    assert workspace(studio, owner.account)["credits"] == 0
    assert period_entries(studio, owner.tenant_id) == [("period_reset", 14_700), ("refund", -15_000)]


def test_plan_change_cancel_resume_and_portal_go_to_lemonsqueezy(
    studio: Studio, owner: Subscriber, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    deliver(studio, owner.sub("subscription_created"))
    with studio.client(owner.account) as c:
        assert c.get("/api/v1/billing/portal").json()["url"].endswith(owner.sub_id)
        assert c.post("/api/v1/billing/subscription/plan", json={"plan": "studio", "interval": "month"}).status_code == 202
        assert c.delete("/api/v1/billing/subscription").status_code == 202
        assert c.post("/api/v1/billing/subscription/resume").status_code == 202
    path = f"/v1/subscriptions/{owner.sub_id}"
    patches = lemonsqueezy.calls_to("PATCH", path)
    assert [p["data"]["attributes"] for p in patches if p] == [{"variant_id": int(STUDIO)}, {"cancelled": False}]
    assert len(lemonsqueezy.calls_to("DELETE", path)) == 1
    assert workspace(studio, owner.account)["plan"] == "pro"  # not studio: nothing changes until the webhook says so


def test_unknown_events_are_acknowledged_and_change_nothing(studio: Studio, owner: Subscriber) -> None:
    event = {"meta": {"event_name": "order_created", "custom_data": {"tenant_id": owner.tenant_id}},
             "data": {"type": "orders", "id": "1", "attributes": {}}}  # fmt: skip
    assert deliver(studio, event)["outcome"].startswith("ignored")
    assert workspace(studio, owner.account)["plan"] == "starter"


def test_a_live_delivery_is_acknowledged_and_ignored_by_a_studio_in_test_mode(studio: Studio, owner: Subscriber) -> None:
    """The suite's studio follows the store's test mode (PINGVAS_LEMONSQUEEZY_TEST_MODE, as the stand-in's
    deliveries are); tests/records/test_billing.py checks the reverse: a live studio ignores test purchases."""
    live = owner.sub("subscription_created")
    live["meta"]["test_mode"] = False
    assert deliver(studio, live)["outcome"] == "ignored: a live delivery (test mode is on)"
    live_invoice = owner.invoice()
    live_invoice["meta"]["test_mode"] = False
    assert deliver(studio, live_invoice)["outcome"].startswith("ignored: a live delivery")
    assert workspace(studio, owner.account)["plan"] == "starter"
    assert period_entries(studio, owner.tenant_id) == []


def test_a_subscription_to_an_unmapped_variant_is_acknowledged_and_changes_nothing(studio: Studio, owner: Subscriber) -> None:
    """Also with a variant id long enough that the recorded outcome must be cut to its column (64)."""
    for variant in ("999", "12345678901234"):
        outcome = deliver(studio, owner.sub("subscription_created", variant=variant))["outcome"]
        assert outcome.startswith(f"ignored: variant {variant}"), outcome
    assert workspace(studio, owner.account)["plan"] == "starter"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Signature": "0" * 64}, {"X-Signature": "not-hex"}, {"X-Signature": "é" * 64}, {"X-Signature": "\u00ff\u00fe\u00a0"}],
    ids=["missing", "zeros", "not-hex", "non-ascii", "latin-1"],
)
def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    studio: Studio, owner: Subscriber, headers: dict[str, str]
) -> None:
    raw, good = signed(owner.sub("subscription_created"))
    with system_scope(), studio.db.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar_one()
    sent = {k: v.encode("latin-1") for k, v in headers.items()}  # as bytes: httpx sends str headers as ASCII only
    with studio.client() as c:
        r = c.post(WEBHOOK, content=raw, headers={"Content-Type": "application/json", **sent})
        wrong_secret = c.post(WEBHOOK, content=raw, headers=signed(owner.sub("subscription_created"), "other-secret")[1])
    for refused in (r, wrong_secret):
        assert (refused.status_code, refused.json()["code"]) == (401, "bad_webhook_signature")
    with system_scope(), studio.db.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar_one() == before
        assert conn.execute(sa.select(subscriptions).where(subscriptions.c.tenant_id == owner.tenant_id)).first() is None
    assert good["X-Signature"] != headers.get("X-Signature")
