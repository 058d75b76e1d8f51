"""Accounts by e-mail in a real browser (headless Chromium), against a studio that requires verified
addresses and sends its mail to a real SMTP server in the test process.

Sign up → the studio with the "verify your e-mail" banner and no credits yet; a refused write shows
the refusal with its "Resend the link" action → the link from the e-mail verifies the address → the
trial's credits, no banner. Then signed out, "Forgot password?" on the sign-in page → the link from
the e-mail → a new password → in the studio again; every older session ends (API keys stay).

Screenshots of each step land in test-artifacts/<test>/ (tests/browser.py).
"""

import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import http
from tests.browser import expect_studio, new_page
from tests.conftest import running_studio, unique_email
from tests.smtp_server import SmtpServer, running_smtp_server
from tests.studio import Studio, free_port

MAIL_TIMEOUT_S = 60  # the outbox sends after the commit, from a background drainer
TRIAL_CREDITS = 300


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def mail_studio(smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """A studio (sqlite) whose links in e-mails point at itself: its port is chosen before it starts."""
    port = free_port()
    env = {
        "PINGVAS_EMAIL_VERIFICATION": "required",
        "PINGVAS_SMTP_URL": smtp.url,
        "PINGVAS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with running_studio("sqlite", tmp_path_factory.mktemp("studio-email"), env, port=port) as studio:
        yield studio


def body_text(message: EmailMessage) -> str:
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_type() in ("text/plain", "text/html"))


def link_in_mail(studio: Studio, smtp: SmtpServer, address: str, page_path: str, after: int = 0) -> str:
    """The `page_path?token=…` link in the newest of `address`'s messages after the first `after` that has one."""
    pattern = re.compile(re.escape(f"{studio.url}{page_path}?token=") + r"[A-Za-z0-9_.~%-]+")

    def newest_link() -> str | None:
        with smtp.inbox.lock:
            mine = [m for m in smtp.inbox.messages if address in (a for _, a in getaddresses([m["To"] or ""]))]
        links = [found.group(0) for m in mine[after:] if (found := pattern.search(body_text(m)))]
        return links[-1] if links else None

    return studio.wait_for(newest_link, timeout=MAIL_TIMEOUT_S)


def messages_to(smtp: SmtpServer, address: str) -> int:
    with smtp.inbox.lock:
        return sum(address in (a for _, a in getaddresses([m["To"] or ""])) for m in smtp.inbox.messages)


def browser_token(page: Page) -> str:
    return page.evaluate("localStorage.getItem('auth_token')")


def me_status(studio: Studio, token: str) -> int:
    return http.get(f"{studio.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_newcomer_verifies_their_address_by_the_e_mailed_link_and_later_resets_a_forgotten_password(
    mail_studio: Studio, smtp: SmtpServer, browser: Browser, artifacts: Path
) -> None:
    studio = mail_studio
    page, context = new_page(browser, studio)
    email, password, new_password = unique_email("verify"), "Journey1!x", "Brand-new2!pass"

    # Sign up: the address must be verified, but the form signs in and the studio opens, with the banner.
    page.goto("/login")
    page.get_by_role("link", name="Create a workspace").click()
    page.get_by_label("Workspace name").fill("Mail Co")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8+").fill(password)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/signup")) as signed_up:
        page.get_by_role("button", name="Create workspace").click()
    assert signed_up.value.status == 202 and "token" not in signed_up.value.json(), signed_up.value.text()
    expect_studio(page)
    banner = page.get_by_role("region", name="Verify your e-mail")
    expect(banner).to_contain_text(email)
    expect(page.get_by_test_id("pingvas-credits")).to_have_text("0 credits")
    page.screenshot(path=artifacts / "01-studio-unverified.png")

    # A write is refused until then; the notice's fix sends a new link from a button.
    refused = page.evaluate(
        """async () => {
            const r = await fetch("/api/v1/boards/?board_name=Early", {method: "POST", headers: {Authorization: `Bearer ${localStorage.getItem("auth_token")}`}});
            return [r.status, (await r.json()).code];
        }"""
    )
    assert refused == [403, "email_not_verified"]
    notice = page.get_by_role("alert").filter(has_text="Verify your e-mail")
    link_in_mail(studio, smtp, email, "/account/verify")  # the sign-up's own message is in
    sent_before = messages_to(smtp, email)
    notice.get_by_role("button", name="Resend the link").click()
    expect(notice.get_by_role("status")).to_contain_text(email)
    page.screenshot(path=artifacts / "02-refusal-resent.png")
    link = link_in_mail(studio, smtp, email, "/account/verify", after=sent_before)

    # The link verifies the address; the studio then has the trial's credits and no banner.
    page.goto(link)
    expect(page.get_by_text("Your address is verified; your trial credits are in your workspace.")).to_be_visible()
    page.screenshot(path=artifacts / "03-verified.png")
    page.get_by_role("link", name="Go to the studio").click()
    expect_studio(page)
    expect(page.get_by_test_id("pingvas-credits")).to_have_text(f"{TRIAL_CREDITS} credits")
    expect(banner).to_have_count(0)
    page.screenshot(path=artifacts / "04-studio-verified.png")

    # Another session, and an API key, both made before the reset.
    other_session = studio.login(email, password)
    assert me_status(studio, other_session.token) == 200
    with studio.client(other_session) as c:
        r = c.post("/api/v1/tenant/api-keys", json={"name": "kept"})
        assert r.status_code == 201, r.text
        key = r.json()["secret"]

    # Signed out, "Forgot password?" (the address carried over) → the e-mailed link → a new password.
    page.get_by_role("button", name="User Menu").click()
    page.get_by_role("menuitem", name="Logout").click()
    expect(page.get_by_role("heading", name="Sign In to Pingvas Studio")).to_be_visible()
    page.get_by_placeholder("Email").fill(email)
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_label("Email")).to_have_value(email)
    sent_before = messages_to(smtp, email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses this address")
    page.screenshot(path=artifacts / "05-reset-requested.png")
    reset = link_in_mail(studio, smtp, email, "/account/reset", after=sent_before)
    page.goto(reset)
    page.get_by_label("New password (8+ characters)").fill(new_password)
    page.get_by_label("The same password again").fill(new_password)
    page.get_by_role("button", name="Save and sign in").click()
    expect_studio(page)
    expect(page.get_by_test_id("pingvas-credits")).to_have_text(f"{TRIAL_CREDITS} credits")
    page.screenshot(path=artifacts / "06-studio-after-reset.png")

    # The older session no longer works; the new one does, and so does the API key.
    assert me_status(studio, other_session.token) == 401
    assert me_status(studio, browser_token(page)) == 200
    assert http.get(f"{studio.url}/api/v1/tenant", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert studio.login(email, new_password).token
    old = http.post(f"{studio.url}/api/v1/auth/login", json={"email": email, "password": password})
    assert old.status_code == 401, old.text

    # The link is used: opened again, it offers to ask for a new one.
    page.goto(reset)
    page.get_by_label("New password (8+ characters)").fill("Another3!pass")
    page.get_by_label("The same password again").fill("Another3!pass")
    page.get_by_role("button", name="Save and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This link has expired or was already used.")
    expect(page.get_by_role("link", name="Ask for a new link")).to_have_attribute("href", "/account/forgot")
    context.close()  # type: ignore[attr-defined]
