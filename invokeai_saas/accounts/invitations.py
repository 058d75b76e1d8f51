"""Invitations: owners and admins invite by e-mail, list what is pending, revoke; the invitee accepts.

An invitation is a one-time secret (stored hashed) for one e-mail and role. Accepting re-checks
everything that could have changed since it was sent: the workspace is still active, and the
inviter is still a member with the right to invite that role (an admin never makes an owner).
"""

import secrets
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel

from invokeai_saas.accounts import audit
from invokeai_saas.accounts.creation import (
    SignedIn,
    assert_email_free,
    check_name,
    check_password,
    insert_user,
    issue_token,
    normalize_email,
    sha256,
    slow_hash,
    user_with_email,
)
from invokeai_saas.accounts.rate_limits import AbuseLimits
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.tenancy import tenant_invitations as inv_t
from invokeai_saas.db.tables.tenancy import tenants, users
from invokeai_saas.mail.notices import send
from tenant_middleware.context import Principal, TenantRole, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

NOT_FOUND_DETAIL = "Invitation not found, already used, revoked or expired"
MANAGERS = (TenantRole.OWNER, TenantRole.ADMIN)


class Invitation(BaseModel):
    invitation_id: str
    email: str
    role: TenantRole
    expires_at: datetime
    token: str


class PendingInvitation(BaseModel):
    invitation_id: str
    email: str
    role: TenantRole
    invited_by: str
    created_at: datetime
    expires_at: datetime


def may_invite(inviter_role: TenantRole | None, role: TenantRole) -> bool:
    if inviter_role not in MANAGERS:
        return False
    return role != TenantRole.OWNER or inviter_role == TenantRole.OWNER


def _assert_may_invite(actor: Principal, role: TenantRole) -> None:
    if actor.role not in MANAGERS:
        raise ServiceError(ErrorCode.FORBIDDEN, "Only workspace owners and admins can manage invitations")
    if not may_invite(actor.role, role):
        raise ServiceError(ErrorCode.FORBIDDEN, "Only a workspace owner can invite an owner")


