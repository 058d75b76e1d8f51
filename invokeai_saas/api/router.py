"""Pingvas' own HTTP routes: signup, the caller's tenant, members, invitations, API keys, operator actions.

Workspace administration (members, invitations, API keys) needs a signed-in session: an API key
acts for generation, gallery, boards and workflows only, so it can never mint or manage keys.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from invokeai_saas.accounts.audit import AuditLog, AuditPage
from invokeai_saas.accounts.creation import normalize_email
from invokeai_saas.accounts.email_links import RESET_SENT, AccountInfo, EmailAccounts, NoticeChanges, NoticePrefs
from invokeai_saas.accounts.rate_limits import client_address
from invokeai_saas.accounts.invitations import InvitationService, PendingInvitation
from invokeai_saas.accounts.tenancy import ApiKeyInfo, CreatedApiKey, Member, TenancyService, TenantSummary
from tenant_middleware.context import Principal, TenantRole, current_principal
from tenant_middleware.errors import ErrorCode, ServiceError


class SignupRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    workspace_name: str = Field(max_length=1024)


class SignedInResponse(BaseModel):
    token: str
    user_id: str
    tenant_id: str | None


class CheckYourMail(BaseModel):
    detail: str
    email: str


class TokenRequest(BaseModel):
    token: str = Field(max_length=256)


class Verified(BaseModel):
    email: str
    verified: bool = True
    trial_started: bool  # this link started the workspace's trial (a new owner's first verification)


class Sent(BaseModel):
    detail: str


class PasswordResetRequest(BaseModel):
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    token: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class EmailChangeRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RoleChange(BaseModel):
    role: TenantRole


class InvitationRequest(BaseModel):
    email: str = Field(max_length=320)
    role: TenantRole = TenantRole.MEMBER


class InvitationResponse(BaseModel):
    invitation_id: str
    email: str
    role: TenantRole
    expires_at: str
    token: str
    url: str


class AcceptInvitationRequest(BaseModel):
    token: str = Field(max_length=256)
    password: str = Field(max_length=1024)
    display_name: str | None = Field(default=None, max_length=1024)


class ApiKeyRequest(BaseModel):
    name: str = Field(max_length=1024)


class Deleted(BaseModel):
    id: str
    deleted: bool = True


class SetupStatus(BaseModel):
    setup_required: bool
    multiuser_enabled: bool
    strict_password_checking: bool = True
    admin_email: str | None = None


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise ServiceError(ErrorCode.UNAUTHORIZED, "Sign in, or send an API key, to use this route")
    return principal


def require_member() -> Principal:
    principal = require_principal()
    if principal.tenant_id is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "You are not a member of a workspace")
    return principal


def require_operator() -> Principal:
    principal = require_principal()
    if not principal.is_operator:
        raise ServiceError(ErrorCode.FORBIDDEN, "Platform operators only")
    return principal


def require_signed_in_member() -> Principal:
    principal = require_member()
    if principal.api_key_id is not None:
        raise ServiceError(ErrorCode.FORBIDDEN, "API keys cannot administer a workspace; sign in to manage members, invitations and keys")
    return principal


def require_session() -> Principal:
    principal = require_principal()
    if principal.api_key_id is not None:
        raise ServiceError(ErrorCode.FORBIDDEN, "API keys cannot manage accounts; sign in to do this")
    return principal


Member_ = Annotated[Principal, Depends(require_member)]
SignedIn_ = Annotated[Principal, Depends(require_session)]
SignedInMember = Annotated[Principal, Depends(require_signed_in_member)]


def auth_overrides_router() -> APIRouter:
    """Two of InvokeAI's auth routes, answered differently: they must be matched before InvokeAI's."""
    router = APIRouter(prefix="/api/v1", tags=["pingvas"])

    @router.get("/auth/status", response_model=SetupStatus)
    def auth_status() -> SetupStatus:
        # Operators are created with `pingvas create-operator`, never through the web setup page.
        return SetupStatus(setup_required=False, multiuser_enabled=True)

    @router.post("/auth/setup", include_in_schema=False)
    def auth_setup() -> None:
        raise ServiceError(ErrorCode.FORBIDDEN, "Platform operators are created with `pingvas create-operator`")

    return router


def build_router(tenancy: TenancyService, invitations: InvitationService, audit_log: AuditLog, emails: EmailAccounts) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["pingvas"])

    @router.post(
        "/signup", status_code=status.HTTP_201_CREATED, response_model=SignedInResponse,
        responses={202: {"model": CheckYourMail, "description": "E-mail verification is on: check your e-mail, then sign in"}},
    )
    def signup(body: SignupRequest) -> SignedInResponse | JSONResponse:
        done = tenancy.signup(body.email, body.password, body.workspace_name)
        if done is None:  # the same answer whether or not the address had an account
            email = normalize_email(body.email)
            detail = f"We sent a link to {email}. Open it to verify your address and start your trial."
            return JSONResponse(CheckYourMail(detail=detail, email=email).model_dump(), status_code=status.HTTP_202_ACCEPTED)
        return SignedInResponse(token=done.token, user_id=done.user_id, tenant_id=done.tenant_id)

    @router.post("/auth/verify-email", response_model=Verified)
    def verify_email(body: TokenRequest) -> Verified:
        email, trial_started = emails.verify(body.token)
        return Verified(email=email, trial_started=trial_started)

    @router.post("/auth/verify-email/resend", status_code=status.HTTP_202_ACCEPTED, response_model=Sent)
    def resend_verification(me: SignedIn_) -> Sent:
        return Sent(detail=f"We sent a new link to {emails.resend(me)}. It works for 24 hours.")

    @router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=Sent)
    def request_password_reset(body: PasswordResetRequest, request: Request) -> Sent:
        emails.request_password_reset(body.email, client_address(request.scope, emails.trusted_proxies))
        return Sent(detail=RESET_SENT)

    @router.post("/auth/password-reset/confirm", response_model=SignedInResponse)
    def confirm_password_reset(body: PasswordResetConfirm) -> SignedInResponse:
        done = emails.confirm_password_reset(body.token, body.password)
        return SignedInResponse(token=done.token, user_id=done.user_id, tenant_id=done.tenant_id)

    @router.get("/account", response_model=AccountInfo)
    def read_account(me: SignedIn_) -> AccountInfo:
        return emails.account(me)

    @router.patch("/account/notices", response_model=NoticePrefs)
    def change_notices(body: NoticeChanges, me: SignedIn_) -> NoticePrefs:
        return emails.set_notices(me, body)

    @router.post("/account/email", status_code=status.HTTP_202_ACCEPTED, response_model=Sent)
    def change_email(body: EmailChangeRequest, me: SignedIn_) -> Sent:
        email = emails.request_email_change(me, body.email, body.password)
        return Sent(detail=f"We sent a link to {email}. Your address changes when you open it.")

    @router.get("/tenant", response_model=TenantSummary)
    def get_tenant(me: Member_) -> TenantSummary:
        return tenancy.summary(me.tenant_id or "")

    @router.get("/tenant/members", response_model=list[Member])
    def list_members(me: SignedInMember) -> list[Member]:
        return tenancy.list_members(me.tenant_id or "")

    @router.patch("/tenant/members/{user_id}", response_model=Member)
    def change_role(user_id: str, body: RoleChange, me: SignedInMember) -> Member:
        return tenancy.change_role(me, user_id, body.role)

    # Deletions answer 200 with a body: InvokeAI's gzip + sliding-token middlewares mishandle empty 204s.
    @router.delete("/tenant/members/{user_id}", response_model=Deleted)
    def remove_member(user_id: str, me: SignedInMember) -> Deleted:
        tenancy.remove_member(me, user_id)
        return Deleted(id=user_id)

    @router.post("/tenant/invitations", status_code=status.HTTP_201_CREATED, response_model=InvitationResponse)
    def invite(body: InvitationRequest, me: SignedInMember) -> InvitationResponse:
        inv = invitations.invite(me, body.email, body.role)
        return InvitationResponse(
            invitation_id=inv.invitation_id, email=inv.email, role=inv.role, expires_at=inv.expires_at.isoformat(),
            token=inv.token, url=f"/invite?token={inv.token}",
        )

    @router.get("/tenant/invitations", response_model=list[PendingInvitation])
    def list_invitations(me: SignedInMember) -> list[PendingInvitation]:
        return invitations.list_pending(me)

    @router.delete("/tenant/invitations/{invitation_id}", response_model=Deleted)
    def revoke_invitation(invitation_id: str, me: SignedInMember) -> Deleted:
        invitations.revoke(me, invitation_id)
        return Deleted(id=invitation_id)

    @router.post("/invitations/accept", status_code=status.HTTP_201_CREATED, response_model=SignedInResponse)
    def accept_invitation(body: AcceptInvitationRequest) -> SignedInResponse:
        done = invitations.accept(body.token, body.password, body.display_name)
        return SignedInResponse(token=done.token, user_id=done.user_id, tenant_id=done.tenant_id)

    @router.get("/tenant/audit", response_model=AuditPage)
    def read_audit_log(
        me: SignedInMember,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> AuditPage:
        return audit_log.page(me, offset, limit)

    @router.get("/tenant/api-keys", response_model=list[ApiKeyInfo])
    def list_api_keys(me: SignedInMember) -> list[ApiKeyInfo]:
        return tenancy.list_api_keys(me)

    @router.post("/tenant/api-keys", status_code=status.HTTP_201_CREATED, response_model=CreatedApiKey)
    def create_api_key(body: ApiKeyRequest, me: SignedInMember) -> CreatedApiKey:
        return tenancy.create_api_key(me, body.name)

    @router.delete("/tenant/api-keys/{api_key_id}", response_model=Deleted)
    def revoke_api_key(api_key_id: str, me: SignedInMember) -> Deleted:
        tenancy.revoke_api_key(me, api_key_id)
        return Deleted(id=api_key_id)

    return router
