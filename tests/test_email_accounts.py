"""Accounts by e-mail, through a real studio (`pingvas serve`) on each database, sending to a real SMTP
server in this process: verification before the trial, password reset, invitations and notices by
e-mail, and answers that do not tell whether an address has an account.
"""

import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage

import httpx
import pytest
import sqlalchemy as sa

from invokeai_saas.db.tables.mail import mail_outbox
from invokeai_saas.db.tables.tenancy import account_tokens
from invokeai_saas.money.ledger import CreditLedger
from billing.credits import EntryKind
from tenant_middleware.context import system_scope
from tests import http
from tests.conftest import running_studio, unique_email
from tests.lemonsqueezy_server import Clock, LemonSqueezyStandIn, invoice_event, subscription_event
from tests.payloads import upload_image
from tests.smtp_server import Inbox, SmtpServer, running_smtp_server
from tests.studio import Account, Studio
from tests.test_billing_lemonsqueezy import PRO, deliver

PUBLIC_URL = "https://studio.example.test"
PASSWORD = "Passw0rd!x"
MAIL_TIMEOUT_S = 60
MAIL_LIMIT = 3  # PINGVAS_MAIL_RATE_LIMIT of these studios, per hour
INVITE_LIMIT = 4  # PINGVAS_INVITATION_RATE_LIMIT, per workspace and day


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def studio(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer, lemonsqueezy: LemonSqueezyStandIn
) -> Iterator[Studio]:
    env = lemonsqueezy.env() | {"PINGVAS_EMAIL_VERIFICATION": "required", "PINGVAS_SMTP_URL": smtp.url, "PINGVAS_PUBLIC_URL": PUBLIC_URL,
           "PINGVAS_MAIL_RATE_LIMIT": f"{MAIL_LIMIT}/hour", "PINGVAS_INVITATION_RATE_LIMIT": f"{INVITE_LIMIT}/day",
           "PINGVAS_TRIAL_CREDITS": "300"}
    with running_studio(request.param, tmp_path_factory.mktemp(f"email-{request.param}"), env) as studio:
        yield studio


# --- helpers ---------------------------------------------------------------------------------------


def mail_to(inbox: Inbox, address: str, subject: str, count: int = 1) -> list[EmailMessage]:
    """The messages to `address` whose subject contains `subject`, once `count` of them have arrived."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while time.monotonic() < deadline:
        found = [m for m in inbox.to(address) if subject in m["Subject"]]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {count} message(s) '{subject}' to {address}; got {[m['Subject'] for m in inbox.to(address)]}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_token(message: EmailMessage, path: str) -> str:
    found = re.search(re.escape(f"{PUBLIC_URL}{path}?token=") + r"([A-Za-z0-9_\-]+)", text_of(message))
    assert found, text_of(message)
    html = message.get_body(("html",))
    assert html is not None and found.group(0) in str(html.get_content())  # type: ignore[attr-defined]
    return found.group(1)


def sign_up(studio: Studio, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post(f"{studio.url}/api/v1/signup", json={"email": email, "password": password, "workspace_name": "Mail Co"})


def signed_up(studio: Studio, email: str) -> Account:
    """Signed up (202) and signed in, not verified yet."""
    assert sign_up(studio, email).status_code == 202
    account = studio.login(email, PASSWORD)
    account.tenant_id = http.get(f"{studio.url}/api/v1/tenant", headers=account.headers).json()["id"]
    return account


def verified(studio: Studio, smtp: SmtpServer, email: str) -> Account:
    account = signed_up(studio, email)
    token = link_token(mail_to(smtp.inbox, email, "Verify your e-mail address")[0], "/account/verify")
    assert http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    return account


def credits(studio: Studio, account: Account) -> int:
    with studio.client(account) as c:
        return int(c.get("/api/v1/tenant").json()["credits"])


def comparable(r: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers but those that differ per response anyway (date, request id)."""
    headers = sorted((k, v) for k, v in r.headers.items() if k not in ("date", "x-request-id"))
    return r.status_code, r.content, headers


# --- verification ----------------------------------------------------------------------------------


