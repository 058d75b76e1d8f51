"""Workspace owners and admins are InvokeAI's "admin" inside their workspace, and nowhere else.

InvokeAI decides content powers with `current_user.is_admin` (see, move, re-share and delete any
user's images, boards, videos, workflows, presets and prompts; unredacted queue items). Its auth
dependencies are replaced here through FastAPI's `dependency_overrides`:
- the content dependencies (`CurrentUserOrDefault`, `CurrentMediaUserOrDefault`) answer
  `is_admin=True` for a workspace owner or admin. Every record they can reach is already filtered
  to their tenant, so the power never crosses a workspace;
- the admin-only dependencies (`AdminUser`, `AdminUserOrDefault`: model install and delete, runtime
  configuration, custom nodes, processor control, image moves, the platform's user list) pass
  platform operators only, never a workspace admin;
- InvokeAI's default style presets are the platform's, shared by every workspace: only operators
  write them (`patches/default_presets_operators_only.py` asks `is_operator`).
Sockets keep InvokeAI's own rule (the platform `admin` room is for operators alone).
"""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from invokeai.app.api import auth_dependencies as stock
from invokeai.app.api.dependencies import ApiDependencies
from invokeai.app.services.auth.token_service import TokenData

from invokeai_saas.accounts.users_sql import SqlUserService
from tenant_middleware.context import Principal, TenantRole, current_principal
from tenant_middleware.tokens import verified_token

WORKSPACE_ADMINS = (TenantRole.OWNER, TenantRole.ADMIN)


def is_workspace_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.tenant_id is not None and principal.role in WORKSPACE_ADMINS


def _with_workspace_powers(user: TokenData) -> TokenData:
    principal = current_principal()
    if is_workspace_admin(principal) and principal is not None and principal.user_id == user.user_id:
        return user.model_copy(update={"is_admin": True})
    return user


async def _validated(token: str | None) -> TokenData:
    """Stock's `get_current_user_or_default` / `_validate_token`: the same answers and the same rule
    (`resolve_authorized_user`), but the token's verification is shared with our middleware, and
    a user record the account cache holds is read without a hop to a worker thread."""
    if not ApiDependencies.invoker.services.configuration.multiuser:
        return stock.get_current_user_or_default(None)  # single-user mode: stock's system user
    if token is None:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Authentication required")
    token_data = verified_token(token)
    if token_data is None:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid or expired token")
    if _user_cached(token_data.user_id):
        user = stock.resolve_authorized_user(token_data)
    else:
        user = await run_in_threadpool(stock.resolve_authorized_user, token_data)
    if user is None:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="User not found or inactive")
    return stock._db_derived_token_data(token_data, user)


def _user_cached(user_id: str) -> bool:
    """True when reading the user's record does no I/O, so it may run on the event loop.

    A record forgotten in between (a removal on another thread) is then read on the loop, once.
    """
    users = ApiDependencies.invoker.services.users
    return isinstance(users, SqlUserService) and users.answers_from_cache(user_id)


# These take the request, not stock's `Depends(security)`: with overrides installed, FastAPI
# analyses each dependency of a route again on every request, and one without sub-dependencies
# is the cheapest to analyse.
async def current_user_or_default(request: Request) -> TokenData:
    credentials = await stock.security(request)
    return _with_workspace_powers(await _validated(credentials.credentials if credentials else None))


async def current_media_user_or_default(request: Request) -> TokenData:
    credentials = await stock.security(request)
    token = credentials.credentials if credentials is not None else request.cookies.get(stock.MEDIA_TOKEN_COOKIE)
    return _with_workspace_powers(await _validated(token))


def is_operator(user: TokenData) -> bool:
    principal = current_principal()
    return principal is not None and principal.is_operator and principal.user_id == user.user_id


def _operators_only(user: TokenData) -> TokenData:
    if not is_operator(user):
        raise HTTPException(status_code=403, detail="Platform operators only")
    return user


async def operator(user: Annotated[TokenData, Depends(stock.get_current_user)]) -> TokenData:
    return _operators_only(user)


async def operator_or_default(user: Annotated[TokenData, Depends(stock.get_current_user_or_default)]) -> TokenData:
    return _operators_only(user)


def install(app: FastAPI) -> None:
    from patches import default_presets_operators_only  # imports InvokeAI's router: only once the app is built

    default_presets_operators_only.set_default_writers(is_operator)
    app.dependency_overrides.update({
        stock.get_current_user_or_default: current_user_or_default,
        stock.get_current_media_user_or_default: current_media_user_or_default,
        stock.require_admin: operator,
        stock.require_admin_or_default: operator_or_default,
    })
