"""Money attacks through Lemon Squeezy's webhook, on a running studio (SQLite and Postgres) with
signed deliveries: what another customer can make Lemon Squeezy send never changes a workspace that is
not theirs. Anyone can put custom data on a public buy link and a workspace's id is no secret, so a
subscription is a workspace's only when bought through that workspace's own checkout (its signed
reference: the workspace, the plan, a nonce). Every delivery ignored for it is acknowledged (200) and
written to the operators' audit; the workspace's own subscription still changes it in every way."""

import uuid
from typing import Any

from billing.lemonsqueezy import CheckoutRef, checkout_signing_key, ref_scope
from tests.conftest import unique_email
from tests.lemonsqueezy_server import (
    STORE_ID,
    WEBHOOK_SECRET,
    Clock,
    LemonSqueezyStandIn,
    checkout_custom,
    invoice_event,
    subscription_event,
)
from tests.studio import Studio
from tests.test_billing_lemonsqueezy import PRO, STUDIO, Subscriber, deliver, enqueue_status, workspace

STARTER = "301"
STRANGER = 99  # another Lemon Squeezy customer


def subscribed(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> Subscriber:
    """A workspace on Studio through its own checkout, paid: 30,000 credits."""
    victim = Subscriber(studio, lemonsqueezy)
    victim.checkout("studio")
    deliver(studio, victim.sub("subscription_created", variant=STUDIO))
    deliver(studio, victim.invoice())
    assert_untouched(studio, victim)
    return victim


def assert_untouched(studio: Studio, victim: Subscriber, credits: int = 30_000) -> None:
    tenant = workspace(studio, victim.account)
    assert (tenant["plan"], tenant["credits"], tenant["billing_hold_at"]) == ("studio", credits, None), tenant
    assert (tenant["subscription"]["subscription_id"], tenant["subscription"]["status"]) == (victim.sub_id, "active")


class Stranger:
    """Another customer's subscription whose custom data is whatever they chose: every event Lemon
    Squeezy would send for it, from purchase to refund."""

    def __init__(self, custom: dict[str, Any], variant: str = STARTER, customer_id: int = STRANGER) -> None:
        self.custom, self.variant, self.customer_id = custom, variant, customer_id
        self.sub_id = str(uuid.uuid4().int % 10**9)
        self.invoice_id = str(uuid.uuid4().int % 10**9)
        self.clock = Clock()

    def sub(self, name: str, status: str = "active") -> dict[str, Any]:
        tenant_id, now = str(self.custom.get("tenant_id", "")), self.clock.tick()
        return subscription_event(name, tenant_id, self.sub_id, self.variant, status, now, None, self.custom, self.customer_id)

    def invoice(self, name: str = "subscription_payment_success") -> dict[str, Any]:
        tenant_id, now = str(self.custom.get("tenant_id", "")), self.clock.tick()
        return invoice_event(name, tenant_id, self.invoice_id, self.sub_id, now, "initial", self.custom, self.customer_id)

    def lifetime(self) -> list[dict[str, Any]]:
        """Bought, paid, upgraded, paused, failed, refunded, cancelled, expired."""
        return [
            self.sub("subscription_created"), self.invoice(), self.sub("subscription_updated"),
            self.sub("subscription_paused", "paused"), self.invoice("subscription_payment_failed"),
            self.sub("subscription_updated", "past_due"), self.invoice("subscription_payment_refunded"),
            self.sub("subscription_cancelled", "cancelled"), self.sub("subscription_expired", "expired"),
        ]  # fmt: skip


def assert_all_ignored_and_untouched(studio: Studio, victim: Subscriber, stranger: Stranger, each: bool = True) -> None:
    """Every event of the stranger's subscription is ignored; the victim is checked after each (or at the end)."""
    for event in stranger.lifetime():
        outcome = deliver(studio, event)["outcome"]
        assert outcome.startswith("ignored"), (event["meta"]["event_name"], outcome)
        if each:
            assert_untouched(studio, victim)
    assert_untouched(studio, victim)


def test_another_customers_subscription_naming_a_workspace_changes_nothing(
    studio: Studio, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    """Issue 21's reproduction: Starter bought naming a Studio workspace, then paused, refunded, expired."""
    victim = subscribed(studio, lemonsqueezy)
    assert_all_ignored_and_untouched(studio, victim, Stranger({"tenant_id": victim.tenant_id}))
    assert enqueue_status(studio, victim.account) == (200, None)  # no payment hold


def tampered(victim: Subscriber, other: Subscriber, kind: str) -> dict[str, Any]:
    """The victim's id in custom data with a reference that is not a valid one for it."""
    key = checkout_signing_key(None, WEBHOOK_SECRET)
    assert key is not None
    mine = CheckoutRef.new(victim.tenant_id, "starter")
    token = {
        "bad-signature": mine.token(key, ref_scope(STORE_ID, True))[:-4] + "0000",
        "another-secret": mine.token(b"a guess at the server's secret", ref_scope(STORE_ID, True)),
        "another-store": mine.token(key, ref_scope("9999", True)),
        "the-other-mode": mine.token(key, ref_scope(STORE_ID, False)),
        "another-workspaces": str(other.checkout("starter").get("checkout_ref")),  # a genuine one, of the stranger's own workspace
        "workspace-swapped": str(other.checkout("starter").get("checkout_ref")).replace(other.tenant_id, victim.tenant_id),
        "not-a-reference": "v1." + victim.tenant_id,
        "not-text": {"ref": 1},
    }[kind]
    return {"tenant_id": victim.tenant_id, "checkout_ref": token}


TAMPERING = ["bad-signature", "another-secret", "another-store", "the-other-mode", "another-workspaces", "workspace-swapped",
             "not-a-reference", "not-text"]  # fmt: skip


def test_a_forged_or_tampered_reference_binds_nothing(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> None:
    victim, other = subscribed(studio, lemonsqueezy), Subscriber(studio, lemonsqueezy, customer_id=STRANGER)
    for kind in TAMPERING:
        assert_all_ignored_and_untouched(studio, victim, Stranger(tampered(victim, other, kind)), each=False)
    assert workspace(studio, other.account)["plan"] == "starter" and workspace(studio, other.account)["subscription"] is None


def test_a_reference_for_another_plan_binds_nothing_even_later(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> None:
    """A fresh workspace's checkout for Studio, never paid, its custom data on a Starter purchase: refused
    at creation and for good, even when its later states are at Studio."""
    victim = Subscriber(studio, lemonsqueezy)
    stranger = Stranger(victim.checkout("studio"), variant=STARTER, customer_id=victim.customer_id)
    assert deliver(studio, stranger.sub("subscription_created"))["outcome"].startswith("ignored: bought at starter")
    stranger.variant = STUDIO
    for event in (stranger.invoice(), stranger.sub("subscription_updated"), stranger.sub("subscription_paused", "paused")):
        assert deliver(studio, event)["outcome"].startswith("ignored"), event
    tenant = workspace(studio, victim.account)
    assert (tenant["plan"], tenant["credits"], tenant["billing_hold_at"], tenant["subscription"]) == ("starter", 300, None, None)


def test_a_genuine_reference_copied_into_another_subscription_changes_nothing(
    studio: Studio, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    """A replay of the victim's own custom data (same customer, same plan): its nonce bound the victim's
    subscription already."""
    victim = subscribed(studio, lemonsqueezy)
    assert victim.custom is not None
    replay = Stranger(dict(victim.custom), variant=STUDIO, customer_id=victim.customer_id)
    assert_all_ignored_and_untouched(studio, victim, replay)
    outcome = deliver(studio, replay.sub("subscription_updated", "paused"))["outcome"]
    assert outcome == "ignored: its checkout reference already bound another subscription"


def test_the_victims_own_subscription_replayed_from_another_store_or_mode_changes_nothing(
    studio: Studio, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    victim = subscribed(studio, lemonsqueezy)
    for store_id, test_mode in ((9999, True), (int(STORE_ID), False)):
        for event in (victim.sub("subscription_paused", status="paused"), victim.sub("subscription_expired", status="expired"),
                      victim.invoice("subscription_payment_refunded", invoice_id=str(uuid.uuid4().int % 10**9))):  # fmt: skip
            event["data"]["attributes"]["store_id"] = store_id
            event["meta"]["test_mode"] = test_mode
            assert deliver(studio, event)["outcome"].startswith("ignored: a "), (store_id, test_mode)
    assert_untouched(studio, victim)


def test_refunds_and_failed_payments_naming_another_workspace_change_only_their_own(
    studio: Studio, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    """The stranger's own, genuinely bound subscription, its invoices' custom data rewritten to name the
    victim: they apply to the stranger's workspace, never the victim's."""
    victim, attacker = subscribed(studio, lemonsqueezy), Subscriber(studio, lemonsqueezy, customer_id=STRANGER)
    deliver(studio, attacker.sub("subscription_created"))
    paid = attacker.invoice()
    deliver(studio, paid)
    assert workspace(studio, attacker.account)["credits"] == 15_000
    naming_victim = {"tenant_id": victim.tenant_id, "checkout_ref": (attacker.custom or {}).get("checkout_ref")}
    for name, invoice_id in (("subscription_payment_failed", None), ("subscription_payment_refunded", paid["data"]["id"])):
        event = attacker.invoice(name, invoice_id=invoice_id)
        event["meta"]["custom_data"] = naming_victim
        deliver(studio, event)
    order = {"meta": {"event_name": "order_refunded", "custom_data": {"tenant_id": victim.tenant_id}, "test_mode": True},
             "data": {"type": "orders", "id": "1", "attributes": {"store_id": int(STORE_ID), "status": "refunded"}}}  # fmt: skip
    assert deliver(studio, order)["outcome"].startswith("ignored")
    assert_untouched(studio, victim)
    mine = workspace(studio, attacker.account)
    assert (mine["credits"], mine["billing_hold_at"] is not None) == (0, True)


def test_once_a_workspace_has_a_customer_another_customers_subscription_with_its_reference_changes_nothing(
    studio: Studio, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    """A second checkout of the victim's, never paid by the victim, paid by another customer: refused
    for good while the victim's own subscription lives."""
    victim = subscribed(studio, lemonsqueezy)
    stranger = Stranger(victim.checkout("studio"), variant=STUDIO)
    outcome = deliver(studio, stranger.sub("subscription_created"))["outcome"]
    assert outcome.startswith("ignored: another customer's subscription"), outcome
    assert_all_ignored_and_untouched(studio, victim, stranger)


def test_ignored_deliveries_are_written_to_the_operators_audit(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> None:
    victim = subscribed(studio, lemonsqueezy)
    stranger = Stranger({"tenant_id": victim.tenant_id})
    for event in (stranger.sub("subscription_created"), stranger.sub("subscription_paused", "paused")):
        deliver(studio, event)
    operator = studio.operator(unique_email("ops"))
    with studio.client(operator) as c:
        r = c.get("/api/v1/admin/audit", params={"tenant_id": victim.tenant_id})
    assert r.status_code == 200, r.text
    entries = [e for e in r.json() if e["action"] == "webhook_ignored"]
    assert [e["detail"]["event"] for e in entries] == ["subscription_paused", "subscription_created"]
    assert {(e["operator_user_id"], e["detail"]["subscription_id"], e["detail"]["customer_id"]) for e in entries} == {
        ("webhook:lemonsqueezy", stranger.sub_id, str(STRANGER))
    }
    assert entries[0]["detail"]["outcome"] == "ignored: no valid checkout reference for the workspace it names"


def test_the_workspaces_own_subscription_still_changes_it_in_every_way(studio: Studio, lemonsqueezy: LemonSqueezyStandIn) -> None:
    """A real checkout's reference binds; the plan change, renewal, payment-failure hold, pause, refund
    and expiry of that subscription apply, whatever order its first deliveries arrive in."""
    owner = Subscriber(studio, lemonsqueezy)
    owner.checkout("studio")
    paid, created = owner.invoice(), owner.sub("subscription_created", variant=STUDIO)
    assert deliver(studio, paid)["outcome"] == "payment recorded, waiting for its subscription"
    assert deliver(studio, created)["outcome"] == "subscription active on studio, 1 period(s) started"
    assert_untouched(studio, owner)
    deliver(studio, owner.sub("subscription_updated", variant=PRO))  # a downgrade from the portal
    deliver(studio, owner.invoice(reason="updated"))
    deliver(studio, owner.invoice(reason="renewal"))
    assert (workspace(studio, owner.account)["plan"], workspace(studio, owner.account)["credits"]) == ("pro", 15_000)
    deliver(studio, owner.sub("subscription_paused", status="paused"))
    assert enqueue_status(studio, owner.account) == (402, "payment_overdue")
    deliver(studio, owner.sub("subscription_unpaused", status="active"))
    assert workspace(studio, owner.account)["billing_hold_at"] is None
    deliver(studio, owner.invoice("subscription_payment_failed", reason="renewal"))
    assert workspace(studio, owner.account)["billing_hold_at"] is not None  # the grace period runs
    refunded = owner.invoice()
    deliver(studio, refunded)
    deliver(studio, owner.invoice("subscription_payment_refunded", invoice_id=refunded["data"]["id"]))
    assert workspace(studio, owner.account)["credits"] == 0
    deliver(studio, owner.sub("subscription_expired", status="expired"))
    tenant = workspace(studio, owner.account)
    assert (tenant["plan"], tenant["credits"], tenant["subscription"]["status"]) == ("starter", 0, "expired")


def test_a_checkout_reference_is_valid_only_as_signed() -> None:
    """Plain values: every part is covered by the MAC, and anything that is not a reference is None."""
    key, scope = b"k" * 32, ref_scope(STORE_ID, True)
    ref = CheckoutRef("t-1", "pro", "n0nce")
    token = ref.token(key, scope)
    assert CheckoutRef.verify(token, key, scope) == ref
    for forged in (token.replace("t-1", "t-2"), token.replace(".pro.", ".studio."), token.replace("n0nce", "n1nce"),
                   token.upper(), token + "0", "v2" + token[2:], "", "…" * 10, None, 7, ["v1"]):  # fmt: skip
        assert CheckoutRef.verify(forged, key, scope) is None, forged
    assert CheckoutRef.verify(token, b"x" * 32, scope) is None
    assert CheckoutRef.verify(token, key, ref_scope(STORE_ID, False)) is None
    assert checkout_signing_key(None, "s") == checkout_signing_key(None, "s") != checkout_signing_key("s", None)
    assert checkout_custom("t-1", "pro")["tenant_id"] == "t-1"
