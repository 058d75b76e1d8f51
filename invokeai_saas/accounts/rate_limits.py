"""Abuse limits on the public routes that take a password or make an account.

Nothing else stops password guessing or mass sign-ups: failed sign-ins (`POST /api/v1/auth/login`
answered 401) count per account and per client address, and once either is spent every sign-in for
it is refused, right password or not, until the window passes; sign-ups and invitation accepts count
per client address, every attempt. Refusals are 429 `rate_limited` with `Retry-After`. Counters live
in the `limits` library's storage: memory in the embedded studio, Redis (PINGVAS_REDIS_URL) so that
every API pod shares them.

It must never believe X-Forwarded-For from a connection that is not a configured proxy (a caller
would pick its own bucket), answer a malformed header or body with a 500, change the body the app
reads (the sign-in body is buffered and replayed as it came), let a sign-in through whose body it
could not read (one past `AUTH_BODY_LIMIT` is a 413, as `body_limits` answers it first: a padded
body once left only the address's bucket counting), or lock everyone out when the counter storage
is down (the error is logged and the request goes through).
"""

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, TypeVar, cast

import anyio
from limits import parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invokeai_saas.core.body_limits import AUTH_BODY_LIMIT, BodyTooLarge, read_body, refuse_too_large, replay
from invokeai_saas.core.settings import Settings
from tenant_middleware.errors import STATUS_OF, ErrorCode, ServiceError

logger = logging.getLogger("pingvas.rate_limits")

KEY_PREFIX = "pingvas-limits"
LOGIN_PATH = "/api/v1/auth/login"
ACCOUNT_CREATING_PATHS = frozenset({"/api/v1/signup", "/api/v1/invitations/accept"})

Network = IPv4Network | IPv6Network
T = TypeVar("T")


def open_storage(redis_url: str | None, key_prefix: str = KEY_PREFIX) -> Storage:
    """Memory without a URL, else the `limits` storage the URL names (redis://…, redis+sentinel://…)."""
    return cast(Storage, storage_from_string(redis_url or "memory://", key_prefix=key_prefix, wrap_exceptions=True))


