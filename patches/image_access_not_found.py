"""Modifying an image that isn't there (or is another tenant's) is a 404, not a 403.

Why: InvokeAI's `assert_image_owner` answers 403 "Not authorized to modify this image" when it
finds no owner, which is also what it finds for an image our tenant-scoped records hide. A 403
tells the caller the name is special; the contract is that another tenant's object is a 404.
Must run before InvokeAI's routers import the helper by name.
"""

from fastapi import HTTPException

from invokeai.app.api.routers import _access

_original_assert_image_owner = _access.assert_image_owner


def _assert_image_owner(image_name: str, current_user) -> None:  # type: ignore[no-untyped-def]
    from invokeai.app.api.dependencies import ApiDependencies

    if not current_user.is_admin and not ApiDependencies.invoker.services.image_records.exists(image_name):
        raise HTTPException(status_code=404, detail="Image not found")
    _original_assert_image_owner(image_name, current_user)


def apply() -> None:
    _access.assert_image_owner = _assert_image_owner
