"""Lemon Squeezy: a small client of its JSON:API (checkouts, subscriptions) and what its webhooks say.

Only the calls the service makes: create a checkout for a variant (the workspace's id in the custom
data, so every webhook of the subscription names it), read a subscription (its customer-portal URL),
change its variant, cancel and resume it. Webhooks are signed with the store's signing secret:
`X-Signature` is the hex HMAC-SHA256 of the raw body.
"""

import hashlib
import hmac
import json
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
    if not signature or not secret:
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def sign(raw_body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookEvent:
    name: str  # meta.event_name, e.g. "subscription_created"
    tenant_id: str | None  # meta.custom_data.tenant_id, from the checkout
    object_type: str  # "subscriptions", "subscription-invoices", ...
    object_id: str
    attributes: dict[str, Any]
    test_mode: bool

    @classmethod
    def parse(cls, body: dict[str, Any]) -> "WebhookEvent":
        meta, data = body.get("meta") or {}, body.get("data") or {}
        custom = meta.get("custom_data") or {}
        return cls(
            name=str(meta.get("event_name", "")),
            tenant_id=custom.get("tenant_id"),
            object_type=str(data.get("type", "")),
            object_id=str(data.get("id", "")),
            attributes=data.get("attributes") or {},
            test_mode=bool(meta.get("test_mode", False)),
        )


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

    def create_checkout(self, variant_id: str, tenant_id: str, email: str | None, redirect_url: str | None) -> str:
        attributes: dict[str, Any] = {"checkout_data": {"custom": {"tenant_id": tenant_id}}}
        if email:
            attributes["checkout_data"]["email"] = email
        if redirect_url:
            attributes["product_options"] = {"redirect_url": redirect_url}
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
