"""App factory: InvokeAI's own FastAPI app, with our services, middleware and routers.

InvokeAI's `api_app` module builds its app at import time, so the order here matters:
configure InvokeAI, apply patches, replace `ApiDependencies.initialize`, then import it.
"""

import dataclasses
import logging
import math
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

import patches
from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.core.body_limits import BodyLimitMiddleware, upload_routes
from invokeai_saas.wiring.client_errors import ClientErrorMiddleware, client_error
from invokeai_saas.wiring.branding import (
    APP_PREFIX, STATIC_PREFIX, BrandedUIFiles, app_static, branding_router, branding_static, load_brand,
)
from invokeai_saas.db import Database
from invokeai_saas.db.migrate import upgrade_if_empty
from invokeai_saas.queue.claims import check_dispatch_plans, sync_dispatch_plans
from invokeai_saas.accounts.audit import AuditLog
from invokeai_saas.accounts.email_links import EmailAccounts
from invokeai_saas.accounts.invitations import InvitationService
from invokeai_saas.mail.outbox import Outbox, start_drainer
from invokeai_saas.mail.templates import Templates
from invokeai_saas.mail.transport import transport_for
from invokeai_saas.money.credit_events import route_to_sockets
from invokeai_saas.money.ledger import ledger_for
from invokeai_saas.money.subscriptions import lemonsqueezy_client, subscriptions_for
from invokeai_saas.wiring.logs import RequestIdMiddleware, configure_logging
from invokeai_saas.core.metrics import watch_queue
from invokeai_saas.accounts.rate_limits import AbuseLimits, RateLimitMiddleware, parse_networks
from invokeai_saas.core.settings import Settings
from invokeai_saas.accounts.tenancy import API_KEY_PREFIX, TenancyService
from tenant_middleware.errors import CODE_FOR_STATUS, ErrorCode, ServiceError
from tenant_middleware.context import system_scope
from tenant_middleware.middleware import TenantContextMiddleware

logger = logging.getLogger("pingvas")


def configure_invokeai(settings: Settings) -> None:
    from invokeai.app.services.config.config_default import get_config

    config = get_config()
    config._root = settings.data_dir.resolve()
    config.multiuser = True
    config.host = settings.host
    config.port = settings.port
    # nano-banana on every worker: InvokeAI's Gemini provider reads these (its api_keys.yaml is not used).
    config.external_gemini_api_key = settings.gemini_api_key
    config.external_gemini_base_url = settings.gemini_base_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def open_database(settings: Settings) -> Database:
    if not settings.is_postgres:
        (settings.data_dir / "databases").mkdir(parents=True, exist_ok=True)
    return Database(settings.resolved_database_url, schema=settings.db_schema,
                    app_role=settings.db_app_role if settings.is_postgres else None)


def prepare_database(db: Database) -> None:
    """A pod's start: an embedded or empty database is brought to head (and its plan tiers written);
    a Postgres pod refuses to start on plan tiers that are not the code's (`pingvas migrate`)."""
    if upgrade_if_empty(db):
        sync_dispatch_plans(db)
    if db.is_postgres:
        check_dispatch_plans(db)


def readiness_checks(settings: Settings, db: Database) -> dict[str, Callable[[], None]]:
    """What `/readyz` checks: the database, Redis (when configured) and file storage."""
    checks: dict[str, Callable[[], None]] = {"database": lambda: _select_one(db)}
    if settings.redis_url:
        from invokeai_saas.core.redis_client import connect

        client = connect(settings.redis_url)
        checks["redis"] = lambda: None if client.ping() else None
    if settings.storage_url:
        from invokeai_saas.media.s3 import ObjectStore

        bucket = ObjectStore.from_url(settings.storage_url)
        checks["storage"] = bucket.ping
    else:
        checks["storage"] = lambda: _writable(settings.data_dir)
    return checks


def _select_one(db: Database) -> None:
    with system_scope(), db.begin() as conn:
        conn.execute(sa.text("SELECT 1"))


