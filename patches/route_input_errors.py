"""Stock routes that answer 500 or 501 to a well-formed request with a bad value answer a 4xx instead.

Why: "bad input never yields a 500". Style presets take their fields as a JSON string in a form
field and spread it into a model with `**`: any JSON that is not an object (`0`, `[]`) raises a
TypeError the route does not catch. `POST /api/v1/images/` is a stub that always answers 501.
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException

from patches.route_not_found import wrap_endpoint

STYLE_PRESET_WRITES = (("POST", "/api/v1/style_presets/"), ("PATCH", "/api/v1/style_presets/i/{style_preset_id}"))


def _preset_data_is_an_object(original: Callable[..., Any]) -> Callable[..., Any]:
    async def write_style_preset(**kwargs: Any) -> Any:
        try:
            parsed = json.loads(kwargs["data"])
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise HTTPException(status_code=400, detail="Invalid preset data: a JSON object is required")
        return await original(**kwargs)

    return write_style_preset


def _not_available(_original: Callable[..., Any]) -> Callable[..., Any]:
    def create_image_upload_entry(**_kwargs: Any) -> Any:
        raise HTTPException(status_code=404, detail="Not available: upload images with POST /api/v1/images/upload")

    return create_image_upload_entry


def apply_to_app(app: FastAPI) -> None:
    for method, path in STYLE_PRESET_WRITES:
        wrap_endpoint(app, method, path, _preset_data_is_an_object)
    wrap_endpoint(app, "POST", "/api/v1/images/", _not_available)
