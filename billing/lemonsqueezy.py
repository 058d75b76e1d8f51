"""Lemon Squeezy: a small client of its JSON:API (checkouts, subscriptions) and what its webhooks say.

Only the calls the service makes: create a checkout for a variant, read a subscription (its
customer-portal URL), change its variant, cancel and resume it. Webhooks are signed with the store's
signing secret: `X-Signature` is the hex HMAC-SHA256 of the raw body.

A checkout's custom data names its workspace and carries a `CheckoutRef`: the workspace, the plan and
a nonce, signed with a key of this server. Anyone can put custom data on a public buy link, so a
workspace id alone proves nothing; a subscription is bound to a workspace only by a valid reference
(`invokeai_saas/money/subscriptions.py` decides, once per subscription).
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

JSON_API = "application/vnd.api+json"
INTERVALS = ("month", "year")


class LemonSqueezyError(Exception):
    """Lemon Squeezy could not be reached or refused the call."""


@dataclass(frozen=True)
class Variants:
    """`PINGVAS_LEMONSQUEEZY_VARIANTS`: variant id -> (plan, interval)."""

    by_id: dict[str, tuple[str, str]]

    @classmethod
    def parse(cls, text: str, plans: set[str]) -> "Variants":
        raw = json.loads(text or "{}")
        by_id: dict[str, tuple[str, str]] = {}
        for variant_id, value in raw.items():
            plan, _, interval = str(value).partition(":")
            if plan not in plans or interval not in INTERVALS:
                raise ValueError(f"variant {variant_id}: {value!r} is not 'plan:month' or 'plan:year' of a known plan")
            by_id[str(variant_id)] = (plan, interval)
        return cls(by_id)

    def variant_for(self, plan: str, interval: str) -> str | None:
        return next((v for v, pi in self.by_id.items() if pi == (plan, interval)), None)

    def intervals_of(self, plan: str) -> list[str]:
        """How the store sells `plan`: by the month, by the year, both or neither."""
        return [i for i in INTERVALS if self.variant_for(plan, i) is not None]


def signature_ok(raw_body: bytes, signature: str | None, secret: str) -> bool:
    """Compared as bytes: a header of any characters is a mismatch, never an error."""
    if not signature or not secret:
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def sign(raw_body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


REF_LABEL = b"pingvas checkout reference v1"  # what a reference's MAC covers starts with this
_KEY_LABEL = b"pingvas checkout reference signing key v1"


def checkout_signing_key(secret: str | None, webhook_secret: str | None) -> bytes | None:
    """The key that signs checkout references: `PINGVAS_CHECKOUT_SIGNING_SECRET`, else one derived from
    the webhook's signing secret under its own label (the same on every pod, and not the webhook key).
    None when neither is set: no checkout can be bound, so none is started."""
    if secret:
        return secret.encode()
    if webhook_secret:
        return hmac.new(webhook_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return None


@dataclass(frozen=True)
class CheckoutRef:
    """`v1.<workspace>.<plan>.<nonce>.<hex HMAC-SHA256>`; the MAC also covers the store and its mode
    (`scope`), so a reference from another store, or from test mode in live mode, is not valid."""

    tenant_id: str
    plan: str
    nonce: str

    @classmethod
    def new(cls, tenant_id: str, plan: str) -> "CheckoutRef":
        return cls(tenant_id, plan, secrets.token_hex(16))

    def token(self, key: bytes, scope: str) -> str:
        if any("." in part or not part for part in (self.tenant_id, self.plan, self.nonce)):
            raise ValueError("a checkout reference's parts are non-empty and hold no dot")
        return f"v1.{self.tenant_id}.{self.plan}.{self.nonce}.{self._mac(key, scope)}"

    @classmethod
    def verify(cls, token: object, key: bytes, scope: str) -> "CheckoutRef | None":
        """The reference a token carries when its MAC is this server's; None for anything else."""
        if not isinstance(token, str) or len(token) > 300 or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1" or not all(parts):
            return None
        ref = cls(parts[1], parts[2], parts[3])
        if not hmac.compare_digest(ref._mac(key, scope).encode(), parts[4].encode("utf-8", "replace")):
            return None
        return ref

    def _mac(self, key: bytes, scope: str) -> str:
        message = b"\0".join(p.encode() for p in (scope, self.tenant_id, self.plan, self.nonce))
        return hmac.new(key, REF_LABEL + b"\0" + message, hashlib.sha256).hexdigest()


def ref_scope(store_id: str | None, test_mode: bool) -> str:
    return f"{store_id or ''}:{'test' if test_mode else 'live'}"