class RateLimit:
    """One limit in `limits` notation (e.g. "10/minute") over a storage, as a moving window per key."""

    def __init__(self, notation: str, storage: Storage, namespace: str) -> None:
        self.item = parse(notation)
        self.namespace = namespace
        self._limiter = MovingWindowRateLimiter(storage)

    def test(self, key: str) -> bool:
        """True while `key` has room for one more hit; consumes nothing."""
        return self._limiter.test(self.item, self.namespace, key)

    def hit(self, key: str) -> bool:
        """Consumes one hit for `key`; False, consuming nothing, once the limit is spent."""
        return self._limiter.hit(self.item, self.namespace, key)

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key`'s window frees a hit; at least 1."""
        reset = self._limiter.get_window_stats(self.item, self.namespace, key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def clear(self, key: str) -> None:
        self._limiter.clear(self.item, self.namespace, key)


class AbuseLimits:
    """The sign-in and sign-up buckets and the proxies whose X-Forwarded-For is believed."""

    def __init__(self, login: str, signup: str, storage: Storage, trusted_proxies: Sequence[Network] = (),
                 mail: str = "5/hour", invitations: str = "50/day") -> None:
        self.login_account = RateLimit(login, storage, "login-account")
        self.login_address = RateLimit(login, storage, "login-address")
        self.signup_address = RateLimit(signup, storage, "signup-address")
        # Mail a caller makes us send: password resets per address and per client, verification resends per user.
        self.reset_account = RateLimit(mail, storage, "reset-account")
        self.reset_address = RateLimit(signup, storage, "reset-address")
        self.resend_user = RateLimit(mail, storage, "resend-user")
        self.invite_tenant = RateLimit(invitations, storage, "invite-tenant")
        self.trusted_proxies = tuple(trusted_proxies)

    @classmethod
    def from_settings(cls, settings: Settings) -> "AbuseLimits":
        return cls(settings.login_rate_limit, settings.signup_rate_limit, open_storage(settings.redis_url),
                   parse_networks(settings.trusted_proxies), settings.mail_rate_limit, settings.invitation_rate_limit)

    def check_password_reset(self, address: str, email: str) -> None:
        """Counts one reset request; 429 when the client's or the address's are spent. Counted the same
        whether or not an account uses the address."""
        _check([(self.reset_address, address_key(address)), (self.reset_account, account_key(email))],
               "Too many reset requests")

    def check_mail_to_self(self, user_id: str) -> None:
        """Counts one link a user asks us to send them (a verification resend, a change of address)."""
        _check([(self.resend_user, user_id)], "We sent several links already")

    def check_invitation(self, tenant_id: str) -> None:
        _check([(self.invite_tenant, tenant_id)], "This workspace sent many invitations lately")

    def refuse_login(self, address: str, email: str | None) -> int | None:
        """Seconds to wait when the account's or the address's failed sign-ins are spent, else None."""
        waits = [limit.retry_after(key) for limit, key in self._login_buckets(address, email) if not limit.test(key)]
        return max(waits, default=None)

    def count_failed_login(self, address: str, email: str | None) -> None:
        for limit, key in self._login_buckets(address, email):
            limit.hit(key)

    def refuse_signup(self, address: str) -> int | None:
        """Counts one sign-up or invitation accept; seconds to wait when the address's are spent, else None."""
        key = address_key(address)
        return None if self.signup_address.hit(key) else self.signup_address.retry_after(key)

    def _login_buckets(self, address: str, email: str | None) -> list[tuple[RateLimit, str]]:
        buckets = [(self.login_address, address_key(address))]
        if email is not None and email.strip():
            buckets.append((self.login_account, account_key(email)))
        return buckets


def _check(buckets: list[tuple[RateLimit, str]], reason: str) -> None:
    """Hits each bucket in turn; at the first one spent, a 429 with its wait (the later ones are not
    counted). A counter storage that is down lets the request through, as the middleware does."""
    try:
        for limit, key in buckets:
            if not limit.hit(key):
                wait = limit.retry_after(key)
                raise ServiceError(ErrorCode.RATE_LIMITED, f"{reason}; try again in {wait} seconds", retry_after=wait)
    except StorageError:
        logger.warning("Rate-limit storage unavailable; request let through", exc_info=True)


def parse_networks(value: str) -> tuple[Network, ...]:
    """"10.0.0.1, 10.1.0.0/16" → networks; raises ValueError naming a bad entry."""
    return tuple(ip_network(part, strict=False) for part in (p.strip() for p in value.split(",")) if part)


def account_key(email: str) -> str:
    """The account bucket: a digest of the lower-cased e-mail (no addresses in Redis keys)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def address_key(address: str) -> str:
    """The address bucket: the address itself, or its /64 for IPv6 (one host usually owns the whole /64)."""
    ip = _ip(address)
    return str(ip_network(f"{ip}/64", strict=False)) if isinstance(ip, IPv6Address) else address


def client_address(scope: Scope, trusted_proxies: Sequence[Network]) -> str:
    """The connection's address; behind a trusted proxy, the nearest X-Forwarded-For hop that is not one.

    Walks X-Forwarded-For from the right (the hops trusted proxies appended); an unparseable hop ends
    the walk at the last address a trusted proxy vouched for.
    """
    client = scope.get("client")
    if not client:
        return "unknown"
    peer = _ip(str(client[0]))
    if peer is None or not _trusted(peer, trusted_proxies):
        return str(peer or client[0])
    hops = [h.strip() for value in Headers(scope=scope).getlist("x-forwarded-for") for h in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        ip = _ip(hop)
        if ip is None:
            break
        peer = ip
        if not _trusted(ip, trusted_proxies):
            break
    return str(peer)


def via_trusted_proxy(scope: Scope, trusted_proxies: Sequence[Network]) -> bool:
    """Whether the request came through a trusted proxy (the ingress), which names a client, rather than
    straight to the pod (probes, Prometheus, another pod)."""
    client = scope.get("client")
    peer = _ip(str(client[0])) if client else None
    return peer is not None and _trusted(peer, trusted_proxies) and bool(Headers(scope=scope).getlist("x-forwarded-for"))


def _ip(value: str) -> IPv4Address | IPv6Address | None:
    try:
        ip = ip_address(value)
    except ValueError:
        return None
    return (ip.ipv4_mapped or ip) if isinstance(ip, IPv6Address) else ip


def _trusted(ip: IPv4Address | IPv6Address, networks: Sequence[Network]) -> bool:
    return any(ip in network for network in networks)


class RateLimitMiddleware:
    """Pure ASGI: refuses over-limit sign-ins, sign-ups and invitation accepts; counts failed sign-ins."""

    def __init__(self, app: ASGIApp, limits: AbuseLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").removeprefix(scope.get("root_path", "")) if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or (path != LOGIN_PATH and path not in ACCOUNT_CREATING_PATHS):
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self.limits.trusted_proxies)
        if path in ACCOUNT_CREATING_PATHS:
            wait = await self._storage(self.limits.refuse_signup, address)
            if wait is not None:
                await _too_many(send, wait, f"Too many sign-ups from this address; try again in {wait} seconds")
                return
            await self.app(scope, receive, send)
            return
        try:
            messages, body = await read_body(receive, AUTH_BODY_LIMIT)
        except BodyTooLarge:
            await refuse_too_large(send, AUTH_BODY_LIMIT)
            return
        email = _login_email(body)
        wait = await self._storage(self.limits.refuse_login, address, email)
        if wait is not None:
            await _too_many(send, wait, f"Too many failed sign-in attempts; try again in {wait} seconds")
            return

        async def send_counting_failures(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self._storage(self.limits.count_failed_login, address, email)
            await send(message)

        await self.app(scope, replay(messages, receive), send_counting_failures)

    async def _storage(self, call: Callable[..., T], *args: Any) -> T | None:
        """Runs a (possibly blocking, Redis) counter call off the event loop; None if the storage failed."""
        try:
            return await anyio.to_thread.run_sync(call, *args)
        except StorageError:
            logger.warning("Rate-limit storage unavailable; request let through", exc_info=True)
            return None


def _login_email(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return email if isinstance(email, str) and email.strip() else None


async def _too_many(send: Send, retry_after: int, detail: str) -> None:
    body = json.dumps({"detail": detail, "code": ErrorCode.RATE_LIMITED.value}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(retry_after).encode())]
    await send({"type": "http.response.start", "status": STATUS_OF[ErrorCode.RATE_LIMITED], "headers": headers})
    await send({"type": "http.response.body", "body": body})
