"""ASGI middleware: resolve the caller once per request and bind (user, tenant, role) to the context.

Bearer tokens are InvokeAI JWTs or our API keys. An API key is swapped for a short-lived JWT of
the member who created it, so every InvokeAI route accepts it unchanged; that JWT never reaches
the caller (InvokeAI's sliding-token refresh is stripped from an API key's responses).

It fails closed: a credential that resolves to no active principal is a 401 on every API route
but the public ones (sign-in, sign-up, invitation accept), never an anonymous or platform scope.
The media cookie counts only on GET routes that return image or video bytes.
"""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenant_middleware.context import Principal, bind_principal
from tenant_middleware.errors import STATUS_OF, ErrorCode
from tenant_middleware.tokens import verified_token

MEDIA_TOKEN_COOKIE = "invokeai_media_token"
REFRESHED_TOKEN_HEADER = b"x-refreshed-token"

# API routes that take no credential: a stale token sent along is ignored there, not refused.
_PUBLIC_API = re.compile(
    r"^/api/v1/(auth/(login|logout|status|verify-email|password-reset|password-reset/confirm)|signup|invitations/accept)$"
)

# GET routes that return image/video bytes: the only ones the media cookie authenticates.
_MEDIA_GET = re.compile(
    r"^/api/v1/(images/i/[^/]+/(full|thumbnail)|videos/i/[^/]+/(full|thumbnail)"
    r"|workflows/i/[^/]+/thumbnail|style_presets/i/[^/]+/image)$"
    r"|^/api/v2/models/i/[^/]+/image$"
)

# InvokeAI's account routes an API key may use (reading who it acts as); the rest of /auth needs a session.
_API_KEY_AUTH_READS = re.compile(r"^/api/v1/auth/(me|status)$")

# What a suspended tenant may still do with POST/PUT/PATCH: read, download, delete, cancel, manage its
# own session and UI preferences. Every other write (generate, upload, create, edit, run a model) is refused.
_SUSPENDED_ALLOWED_WRITES = re.compile(
    r"^/api/v1/(auth/(logout|media-cookie|me)"
    r"|images/(delete|download|images_by_names)|videos/delete|board_images/batch/delete"
    r"|client_state/[^/]+/(set_by_key|delete_by_key|delete)"
    r"|queue/[^/]+/(items_by_ids|item_summaries_by_ids|cancel_all_except_current|delete_all_except_current"
    r"|cancel_by_batch_ids|cancel_by_destination|clear|prune|i/[^/]+/cancel))$"
)
# What a user whose address is not verified may still write, beyond that: ask for a new link, their
# account's settings, billing (paying proves nothing about the address, and harms no one).
_UNVERIFIED_ALLOWED_WRITES = re.compile(r"^/api/v1/(auth/verify-email/resend|account(/[^/]+)*|billing/[^/]+(/[^/]+)*)$")
_WRITES = ("POST", "PUT", "PATCH")
RESEND_PATH = "/api/v1/auth/verify-email/resend"


class PrincipalSource(Protocol):
    def cached_principal(self, user_id: str, token_epoch: int | None) -> Principal | None:
        """A recently resolved principal, without I/O (safe on the event loop); None if not cached."""

    def principal_for_token(self, user_id: str, token_epoch: int | None) -> Principal | None: ...

    def authenticate_api_key(self, secret: str) -> tuple[Principal, str] | None: ...


class TenantContextMiddleware:
    def __init__(self, app: ASGIApp, source: PrincipalSource, api_key_prefix: str) -> None:
        self.app = app
        self.source = source
        self.api_key_prefix = api_key_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
        method = scope.get("method", "GET")
        token = _credential(scope, method, path)
        principal: Principal | None = None
        if token and token.startswith(self.api_key_prefix):
            resolved = await anyio.to_thread.run_sync(self.source.authenticate_api_key, token)
            if resolved is not None:
                principal, jwt = resolved
                scope = _with_bearer(scope, jwt)
        elif token:
            principal = await self._principal_for_jwt(token)
        public = not path.startswith("/api/") or _PUBLIC_API.match(path) is not None
        if token and principal is None and not public:
            await _refuse(scope, send, ErrorCode.UNAUTHORIZED, "Invalid, expired or revoked credentials; sign in again")
            return
        bind_principal(principal)
        refusal = None if principal is None or public else _refusal_for(principal, method, path)
        if refusal is not None:
            await _refuse(scope, send, *refusal)
            return
        if principal is not None and principal.api_key_id is not None:
            send = _without_refreshed_token(send)
        await self.app(scope, receive, send)

    async def _principal_for_jwt(self, token: str) -> Principal | None:
        data = verified_token(token)
        if data is None:
            return None
        principal = self.source.cached_principal(data.user_id, data.token_epoch)
        if principal is None:
            principal = await anyio.to_thread.run_sync(self.source.principal_for_token, data.user_id, data.token_epoch)
        return principal


def _refusal_for(principal: Principal, method: str, path: str) -> tuple[ErrorCode, str] | None:
    if principal.api_key_id is not None and path.startswith("/api/v1/auth/") and not (
        method == "GET" and _API_KEY_AUTH_READS.match(path)
    ):
        return ErrorCode.FORBIDDEN, "API keys cannot manage accounts; sign in to do this"
    if principal.tenant_suspended and method in _WRITES and not _SUSPENDED_ALLOWED_WRITES.match(path):
        return ErrorCode.TENANT_SUSPENDED, (
            "This workspace is suspended: you can view, download and delete your data, but not generate, upload or change anything"
        )
    if not principal.email_verified and method in _WRITES and not (
        _SUSPENDED_ALLOWED_WRITES.match(path) or _UNVERIFIED_ALLOWED_WRITES.match(path)
    ):
        return ErrorCode.EMAIL_NOT_VERIFIED, (
            "Verify your e-mail address to generate and upload: open the link we sent you, or send a new one"
        )
    return None


def _credential(scope: Scope, method: str, path: str) -> str | None:
    """The bearer token, or the media cookie on a GET media route."""
    headers = Headers(scope=scope)
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if method != "GET" or not _MEDIA_GET.match(path):
        return None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == MEDIA_TOKEN_COOKIE and value:
            return value
    return None


def _with_bearer(scope: Scope, jwt: str) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
    headers.append((b"authorization", f"Bearer {jwt}".encode()))
    return {**scope, "headers": headers}


def _without_refreshed_token(send: Send) -> Callable[[Message], Awaitable[None]]:
    """InvokeAI's sliding-token middleware would hand an API-key caller a 1-day session token."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REFRESHED_TOKEN_HEADER]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _refuse(scope: Scope, send: Send, code: ErrorCode, detail: str) -> None:
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 4401})
        return
    refusal = {"detail": detail, "code": code.value}
    if code == ErrorCode.EMAIL_NOT_VERIFIED:
        refusal["resend"] = RESEND_PATH  # the action that fixes it
    body = json.dumps(refusal).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if STATUS_OF[code] == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": STATUS_OF[code], "headers": headers})
    await send({"type": "http.response.body", "body": body})
