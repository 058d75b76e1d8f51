"""Errors the request caused, told apart from the server's own faults, in one place.

Many InvokeAI routes wrap their work in `except Exception: raise HTTPException(500, ...)`, so a
bad input (an id beyond 64 bits, a name too long for the file system, bytes that are not an image,
an unknown id) reaches the client as a 500. Python keeps the original exception on the 500 as
`__context__`; `client_error` reads that chain and names the 4xx the input deserved. Some routes
even raise their own refusal inside that `try` (`GET /api/v1/queue/<other queue>/i/<item>`: a 404
re-wrapped as "Unexpected error ...: 404: ..."): an HTTPException 4xx in the chain is answered with
its own status and detail. The app's error handler for HTTPException asks it before answering 500,
and `ClientErrorMiddleware` asks it for any exception a route left uncaught.
"""

import errno
from collections.abc import Iterator
from types import TracebackType

import pydantic
import sqlalchemy.exc
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException
from invokeai.app.services.image_files.image_files_common import ImageFileNotFoundException
from invokeai.app.services.image_records.image_records_common import ImageRecordNotFoundException
from invokeai.app.services.session_queue.session_queue_common import SessionQueueItemNotFoundError
from invokeai.app.services.style_preset_images.style_preset_images_common import StylePresetImageFileNotFoundException
from invokeai.app.services.style_preset_records.style_preset_records_common import StylePresetNotFoundError
from invokeai.app.services.video_records.video_records_common import VideoRecordNotFoundException
from invokeai.app.services.workflow_records.workflow_records_common import WorkflowNotFoundError
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_common import WorkflowThumbnailFileNotFoundException

from tenant_middleware.errors import CODE_FOR_STATUS, ErrorCode, ServiceError

_NOT_FOUND = (
    BoardRecordNotFoundException,
    ImageFileNotFoundException,
    ImageRecordNotFoundException,
    SessionQueueItemNotFoundError,
    StylePresetImageFileNotFoundException,
    StylePresetNotFoundError,
    VideoRecordNotFoundException,
    WorkflowNotFoundError,
    WorkflowThumbnailFileNotFoundException,
)
_NOT_AN_IMAGE = (UnidentifiedImageError, Image.DecompressionBombError)
_MAX_CHAIN = 8


class InnerRefusal(ServiceError):
    """A route's own 4xx that it re-raised as a 500: its status and detail, with the status's code."""

    def __init__(self, refusal: HTTPException) -> None:
        super().__init__(CODE_FOR_STATUS.get(refusal.status_code, ErrorCode.INVALID_INPUT), str(refusal.detail))
        self.status_code = refusal.status_code


def client_error(exc: BaseException) -> ServiceError | None:
    """The refusal `exc` (or an exception it was raised from) stands for; None for a server fault."""
    for link in _chain(exc):
        refusal = _refusal_for(link)
        if refusal is not None:
            return refusal
    return None


def _refusal_for(exc: BaseException) -> ServiceError | None:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        return InnerRefusal(exc)
    if isinstance(exc, (OverflowError, sqlalchemy.exc.DataError)):
        return ServiceError(ErrorCode.INVALID_INPUT, "A value in this request is out of range or malformed")
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        # Not the request's fault, but not a bug either: the database dropped the connection (a
        # restart, a failover); the pool has been renewed, so a retry succeeds.
        return ServiceError(ErrorCode.SERVICE_UNAVAILABLE, "The database connection was lost; please retry")
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return ServiceError(ErrorCode.INVALID_INPUT, "A name in this request is too long")
    if isinstance(exc, _NOT_AN_IMAGE):
        return ServiceError(ErrorCode.INVALID_INPUT, "The file is not an image this service can read")
    if isinstance(exc, _NOT_FOUND):
        return ServiceError(ErrorCode.NOT_FOUND, "Not found")
    if isinstance(exc, pydantic.ValidationError) or _raised_validating_request(exc.__traceback__):
        return ServiceError(ErrorCode.INVALID_INPUT, f"The request is not valid: {_first_line(exc)}")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from or during, newest first (bounded: chains can loop)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _raised_validating_request(tb: TracebackType | None) -> bool:
    """True when FastAPI was still validating the request's parameters: e.g. pydantic raises
    TypeError, not a validation error, for a numeric bound applied to a list."""
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "solve_dependencies" and code.co_filename.endswith("fastapi/dependencies/utils.py"):
            return True
        tb = tb.tb_next
    return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


class ClientErrorMiddleware:
    """Answers an uncaught exception that a bad request caused with its 4xx, before Starlette's
    last-resort handler turns it into a 500 (which also drops the keep-alive connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            refusal = client_error(exc)
            if refusal is None or started:
                raise
            await JSONResponse(refusal.body(), status_code=refusal.status_code)(scope, receive, send)
