"""InvokeAI's default style presets are written by platform operators only, never by a workspace admin.

Why: stock lets any `is_admin` user update or delete a default preset and create presets typed
"default", and a workspace owner or admin is `is_admin` inside their workspace
(`invokeai_saas/accounts/workspace_admin.py`). The defaults are shared by every workspace, and their images
are files of InvokeAI's package: an owner's `DELETE /api/v1/style_presets/i/<default>` unlinked the
PNG for everyone; a preset of their own typed "default" would be served from InvokeAI's folder by
its name. Refused the way stock refuses a non-admin: 403 "Default style presets cannot be modified"
(a default is visible to every workspace, so "not found" would be untrue), and 403 on creating one.

`may_write_defaults(user)` is stock's rule (`is_admin`) until the app sets its own
(`set_default_writers`: the platform's operators).

Patched: the style-preset router's `_assert_preset_write` (looked up as a module global at call
time, by the update and delete routes) and the create route's endpoint.
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from invokeai.app.api.routers import style_presets
from invokeai.app.services.auth.token_service import TokenData
from invokeai.app.services.style_preset_records.style_preset_records_common import PresetType, StylePresetRecordDTO

from patches.route_not_found import wrap_endpoint

CREATE = ("POST", "/api/v1/style_presets/")
_stock_assert_preset_write = style_presets._assert_preset_write


def _stock_rule(user: TokenData) -> bool:
    return user.is_admin


may_write_defaults: Callable[[TokenData], bool] = _stock_rule


def set_default_writers(check: Callable[[TokenData], bool]) -> None:
    global may_write_defaults
    may_write_defaults = check


def _assert_preset_write(record: StylePresetRecordDTO, current_user: TokenData) -> None:
    if record.type == PresetType.Default and not may_write_defaults(current_user):
        raise HTTPException(status_code=403, detail="Default style presets cannot be modified")
    _stock_assert_preset_write(record, current_user)


def _preset_type(data: Any) -> Any:
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        return None
    return parsed.get("type") if isinstance(parsed, dict) else None


def _defaults_created_by_writers_only(original: Callable[..., Any]) -> Callable[..., Any]:
    async def create_style_preset(**kwargs: Any) -> Any:
        if _preset_type(kwargs.get("data")) == PresetType.Default.value and not may_write_defaults(kwargs["current_user"]):
            raise HTTPException(status_code=403, detail="Only platform operators can create default style presets")
        return await original(**kwargs)

    return create_style_preset


def apply_to_app(app: FastAPI) -> None:
    style_presets._assert_preset_write = _assert_preset_write
    wrap_endpoint(app, *CREATE, _defaults_created_by_writers_only)
