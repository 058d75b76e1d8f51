"""InvokeAI media routes that we answer ourselves, ahead of InvokeAI's own.

Image bytes (`/api/v1/images/i/{name}/full` and `/thumbnail`): with media in S3, after InvokeAI's own
access check (another tenant's image is a 404), a 307 to a short-lived presigned URL, or to the CDN
(`PINGVAS_MEDIA_BASE_URL`); the URL the UI holds stays same-origin (it appends its cookie version to
it). With media on disk, InvokeAI's own route answers. Other media stream from the pod's cache.

`GET /api/v1/workflows/i/{id}/thumbnail` is unauthenticated in InvokeAI ("workflow ids are
unguessable"). Here it needs a credential (a bearer token, or the media cookie an `<img>` sends)
and answers only for a workflow the caller may open: their own, their workspace's public ones (any,
for the workspace's owners and admins), or the platform's defaults. Anything else is a 404, as if it did not exist.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import FileResponse, RedirectResponse
from invokeai.app.api.auth_dependencies import CurrentMediaUserOrDefault

from invokeai_saas.api.router import require_principal
from invokeai_saas.media.image_files_s3 import S3ImageFileStorage
from patches.route_not_found import file_or_404
from invokeai_saas.accounts.workspace_admin import is_workspace_admin
from tenant_middleware.context import Principal
from tenant_middleware.errors import ErrorCode, ServiceError


def media_router(media_base_url: str | None = None, url_ttl_s: int = 300) -> APIRouter:
    router = APIRouter(prefix="/api/v1", include_in_schema=False)

    @router.get("/images/i/{image_name}/full")
    def get_image_full(current_user: CurrentMediaUserOrDefault, image_name: str = Path()) -> Response:
        return _image_bytes(current_user, image_name, thumbnail=False, base_url=media_base_url, ttl_s=url_ttl_s)

    @router.get("/images/i/{image_name}/thumbnail")
    def get_image_thumbnail(current_user: CurrentMediaUserOrDefault, image_name: str = Path()) -> Response:
        return _image_bytes(current_user, image_name, thumbnail=True, base_url=media_base_url, ttl_s=url_ttl_s)

    @router.get("/workflows/i/{workflow_id}/thumbnail")
    def get_workflow_thumbnail(
        me: Annotated[Principal, Depends(require_principal)],
        workflow_id: str = Path(max_length=256),
    ) -> FileResponse:
        from invokeai.app.api.dependencies import ApiDependencies
        from invokeai.app.api.routers import workflows
        from invokeai.app.services.workflow_records.workflow_records_common import (
            WorkflowCategory,
            WorkflowNotFoundError,
        )

        try:
            record = ApiDependencies.invoker.services.workflow_records.get(workflow_id)  # tenant-scoped
        except WorkflowNotFoundError:
            raise ServiceError(ErrorCode.NOT_FOUND, "Workflow not found") from None
        visible = (
            record.workflow.meta.category is WorkflowCategory.Default
            or record.user_id == me.user_id
            or record.is_public
            or me.is_operator
            or is_workspace_admin(me)
        )
        if not visible:
            raise ServiceError(ErrorCode.NOT_FOUND, "Workflow not found")
        return file_or_404(workflows.get_workflow_thumbnail(workflow_id=workflow_id))

    return router


def _image_bytes(current_user: Any, image_name: str, thumbnail: bool, base_url: str | None, ttl_s: int) -> Response:
    from invokeai.app.api.dependencies import ApiDependencies
    from invokeai.app.api.routers import images
    from invokeai.app.api.routers.image_move_maintenance import assert_image_move_maintenance_inactive

    services = ApiDependencies.invoker.services
    if not isinstance(services.image_files, S3ImageFileStorage):
        stock = images.get_image_thumbnail if thumbnail else images.get_image_full
        return stock(current_user=current_user, image_name=image_name)
    images._assert_image_read_access(image_name, current_user)  # looked up now: patches apply to it
    assert_image_move_maintenance_inactive()
    subfolder = services.image_records.get(image_name).image_subfolder
    key_of = S3ImageFileStorage.thumbnail_key if thumbnail else S3ImageFileStorage.image_key
    key = services.image_files.store.full_key(key_of(image_name, subfolder))
    if base_url:
        url = f"{base_url.rstrip('/')}/{key}"
    else:
        url = services.image_files.store.presigned_url(key_of(image_name, subfolder), expires_s=ttl_s)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})
