"""Headless Chromium (Debian's /usr/bin/chromium or Homebrew's Chromium.app, installed by
scripts/ensure-services.sh; `PINGVAS_TEST_CHROMIUM` names another) under
Playwright, for the browser tests; Playwright never downloads a browser here. If Chromium cannot
start, the tests fail rather than skip.

Screenshots go to `test-artifacts/<test name>/` at the repository's root (ignored by git, kept by
CI's clean clone after the run), named by step.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from tests.studio import Account, Studio

CHROMIUM = os.environ.get("PINGVAS_TEST_CHROMIUM") or next(
    (p for p in ("/usr/bin/chromium", "/Applications/Chromium.app/Contents/MacOS/Chromium") if Path(p).exists()),
    "/usr/bin/chromium",
)
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
UI_TIMEOUT_MS = 30_000
GENERATION_TIMEOUT_MS = 90_000
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
expect.set_options(timeout=UI_TIMEOUT_MS)  # the UI's first load on a cold server can take several seconds


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-services.sh (apt-get install chromium)", pytrace=False)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as e:
            pytest.fail(f"headless Chromium ({CHROMIUM}) did not start under Playwright: {e}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, studio: Studio) -> tuple[Page, object]:
    context = browser.new_context(base_url=studio.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    return context.new_page(), context


@pytest.fixture
def page(browser: Browser, studio: Studio) -> Iterator[Page]:
    page, context = new_page(browser, studio)
    try:
        yield page
    finally:
        context.close()  # type: ignore[attr-defined]


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, emptied first."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def sign_in(page: Page, member: Account) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign In to Pingvas Studio")).to_be_visible()
    page.get_by_placeholder("Email").fill(member.email)
    page.get_by_placeholder("Password").fill(member.password)
    page.get_by_role("button", name="Sign In").click()
    expect_studio(page)


def expect_studio(page: Page) -> None:
    # The Generate tab's prompt box only renders for a signed-in user.
    expect(page.locator("textarea[name=prompt]")).to_be_visible()
    expect(page.get_by_role("button", name="User Menu")).to_be_visible()


def generate_in_ui(page: Page, prompt: str) -> None:
    page.locator("textarea[name=prompt]").fill(prompt)
    for dimension in ("Width", "Height"):  # the tiny model is fastest at its smallest size
        field = page.get_by_role("spinbutton", name=dimension)
        field.fill("64")
        field.press("Enter")
        expect(field).to_have_value("64")
    invoke = page.get_by_role("button", name="Add to Queue").first
    # Enabled only once the model is selected and the UI's Socket.IO connection is up.
    expect(invoke).to_be_enabled()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/queue/default/enqueue_batch")) as enqueued:
        invoke.click()
    assert enqueued.value.ok, enqueued.value.text()
