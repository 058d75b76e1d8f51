"""The brand is one folder chosen by PINGVAS_BRAND, laid over InvokeAI's UI on every path it serves,
and our app (account area, sign-up, invitations) is served under the same brand."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route

from invokeai_saas.wiring.branding import (
    APP_DIST, APP_PREFIX, BRANDS_DIR, OVERRIDES_DIR, STATIC_PREFIX, branded_app_page, branded_index, branded_locale, load_brand,
)
from tests import http
from tests.studio import Studio


def test_the_dev_brand_differs_from_prod_only_by_its_folder() -> None:
    prod, dev = branded_index("pingvas"), branded_index("pingvas-dev")
    assert "<title>Pingvas Studio</title>" in prod and "<title>Pingvas Studio (dev)</title>" in dev
    assert "--pingvas-accent:#3b82f6" in prod and "--pingvas-accent:#f59e0b" in dev
    assert "Invoke - Community Edition" not in prod + dev
    assert 'id="invoke-favicon"' not in prod  # the brand's favicon instead
    assert branded_locale("en", "pingvas-dev")["auth"]["login"]["title"] == "Sign In to Pingvas Studio (dev)"
    assert "<title>Pingvas Studio (dev)</title>" in branded_app_page("pingvas-dev")


def test_the_studio_script_runs_before_invokeais_bundle() -> None:
    """It must hear the UI's Socket.IO connection from its first frame: a module script earlier in <head>."""
    page = branded_index("pingvas")
    ours = re.search(rf'<script type="module" src="{APP_PREFIX}/assets/studio-[^"]+\.js"></script>', page)
    theirs = page.index('src="./assets/index-')
    assert ours is not None and ours.start() < theirs


def test_an_unknown_brand_fails_the_start_with_the_brands_there_are() -> None:
    with pytest.raises(ValueError, match=r"no frontend-overrides/brands/acme/brand.json \(brands: pingvas, pingvas-dev\)"):
        load_brand("acme")
    with pytest.raises(ValueError):
        load_brand("../static")


@pytest.mark.parametrize("path", ["/", "/login", "/app", "/app/workflows", "/some/client/route"])
def test_every_path_of_the_ui_serves_the_branded_entry_page(studio: Studio, path: str) -> None:
    page = http.get(f"{studio.url}{path}")
    assert page.status_code == 200 and "<title>Pingvas Studio</title>" in page.text, page.text[:400]
    assert 'id="pingvas-brand"' in page.text and "/assets/studio-" in page.text


@pytest.mark.parametrize(
    "path",
    ["/account", "/account/usage", "/account/members", "/account/notices", "/signup", "/invite?token=x",
     "/account/forgot", "/account/reset?token=x", "/account/verify?token=x"],
)
def test_the_account_app_is_served_on_its_routes(studio: Studio, path: str) -> None:
    page = http.get(f"{studio.url}{path}")
    assert page.status_code == 200 and f'src="{APP_PREFIX}/assets/account-' in page.text
    script = re.search(rf'src="({APP_PREFIX}/assets/account-[^"]+\.js)"', page.text)
    assert script and http.get(f"{studio.url}{script.group(1)}").status_code == 200


def test_the_brand_files_are_served_and_nothing_else_from_its_folder(studio: Studio) -> None:
    logo = http.get(f"{studio.url}/pingvas/brand/logo.svg")
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")
    assert http.get(f"{studio.url}/pingvas/brand/brand.json").status_code == 404
    escaped = http.get(f"{studio.url}/pingvas/brand/..%2Fpingvas-dev%2Flogo.svg")  # no route: the UI's entry page
    assert not escaped.headers["content-type"].startswith("image/svg+xml") and "<svg" not in escaped.text


def serve_branded_page(brand: str):  # noqa: ANN201 - a Playwright route handler
    """Our entry page for `brand` and our own files, as the studio serves them; InvokeAI's bundle is left out."""
    folders = {STATIC_PREFIX: OVERRIDES_DIR, APP_PREFIX: APP_DIST, "/pingvas/brand": BRANDS_DIR / brand}

    def handle(route: Route) -> None:
        path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
        if path == "/login":
            route.fulfill(status=200, content_type="text/html", body=branded_index(brand))
            return
        for prefix, folder in folders.items():
            if path.startswith(prefix + "/") and (folder / path[len(prefix) + 1:]).is_file():
                file = folder / path[len(prefix) + 1:]
                kind = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}.get(file.suffix, "text/plain")
                route.fulfill(status=200, content_type=kind, body=file.read_bytes())
                return
        route.fulfill(status=404, body="")

    return handle


def test_in_the_browser_the_dev_brand_has_its_own_accent_and_name(browser: Browser) -> None:
    """The brand's accent is the one the page ends with (no later stylesheet of ours resets it), and the
    sign-in page's link to /signup names the brand."""
    brand = load_brand("pingvas-dev")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/*", serve_branded_page("pingvas-dev"))
        page.goto("http://brand.test/login")
        page.wait_for_load_state("load")
        accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--pingvas-accent').trim()")
        assert accent == brand.accent
        page.evaluate("""() => {
            document.documentElement.dataset.theme = "dark";
            const form = document.createElement("form");
            form.innerHTML = '<input type="email"><input type="password" autocomplete="current-password">';
            document.body.append(form);
        }""")
        link = page.locator("#pingvas-signup-link")
        link.wait_for(timeout=10_000)
        assert link.inner_text() == f"New to {brand.name}? Create a workspace"
        forgot = page.locator("#pingvas-forgot-link")
        assert forgot.inner_text() == "Forgot password?"
        assert forgot.locator("a").get_attribute("href") == "/account/forgot"
        themed = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--pingvas-accent').trim()")
        assert themed == brand.accent
    finally:
        context.close()