def test_a_new_owner_verifies_by_link_before_the_trial_generating_or_uploading(studio: Studio, smtp: SmtpServer) -> None:
    email = unique_email("verify")
    answer = sign_up(studio, email)
    assert answer.status_code == 202, answer.text
    assert "token" not in answer.json() and email in answer.json()["detail"]
    owner = studio.login(email, PASSWORD)  # signs in and looks around...
    assert credits(studio, owner) == 0
    with studio.client(owner) as c:
        assert c.get("/api/v1/account").json()["email_verified"] is False
        assert c.get("/api/v1/boards/", params={"all": True}).status_code == 200
        # ...and generates, uploads and creates nothing.
        refusals = [
            c.post("/api/v1/queue/default/enqueue_batch", json={"batch": {}}),
            upload_image(c),
            c.post("/api/v1/boards/", params={"board_name": "mine"}),
            c.post("/api/v1/tenant/invitations", json={"email": unique_email("spam")}),  # no mail from unverified owners
        ]
        for refused in refusals:
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "email_not_verified"
            assert refused.json()["resend"] == "/api/v1/auth/verify-email/resend"

    message = mail_to(smtp.inbox, email, "Verify your e-mail address")[0]
    assert message["From"] and "Pingvas" in message["Subject"] + text_of(message)
    token = link_token(message, "/account/verify")
    done = http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": token})
    assert done.status_code == 200 and done.json() == {"email": email, "verified": True, "trial_started": True}

    assert credits(studio, owner) == 300  # the trial, granted once verified
    with studio.client(owner) as c:
        assert c.get("/api/v1/account").json()["email_verified"] is True
        assert upload_image(c).status_code in (200, 201)
        assert c.post("/api/v1/boards/", params={"board_name": "mine"}).status_code in (200, 201)
        assert c.post("/api/v1/auth/verify-email/resend").status_code == 409  # verified already
    again = http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json()["code"]) == (404, "not_found")  # single use
    assert credits(studio, owner) == 300  # and the trial once


def test_verification_links_expire_and_resending_is_rate_limited(studio: Studio, smtp: SmtpServer) -> None:
    email = unique_email("resend")
    owner = signed_up(studio, email)
    with studio.client(owner) as c:
        sent = [c.post("/api/v1/auth/verify-email/resend") for _ in range(MAIL_LIMIT)]
        assert [r.status_code for r in sent] == [202] * MAIL_LIMIT
        refused = c.post("/api/v1/auth/verify-email/resend")
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert int(refused.headers["retry-after"]) > 0
    messages = mail_to(smtp.inbox, email, "Verify your e-mail address", count=1 + MAIL_LIMIT)
    tokens = [link_token(m, "/account/verify") for m in messages]
    assert len(set(tokens)) == len(tokens)

    with system_scope(), studio.db.begin() as conn:  # a day later
        conn.execute(sa.update(account_tokens).where(account_tokens.c.email == email).values(expires_at=datetime(2020, 1, 1)))
    expired = http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": tokens[-1]})
    assert (expired.status_code, expired.json()["code"]) == (404, "not_found")
    assert credits(studio, owner) == 0
    bad = http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": "x" * 300})
    assert bad.status_code == 422


def test_an_api_key_of_an_unverified_user_is_refused_too(studio: Studio, smtp: SmtpServer) -> None:
    owner = signed_up(studio, unique_email("key"))
    with studio.client(owner) as c:
        key = c.post("/api/v1/tenant/api-keys", json={"name": "ci"})
    assert (key.status_code, key.json()["code"]) == (403, "email_not_verified")


# --- no account enumeration ----------------------------------------------------------------------


def test_signing_up_with_an_existing_address_answers_byte_for_byte_alike(studio: Studio, smtp: SmtpServer) -> None:
    email = unique_email("twice")
    first = sign_up(studio, email)
    second = sign_up(studio, email, password="An0ther!pass")
    assert comparable(first) == comparable(second)
    assert mail_to(smtp.inbox, email, "You already have an account")
    # The second sign-up made nothing: its password signs in nowhere, and the first still works.
    assert http.post(f"{studio.url}/api/v1/auth/login", json={"email": email, "password": "An0ther!pass"}).status_code == 401
    assert studio.login(email, PASSWORD)
    # Told at most once an hour, however often someone tries.
    for _ in range(3):
        assert sign_up(studio, email, password="An0ther!pass").status_code == 202
    time.sleep(1)
    assert len(mail_to(smtp.inbox, email, "You already have an account")) == 1


