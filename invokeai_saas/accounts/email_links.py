"""What an account does by e-mail: verify an address, reset a password, change the address, choose notices.

Every link is a single-use secret (stored hashed in `account_tokens`) for one user, one purpose and
one address: 24 hours to verify an address, 30 minutes to reset a password. Opening a verification
link marks the address verified and, for a new workspace's owner, grants the trial's credits (once:
the grant's ledger key). A changed address is written only when its link is opened; the old address
is told. A password reset signs every session of that user out (their token epoch moves on); API
keys stay. A reset request answers the same whether or not an account uses the address.
"""

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from invokeai.app.services.auth.password_utils import verify_password
from pydantic import BaseModel

from invokeai_saas.accounts.creation import (
    SignedIn,
    check_password,
    issue_token,
    normalize_email,
    sha256,
    slow_hash,
    user_with_email,
)
from invokeai_saas.accounts.rate_limits import AbuseLimits
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.tenancy import account_tokens as tok
from invokeai_saas.db.tables.tenancy import users
from invokeai_saas.mail.notices import NoticeKind, muted, send
from invokeai_saas.money.ledger import CreditLedger
from tenant_middleware.context import Principal, TenantRole, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

VERIFY, RESET = "verify_email", "reset_password"
VERIFY_TTL, RESET_TTL = timedelta(hours=24), timedelta(minutes=30)
LINK_GONE = "This link is invalid, already used or expired"
RESET_SENT = ("If an account uses this address, we sent it a link to choose a new password. "
              "The link works for 30 minutes.")
# Told when a user's sign-in changed here (verified, password reset): forget their cached principal, drop their sockets.
UserChanged = Callable[[str], None]


class NoticePrefs(BaseModel):
    low_credits: bool = True
    payment_failed: bool = True
    subscription: bool = True
    suspension: bool = True


class NoticeChanges(BaseModel):
    low_credits: bool | None = None
    payment_failed: bool | None = None
    subscription: bool | None = None
    suspension: bool | None = None


class AccountInfo(BaseModel):
    user_id: str
    email: str
    email_verified: bool
    notices: NoticePrefs


def new_link(conn: sa.Connection, user_id: str, purpose: str, email: str, ttl: timedelta) -> str:
    token, now = secrets.token_urlsafe(32), utcnow()
    conn.execute(sa.insert(tok).values(token_hash=sha256(token), user_id=user_id, purpose=purpose, email=email,
                                       created_at=now, expires_at=now + ttl))
    return token


def use_link(conn: sa.Connection, token: str, purpose: str) -> sa.Row:
    """Marks the link used and returns (user_id, email); a 404 if it is unknown, used or expired."""
    now = utcnow()
    row = conn.execute(
        sa.update(tok)
        .where(tok.c.token_hash == sha256(token), tok.c.purpose == purpose, tok.c.used_at.is_(None), tok.c.expires_at > now)
        .values(used_at=now)
        .returning(tok.c.user_id, tok.c.email)
    ).first()
    if row is None:
        raise ServiceError(ErrorCode.NOT_FOUND, LINK_GONE)
    return row


def retire_links(conn: sa.Connection, user_id: str, purpose: str) -> None:
    conn.execute(sa.update(tok).where(tok.c.user_id == user_id, tok.c.purpose == purpose, tok.c.used_at.is_(None))
                 .values(used_at=utcnow()))


def send_verification(conn: sa.Connection, user_id: str, email: str, changing: bool = False) -> None:
    token = new_link(conn, user_id, VERIFY, email, VERIFY_TTL)
    text = ("Open this link to make it the address of your account. Until then your account keeps its current address."
            if changing else "Open this link to verify your address. Your workspace's trial credits start then, "
            "and you can generate and upload.")
    send(conn, f"verify:{sha256(token)}", email, "Verify your e-mail address",
         f"{text}\n\nThe link works for 24 hours. If you did not ask for this, ignore this message.",
         f"/account/verify?token={token}", "Verify my address")


