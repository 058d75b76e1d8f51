"""A customer's whole way through the studio in a real browser (headless Chromium), on each database.

Sign up → land in the studio → generate with the tiny SD model → the image in the gallery → the
credit badge drops by the charge, live → the account area shows the usage and the item's receipt →
an API key created (its secret shown once) and revoked → a member invited who accepts by the link
and sees the workspace's shared board but not another workspace's. And the refusals: a Starter
workspace picking a FLUX model, and a workspace out of credits, each read what happened and the way
to fix it instead of InvokeAI's generic "Failed to Queue Batch" toast. An owner's upgrade goes to
Lemon Squeezy's checkout (the stand-in's URL, answered in the browser).

Screenshots of each step land in test-artifacts/<test>/ (tests/browser.py).
"""

import re
import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests import http
from tests.browser import GENERATION_TIMEOUT_MS, expect_studio, generate_in_ui, new_page, sign_in
from tests.conftest import unique_email
from tests.flux_models import flux_model_records
from tests.studio import Account, Studio


def signed_in_account(page: Page, studio: Studio) -> Account:
    """The account the browser is signed in as (the UI keeps its token in localStorage)."""
    token = page.evaluate("localStorage.getItem('auth_token')")
    me = http.get(f"{studio.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    return Account(token, me["user_id"], None, me["email"], "")


def balance(studio: Studio, account: Account) -> int:
    with studio.client(account) as c:
        return c.get("/api/v1/tenant").json()["credits"]


def test_a_new_customer_signs_up_generates_sees_the_charge_and_runs_the_workspace(
    studio: Studio, tiny_model_key: str, browser: Browser, artifacts: Path
) -> None:
    page, context = new_page(browser, studio)
    email = unique_email("journey")

    # Sign in page → "Create a workspace" → the app's sign-up form → straight into the studio.
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign In to Pingvas Studio")).to_be_visible()
    page.screenshot(path=artifacts / "01-login.png")
    page.get_by_role("link", name="Create a workspace").click()
    page.get_by_label("Workspace name").fill("Journey Co")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8+").fill("Journey1!x")
    page.screenshot(path=artifacts / "02-signup.png")
    page.get_by_role("button", name="Create workspace").click()
    expect_studio(page)
    owner = signed_in_account(page, studio)
    badge = page.get_by_test_id("pingvas-credits")
    expect(badge).to_have_text("300 credits")  # the trial's credits
    expect(page.get_by_test_id("pingvas-plan")).to_have_text("Starter")

    # Generate; the image reaches the gallery, and the badge drops by the charge without a reload.
    expect(page.get_by_text("tiny-sd15").first).to_be_visible()
    generate_in_ui(page, "a lighthouse at dusk")
    with studio.client(owner) as c:
        images = studio.wait_for(lambda: c.get("/api/v1/images/", params={"limit": 5, "is_intermediate": False}).json()["items"], timeout=GENERATION_TIMEOUT_MS / 1000)
        image_name = images[0]["image_name"]
        first = studio.wait_for(lambda: next((e for e in c.get("/api/v1/billing/usage").json()["entries"] if e["kind"] == "usage"), None), timeout=60)
        # A run longer than a heartbeat is charged in slices as it runs; its receipt adds them up once it ends.
        receipt = studio.wait_for(lambda: (r := c.get(f"/api/v1/billing/usage/items/{first['item_id']}").json())["status"] == "completed" and r, timeout=60)
    expect(page.locator(f"img[src*='{image_name}']").first).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    charged = receipt["credits_charged"]
    last = max(receipt["entries"], key=lambda e: e["entry_id"])
    assert charged >= 1 and charged == -sum(e["amount"] for e in receipt["entries"])
    assert last["balance_after"] == 300 - charged == balance(studio, owner)
    expect(badge).to_have_text(f"{300 - charged} credits")  # pushed over the UI's own socket
    page.screenshot(path=artifacts / "03-studio-with-badge.png")

    # The account area, from the button in the studio's top bar: the usage and the item's receipt.
    page.get_by_role("link", name="Account").click()
    expect(page).to_have_url(f"{studio.url}/account")
    expect(page.get_by_test_id("credits")).to_have_text(f"{300 - charged}")
    expect(page.get_by_test_id("plan")).to_have_text("Starter")
    page.get_by_role("link", name="Usage").click()
    entries = page.get_by_role("table", name="Ledger entries")
    row = entries.get_by_role("row").filter(has_text=f"item {receipt['item_id']}").first  # the newest: its last entry
    expect(row).to_contain_text(str(last["amount"]))  # -charged, unless the run was charged in slices
    expect(page.get_by_role("img", name="Credits spent per day")).to_be_visible()
    row.get_by_role("button", name="Receipt").click()
    expect(page.get_by_test_id("receipt-total")).to_contain_text(f"{charged} credits charged")
    page.screenshot(path=artifacts / "04-account-usage-receipt.png", full_page=True)

    # An API key: its secret is shown once, it works, and once revoked it does not.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("CI key")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("api-key-secret").inner_text()
    key_headers = {"Authorization": f"Bearer {secret}"}
    assert http.get(f"{studio.url}/api/v1/images/", headers=key_headers).status_code == 200
    page.screenshot(path=artifacts / "05-api-key-created.png")
    page.reload()
    expect(page.get_by_role("row").filter(has_text="CI key")).to_be_visible()
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)  # never shown again
    page.get_by_role("button", name="Revoke CI key").click()
    expect(page.get_by_role("row").filter(has_text="CI key")).to_have_count(0)
    assert http.get(f"{studio.url}/api/v1/images/", headers=key_headers).status_code == 401

    # A shared board, and another workspace's shared board the newcomer must never see.
    with studio.client(owner) as c:
        team_board = f"Team board {uuid.uuid4().hex[:6]}"
        board_id = c.post("/api/v1/boards/", params={"board_name": team_board}).json()["board_id"]
        assert c.patch(f"/api/v1/boards/{board_id}", json={"board_visibility": "shared"}).status_code == 201
    stranger = studio.signup(unique_email("stranger"), "Stranger Co")
    with studio.client(stranger) as c:
        stranger_board = f"Stranger board {uuid.uuid4().hex[:6]}"
        other_id = c.post("/api/v1/boards/", params={"board_name": stranger_board}).json()["board_id"]
        assert c.patch(f"/api/v1/boards/{other_id}", json={"board_visibility": "shared"}).status_code == 201

    # Invite a member from the Members page; they accept by the link and land in the studio.
    page.get_by_role("link", name="Members").click()
    invitee = unique_email("invitee")
    invitations = page.get_by_role("region", name="Invitations")
    invitations.get_by_label("Email").fill(invitee)
    invitations.get_by_role("button", name="Invite").click()
    link = page.get_by_test_id("invite-link").inner_text()
    expect(page.get_by_role("table", name="Pending invitations")).to_contain_text(invitee)
    page.screenshot(path=artifacts / "06-members-invited.png", full_page=True)
    context.close()

    mate_page, mate_context = new_page(browser, studio)
    mate_page.goto(link)
    mate_page.get_by_label("Your name").fill("New Mate")
    mate_page.get_by_label("Choose a password").fill("Invited1!x")
    mate_page.get_by_role("button", name="Join workspace").click()
    expect_studio(mate_page)
    expect(mate_page.get_by_text(team_board)).to_be_visible()
    expect(mate_page.get_by_text(stranger_board)).to_have_count(0)
    expect(mate_page.get_by_test_id("pingvas-credits")).to_have_text(f"{300 - charged} credits")  # the workspace's balance
    mate_page.screenshot(path=artifacts / "07-member-sees-the-shared-board.png")
    mate = signed_in_account(mate_page, studio)
    with studio.client(mate) as c:
        assert c.get("/api/v1/tenant").json()["id"] == owner_tenant(studio, owner)
        assert c.get(f"/api/v1/boards/{other_id}").status_code == 404
    mate_context.close()


