"""Workspace owners and admins are InvokeAI's "admin" inside their workspace, and nowhere else.

InvokeAI decides content powers with `current_user.is_admin` (see, move, re-share and delete any
user's images, boards, videos, workflows, presets and prompts; unredacted queue items). Its auth
dependencies are replaced here through FastAPI's `dependency_overrides`:
- the content dependencies (`CurrentUserOrDefault`, `CurrentMediaUserOrDefault`) answer
  `is_admin=True` for a workspace owner or admin. Every record they can reach is already filtered
  to their tenant, so the power never crosses a workspace;
- the admin-only dependencies (`AdminUser`, `AdminUserOrDefault`: model install and delete, runtime
  configuration, custom nodes, processor control, image moves, the platform's user list) pass
  platform operators only, never a workspace admin.
Sockets keep InvokeAI's own rule (the platform `admin` room is for operators alone).
"""

from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials
from invokeai.app.api import auth_dependencies as stock
from invokeai.app.services.auth.token_service import TokenData

from tenant_middleware.context import Principal, TenantRole, current_principal

WORKSPACE_ADMINS = (TenantRole.OWNER, TenantRole.ADMIN)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(stock.security)]


def is_workspace_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.tenant_id is not None and principal.role in WORKSPACE_ADMINS


def _with_workspace_powers(user: TokenData) -> TokenData:
    principal = current_principal()
    if is_workspace_admin(principal) and principal is not None and principal.user_id == user.user_id:
        return user.model_copy(update={"is_admin": True})
    return user


def current_user_or_default(credentials: Credentials) -> TokenData:
    return _with_workspace_powers(stock.get_current_user_or_default(credentials))


def current_media_user_or_default(
    credentials: Credentials,
    media_token: Annotated[str | None, Cookie(alias=stock.MEDIA_TOKEN_COOKIE)] = None,
) -> TokenData:
    return _with_workspace_powers(stock.get_current_media_user_or_default(credentials, media_token))


def _operators_only(user: TokenData) -> TokenData:
    principal = current_principal()
    if principal is None or not principal.is_operator or principal.user_id != user.user_id:
        raise HTTPException(status_code=403, detail="Platform operators only")
    return user


def operator(user: Annotated[TokenData, Depends(stock.get_current_user)]) -> TokenData:
    return _operators_only(user)


def operator_or_default(user: Annotated[TokenData, Depends(stock.get_current_user_or_default)]) -> TokenData:
    return _operators_only(user)


def install(app: FastAPI) -> None:
    app.dependency_overrides.update({
        stock.get_current_user_or_default: current_user_or_default,
        stock.get_current_media_user_or_default: current_media_user_or_default,
        stock.require_admin: operator,
        stock.require_admin_or_default: operator_or_default,
    })
