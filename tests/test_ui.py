"""InvokeAI's own web UI, driven by headless Chromium, works for a tenant member on each database.

The member signs in through the UI's login page, generates an image with the tiny SD 1.5 model from
the Generate tab, and saves a workflow from the workflow editor; the API then confirms both belong
to the member's tenant and that another tenant sees neither. Screenshots of each step are written
to test-artifacts/<test>/ (`01-signed-in.png`, `02-generated.png`, `03-workflow-saved.png`). The sign-up
and invitation pages (our app's) sign the newcomer in and land them in the studio.
"""

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import http
from tests.browser import GENERATION_TIMEOUT_MS, expect_studio, generate_in_ui, sign_in
from tests.conftest import unique_email
from tests.studio import Studio


def save_workflow_in_ui(page: Page, name: str) -> str:
    page.get_by_role("button", name="Workflows").first.click()
    page.get_by_role("button", name="New Workflow Create a new").click()
    page.get_by_role("button", name="Workflow Editor Menu").click()
    page.get_by_role("menuitem", name="Save Workflow As").click()
    dialog = page.get_by_role("alertdialog").filter(has_text="Save Workflow As")
    dialog.get_by_placeholder("Workflow Name").fill(name)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/workflows/")) as saved:
        dialog.get_by_role("button", name="Save As").click()
    assert saved.value.ok, saved.value.text()
    expect(page.get_by_text("Workflow Saved").first).to_be_visible()  # the UI's own success toast
    expect(dialog).to_be_hidden()
    expect(page.get_by_text(name).first).to_be_visible()  # the editor now shows the saved workflow's name
    return saved.value.json()["workflow_id"]


def test_member_signs_in_generates_and_saves_a_workflow_in_the_web_ui(
    studio: Studio, tiny_model_key: str, page: Page, artifacts: Path
) -> None:
    member = studio.signup(unique_email("ui"), "UI Co")
    outsider = studio.signup(unique_email("outsider"), "Other Co")

    # (1) The UI's own login page signs the member in.
    sign_in(page, member)
    page.screenshot(path=artifacts / "01-signed-in.png")

    # (2) Generate from the UI; the image lands in the gallery and in the member's tenant.
    expect(page.get_by_text("tiny-sd15").first).to_be_visible()  # the only model, selected by the UI
    generate_in_ui(page, "a lighthouse at dusk")
    with studio.client(member) as c:
        def new_image() -> dict | None:
            images = c.get("/api/v1/images/", params={"limit": 10, "is_intermediate": False}).json()
            return images if images["total"] else None

        images = studio.wait_for(new_image, timeout=GENERATION_TIMEOUT_MS / 1000)
    assert images["total"] == 1, images
    image = images["items"][0]
    assert (image["width"], image["height"]) == (64, 64), image  # the size typed into the UI
    expect(page.locator(f"img[src*='{image['image_name']}']").first).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    page.screenshot(path=artifacts / "02-generated.png")
    with studio.client(outsider) as c:
        assert c.get("/api/v1/images/", params={"limit": 10}).json()["total"] == 0
        assert c.get(f"/api/v1/images/i/{image['image_name']}").status_code == 404

    # (3) Save a workflow from the workflow editor; it belongs to the member's tenant only.
    name = f"UI workflow {uuid.uuid4().hex[:8]}"
    workflow_id = save_workflow_in_ui(page, name)
    page.screenshot(path=artifacts / "03-workflow-saved.png")
    with studio.client(member) as c:
        listed = c.get("/api/v1/workflows/", params={"categories": "user", "per_page": 100}).json()
        assert [(w["workflow_id"], w["name"]) for w in listed["items"]] == [(workflow_id, name)], listed
        assert c.get(f"/api/v1/workflows/i/{workflow_id}").status_code == 200
    with studio.client(outsider) as c:
        for params in ({"categories": "user"}, {}, {"is_public": True}):
            listed = c.get("/api/v1/workflows/", params={**params, "per_page": 100}).json()
            assert workflow_id not in [w["workflow_id"] for w in listed["items"]], (params, listed)
        assert c.get(f"/api/v1/workflows/i/{workflow_id}").status_code == 404