def test_password_reset_answers_alike_and_sends_only_to_an_account(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("reset"))
    nobody = unique_email("nobody")
    known = http.post(f"{studio.url}/api/v1/auth/password-reset", json={"email": owner.email})
    unknown = http.post(f"{studio.url}/api/v1/auth/password-reset", json={"email": nobody})
    assert known.status_code == 202
    assert comparable(known) == comparable(unknown)
    token = link_token(mail_to(smtp.inbox, owner.email, "Choose a new password")[0], "/account/reset")
    time.sleep(1)
    assert smtp.inbox.to(nobody) == []

    with studio.client(owner) as c:
        api_key = c.post("/api/v1/tenant/api-keys", json={"name": "stays"}).json()["secret"]
    weak = http.post(f"{studio.url}/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422  # the link is not used up by a refused password
    done = http.post(f"{studio.url}/api/v1/auth/password-reset/confirm", json={"token": token, "password": "N3w!password"})
    assert done.status_code == 200, done.text
    fresh = Account(done.json()["token"], owner.user_id, owner.tenant_id, owner.email, "N3w!password")

    # Every older session stops working; the new one and the API key go on.
    assert http.get(f"{studio.url}/api/v1/tenant", headers=owner.headers).status_code == 401
    assert http.get(f"{studio.url}/api/v1/tenant", headers=fresh.headers).status_code == 200
    assert http.get(f"{studio.url}/api/v1/tenant", headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    assert studio.login(owner.email, "N3w!password")
    assert http.post(f"{studio.url}/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD}).status_code == 401
    reused = http.post(f"{studio.url}/api/v1/auth/password-reset/confirm", json={"token": token, "password": "Th1rd!password"})
    assert (reused.status_code, reused.json()["code"]) == (404, "not_found")
    assert mail_to(smtp.inbox, owner.email, "Your password was changed")  # a security notice


def test_password_reset_requests_are_limited_per_address_alike(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("flood"))
    nobody = unique_email("flood-nobody")
    for address in (owner.email, nobody):
        answers = [http.post(f"{studio.url}/api/v1/auth/password-reset", json={"email": address}) for _ in range(MAIL_LIMIT + 1)]
        assert [a.status_code for a in answers] == [202] * MAIL_LIMIT + [429]
    assert len(mail_to(smtp.inbox, owner.email, "Choose a new password", count=MAIL_LIMIT)) == MAIL_LIMIT


# --- invitations ----------------------------------------------------------------------------------


def test_invitations_are_emailed_and_accepting_verifies(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("inviter"))
    invitee, taken = unique_email("invitee"), verified(studio, smtp, unique_email("elsewhere"))
    with studio.client(owner) as c:
        shown = c.post("/api/v1/tenant/invitations", json={"email": invitee}).json()
        c.post("/api/v1/tenant/invitations", json={"email": taken.email})
    message = mail_to(smtp.inbox, invitee, "invited you to Mail Co")[0]
    token = link_token(message, "/invite")
    assert token == shown["token"]  # the inviter still sees the link
    accepted = http.post(f"{studio.url}/api/v1/invitations/accept", json={"token": token, "password": "Matey!pass1"})
    assert accepted.status_code == 201
    member = Account(accepted.json()["token"], accepted.json()["user_id"], owner.tenant_id, invitee)
    with studio.client(member) as c:
        assert c.get("/api/v1/account").json()["email_verified"] is True
    elsewhere = text_of(mail_to(smtp.inbox, taken.email, "invited you to Mail Co")[0])
    assert "already has an account" in elsewhere and "/invite?token=" not in elsewhere


def test_a_workspace_cannot_flood_addresses_with_invitations(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("flooder"))
    with studio.client(owner) as c:
        answers = [c.post("/api/v1/tenant/invitations", json={"email": unique_email("target")}) for _ in range(INVITE_LIMIT + 1)]
    assert [a.status_code for a in answers] == [201] * INVITE_LIMIT + [429]
    assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1].headers["retry-after"]) > 0
    other = verified(studio, smtp, unique_email("neighbour"))  # another workspace's invitations are its own
    with studio.client(other) as c:
        assert c.post("/api/v1/tenant/invitations", json={"email": unique_email("friend")}).status_code == 201


# --- notices --------------------------------------------------------------------------------------


def test_low_credits_are_told_once_per_period_to_those_who_want_it(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("low"))
    admin_email = unique_email("low-admin")
    admin = studio.join(owner, admin_email, role="admin")
    with studio.client(admin) as c:
        prefs = c.patch("/api/v1/account/notices", json={"low_credits": False})
        assert prefs.json() == {"low_credits": False, "payment_failed": True, "subscription": True, "suspension": True}
        assert c.get("/api/v1/account").json()["notices"]["low_credits"] is False
    ledger = CreditLedger(studio.db)
    for i, amount in enumerate((-200, -75, -10)):  # 300 → 100 → 25 (under 10 %: told) → 15 (not again)
        with system_scope(), studio.db.begin() as conn:
            ledger.post(conn, owner.tenant_id or "", EntryKind.USAGE, amount, f"test-debit:{owner.tenant_id}:{i}", reason="test")
    notice = mail_to(smtp.inbox, owner.email, "running low on credits")[0]
    assert "25 credits left" in text_of(notice) and f"{PUBLIC_URL}/account/notices" in text_of(notice)
    time.sleep(1.5)
    assert len(mail_to(smtp.inbox, owner.email, "running low on credits")) == 1
    assert not [m for m in smtp.inbox.to(admin_email) if "running low" in m["Subject"]]


def test_billing_changes_are_told_once_however_often_they_are_delivered(
    studio: Studio, smtp: SmtpServer, lemonsqueezy: LemonSqueezyStandIn
) -> None:
    owner = verified(studio, smtp, unique_email("billing"))
    tenant_id = owner.tenant_id or ""
    with studio.client(owner) as c:
        checkout = c.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "month"})
    assert checkout.status_code == 200, checkout.text
    custom, clock, sub_id = lemonsqueezy.custom_data[checkout.json()["url"]], Clock(), str(time.time_ns() % 10**9)
    created = subscription_event("subscription_created", tenant_id, sub_id, PRO, "active", clock.tick(), None, custom)
    paid = invoice_event("subscription_payment_success", tenant_id, f"{sub_id}1", sub_id, clock.tick(), "initial", custom)
    failed = invoice_event("subscription_payment_failed", tenant_id, f"{sub_id}2", sub_id, clock.tick(), "renewal", custom)
    cancelled = subscription_event("subscription_cancelled", tenant_id, sub_id, PRO, "cancelled", clock.tick(), clock.tick(), custom)
    for event in (created, created, paid, failed, failed, cancelled, cancelled):  # each replayed: told once
        deliver(studio, event)
    assert "Pro subscription is active" in text_of(mail_to(smtp.inbox, owner.email, "is on the Pro plan")[0])
    assert "Generation stops on" in text_of(mail_to(smtp.inbox, owner.email, "A payment for Mail Co failed")[0])
    assert mail_to(smtp.inbox, owner.email, "subscription was cancelled")
    time.sleep(1.5)
    subjects = [m["Subject"] for m in smtp.inbox.to(owner.email) if "Verify" not in m["Subject"]]
    assert len(subjects) == 3, subjects


