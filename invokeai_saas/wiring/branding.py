"""The product's face: InvokeAI's UI under our brand, and our own app (account area, sign-up, invitations).

InvokeAI's installed files are never edited. Its entry page is served with the brand laid over it as
it goes out: title, favicon, colours (its accent palette's CSS variables), the brand's facts for our
scripts, and our studio script (account bar, live credit badge, refusal notices), which must run
before InvokeAI's bundle so that it hears the UI's Socket.IO connection from its first frame.

The brand is one folder, `frontend-overrides/brands/<PINGVAS_BRAND>/` (brand.json, logo.svg,
favicon.svg): dev and prod differ only by that setting. Our app is built by Vite into
`frontend-overrides/app/dist/` (committed; tests/test_frontend_app.py rebuilds it and fails on drift);
its manifest names the hashed files.
"""

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import invokeai.frontend.web as web_dir
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from invokeai.app.api.no_cache_staticfiles import NoCacheStaticFiles
from starlette.responses import Response
from starlette.types import Scope

OVERRIDES_ROOT = Path(__file__).resolve().parents[2] / "frontend-overrides"
OVERRIDES_DIR = OVERRIDES_ROOT / "static"
BRANDS_DIR = OVERRIDES_ROOT / "brands"
APP_DIST = OVERRIDES_ROOT / "app" / "dist"
UI_DIST = Path(list(web_dir.__path__)[0], "dist")
STATIC_PREFIX = "/pingvas/static"
APP_PREFIX = "/pingvas/app"
BRAND_PREFIX = "/pingvas/brand"
STOCK_TITLE = "<title>Invoke - Community Edition</title>"
STOCK_FAVICON = re.compile(r'<link id="invoke-favicon"[^>]*>')
# InvokeAI's accent (buttons, focus rings, the Invoke button) is its invokeYellow palette.
ACCENT_SHADES = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900)
BRAND_FILES = frozenset({"logo.svg", "favicon.svg"})


@dataclass(frozen=True)
class Brand:
    key: str
    name: str
    accent: str
    accent_text: str
    support_email: str

    @property
    def folder(self) -> Path:
        return BRANDS_DIR / self.key

    def facts(self) -> dict[str, str]:
        """What our scripts read from the page (frontend-overrides/app/src/shared/brand.ts)."""
        return {"name": self.name, "logo": f"{BRAND_PREFIX}/logo.svg", "support_email": self.support_email}

    def head(self) -> str:
        """The brand's <head> lines: favicon, colours and facts."""
        shades = "".join(
            f"--invoke-colors-invokeYellow-{shade}: color-mix(in srgb, {self.accent} {_mix(shade)}%, {'white' if shade < 500 else 'black'}) !important;"
            for shade in ACCENT_SHADES
        )
        facts = json.dumps(self.facts()).replace("</", "<\\/")
        # Chakra declares its colour variables on :root and again on every [data-theme] element.
        return (
            f'<link rel="icon" type="image/svg+xml" href="{BRAND_PREFIX}/favicon.svg" />'
            f"<style>:root,[data-theme]{{--pingvas-accent:{self.accent};--pingvas-accent-text:{self.accent_text};{shades}}}</style>"
            f'<script id="pingvas-brand" type="application/json">{facts}</script>'
        )


def _mix(shade: int) -> int:
    """How much of the accent a palette shade keeps (the rest is white for the lighter shades below 500, black above)."""
    return 100 - abs(500 - shade) // 6


_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")


@lru_cache(maxsize=4)
def load_brand(key: str) -> Brand:
    folder = BRANDS_DIR / key
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", key) or not (folder / "brand.json").is_file():
        known = sorted(p.name for p in BRANDS_DIR.iterdir() if (p / "brand.json").is_file())
        raise ValueError(f"PINGVAS_BRAND={key!r}: no frontend-overrides/brands/{key}/brand.json (brands: {', '.join(known)})")
    raw = json.loads((folder / "brand.json").read_text())
    for colour in ("accent", "accent_text"):
        if not _COLOUR.fullmatch(raw[colour]):
            raise ValueError(f"brands/{key}/brand.json: {colour} must be a #rrggbb colour, not {raw[colour]!r}")
    missing = [f for f in BRAND_FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"brands/{key}/ lacks {', '.join(missing)}")
    return Brand(key, raw["name"], raw["accent"], raw["accent_text"], raw["support_email"])


