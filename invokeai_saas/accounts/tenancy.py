"""Tenants (workspaces), their members and API keys; who a credential stands for.

A user belongs to exactly one tenant; platform operators (InvokeAI's `is_admin`) belong to none
and tenant owners never get `is_admin`. API keys are stored as a SHA-256 hash with a visible prefix.
Invitations live beside this (`accounts/invitations.py`), what every account creation shares in `creation.py`.
Membership changes lock the tenant's row first, so two owners demoting or removing each other at
once cannot leave a workspace without an owner.
"""

import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from invokeai.app.services.auth.token_service import TokenData, create_access_token
from pydantic import BaseModel

from billing.entitlements import entitlements, parse_overrides
from billing.plans import PLANS
from invokeai_saas.accounts import audit, email_links
from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.accounts.creation import (
    EMAIL_TAKEN_DETAIL,
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
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.tenancy import api_keys, tenants, users
from invokeai_saas.mail.notices import NoticeKind, notify_managers
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.money.subscriptions import Subscription, latest_subscription
from invokeai_saas.core.ttl_cache import TtlCache
from tenant_middleware.context import Principal, TenantRole, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

API_KEY_PREFIX = "pvk_"
MEMBERSHIP_TTL_S = 600.0  # bounded in size by TtlCache; a user's tenant never changes
# Built once: read on every request whose principal is not cached (in system scope: no tenant is known yet).
_PRINCIPAL = (
    sa.select(users.c.user_id, users.c.is_admin, users.c.tenant_id, users.c.tenant_role, users.c.token_epoch, tenants.c.status,
              users.c.email_verified_at)
    .select_from(users.outerjoin(tenants, tenants.c.tenant_id == users.c.tenant_id))
    .where(users.c.user_id == sa.bindparam("user_id"), users.c.is_active)
)
_MEMBERSHIP = sa.select(users.c.tenant_id, users.c.is_admin).where(users.c.user_id == sa.bindparam("user_id"))
# Told when a user's access changes (removed, role changed): (user_id, is_active). The app emits
# InvokeAI's user-access-changed event from it, so the user's open sockets are re-checked at once.
AccessChanged = Callable[[str, bool], None]


class TenantSummary(BaseModel):
    id: str
    name: str
    plan: str
    status: str
    member_count: int
    features: list[str]
    credits: int  # the balance: may be below zero by at most the items that were running when it crossed zero
    storage_bytes: int  # images with their thumbnails, and videos
    concurrent_queues: int | None  # None: unlimited
    storage_limit_bytes: int | None  # None: unlimited (an enterprise contract without a quota)
    trial_ends_at: datetime | None
    billing_hold_at: datetime | None  # a payment failed: generation is refused from then on
    subscription: Subscription | None


class Member(BaseModel):
    user_id: str
    email: str
    display_name: str | None
    role: TenantRole
    is_active: bool
    created_at: datetime


class ApiKeyInfo(BaseModel):
    api_key_id: str
    user_id: str  # who created it, and whom it acts as: they (or an owner or admin) may revoke it
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedApiKey(ApiKeyInfo):
    secret: str


class TenancyService:
    def __init__(
        self, db: Database, default_plan: str = "starter", cache: AccountCache | None = None, ledger: CreditLedger | None = None,
        verify_email: bool = False,
    ) -> None:
        self._db = db
        self._ledger = ledger  # a new workspace's trial credits; None: no trial
        self.verify_email = verify_email  # PINGVAS_EMAIL_VERIFICATION=required: the trial waits for the owner's link
        self._default_plan = default_plan
        self._cache = cache or AccountCache()
        self._membership: TtlCache[tuple[str | None, bool]] = TtlCache(MEMBERSHIP_TTL_S)
        self.on_access_changed: AccessChanged = lambda _user_id, _is_active: None

    # --- accounts -------------------------------------------------------------------------

    def signup(self, email: str, password: str, workspace_name: str) -> SignedIn | None:
        """A new workspace and its owner, signed in. With e-mail verification: None whether or not the
        address had an account (an existing one is told by e-mail instead), and the trial waits for the link."""
        email = normalize_email(email)
        check_password(password)
        name = check_name(workspace_name, "Workspace name")
        password_hash = slow_hash(password)
        tenant_id, user_id, now = str(uuid.uuid4()), str(uuid.uuid4()), utcnow()
        try:
            with system_scope(), self._db.begin() as conn:
                existing = user_with_email(conn, email)
                if existing is not None and self.verify_email:
                    email_links.send_account_exists(conn, existing, email, now)
                    return None
                if existing is not None:
                    raise ServiceError(ErrorCode.EMAIL_TAKEN, EMAIL_TAKEN_DETAIL)
                conn.execute(
                    sa.insert(tenants).values(
                        tenant_id=tenant_id, name=name, plan=self._default_plan, status="active", created_at=now, updated_at=now
                    )
                )
                insert_user(conn, user_id, email, password_hash, tenant_id, TenantRole.OWNER, now, verified=not self.verify_email)
                if self.verify_email:
                    email_links.send_verification(conn, user_id, email)
                elif self._ledger is not None:
                    self._ledger.start_trial(conn, tenant_id)
        except ServiceError as e:
            if e.code == ErrorCode.EMAIL_TAKEN and self.verify_email:
                return None  # a concurrent sign-up of this address won: answered alike
            raise
        return None if self.verify_email else SignedIn(issue_token(user_id, email), user_id, tenant_id)

    def create_operator(self, email: str, password: str, display_name: str | None = None) -> str:
        """A platform operator: InvokeAI admin, member of no tenant."""
        email = normalize_email(email)
        check_password(password)
        password_hash = slow_hash(password)
        user_id = str(uuid.uuid4())
        with system_scope(), self._db.begin() as conn:
            assert_email_free(conn, email)
            insert_user(conn, user_id, email, password_hash, None, None, utcnow(), is_admin=True, display_name=display_name)
        return user_id

    def principal_for_token(self, user_id: str, token_epoch: int | None) -> Principal | None:
        """The principal a verified token stands for; None if the user is gone, inactive or the token revoked.

        Read through the account cache (see `accounts/account_cache.py`): a change made on another pod takes
        up to its TTL to apply here; a change made through this process applies at once.
        """
        return self._cache.principals.get((user_id, token_epoch), lambda: self._load_principal(user_id, token_epoch))

    def cached_principal(self, user_id: str, token_epoch: int | None) -> Principal | None:
        return self._cache.principals.peek((user_id, token_epoch))

    def forget_principal(self, user_id: str) -> None:
        self._cache.forget_user(user_id)

    def _load_principal(self, user_id: str, token_epoch: int | None) -> Principal | None:
        with system_scope(), self._db.read() as conn:
            row = conn.execute(_PRINCIPAL, {"user_id": user_id}).first()
        if row is None or (token_epoch is not None and token_epoch != row.token_epoch):
            return None
        if row.tenant_id is None and not row.is_admin:
            return None  # neither a workspace member nor an operator: no scope to act in
        role = TenantRole(row.tenant_role) if row.tenant_role else None
        is_operator = bool(row.is_admin) and row.tenant_id is None
        return Principal(row.user_id, row.tenant_id, role, is_operator, None, row.status == "suspended",
                         email_verified=row.email_verified_at is not None)

    def membership_of_user(self, user_id: str) -> tuple[str | None, bool]:
        """(tenant, is platform operator) of a user. A user never changes tenant, so it is cached long."""
        return self._membership.get(user_id, lambda: self._load_membership(user_id))

    def _load_membership(self, user_id: str) -> tuple[str | None, bool]:
        with system_scope(), self._db.read() as conn:
            row = conn.execute(_MEMBERSHIP, {"user_id": user_id}).first()
        return (row.tenant_id, bool(row.is_admin) and row.tenant_id is None) if row else (None, False)

    # --- tenant ---------------------------------------------------------------------------

    def summary(self, tenant_id: str) -> TenantSummary:
        with system_scope(), self._db.begin() as conn:
            if self._ledger is not None:
                self._ledger.lapse_trial_if_over(conn, tenant_id)
            row = conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)).first()
            if row is None:
                raise ServiceError(ErrorCode.NOT_FOUND, "Workspace not found")
            count = conn.execute(sa.select(sa.func.count()).where(users.c.tenant_id == tenant_id)).scalar_one()
            subscription = latest_subscription(conn, tenant_id)
        ent = entitlements(row.plan, parse_overrides(row.overrides))
        return TenantSummary(
            id=row.tenant_id,
            name=row.name,
            plan=row.plan,
            status=row.status,
            member_count=count,
            features=sorted(f.value for f in ent.features),
            credits=row.credits_period + row.credits_extra,
            storage_bytes=row.storage_bytes,
            concurrent_queues=ent.concurrent_queues,
            storage_limit_bytes=ent.storage_limit_bytes,
            trial_ends_at=row.trial_ends_at,
            billing_hold_at=row.billing_hold_at,
            subscription=subscription,
        )

    def update_tenant(self, tenant_id: str, status: str | None = None, plan: str | None = None) -> TenantSummary:
        """Operator action: suspend/reactivate a tenant or change its plan."""
        values: dict[str, object] = {"updated_at": utcnow()}
        if status is not None:
            if status not in ("active", "suspended"):
                raise ServiceError(ErrorCode.INVALID_INPUT, "Status must be 'active' or 'suspended'")
            values["status"] = status
        if plan is not None:
            if plan not in PLANS:
                raise ServiceError(ErrorCode.INVALID_INPUT, f"Unknown plan '{plan}'; one of {', '.join(PLANS)}")
            values["plan"] = plan
        with system_scope(), self._db.begin() as conn:
            before = conn.execute(sa.select(tenants.c.status).where(tenants.c.tenant_id == tenant_id)).scalar_one_or_none()
            done = conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(**values)).rowcount
            if done and status == "suspended" and before != "suspended":
                _notice_suspended(conn, tenant_id)
        if not done:
            raise ServiceError(ErrorCode.NOT_FOUND, "Workspace not found")
        self._cache.clear()  # members' cached principals carry the old status
        return self.summary(tenant_id)

    # --- members --------------------------------------------------------------------------

    def list_members(self, tenant_id: str) -> list[Member]:
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(
                sa.select(users).where(users.c.tenant_id == tenant_id).order_by(users.c.created_at, users.c.user_id)
            ).all()
        return [
            Member(user_id=r.user_id, email=r.email, display_name=r.display_name, role=TenantRole(r.tenant_role),
                   is_active=bool(r.is_active), created_at=r.created_at)
            for r in rows
        ]

    def change_role(self, actor: Principal, user_id: str, role: TenantRole) -> Member:
        with system_scope(), self._db.begin() as conn:
            self._lock_tenant(conn, actor.tenant_id)
            self._assert_actor_role(conn, actor)
            target = self._member_row(conn, actor, user_id)
            self._assert_may_manage(actor, TenantRole(target.tenant_role), role)
            if target.tenant_role == TenantRole.OWNER.value and role != TenantRole.OWNER:
                self._assert_not_last_owner(conn, actor.tenant_id)
            conn.execute(sa.update(users).where(users.c.user_id == user_id).values(tenant_role=role.value, updated_at=utcnow()))
            if target.tenant_role != role.value:
                audit.record(conn, "role_changed", "member", [(user_id, user_id)],
                             {"from": target.tenant_role, "to": role.value}, tenant_id=actor.tenant_id)
        self.forget_principal(user_id)
        self.on_access_changed(user_id, True)
        return next(m for m in self.list_members(actor.tenant_id or "") if m.user_id == user_id)

    def remove_member(self, actor: Principal, user_id: str) -> None:
        with system_scope(), self._db.begin() as conn:
            self._lock_tenant(conn, actor.tenant_id)
            self._assert_actor_role(conn, actor)
            target = self._member_row(conn, actor, user_id)
            target_role = TenantRole(target.tenant_role)
            if user_id != actor.user_id:
                self._assert_may_manage(actor, target_role, target_role)
            if target_role == TenantRole.OWNER:
                self._assert_not_last_owner(conn, actor.tenant_id)
            # The account goes with its membership: a user exists only inside one tenant.
            conn.execute(sa.delete(users).where(users.c.user_id == user_id))
            audit.record(conn, "removed", "member", [(user_id, user_id)],
                         {"email": target.email, "role": target.tenant_role}, tenant_id=actor.tenant_id)
        self.forget_principal(user_id)
        self.on_access_changed(user_id, False)

    @staticmethod
    def _lock_tenant(conn: sa.Connection, tenant_id: str | None) -> None:
        """Serialize membership changes of one tenant (Postgres row lock; SQLite's lock is process-wide)."""
        conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id).with_for_update())

    @staticmethod
    def _assert_actor_role(conn: sa.Connection, actor: Principal) -> None:
        """The actor's role as it is now, under the lock (their cached principal may predate a demotion)."""
        role = conn.execute(
            sa.select(users.c.tenant_role).where(users.c.user_id == actor.user_id, users.c.tenant_id == actor.tenant_id)
        ).scalar_one_or_none()
        if role != (actor.role.value if actor.role else None):
            raise ServiceError(ErrorCode.CONFLICT, "Your role in this workspace changed meanwhile; reload and try again")

    def _member_row(self, conn: sa.Connection, actor: Principal, user_id: str) -> sa.Row:
        row = conn.execute(
            sa.select(users).where(users.c.user_id == user_id, users.c.tenant_id == actor.tenant_id)
        ).first()
        if row is None or actor.tenant_id is None:
            raise ServiceError(ErrorCode.NOT_FOUND, "Member not found")
        return row

    @staticmethod
    def _assert_may_manage(actor: Principal, current: TenantRole, new: TenantRole) -> None:
        if actor.role not in (TenantRole.OWNER, TenantRole.ADMIN):
            raise ServiceError(ErrorCode.FORBIDDEN, "Only workspace owners and admins can manage members")
        if TenantRole.OWNER in (current, new) and actor.role != TenantRole.OWNER:
            raise ServiceError(ErrorCode.FORBIDDEN, "Only a workspace owner can change or remove an owner")

    @staticmethod
    def _assert_not_last_owner(conn: sa.Connection, tenant_id: str | None) -> None:
        owners = conn.execute(
            sa.select(sa.func.count()).where(users.c.tenant_id == tenant_id, users.c.tenant_role == TenantRole.OWNER.value)
        ).scalar_one()
        if owners <= 1:
            raise ServiceError(ErrorCode.LAST_OWNER, "A workspace must keep at least one owner; make someone else owner first")

    # --- API keys -------------------------------------------------------------------------

    def create_api_key(self, actor: Principal, name: str) -> CreatedApiKey:
        name = check_name(name, "Key name")
        if actor.tenant_id is None:
            raise ServiceError(ErrorCode.FORBIDDEN, "API keys belong to workspace members")
        secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_id, now = str(uuid.uuid4()), utcnow()
        prefix = secret[: len(API_KEY_PREFIX) + 8]
        with system_scope(), self._db.begin() as conn:
            conn.execute(
                sa.insert(api_keys).values(
                    api_key_id=key_id, tenant_id=actor.tenant_id, user_id=actor.user_id, name=name, prefix=prefix,
                    secret_hash=sha256(secret), created_at=now,
                )
            )
            audit.record(conn, "created", "api_key", [(key_id, actor.user_id)], {"name": name, "prefix": prefix},
                         tenant_id=actor.tenant_id)
        return CreatedApiKey(api_key_id=key_id, user_id=actor.user_id, name=name, prefix=prefix, created_at=now,
                             last_used_at=None, revoked_at=None, secret=secret)

    def list_api_keys(self, actor: Principal) -> list[ApiKeyInfo]:
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(
                sa.select(api_keys).where(api_keys.c.tenant_id == actor.tenant_id).order_by(api_keys.c.created_at)
            ).all()
        return [ApiKeyInfo.model_validate(r._asdict()) for r in rows]

    def revoke_api_key(self, actor: Principal, api_key_id: str) -> None:
        with system_scope(), self._db.begin() as conn:
            row = conn.execute(
                sa.select(api_keys.c.user_id).where(api_keys.c.api_key_id == api_key_id, api_keys.c.tenant_id == actor.tenant_id)
            ).first()
            if row is None or actor.tenant_id is None:
                raise ServiceError(ErrorCode.NOT_FOUND, "API key not found")
            if row.user_id != actor.user_id and actor.role not in (TenantRole.OWNER, TenantRole.ADMIN):
                raise ServiceError(ErrorCode.FORBIDDEN, "Only the key's creator or a workspace admin can revoke it")
            revoked = conn.execute(
                sa.update(api_keys).where(api_keys.c.api_key_id == api_key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
            ).rowcount
            if revoked:
                audit.record(conn, "revoked", "api_key", [(api_key_id, row.user_id)], tenant_id=actor.tenant_id)

    def authenticate_api_key(self, secret: str) -> tuple[Principal, str] | None:
        """The member a live key acts as, and a short-lived InvokeAI token for them; None if unknown or revoked."""
        if not secret.startswith(API_KEY_PREFIX):
            return None
        with system_scope(), self._db.begin() as conn:
            row = conn.execute(
                sa.select(api_keys.c.api_key_id, api_keys.c.user_id, api_keys.c.last_used_at, users.c.email, users.c.token_epoch)
                .select_from(api_keys.join(users, users.c.user_id == api_keys.c.user_id))
                .where(api_keys.c.secret_hash == sha256(secret), api_keys.c.revoked_at.is_(None))
            ).first()
            if row is None:
                return None
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                conn.execute(sa.update(api_keys).where(api_keys.c.api_key_id == row.api_key_id).values(last_used_at=now))
        principal = self.principal_for_token(row.user_id, None)
        if principal is None:
            return None
        token = create_access_token(
            TokenData(user_id=row.user_id, email=row.email, is_admin=False, token_epoch=row.token_epoch),
            timedelta(minutes=5),
        )
        return replace(principal, api_key_id=row.api_key_id), token


def _notice_suspended(conn: sa.Connection, tenant_id: str) -> None:
    name = conn.execute(sa.select(tenants.c.name).where(tenants.c.tenant_id == tenant_id)).scalar_one()
    notify_managers(
        conn, tenant_id, NoticeKind.SUSPENSION, f"suspended:{tenant_id}:{utcnow():%Y%m%d%H%M%S}", f"{name} is suspended",
        f"Your workspace {name} was suspended by the platform's operators. You can still sign in, view, download and "
        "delete your images, but not generate or upload. Write to support to find out why and what to do.",
        "/account", "Open your account",
    )