def test_a_suspension_is_told_to_owners(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("suspend"))
    operator = studio.operator(unique_email("ops"))
    with studio.client(operator) as c:
        assert c.patch(f"/api/v1/admin/tenants/{owner.tenant_id}", json={"status": "suspended"}).status_code == 200
    assert "suspended" in text_of(mail_to(smtp.inbox, owner.email, "is suspended")[0])


def test_changing_the_address_takes_effect_at_its_link_and_tells_the_old_one(studio: Studio, smtp: SmtpServer) -> None:
    owner = verified(studio, smtp, unique_email("old"))
    new = unique_email("new")
    with studio.client(owner) as c:
        wrong = c.post("/api/v1/account/email", json={"email": new, "password": "not-it"})
        assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden")
        assert c.post("/api/v1/account/email", json={"email": new, "password": PASSWORD}).status_code == 202
        assert c.get("/api/v1/account").json()["email"] == owner.email  # not until the link is opened
    token = link_token(mail_to(smtp.inbox, new, "Verify your e-mail address")[0], "/account/verify")
    changed = {"email": new, "verified": True, "trial_started": False}  # the workspace had its trial
    assert http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": token}).json() == changed
    assert mail_to(smtp.inbox, owner.email, "Your e-mail address was changed")
    assert studio.login(new, PASSWORD)


def test_a_message_committed_before_a_kill_9_is_sent_once_after_restart(studio: Studio, smtp: SmtpServer) -> None:
    """The sign-up commits its message; the SMTP server refuses it for now; the pod dies; the next one sends it."""
    email = unique_email("killed")
    smtp.inbox.refuse = 10**6
    try:
        assert sign_up(studio, email).status_code == 202
        studio.wait_for(lambda: _attempts(studio, email) >= 1, timeout=MAIL_TIMEOUT_S)
        assert studio.process is not None
        studio.process.send_signal(signal.SIGKILL)
        studio.process.wait(timeout=30)
    finally:
        smtp.inbox.refuse = 0
    studio.start()
    message = mail_to(smtp.inbox, email, "Verify your e-mail address")[0]
    time.sleep(2)
    assert smtp.inbox.to(email) == [message]
    assert http.post(f"{studio.url}/api/v1/auth/verify-email", json={"token": link_token(message, "/account/verify")}).status_code == 200


def _attempts(studio: Studio, email: str) -> int:
    with system_scope(), studio.db.begin() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(mail_outbox.c.attempts), 0))
                                .where(mail_outbox.c.recipient == email)).scalar_one())