def owner_tenant(studio: Studio, owner: Account) -> str:
    with studio.client(owner) as c:
        return c.get("/api/v1/tenant").json()["id"]


def test_a_starter_workspace_picking_a_flux_model_reads_the_plan_refusal_and_finds_the_upgrade(
    studio: Studio, tiny_model_key: str, page: Page, artifacts: Path, tmp_path: Path
) -> None:
    member = studio.signup(unique_email("starter"), "Starter Co")
    with flux_model_records(studio.db, tmp_path, name="FLUX.1 dev") as flux_key:
        sign_in(page, member)
        picker = page.locator("button[aria-haspopup=dialog]").filter(has_text=re.compile(r"^(tiny-sd15|FLUX\.1 dev)$")).first
        picker.click()
        models = page.get_by_role("dialog").filter(has=page.get_by_placeholder("Search", exact=True))
        models.get_by_placeholder("Search", exact=True).fill("FLUX")
        page.screenshot(path=artifacts / "model-picker.png")
        models.get_by_text("FLUX.1 dev", exact=True).click()
        expect(page.locator("button[aria-haspopup=dialog]").filter(has_text=re.compile(r"^FLUX\.1 dev$")).first).to_be_visible()
        page.locator("textarea[name=prompt]").fill("a fox in the snow")
        invoke = page.get_by_role("button", name="Add to Queue").first
        expect(invoke).to_be_enabled()
        with page.expect_response(lambda r: r.url.endswith("/api/v1/queue/default/enqueue_batch")) as enqueued:
            invoke.click()
        assert enqueued.value.status == 403 and enqueued.value.json()["code"] == "feature_not_in_plan", enqueued.value.text()
        refusal = page.get_by_role("alert").filter(has_text="Not in your plan")
        expect(refusal).to_be_visible()
        expect(refusal).to_contain_text("FLUX")
        expect(page.get_by_text("Failed to Queue Batch")).to_be_hidden()  # InvokeAI's generic toast stands aside
        page.screenshot(path=artifacts / "refusal-flux-not-in-plan.png")
        refusal.get_by_role("link", name="Upgrade your plan").click()
        expect(page).to_have_url(f"{studio.url}/account/plan")
        expect(page.get_by_role("article", name="Pro plan")).to_contain_text("FLUX models")
        assert flux_key


