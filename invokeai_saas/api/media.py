"""InvokeAI media routes that we answer ourselves, ahead of InvokeAI's own.

`GET /api/v1/workflows/i/{id}/thumbnail` is unauthenticated in InvokeAI ("workflow ids are
unguessable"). Here it needs a credential (a bearer token, or the media cookie an `<img>` sends)
and answers only for a workflow the caller may open: their own, their workspace's public ones (any,
for the workspace's owners and admins), or the platform's defaults. Anything else is a 404, as if it did not exist.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse

from invokeai_saas.api.router import require_principal
from patches.route_not_found import file_or_404
from invokeai_saas.workspace_admin import is_workspace_admin
from tenant_middleware.context import Principal
from tenant_middleware.errors import ErrorCode, ServiceError


def media_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", include_in_schema=False)

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
