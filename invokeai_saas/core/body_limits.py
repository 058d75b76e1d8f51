"""Request body limits: no request makes the server read more than a bounded body.

FastAPI reads a JSON body whole into memory before validating it (a body of any other type too, on
a route that takes JSON), and the sign-in rate limit must read the account from every sign-in the
app will check: a body the limiter could not read used to be checked with only the address's
bucket counting, so a padded body made password guessing per account unlimited. So, before the
rate limiter and the app:
- sign-in and sign-up routes (`/api/v1/auth/…`, sign-up, invitation accept) take `AUTH_BODY_LIMIT`
  bytes, whatever the content type;
- an upload (multipart/form-data to a route that takes files) is not limited here: Starlette's
  parser spools files to disk and bounds every other part;
- every other body takes `PINGVAS_MAX_BODY_BYTES`.
A Content-Length over the limit is refused before anything is read; a body without one (chunked)
is read, counted, and refused as soon as it passes the limit. Refusals are 413 `payload_too_large`.

It must never hand the app a body over its limit, nor change a body within it (those are replayed
to the app exactly as they came).
"""

import json
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenant_middleware.errors import STATUS_OF, ErrorCode

AUTH_BODY_LIMIT = 8 * 1024  # a sign-in or sign-up body is a few hundred bytes
AUTH_PREFIX = "/api/v1/auth/"
AUTH_PATHS = frozenset({"/api/v1/signup", "/api/v1/invitations/accept"})
MULTIPART = "multipart/form-data"


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes")
        self.limit = limit


def is_auth_path(path: str) -> bool:
    return path.startswith(AUTH_PREFIX) or path in AUTH_PATHS


def upload_routes(openapi: dict) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every operation whose OpenAPI body is multipart/form-data."""
    routes = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if MULTIPART in content:
                routes.append((method.upper(), compile_path(path)[0]))
    return routes


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages read (to replay) and the body; None when the client left. Raises BodyTooLarge as
    soon as the body passes `limit`, without reading the rest."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out `messages` first, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def refuse_too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": str(BodyTooLarge(limit)), "code": ErrorCode.PAYLOAD_TOO_LARGE.value}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": STATUS_OF[ErrorCode.PAYLOAD_TOO_LARGE], "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Pure ASGI: refuses a request body over its route's limit with 413 before the app reads it."""

    def __init__(self, app: ASGIApp, max_body: int, uploads: Iterable[tuple[str, re.Pattern[str]]] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.uploads = tuple(uploads)

    def limit_for(self, scope: Scope, headers: Headers) -> int | None:
        path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
        if is_auth_path(path):
            return AUTH_BODY_LIMIT
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == MULTIPART and any(
            method == scope.get("method") and pattern.match(path) for method, pattern in self.uploads
        ):
            return None
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope, headers)
        length = headers.get("content-length")
        if limit is None or ("transfer-encoding" not in headers and length is None):
            await self.app(scope, receive, send)  # an upload, or no body at all
            return
        if length is not None and "transfer-encoding" not in headers:
            # The server delivers no more than the declared length (and refuses one that is not a number).
            if length.strip().isdigit() and int(length) > limit:
                await refuse_too_large(send, limit)
                return
            await self.app(scope, receive, send)
            return
        try:
            messages, _ = await read_body(receive, limit)
        except BodyTooLarge:
            await refuse_too_large(send, limit)
            return
        await self.app(scope, replay(messages, receive), send)
