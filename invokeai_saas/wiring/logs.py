"""Structured logs: with `PINGVAS_LOG_FORMAT=json`, every log line of the process is one JSON object
with the time, level, logger and message, and the tenant, user, request and queue item it concerns.

InvokeAI builds its own handlers and formatters per logger, at any time; so in JSON mode the one
formatting step every handler shares (`logging.Handler.format`) writes the JSON line, InvokeAI's
loggers and uvicorn's included. The request id comes from `X-Request-ID` (or is made here) and is
sent back on the response.
"""

import json
import logging
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invokeai_saas.core.running_claim import current_claim
from tenant_middleware.context import current_principal, current_tenant_id

_request_id: ContextVar[str | None] = ContextVar("pingvas_request_id", default=None)
LOG_FORMATS = ("plain", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        principal = current_principal()
        claim = current_claim()
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "tenant_id": claim.tenant_id if claim is not None else current_tenant_id(),
            "user_id": principal.user_id if principal is not None else None,
            "request_id": _request_id.get(),
            "queue_item_id": claim.item_id if claim is not None else None,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in entry.items() if v is not None}, default=str)


_JSON = JsonFormatter()


def configure_logging(log_format: str) -> None:
    if log_format == "json":
        logging.Handler.format = lambda self, record: _JSON.format(record)  # type: ignore[method-assign]


class RequestIdMiddleware:
    """Gives each HTTP request an id (its `X-Request-ID`, or a new one) for the logs and the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = given or uuid.uuid4().hex
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