@dataclass(frozen=True)
class WebhookEvent:
    name: str  # meta.event_name, e.g. "subscription_created"
    tenant_id: str | None  # meta.custom_data.tenant_id: a claim, proven only by `checkout_ref`
    checkout_ref: str | None  # meta.custom_data.checkout_ref, from our checkout
    object_type: str  # "subscriptions", "subscription-invoices", ...
    object_id: str
    attributes: dict[str, Any]
    test_mode: bool

    @classmethod
    def parse(cls, body: dict[str, Any]) -> "WebhookEvent":
        meta, data = _object(body.get("meta")), _object(body.get("data"))
        custom = meta.get("custom_data") if isinstance(meta.get("custom_data"), dict) else {}  # a buyer's: anything
        return cls(
            name=str(meta.get("event_name", "")),
            tenant_id=_short_text(custom.get("tenant_id"), 36),
            checkout_ref=_short_text(custom.get("checkout_ref"), 300),
            object_type=str(data.get("type", "")),
            object_id=str(data.get("id", "")),
            attributes=_object(data.get("attributes")),
            test_mode=bool(meta.get("test_mode", False)),
        )

    @property
    def subscription_id(self) -> str:
        """The subscription the event is about: the object itself, or an invoice's subscription."""
        if self.object_type == "subscriptions":
            return self.object_id
        return str(self.attributes.get("subscription_id") or "")

    @property
    def store_id(self) -> str | None:
        value = self.attributes.get("store_id")
        return None if value is None else str(value)

    @property
    def customer_id(self) -> str | None:
        value = self.attributes.get("customer_id")
        return None if value is None else str(value)


def _object(value: Any) -> dict[str, Any]:
    """Lemon Squeezy's own parts of a body: an object, or missing."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("its meta, data and attributes are JSON objects")
    return value


def _short_text(value: Any, most: int) -> str | None:
    """A custom-data value we read: ASCII text of at most `most` characters (ours are), else None."""
    return value if isinstance(value, str) and 0 < len(value) <= most and value.isascii() else None


def parse_time(value: Any) -> datetime | None:
    """Lemon Squeezy's ISO 8601 times (`2026-11-29T06:00:00.000000Z`) as naive UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


class LemonSqueezyClient:
    def __init__(self, api_url: str, api_key: str, store_id: str, timeout_s: float = 20.0) -> None:
        self._store_id = store_id
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}", "Accept": JSON_API, "Content-Type": JSON_API},
        )

    def create_checkout(
        self, variant_id: str, tenant_id: str, checkout_ref: str, email: str | None, redirect_url: str | None
    ) -> str:
        custom = {"tenant_id": tenant_id, "checkout_ref": checkout_ref}
        attributes: dict[str, Any] = {"checkout_data": {"custom": custom}}
        if email:
            attributes["checkout_data"]["email"] = email
        # Only this variant: the reference's plan is the plan bought (a product's variants are one plan's anyway).
        attributes["product_options"] = {"enabled_variants": [int(variant_id) if variant_id.isdigit() else variant_id]}
        if redirect_url:
            attributes["product_options"]["redirect_url"] = redirect_url
        body = {
            "data": {
                "type": "checkouts",
                "attributes": attributes,
                "relationships": {
                    "store": {"data": {"type": "stores", "id": self._store_id}},
                    "variant": {"data": {"type": "variants", "id": variant_id}},
                },
            }
        }
        return str(self._call("POST", "/checkouts", body)["data"]["attributes"]["url"])

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call("GET", f"/subscriptions/{subscription_id}")["data"]["attributes"]

    def change_variant(self, subscription_id: str, variant_id: str) -> None:
        self._update(subscription_id, {"variant_id": int(variant_id) if variant_id.isdigit() else variant_id})

    def cancel(self, subscription_id: str) -> None:
        self._call("DELETE", f"/subscriptions/{subscription_id}")

    def resume(self, subscription_id: str) -> None:
        self._update(subscription_id, {"cancelled": False})

    def _update(self, subscription_id: str, attributes: dict[str, Any]) -> None:
        body = {"data": {"type": "subscriptions", "id": subscription_id, "attributes": attributes}}
        self._call("PATCH", f"/subscriptions/{subscription_id}", body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise LemonSqueezyError(f"Lemon Squeezy could not be reached: {e}") from e
        if response.status_code >= 400:
            raise LemonSqueezyError(f"Lemon Squeezy answered {response.status_code} to {method} {path}: {response.text[:300]}")
        return response.json() if response.content else {}
