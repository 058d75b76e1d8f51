"""The brand is one folder chosen by PINGVAS_BRAND, laid over InvokeAI's UI on every path it serves,
and our app (account area, sign-up, invitations) is served under the same brand."""

import re

import pytest

from invokeai_saas.branding import APP_PREFIX, branded_app_page, branded_index, branded_locale, load_brand
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


@pytest.mark.parametrize("path", ["/account", "/account/usage", "/account/members", "/signup", "/invite?token=x"])
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