def _pending(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(inv_t.c.accepted_at.is_(None), inv_t.c.revoked_at.is_(None), inv_t.c.expires_at >= now)


class InvitationService:
    def __init__(self, db: Database, ttl: timedelta = timedelta(hours=72), limits: AbuseLimits | None = None) -> None:
        self._db = db
        self._ttl = ttl
        self._limits = limits  # invitations per workspace: each is an e-mail to an address of the inviter's choosing

    def invite(self, actor: Principal, email: str, role: TenantRole) -> Invitation:
        """The invitation, e-mailed to the invitee. Answered alike whether or not the address has an
        account: only its owner is told (by that e-mail) that it cannot join with it."""
        _assert_may_invite(actor, role)
        email = normalize_email(email)
        if self._limits is not None:
            self._limits.check_invitation(actor.tenant_id or "")
        token, now = secrets.token_urlsafe(32), utcnow()
        invitation_id, expires_at = str(uuid.uuid4()), now + self._ttl
        with system_scope(), self._db.begin() as conn:
            conn.execute(
                sa.insert(inv_t).values(
                    invitation_id=invitation_id, tenant_id=actor.tenant_id, email=email, role=role.value,
                    token_hash=sha256(token), invited_by=actor.user_id, expires_at=expires_at, created_at=now,
                )
            )
            audit.record(conn, "created", "invitation", [(invitation_id, None)], {"email": email, "role": role.value},
                         tenant_id=actor.tenant_id)
            _mail_invitation(conn, invitation_id, token, email, role, actor, expires_at)
        return Invitation(invitation_id=invitation_id, email=email, role=role, expires_at=expires_at, token=token)

    def list_pending(self, actor: Principal) -> list[PendingInvitation]:
        if actor.role not in MANAGERS:
            raise ServiceError(ErrorCode.FORBIDDEN, "Only workspace owners and admins can manage invitations")
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(
                sa.select(inv_t.c.invitation_id, inv_t.c.email, inv_t.c.role, inv_t.c.invited_by, inv_t.c.created_at,
                          inv_t.c.expires_at)
                .where(inv_t.c.tenant_id == actor.tenant_id, _pending(utcnow()))
                .order_by(inv_t.c.created_at, inv_t.c.invitation_id)
            ).all()
        return [PendingInvitation.model_validate(r._asdict()) for r in rows]

    def revoke(self, actor: Principal, invitation_id: str) -> None:
        with system_scope(), self._db.begin() as conn:
            row = conn.execute(
                sa.select(inv_t.c.role).where(
                    inv_t.c.invitation_id == invitation_id, inv_t.c.tenant_id == actor.tenant_id, _pending(utcnow())
                )
            ).first()
            if row is None or actor.tenant_id is None:
                raise ServiceError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
            _assert_may_invite(actor, TenantRole(row.role))
            conn.execute(sa.update(inv_t).where(inv_t.c.invitation_id == invitation_id).values(revoked_at=utcnow()))
            audit.record(conn, "revoked", "invitation", [(invitation_id, None)], tenant_id=actor.tenant_id)

    def accept(self, token: str, password: str, display_name: str | None = None) -> SignedIn:
        check_password(password)
        if display_name is not None:
            display_name = check_name(display_name, "Display name")
        password_hash = slow_hash(password)
        now, user_id = utcnow(), str(uuid.uuid4())
        with system_scope(), self._db.begin() as conn:
            inv = conn.execute(sa.select(inv_t).where(inv_t.c.token_hash == sha256(token), _pending(now))).first()
            if inv is None:
                raise ServiceError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
            self._assert_still_valid(conn, inv)
            assert_email_free(conn, inv.email)
            claimed = conn.execute(
                sa.update(inv_t).where(inv_t.c.invitation_id == inv.invitation_id, _pending(now)).values(accepted_at=now)
            ).rowcount
            if not claimed:
                raise ServiceError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
            insert_user(conn, user_id, inv.email, password_hash, inv.tenant_id, TenantRole(inv.role), now,
                        display_name=display_name)
        return SignedIn(issue_token(user_id, inv.email), user_id, inv.tenant_id)

    @staticmethod
    def _assert_still_valid(conn: sa.Connection, inv: sa.Row) -> None:
        status = conn.execute(sa.select(tenants.c.status).where(tenants.c.tenant_id == inv.tenant_id)).scalar_one_or_none()
        if status != "active":
            raise ServiceError(ErrorCode.TENANT_SUSPENDED, "This workspace is suspended; it cannot take new members")
        inviter_role = conn.execute(
            sa.select(users.c.tenant_role).where(
                users.c.user_id == inv.invited_by, users.c.tenant_id == inv.tenant_id, users.c.is_active
            )
        ).scalar_one_or_none()
        if not may_invite(TenantRole(inviter_role) if inviter_role else None, TenantRole(inv.role)):
            raise ServiceError(ErrorCode.FORBIDDEN, "This invitation is no longer valid: its sender can no longer invite this role")


def _mail_invitation(conn: sa.Connection, invitation_id: str, token: str, email: str, role: TenantRole,
                     actor: Principal, expires_at: datetime) -> None:
    workspace = conn.execute(sa.select(tenants.c.name).where(tenants.c.tenant_id == actor.tenant_id)).scalar_one()
    inviter = conn.execute(
        sa.select(sa.func.coalesce(users.c.display_name, users.c.email)).where(users.c.user_id == actor.user_id)
    ).scalar_one()
    key, title = f"invitation:{invitation_id}", f"{inviter} invited you to {workspace}"
    if user_with_email(conn, email) is not None:
        send(conn, key, email, title,
             f"{inviter} invited this address to join the workspace {workspace} as {role.value}. This address already "
             "has an account, and an account belongs to one workspace: to join, ask them to invite another address of yours.")
        return
    send(conn, key, email, title,
         f"{inviter} invited you to join the workspace {workspace} as {role.value}. Open the link to choose a password "
         f"and join; it works until {expires_at:%Y-%m-%d %H:%M} UTC.", f"/invite?token={token}", "Join the workspace")
