"""A local HTTP server speaking the part of Lemon Squeezy's JSON:API the studio calls (Lemon Squeezy
itself cannot be reached from here), and builders of signed webhook deliveries.

It checks what the real API checks that matters here (the bearer key, the JSON:API media type) and
records every call, so tests can see what the studio asked for; each checkout's custom data is kept by
its URL, so a test can deliver what Lemon Squeezy would send for a purchase through that checkout.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from billing.lemonsqueezy import JSON_API, CheckoutRef, checkout_signing_key, ref_scope, sign

API_KEY = "test-lemonsqueezy-key"
STORE_ID = "4242"
WEBHOOK_SECRET = "test-webhook-signing-secret"
VARIANTS = {"101": "pro:month", "102": "pro:year", "201": "studio:month", "301": "starter:month"}


@dataclass
class LemonSqueezyStandIn:
    server: ThreadingHTTPServer
    calls: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    custom_data: dict[str, dict[str, Any]] = field(default_factory=dict)  # checkout URL -> its custom data

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def env(self) -> dict[str, str]:
        return {
            "PINGVAS_LEMONSQUEEZY_API_URL": self.api_url,
            "PINGVAS_LEMONSQUEEZY_API_KEY": API_KEY,
            "PINGVAS_LEMONSQUEEZY_STORE_ID": STORE_ID,
            "PINGVAS_LEMONSQUEEZY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PINGVAS_LEMONSQUEEZY_VARIANTS": json.dumps(VARIANTS),
            "PINGVAS_LEMONSQUEEZY_TEST_MODE": "true",  # the stand-in's deliveries are the store's test mode
        }

    def calls_to(self, method: str, prefix: str) -> list[dict[str, Any] | None]:
        return [body for m, path, body in self.calls if m == method and path.startswith(prefix)]


def _handler(stand_in: "LemonSqueezyStandIn") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", JSON_API)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._answer(401, {"errors": [{"detail": "Unauthenticated."}]})
            if body is not None and self.headers.get("Content-Type") != JSON_API:
                return self._answer(415, {"errors": [{"detail": "Unsupported media type."}]})
            path = self.path.split("?")[0]
            stand_in.calls.append((method, path, body))
            if method == "POST" and path == "/v1/checkouts":
                url = f"https://pingvas.lemonsqueezy.com/checkout/custom/{uuid.uuid4()}"
                custom = (((body or {}).get("data") or {}).get("attributes") or {}).get("checkout_data", {}).get("custom")
                stand_in.custom_data[url] = dict(custom or {})
                return self._answer(201, {"data": {"type": "checkouts", "id": str(uuid.uuid4()), "attributes": {"url": url}}})
            if path.startswith("/v1/subscriptions/"):
                sub_id = path.rsplit("/", 1)[1]
                portal = f"https://pingvas.lemonsqueezy.com/billing?expires=1&signature={sub_id}"
                attributes = {"status": "active", "urls": {"customer_portal": portal}}
                return self._answer(200, {"data": {"type": "subscriptions", "id": sub_id, "attributes": attributes}})
            return self._answer(404, {"errors": [{"detail": "Not found."}]})

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler


@pytest.fixture(scope="session")
def lemonsqueezy() -> Iterator[LemonSqueezyStandIn]:
    stand_in = LemonSqueezyStandIn(server=None)  # type: ignore[arg-type]
    stand_in.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


# region webhook deliveries

def ls_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Strictly increasing `updated_at` values, as Lemon Squeezy stamps successive states."""

    def __init__(self) -> None:
        self._now = datetime.now(timezone.utc) - timedelta(hours=1)

    def tick(self) -> str:
        self._now += timedelta(seconds=1)
        return ls_time(self._now)


def checkout_custom(
    tenant_id: str, plan: str, test_mode: bool = True, store_id: str | None = STORE_ID, secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    """The custom data of a checkout made by a studio configured as `env()` (its reference's key derived
    from the webhook secret), for tests that call the subscription service without a studio."""
    key = checkout_signing_key(None, secret)
    assert key is not None
    return {"tenant_id": tenant_id, "checkout_ref": CheckoutRef.new(tenant_id, plan).token(key, ref_scope(store_id, test_mode))}


def _custom(tenant_id: str, custom: dict[str, Any] | None) -> dict[str, Any]:
    return dict(custom) if custom is not None else {"tenant_id": tenant_id}


def subscription_event(
    name: str, tenant_id: str, sub_id: str, variant_id: str, status: str, updated_at: str, ends_at: str | None = None,
    custom: dict[str, Any] | None = None, customer_id: int = 77,
) -> dict[str, Any]:
    """`custom`: the checkout's custom data (default: only the workspace's id, which binds nothing)."""
    attributes = {
        "store_id": int(STORE_ID), "customer_id": customer_id, "variant_id": int(variant_id), "status": status,
        "renews_at": ls_time(datetime.now(timezone.utc) + timedelta(days=30)), "ends_at": ends_at,
        "created_at": updated_at, "updated_at": updated_at, "test_mode": True,
    }  # fmt: skip
    return {
        "meta": {"event_name": name, "custom_data": _custom(tenant_id, custom), "test_mode": True},
        "data": {"type": "subscriptions", "id": sub_id, "attributes": attributes},
    }


def invoice_event(
    name: str, tenant_id: str, invoice_id: str, sub_id: str, updated_at: str, billing_reason: str = "initial",
    custom: dict[str, Any] | None = None, customer_id: int = 77,
) -> dict[str, Any]:
    status = {"subscription_payment_failed": "pending", "subscription_payment_refunded": "refunded"}.get(name, "paid")
    attributes = {
        "store_id": int(STORE_ID), "customer_id": customer_id, "subscription_id": int(sub_id), "billing_reason": billing_reason,
        "status": status, "total": 7500, "currency": "USD", "created_at": updated_at, "updated_at": updated_at,
    }  # fmt: skip
    return {
        "meta": {"event_name": name, "custom_data": _custom(tenant_id, custom), "test_mode": True},
        "data": {"type": "subscription-invoices", "id": invoice_id, "attributes": attributes},
    }


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    return raw, {"X-Signature": sign(raw, secret), "X-Event-Name": event["meta"]["event_name"], "Content-Type": "application/json"}

# endregion
