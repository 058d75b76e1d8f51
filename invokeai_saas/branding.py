"""Serve InvokeAI's UI entry page under our product name, plus our static branding files."""

from functools import lru_cache
from pathlib import Path

import invokeai.frontend.web as web_dir
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

PRODUCT_NAME = "Pingvas Studio"
OVERRIDES_DIR = Path(__file__).resolve().parent.parent / "frontend-overrides" / "static"
STATIC_PREFIX = "/pingvas/static"


@lru_cache(maxsize=1)
def branded_index() -> str:
    index = Path(list(web_dir.__path__)[0], "dist", "index.html").read_text()
    index = index.replace("<title>Invoke - Community Edition</title>", f"<title>{PRODUCT_NAME}</title>")
    return index.replace("</head>", f'<link rel="stylesheet" href="{STATIC_PREFIX}/branding.css" /></head>', 1)


def branding_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(branded_index(), headers={"Cache-Control": "no-store"})

    @router.get("/signup", response_class=HTMLResponse)
    def signup_page() -> HTMLResponse:
        return HTMLResponse((OVERRIDES_DIR / "signup.html").read_text())

    @router.get("/invite", response_class=HTMLResponse)
    def invite_page() -> HTMLResponse:
        return HTMLResponse((OVERRIDES_DIR / "invite.html").read_text())

    return router


def branding_static() -> StaticFiles:
    return StaticFiles(directory=OVERRIDES_DIR)
