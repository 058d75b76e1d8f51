"""Small request bodies tests send: a PNG, a user workflow, a graph that needs no model."""

import io

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