@lru_cache(maxsize=1)
def app_manifest() -> dict[str, Any]:
    manifest = APP_DIST / ".vite" / "manifest.json"
    if not manifest.is_file():
        raise RuntimeError(f"{manifest} is missing: build the app (cd frontend-overrides/app && npm ci && npm run build)")
    return json.loads(manifest.read_text())


def studio_assets() -> str:
    """The studio script and its stylesheet, as <head> tags (a module: it runs in document order)."""
    entry = app_manifest()["src/studio/main.ts"]
    styles = "".join(f'<link rel="stylesheet" href="{APP_PREFIX}/{css}" />' for css in entry.get("css", []))
    return f'{styles}<script type="module" src="{APP_PREFIX}/{entry["file"]}"></script>'


@lru_cache(maxsize=4)
def branded_index(key: str) -> str:
    brand = load_brand(key)
    index = (UI_DIST / "index.html").read_text()
    index = index.replace(STOCK_TITLE, f"<title>{escape(brand.name)}</title>{brand.head()}{studio_assets()}", 1)
    index = STOCK_FAVICON.sub("", index, count=1)
    ours = (
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/branding.css" />'
        f'<script defer src="{STATIC_PREFIX}/signin-link.js"></script>'  # the sign-in page's link to /signup
    )
    return index.replace("</head>", f"{ours}</head>", 1)


@lru_cache(maxsize=4)
def branded_app_page(key: str) -> str:
    brand = load_brand(key)
    page = (APP_DIST / "index.html").read_text()
    return re.sub(r"<title>[^<]*</title>", lambda _: f"<title>{escape(brand.name)}</title>{brand.head()}", page, count=1)


@lru_cache(maxsize=16)
def branded_locale(language: str, key: str) -> dict[str, Any]:
    """InvokeAI's UI strings for `language`, with ours (dotted keys; `{product}` is the brand's name) laid over them."""
    strings = json.loads((UI_DIST / "locales" / f"{language}.json").read_text())
    overrides = OVERRIDES_ROOT / "locales" / f"{language}.json"
    name = load_brand(key).name
    for dotted, text in (json.loads(overrides.read_text()) if overrides.is_file() else {}).items():
        *parents, leaf = dotted.split(".")
        node = strings
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = text.replace("{product}", name)
    return strings


def branding_router(brand_key: str) -> APIRouter:
    load_brand(brand_key)  # a wrong PINGVAS_BRAND fails the start, not the first page
    app_manifest()
    if STOCK_TITLE not in (UI_DIST / "index.html").read_text():
        raise RuntimeError(f"InvokeAI's index.html no longer has {STOCK_TITLE}: the brand cannot be laid over it")
    router = APIRouter(include_in_schema=False)
    no_store = {"Cache-Control": "no-store"}

    @router.get("/locales/{language}.json")
    def locale(language: str) -> JSONResponse:
        if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", language) or not (UI_DIST / "locales" / f"{language}.json").is_file():
            raise HTTPException(status_code=404, detail="No such locale")
        return JSONResponse(branded_locale(language, brand_key))

    @router.get("/signup", response_class=HTMLResponse)
    @router.get("/invite", response_class=HTMLResponse)
    @router.get("/account", response_class=HTMLResponse)
    @router.get("/account/{page}", response_class=HTMLResponse)
    def app_page(page: str | None = None) -> HTMLResponse:
        return HTMLResponse(branded_app_page(brand_key), headers=no_store)

    @router.get(BRAND_PREFIX + "/{name}")
    def brand_file(name: str) -> FileResponse:
        if name not in BRAND_FILES:
            raise HTTPException(status_code=404, detail="No such brand file")
        return FileResponse(load_brand(brand_key).folder / name, media_type="image/svg+xml")

    return router


class BrandedUIFiles(NoCacheStaticFiles):
    """InvokeAI's UI files, its entry page branded wherever it is served: `/` and every client-side
    route the UI falls back to it for (`/login`, `/app`, … loaded directly, by a bookmark or a reload)."""

    def __init__(self, brand_key: str) -> None:
        super().__init__(directory=UI_DIST, html=True)
        self.brand_key = brand_key

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and Path(response.path) == UI_DIST / "index.html":
            return HTMLResponse(branded_index(self.brand_key), headers={"Cache-Control": "no-store"})
        return response


def branding_static() -> StaticFiles:
    return StaticFiles(directory=OVERRIDES_DIR)


def app_static() -> StaticFiles:
    return StaticFiles(directory=APP_DIST)
