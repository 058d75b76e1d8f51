"""Small request bodies tests send: a PNG, a user workflow, a graph that needs no model."""

import io

import httpx
from PIL import Image


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def user_workflow() -> dict[str, object]:
    return {"name": "test", "author": "", "description": "", "version": "1", "contact": "", "tags": "", "notes": "",
            "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": []}


def add_graph() -> dict[str, object]:
    """One `add` node: runs in milliseconds."""
    node = {"id": "add", "type": "add", "a": 2, "b": 3, "is_intermediate": True, "use_cache": False}
    return {"id": "add-graph", "nodes": {"add": node}, "edges": []}


def upload_image(client: httpx.Client, content: bytes | None = None, board_id: str | None = None) -> httpx.Response:
    """`POST /api/v1/images/upload` of a user image (a small PNG unless `content` is given)."""
    params = {"image_category": "user", "is_intermediate": "false", **({"board_id": board_id} if board_id else {})}
    return client.post("/api/v1/images/upload", params=params, files={"file": ("upload.png", content or png_bytes(), "image/png")})