def _writable(folder: Path) -> None:
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} is not writable")


def create_app(settings: Settings, run_processor: bool = True) -> tuple[FastAPI, Any]:
    """Returns InvokeAI's app (wired for Pingvas) and the event loop InvokeAI bound its events to."""
    patches.apply_all()
    configure_logging(settings.log_format)
    configure_invokeai(settings)
    db = open_database(settings)
    prepare_database(db)
    watch_queue(db)
    accounts = AccountCache()
    ledger = ledger_for(settings, db)
    tenancy = TenancyService(db, default_plan=settings.default_plan, cache=accounts, ledger=ledger,
                             verify_email=settings.email_verification == "required")
    limits = AbuseLimits.from_settings(settings)
    invitations = InvitationService(db, ttl=timedelta(hours=settings.invitation_ttl_hours), limits=limits)
    emails = EmailAccounts(db, limits, ledger)
    start_mail(settings, db)

    from invokeai.app.api.dependencies import ApiDependencies

    from invokeai_saas.wiring.services import make_initializer

    role = "serve" if run_processor else "api"
    initializer = make_initializer(db, accounts, settings, run_processor, role=role)
    ApiDependencies.initialize = staticmethod(initializer)  # type: ignore[method-assign]
    tenancy.on_access_changed = _emit_user_access_changed
    emails.on_user_changed = lambda user_id: _signed_in_anew(tenancy, user_id)

    from invokeai.app import api_app
    from patches.sockets_tenant_rooms import NO_SHARED_ROOMS, set_tenant_lookup

    from invokeai_saas.accounts import workspace_admin
    from invokeai_saas.api.admin import admin_router
    from invokeai_saas.api.billing import billing_router
    from invokeai_saas.operators.console import OperatorService
    from invokeai_saas.api.health import health_router
    from invokeai_saas.api.media import media_router
    from invokeai_saas.api.router import auth_overrides_router, build_router

    app: FastAPI = api_app.app
    patches.apply_to_app(app)
    workspace_admin.install(app)
    set_tenant_lookup(lambda user_id: _socket_tenant(tenancy, user_id, NO_SHARED_ROOMS))
    route_to_sockets(api_app.socket_io._sio)
    app.mount(STATIC_PREFIX, branding_static(), name="pingvas-static")
    app.mount(APP_PREFIX, app_static(), name="pingvas-app")
    _install_routes(
        app,
        overrides=[auth_overrides_router(), media_router(settings.media_base_url, settings.media_url_ttl_seconds)],
        additions=[
            build_router(tenancy, invitations, AuditLog(db), emails),
            billing_router(ledger, subscriptions_for(settings, db, ledger), lemonsqueezy_client(settings), settings.lemonsqueezy_webhook_secret),
            admin_router(
                OperatorService(db, ledger, tenancy, settings.lease_seconds),
                parse_networks(settings.admin_allowed_cidrs),
                parse_networks(settings.trusted_proxies),
            ),
            branding_router(settings.brand),
            health_router(role, readiness_checks(settings, db), parse_networks(settings.trusted_proxies)),
        ],
    )
    _brand_the_ui(app, settings.brand)
    _install_error_handlers(app)
    app.add_middleware(TenantContextMiddleware, source=tenancy, api_key_prefix=API_KEY_PREFIX)
    app.add_middleware(RateLimitMiddleware, limits=limits)
    # Before the rate limiter: every sign-in it sees has a body it can read the account from.
    # app.openapi() is built once here (about 5 s), not by the first caller, and cached by FastAPI.
    app.add_middleware(BodyLimitMiddleware, max_body=settings.max_body_bytes, uploads=upload_routes(app.openapi()))
    app.add_middleware(ClientErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app, api_app.loop


def start_mail(settings: Settings, db: Database) -> Outbox:
    """The mail outbox's drainer on this pod (every API pod drains; a row is sent by one of them)."""
    brand = load_brand(settings.brand)
    folder = settings.data_dir / "mail-outbox"
    if not settings.smtp_url:
        logger.warning("No PINGVAS_SMTP_URL: mail is written to %s", folder.resolve())
    templates = Templates(dataclasses.asdict(brand), brand.folder, settings.public_url)
    outbox = Outbox(db, transport_for(settings.smtp_url, folder), templates, settings.mail_from)
    start_drainer(outbox)
    return outbox


def _socket_tenant(tenancy: TenancyService, user_id: str, no_rooms: str) -> str | None:
    """The socket layer's tenant of a user: theirs, None for an operator, no shared room for anyone else."""
    tenant_id, is_operator = tenancy.membership_of_user(user_id)
    return tenant_id if tenant_id is not None or is_operator else no_rooms


def _signed_in_anew(tenancy: TenancyService, user_id: str) -> None:
    """A user verified their address or reset their password: their principal is read again, and their
    open sockets re-checked (a reset's new token epoch drops the old sessions' sockets)."""
    tenancy.forget_principal(user_id)
    _emit_user_access_changed(user_id, True)


def _emit_user_access_changed(user_id: str, is_active: bool) -> None:
    """InvokeAI's own event: its socket layer re-reads the user and drops or re-checks their sockets."""
    from invokeai.app.api.dependencies import ApiDependencies

    invoker = getattr(ApiDependencies, "invoker", None)
    if invoker is not None:
        invoker.services.events.emit_user_access_changed(user_id=user_id, is_admin=False, is_active=is_active)


def _install_routes(app: FastAPI, overrides: list[APIRouter], additions: list[APIRouter]) -> None:
    """Routes are matched in order, one by one, on every request: routes that answer in place of
    InvokeAI's go first; our other routes go after InvokeAI's (so its routes are not matched
    against ours first), then the JSON 404 for unknown API paths, then the UI's Mount("/")."""
    before = list(app.router.routes)
    for router in overrides:
        app.include_router(router)
    first = app.router.routes[len(before):]
    for router in [*additions, _unknown_api_route()]:
        app.include_router(router)
    last = app.router.routes[len(before) + len(first):]
    ui = [r for r in before if isinstance(r, Mount) and r.path in ("", "/")]
    app.router.routes[:] = first + [r for r in before if r not in ui] + last + ui


def _brand_the_ui(app: FastAPI, brand_key: str) -> None:
    """InvokeAI's UI mount serves the same files, its entry page under our brand on every path."""
    mounts = [r for r in app.router.routes if isinstance(r, Mount) and r.path in ("", "/")]
    if not mounts:  # InvokeAI changed how it serves its UI: fail the start, never serve it unbranded
        raise RuntimeError("InvokeAI's UI mount at / was not found; invokeai_saas.wiring.app._brand_the_ui needs updating")
    for mount in mounts:
        mount.app = BrandedUIFiles(brand_key)


def _unknown_api_route() -> APIRouter:
    """An unknown /api path is a JSON 404, not the UI's index.html (which the UI mount would serve)."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown_api(rest: str) -> None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"No such API route: /api/{rest}")

    return router


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        refusal = client_error(exc) if exc.status_code >= 500 else None
        if refusal is not None:
            return JSONResponse(refusal.body(), status_code=refusal.status_code)
        code = CODE_FOR_STATUS.get(exc.status_code, ErrorCode.SERVER_ERROR if exc.status_code >= 500 else ErrorCode.INVALID_INPUT)
        return JSONResponse({"detail": exc.detail, "code": code.value}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("Unhandled error", exc_info=exc)
        return JSONResponse({"detail": "Internal server error", "code": ErrorCode.SERVER_ERROR.value}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": _jsonable(exc.errors()), "code": ErrorCode.INVALID_INPUT.value}, status_code=422
        )


def _jsonable(errors: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    # An input echoed back may be NaN or an infinity, which JSON cannot carry: it is named instead.
    finite = lambda f: f if math.isfinite(f) else str(f)  # noqa: E731
    return jsonable_encoder(errors, custom_encoder={Exception: str, bytes: lambda b: b.decode(errors="replace"), float: finite})
