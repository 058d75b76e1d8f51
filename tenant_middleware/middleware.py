"""ASGI middleware: resolve the caller once per request and bind (user, tenant, role) to the context.

Bearer tokens are InvokeAI JWTs or our API keys. An API key is swapped for a short-lived JWT of
the member who created it, so every InvokeAI route accepts it unchanged.
"""

import json
import re
from typing import Protocol

import anyio
from invokeai.app.services.auth.token_service import verify_token
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from tenant_middleware.context import Principal, bind_principal
from tenant_middleware.errors import STATUS_OF, ErrorCode

MEDIA_TOKEN_COOKIE = "invokeai_media_token"

# Routes that create work or stored bytes: refused for a suspended tenant.
_SUSPENDED_BLOCKED = [
    re.compile(r"^/api/v1/queue/[^/]+/(enqueue_batch|retry_items_by_id)$"),
    re.compile(r"^/api/v1/images/upload$"),
    re.compile(r"^/api/v1/videos/upload$"),
]


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
        token = _bearer_token(scope)
        principal: Principal | None = None
        if token and token.startswith(self.api_key_prefix):
            resolved = await anyio.to_thread.run_sync(self.source.authenticate_api_key, token)
            if resolved is None:
                await _refuse(scope, send, ErrorCode.UNAUTHORIZED, "Invalid or revoked API key")
                return
            principal, jwt = resolved
            scope = _with_bearer(scope, jwt)
        elif token:
            data = verify_token(token)
            if data is not None:
                principal = self.source.cached_principal(data.user_id, data.token_epoch)
                if principal is None:
                    principal = await anyio.to_thread.run_sync(self.source.principal_for_token, data.user_id, data.token_epoch)
        bind_principal(principal)
        if principal is not None and principal.tenant_suspended and _is_blocked_when_suspended(scope):
            await _refuse(scope, send, ErrorCode.TENANT_SUSPENDED, "This workspace is suspended; it can be read but not used to generate or upload")
            return
        await self.app(scope, receive, send)


def _bearer_token(scope: Scope) -> str | None:
    headers = Headers(scope=scope)
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == MEDIA_TOKEN_COOKIE and value:
            return value
    return None


def _with_bearer(scope: Scope, jwt: str) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
    headers.append((b"authorization", f"Bearer {jwt}".encode()))
    return {**scope, "headers": headers}


def _is_blocked_when_suspended(scope: Scope) -> bool:
    if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT"):
        return False
    path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
    return any(p.match(path) for p in _SUSPENDED_BLOCKED)


async def _refuse(scope: Scope, send: Send, code: ErrorCode, detail: str) -> None:
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 4401})
        return
    body = json.dumps({"detail": detail, "code": code.value}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if STATUS_OF[code] == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": STATUS_OF[code], "headers": headers})
    await send({"type": "http.response.body", "body": body})
