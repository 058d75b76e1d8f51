"""An object that isn't there (or is another tenant's) is a 404 on every access check, never a 403
or a 200.

Why: InvokeAI's ownership checks answer 403 ("Not authorized to modify this image", "... to move
this image", "... to access image X") when they find no owner, which is also what they find for an
object our tenant-scoped records hide; and for an admin they return before looking at all, so a
route then answers an unknown name with a 200 (URLs for any name) or a 400. A 403 tells the caller
the name is special; the contract is that another tenant's object is a 404, also for a workspace
admin, whose powers stop at their own workspace's objects. So every image, video and board check
first asks whether the object exists in the caller's scope.

Patched: `_access.assert_image_owner` / `assert_image_read_access` / `assert_board_read_access`
(before InvokeAI's routers import them by name), and the checks the board-images, videos and
recall-parameters routes look up by module global at call time.
"""

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from invokeai.app.api.routers import _access


def _services() -> Any:
    from invokeai.app.api.dependencies import ApiDependencies

    return ApiDependencies.invoker.services


def _image_exists(name: str) -> None:
    if not _services().image_records.exists(name):
        raise HTTPException(status_code=404, detail="Image not found")


def _video_exists(name: str) -> None:
    if not _services().video_records.exists(name):
        raise HTTPException(status_code=404, detail="Video not found")


def _board_exists(board_id: str) -> None:
    from invokeai.app.services.board_records.board_records_common import BoardRecordNotFoundException

    try:
        _services().board_records.get(board_id)
    except BoardRecordNotFoundException:
        raise HTTPException(status_code=404, detail="Board not found") from None


def _exists_first(exists: Callable[[str], None], original: Callable[..., None]) -> Callable[..., None]:
    def check(name: str, current_user: Any) -> None:
        exists(name)
        original(name, current_user)

    check.__name__ = original.__name__
    return check


def _recall_images_exist_first(original: Callable[..., None]) -> Callable[..., None]:
    def check(parameters: Any, current_user: Any) -> None:
        for group in (parameters.control_layers, parameters.ip_adapters, parameters.reference_images):
            for entry in group or []:
                if entry.image_name is not None:
                    _image_exists(entry.image_name)
        original(parameters, current_user)

    check.__name__ = original.__name__
    return check


def _patch(module: Any, name: str, exists: Callable[[str], None]) -> None:
    setattr(module, name, _exists_first(exists, getattr(module, name)))


def apply() -> None:
    # Before any router module imports these helpers by name.
    _patch(_access, "assert_image_owner", _image_exists)
    _patch(_access, "assert_image_read_access", _image_exists)
    _patch(_access, "assert_board_read_access", _board_exists)
    from invokeai.app.api.routers import board_images, recall_parameters, videos

    _patch(board_images, "_assert_image_direct_owner", _image_exists)
    _patch(board_images, "_assert_board_write_access", _board_exists)
    _patch(videos, "_assert_video_owner", _video_exists)
    _patch(videos, "_assert_video_direct_owner", _video_exists)
    _patch(videos, "_assert_video_read_access", _video_exists)
    _patch(videos, "_assert_board_write_access", _board_exists)
    recall_parameters._assert_recall_image_access = _recall_images_exist_first(recall_parameters._assert_recall_image_access)