def test_a_workspace_out_of_credits_reads_why_and_where_to_get_more(
    studio: Studio, tiny_model_key: str, page: Page, artifacts: Path
) -> None:
    member = studio.signup(unique_email("broke"), "Broke Co")
    operator = studio.operator(unique_email("ops-broke"))
    with studio.client(operator) as c:
        r = c.post(f"/api/v1/admin/tenants/{member.tenant_id}/credits", json={"amount": -300, "reason": "test: spend the trial"})
        assert r.status_code == 200, r.text
    sign_in(page, member)
    expect(page.get_by_test_id("pingvas-credits")).to_have_text("0 credits")
    generate_attempt = page.get_by_role("button", name="Add to Queue").first
    page.locator("textarea[name=prompt]").fill("anything")
    expect(generate_attempt).to_be_enabled()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/queue/default/enqueue_batch")) as enqueued:
        generate_attempt.click()
    assert enqueued.value.status == 402, enqueued.value.text()
    refusal = page.get_by_role("alert").filter(has_text="Out of credits")
    expect(refusal.get_by_role("link", name="Get more credits")).to_have_attribute("href", "/account/plan")
    expect(page.get_by_text("Failed to Queue Batch")).to_be_hidden()
    page.screenshot(path=artifacts / "refusal-out-of-credits.png")


def test_an_owner_upgrading_is_sent_to_the_lemon_squeezy_checkout(studio: Studio, page: Page, artifacts: Path) -> None:
    owner = studio.signup(unique_email("upgrader"), "Upgrade Co")
    page.route("https://pingvas.lemonsqueezy.com/**", lambda route: route.fulfill(content_type="text/html", body="<h1>Checkout (stand-in)</h1>"))
    sign_in(page, owner)
    page.goto("/account/plan")
    # On its trial (no subscription yet) every priced plan is bought through a checkout, Starter included.
    expect(page.get_by_role("article", name="Starter plan").get_by_role("button", name="Subscribe to Starter")).to_be_visible()
    expect(page.get_by_role("button", name="Billing portal")).to_have_count(0)
    page.screenshot(path=artifacts / "plans.png", full_page=True)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/billing/checkout")) as checkout:
        page.get_by_role("article", name="Pro plan").get_by_role("button", name="Subscribe to Pro").click()
    assert checkout.value.request.post_data_json == {"plan": "pro", "interval": "month"}
    expect(page).to_have_url(re.compile(r"^https://pingvas\.lemonsqueezy\.com/checkout/custom/"))
    expect(page.get_by_role("heading", name="Checkout (stand-in)")).to_be_visible()