def send_account_exists(conn: sa.Connection, user_id: str, email: str, now: datetime) -> None:
    """Told instead of a second sign-up with this address (at most once an hour: keyed by the hour)."""
    send(conn, f"exists:{user_id}:{now:%Y%m%d%H}", email, "You already have an account",
         "Someone, probably you, tried to sign up with this address, which already has an account. "
         "Sign in instead; if you forgot your password, choose a new one from the sign-in page.\n\n"
         "If it was not you, you need not do anything.", "/login", "Sign in")


def security_notice(conn: sa.Connection, key: str, email: str, title: str, text: str) -> None:
    """Sent whatever the user's notice preferences: they cannot be turned off."""
    send(conn, key, email, title, f"{text}\n\nIf this was not you, choose a new password from the sign-in page "
         "at once and write to support.", "/login", "Sign in")


class EmailAccounts:
    def __init__(self, db: Database, limits: AbuseLimits, ledger: CreditLedger | None = None) -> None:
        self._db = db
        self._limits = limits
        self.trusted_proxies = limits.trusted_proxies  # whose X-Forwarded-For names the client
        self._ledger = ledger  # a new workspace's trial credits; None: no trial
        self.on_user_changed: UserChanged = lambda _user_id: None

    # --- verification -----------------------------------------------------------------------

    def verify(self, token: str) -> tuple[str, bool]:
        """Opens a verification link; returns the address it verified, and whether a trial started."""
        trial_started = False
        with system_scope(), self._db.begin() as conn:
            link = use_link(conn, token, VERIFY)
            user = conn.execute(sa.select(users).where(users.c.user_id == link.user_id)).one()
            values: dict[str, object] = {"email_verified_at": utcnow(), "updated_at": utcnow()}
            if link.email != user.email:
                self._change_address(conn, user, link.email)
                values["email"] = link.email
            conn.execute(sa.update(users).where(users.c.user_id == user.user_id).values(**values))
            retire_links(conn, user.user_id, VERIFY)
            if user.tenant_role == TenantRole.OWNER.value and user.tenant_id and self._ledger is not None:
                trial_started = self._ledger.start_trial(conn, user.tenant_id)  # once per workspace: the grant's key
        self.on_user_changed(link.user_id)
        return str(link.email), trial_started

    @staticmethod
    def _change_address(conn: sa.Connection, user: sa.Row, new_email: str) -> None:
        if user_with_email(conn, new_email) not in (None, user.user_id):
            raise ServiceError(ErrorCode.EMAIL_TAKEN, "Another account uses this address now; it cannot become yours")
        security_notice(conn, f"email-changed:{user.user_id}:{sha256(new_email)}:{utcnow():%Y%m%d%H%M%S}", user.email,
                        "Your e-mail address was changed", f"Your account's address is now {new_email}; "
                        "messages go there from now on.")

    def resend(self, actor: Principal) -> str:
        """A new verification link to the caller's address (rate-limited per user); returns the address."""
        self._limits.check_mail_to_self(actor.user_id)
        with system_scope(), self._db.begin() as conn:
            user = conn.execute(sa.select(users.c.email, users.c.email_verified_at).where(users.c.user_id == actor.user_id)).one()
            if user.email_verified_at is not None:
                raise ServiceError(ErrorCode.CONFLICT, "Your address is verified already")
            send_verification(conn, actor.user_id, user.email)
        return str(user.email)

    def request_email_change(self, actor: Principal, new_email: str, password: str) -> str:
        """Sends a link to the new address; the address changes when it is opened. Answers the same
        whether or not the new address has an account (its owner is the one to find out, at the link)."""
        new_email = normalize_email(new_email)
        with system_scope(), self._db.read() as conn:
            user = conn.execute(sa.select(users.c.email, users.c.password_hash).where(users.c.user_id == actor.user_id)).one()
        if not verify_password(password, user.password_hash):
            raise ServiceError(ErrorCode.FORBIDDEN, "Your current password is not right")
        if new_email == user.email:
            raise ServiceError(ErrorCode.INVALID_INPUT, "That is your address already")
        self._limits.check_mail_to_self(actor.user_id)
        with system_scope(), self._db.begin() as conn:
            send_verification(conn, actor.user_id, new_email, changing=True)
        return new_email

    # --- password reset ---------------------------------------------------------------------

    def request_password_reset(self, email: str, client: str) -> None:
        email = normalize_email(email)
        self._limits.check_password_reset(client, email)
        with system_scope(), self._db.begin() as conn:
            user = conn.execute(
                sa.select(users.c.user_id).where(sa.func.lower(users.c.email) == email, users.c.is_active,
                                                 users.c.tenant_id.is_not(None) | users.c.is_admin)
            ).first()
            if user is None:
                return
            token = new_link(conn, user.user_id, RESET, email, RESET_TTL)
            send(conn, f"reset:{sha256(token)}", email, "Choose a new password",
                 "Someone, probably you, asked to reset the password of your account. Open this link within "
                 "30 minutes to choose a new one; it works once.\n\nIf you did not ask, ignore this message: "
                 "your password stays as it is.", f"/account/reset?token={token}", "Choose a new password")

    def confirm_password_reset(self, token: str, password: str) -> SignedIn:
        check_password(password)
        password_hash = slow_hash(password)
        now = utcnow()
        with system_scope(), self._db.begin() as conn:
            link = use_link(conn, token, RESET)
            user = conn.execute(sa.select(users).where(users.c.user_id == link.user_id)).one()
            if link.email != user.email:  # the address changed since the link was sent
                raise ServiceError(ErrorCode.NOT_FOUND, LINK_GONE)
            conn.execute(
                sa.update(users).where(users.c.user_id == user.user_id).values(
                    password_hash=password_hash, token_epoch=users.c.token_epoch + 1, updated_at=now,
                    email_verified_at=sa.func.coalesce(users.c.email_verified_at, now),  # the link proved the address
                )
            )
            retire_links(conn, user.user_id, RESET)
            epoch = conn.execute(sa.select(users.c.token_epoch).where(users.c.user_id == user.user_id)).scalar_one()
            security_notice(conn, f"password-reset:{sha256(token)}", user.email, "Your password was changed",
                            "The password of your account was changed with a reset link, and every session "
                            "signed in with the old one was signed out. API keys still work.")
            unverified_owner = user.email_verified_at is None and user.tenant_role == TenantRole.OWNER.value
            if unverified_owner and user.tenant_id and self._ledger is not None:
                self._ledger.start_trial(conn, user.tenant_id)
        self.on_user_changed(user.user_id)
        return SignedIn(issue_token(user.user_id, user.email, token_epoch=int(epoch)), user.user_id, user.tenant_id)

    # --- the account's own settings --------------------------------------------------------

    def account(self, actor: Principal) -> AccountInfo:
        with system_scope(), self._db.read() as conn:
            row = conn.execute(
                sa.select(users.c.user_id, users.c.email, users.c.email_verified_at, users.c.muted_notices)
                .where(users.c.user_id == actor.user_id)
            ).one()
        off = muted(row.muted_notices)
        prefs = NoticePrefs(**{kind.value: kind.value not in off for kind in NoticeKind})
        return AccountInfo(user_id=row.user_id, email=row.email, email_verified=row.email_verified_at is not None,
                           notices=prefs)

    def set_notices(self, actor: Principal, changes: NoticeChanges) -> NoticePrefs:
        with system_scope(), self._db.begin() as conn:
            stored = conn.execute(
                sa.select(users.c.muted_notices).where(users.c.user_id == actor.user_id).with_for_update()
            ).scalar_one()
            off = muted(stored)
            for kind, wanted in changes.model_dump(exclude_none=True).items():
                (off.discard if wanted else off.add)(kind)
            conn.execute(sa.update(users).where(users.c.user_id == actor.user_id)
                         .values(muted_notices=json.dumps(sorted(off)), updated_at=utcnow()))
        return NoticePrefs(**{kind.value: kind.value not in off for kind in NoticeKind})