def test_signup_page_creates_a_workspace_and_leads_to_sign_in(page: Page, studio: Studio) -> None:
    email = unique_email("selfserve")
    page.goto("/signup")
    page.get_by_label("Workspace name").fill("Self-serve Studio")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8+").fill("Selfserve1!")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/signup")) as created:
        page.get_by_role("button", name="Create workspace").click()
    assert created.value.status == 201
    expect_studio(page)  # signed in and in the studio at once
    with studio.client(studio.login(email, "Selfserve1!")) as c:
        assert c.get("/api/v1/tenant").json()["name"] == "Self-serve Studio"


def test_signup_page_shows_the_services_refusal(page: Page, studio: Studio) -> None:
    taken = studio.signup(unique_email("taken"))
    page.goto("/signup")
    page.get_by_label("Workspace name").fill("Dup")
    page.get_by_label("Email").fill(taken.email)
    page.get_by_label("Password (8+").fill("Selfserve1!")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("alert")).to_have_text("An account with this email already exists")


def test_invitation_page_joins_the_workspace(page: Page, studio: Studio) -> None:
    owner = studio.signup(unique_email("inviter"), "Inviting Co")
    invitee = unique_email("invitee")
    with studio.client(owner) as c:
        url = c.post("/api/v1/tenant/invitations", json={"email": invitee}).json()["url"]
    page.goto(url)
    page.get_by_label("Your name").fill("New Member")
    page.get_by_label("Choose a password").fill("Invited1!x")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/invitations/accept")) as accepted:
        page.get_by_role("button", name="Join workspace").click()
    assert accepted.value.status == 201
    expect_studio(page)
    with studio.client(studio.login(invitee, "Invited1!x")) as c:
        assert c.get("/api/v1/tenant").json()["id"] == owner.tenant_id


@pytest.mark.parametrize("path", ["/", "/login"])
def test_the_served_sign_in_page_carries_the_sign_up_link_script(studio: Studio, path: str) -> None:
    page = http.get(f"{studio.url}{path}")
    assert page.status_code == 200
    assert "<title>Pingvas Studio</title>" in page.text
    assert '<script defer src="/pingvas/static/signin-link.js"></script>' in page.text
    script = http.get(f"{studio.url}/pingvas/static/signin-link.js")
    assert script.status_code == 200
    assert 'link.href = "/signup"' in script.text


@pytest.mark.parametrize("entry", ["/", "/login"])
def test_a_newcomer_finds_sign_up_from_the_sign_in_page(page: Page, studio: Studio, entry: str, artifacts: Path) -> None:
    page.goto(entry)
    expect(page.get_by_role("heading", name="Sign In to Pingvas Studio")).to_be_visible()
    expect(page.get_by_text("New to Pingvas Studio?")).to_be_visible()
    link = page.get_by_role("link", name="Create a workspace")
    expect(link).to_be_visible()
    expect(link).to_have_count(1)  # added once, however often the UI re-renders
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()  # InvokeAI's form is untouched
    page.screenshot(path=artifacts / "sign-in-with-sign-up-link.png")
    link.click()
    expect(page).to_have_url(f"{studio.url}/signup")
    expect(page.get_by_role("heading", name="Create your Pingvas Studio workspace")).to_be_visible()


@pytest.mark.parametrize("path", ["/signup", "/invite?token=not-a-real-token"])
def test_the_account_pages_lead_back_to_sign_in(page: Page, studio: Studio, path: str) -> None:
    page.goto(path)
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign In to Pingvas Studio")).to_be_visible()
    expect(page.get_by_role("link", name="Create a workspace")).to_be_visible()


def test_a_signed_in_member_sees_no_sign_up_link(page: Page, studio: Studio) -> None:
    member = studio.signup(unique_email("signed-in"), "Signed In Co")
    sign_in(page, member)
    expect(page.locator("#pingvas-signup-link")).to_have_count(0)
    expect(page.get_by_role("link", name="Create a workspace")).to_have_count(0)
