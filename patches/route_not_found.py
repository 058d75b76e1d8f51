"""Stock routes that answer 500 for a name that does not exist answer 404 instead.

Why: "bad input never yields a 500". The routes that return a file build a FileResponse for a
path that may not be there (a preset or default workflow without an image, a model without one)
and fail while sending it, after the status line: the client sees a 500 or a dropped connection.
`DELETE /api/v1/board_images/` wraps the image lookup in a catch-all that turns "no such image"
(including another tenant's) into 500. A bulk-download zip is deleted once served, so a second
fetch at the same moment lost it mid-stream; it is opened before the response starts. Applied to the built app, by wrapping the route's endpoint.
"""

import asyncio
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.routing import APIRoute


FILE_ROUTES = (
    "/api/v1/style_presets/i/{style_preset_id}/image",
    "/api/v1/workflows/i/{workflow_id}/thumbnail",
    "/api/v1/utilities/fonts/{font_path:path}",
)
BULK_DOWNLOAD = "/api/v1/images/download/{bulk_download_item_name}"
CHUNK_BYTES = 256 * 1024


class PatchTargetMissing(RuntimeError):
    pass


def _api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path; FastAPI >= 0.14x keeps included routers as lazy branches."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes, prefix + (route.include_context.prefix or ""))


def wrap_endpoint(app: FastAPI, method: str, path: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    for full_path, route in _api_routes(app.router.routes):
        if full_path == path and method in route.methods:
            original = route.endpoint
            wrapped = functools.wraps(original)(make_wrapper(original))
            if asyncio.iscoroutinefunction(original) != asyncio.iscoroutinefunction(wrapped):
                raise PatchTargetMissing(f"{method} {path}: wrapper must match the endpoint's sync/async kind")
            route.endpoint = wrapped
            route.dependant.call = wrapped
            return
    raise PatchTargetMissing(f"route {method} {path} not found in InvokeAI's app")


def _model_image_404(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_model_image(**kwargs: Any) -> Any:
        from invokeai.app.api.dependencies import ApiDependencies

        try:
            path = ApiDependencies.invoker.services.model_images.get_path(kwargs["key"])
        except Exception:
            raise HTTPException(status_code=404, detail="Model image not found") from None
        if not path.is_file():
            raise HTTPException(status_code=404, detail="Model image not found")
        return original(**kwargs)

    return get_model_image


def file_or_404(response: Any) -> Any:
    """A FileResponse whose file is missing would fail mid-send; it is a 404 before sending."""
    if isinstance(response, FileResponse) and not Path(response.path).is_file():
        raise HTTPException(status_code=404, detail="File not found")
    return response


def _missing_file_404(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_file(**kwargs: Any) -> Any:
        return file_or_404(original(**kwargs))

    return get_file


def _served_from_open_file(original: Callable[..., Any]) -> Callable[..., Any]:
    """Stock deletes a zip once served; a second fetch at the same moment lost the file mid-stream
    (a truncated body, a dropped connection). The file is opened before the response starts, and
    an open file stays readable after its name is deleted."""

    def get_bulk_download_item(**kwargs: Any) -> Any:
        response = file_or_404(original(**kwargs))
        try:
            handle = open(response.path, "rb")  # noqa: SIM115 - closed by _chunks
        except OSError:
            raise HTTPException(status_code=404, detail="File not found") from None
        headers = dict(response.headers)
        headers["content-length"] = str(os.fstat(handle.fileno()).st_size)
        return StreamingResponse(_chunks(handle), headers=headers, background=response.background)

    return get_bulk_download_item


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _board_image_404(original: Callable[..., Any]) -> Callable[..., Any]:
    def remove_image_from_board(**kwargs: Any) -> Any:
        from invokeai.app.api.dependencies import ApiDependencies

        if not ApiDependencies.invoker.services.image_records.exists(kwargs["image_name"]):
            raise HTTPException(status_code=404, detail="Image not found")
        return original(**kwargs)

    return remove_image_from_board


def apply_to_app(app: FastAPI) -> None:
    wrap_endpoint(app, "GET", "/api/v2/models/i/{key}/image", _model_image_404)
    wrap_endpoint(app, "DELETE", "/api/v1/board_images/", _board_image_404)
    for path in FILE_ROUTES:
        wrap_endpoint(app, "GET", path, _missing_file_404)
    wrap_endpoint(app, "GET", BULK_DOWNLOAD, _served_from_open_file)
