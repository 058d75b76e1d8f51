"""Serve InvokeAI's UI entry page under our product name, plus our static branding files.

The entry page gets our title, stylesheet and script (the sign-in page's link to /signup) added as it
is served; InvokeAI's installed files are never edited.
"""

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import invokeai.frontend.web as web_dir
from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

PRODUCT_NAME = "Pingvas Studio"
OVERRIDES_ROOT = Path(__file__).resolve().parent.parent / "frontend-overrides"
OVERRIDES_DIR = OVERRIDES_ROOT / "static"
UI_DIST = Path(list(web_dir.__path__)[0], "dist")
STATIC_PREFIX = "/pingvas/static"


@lru_cache(maxsize=1)
def branded_index() -> str:
    index = (UI_DIST / "index.html").read_text()
    index = index.replace("<title>Invoke - Community Edition</title>", f"<title>{PRODUCT_NAME}</title>")
    ours = (
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/branding.css" />'
        f'<script defer src="{STATIC_PREFIX}/signin-link.js"></script>'  # the sign-in page's link to /signup
    )
    return index.replace("</head>", f"{ours}</head>", 1)


@lru_cache(maxsize=8)
def branded_locale(language: str) -> dict[str, Any]:
    """InvokeAI's UI strings for `language`, with ours (dotted keys) laid over them."""
    strings = json.loads((UI_DIST / "locales" / f"{language}.json").read_text())
    overrides = OVERRIDES_ROOT / "locales" / f"{language}.json"
    for dotted, text in (json.loads(overrides.read_text()) if overrides.is_file() else {}).items():
        *parents, leaf = dotted.split(".")
        node = strings
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = text
    return strings


def branding_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    # `/login` too: the UI's sign-in route, loaded directly (a bookmark, a reload) rather than reached from `/`.
    @router.get("/", response_class=HTMLResponse)
    @router.get("/login", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(branded_index(), headers={"Cache-Control": "no-store"})

    @router.get("/locales/{language}.json")
    def locale(language: str) -> JSONResponse:
        if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", language) or not (UI_DIST / "locales" / f"{language}.json").is_file():
            raise HTTPException(status_code=404, detail="No such locale")
        return JSONResponse(branded_locale(language))

    @router.get("/signup", response_class=HTMLResponse)
    def signup_page() -> HTMLResponse:
        return HTMLResponse((OVERRIDES_DIR / "signup.html").read_text())

    @router.get("/invite", response_class=HTMLResponse)
    def invite_page() -> HTMLResponse:
        return HTMLResponse((OVERRIDES_DIR / "invite.html").read_text())

    return router


def branding_static() -> StaticFiles:
    return StaticFiles(directory=OVERRIDES_DIR)
