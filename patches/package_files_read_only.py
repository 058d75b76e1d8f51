"""InvokeAI's disk stores never delete a file of InvokeAI's own package, and a default preset's image
is looked up only in the folder InvokeAI ships them in.

Why: a default style preset's image (and a default workflow's thumbnail) is a file inside InvokeAI's
installed package, shared by every workspace, and stock's `delete` unlinks whatever path `get_path`
names: deleting or updating a default preset as an admin removed the packaged PNG for everyone
(the fuzz suite deleted `Anime.png` from the installed package that way). The image is InvokeAI's,
not the preset's own, so for the store the preset has no file to delete: `delete` raises stock's
"not found", which every caller already treats as "nothing to delete". A default preset's image is
`<its name>.png`; a name that would lead out of InvokeAI's folder (`../…`) has no packaged image.

Patched: `StylePresetImageFileStorageDisk.delete` / `get_path` and
`WorkflowThumbnailFileStorageDisk.delete`. The S3 stores keep defaults in the package too and refuse
the same way (`invokeai_saas/media/media_files_s3.py`).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import invokeai
from invokeai.app.services.style_preset_images import style_preset_images_disk
from invokeai.app.services.style_preset_images.style_preset_images_common import StylePresetImageFileNotFoundException
from invokeai.app.services.style_preset_images.style_preset_images_disk import StylePresetImageFileStorageDisk
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_common import WorkflowThumbnailFileNotFoundException
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_disk import WorkflowThumbnailFileStorageDisk

PACKAGE = Path(next(iter(invokeai.__path__))).resolve()  # a namespace package: no __file__
DEFAULT_PRESET_IMAGES = Path(style_preset_images_disk.__file__).parent / "default_style_preset_images"


def in_package(path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(PACKAGE)
    except (OSError, ValueError):  # a NUL in the name: no such file, in the package or out of it
        return False


def packaged_default(folder: Path, path: Path) -> bool:
    """True for a file directly in `folder` (a default's name such as "a/b" or "../x" is not)."""
    try:
        return path.resolve().parent == folder.resolve()
    except (OSError, ValueError):
        return False


def _never_deletes_the_package(original: Callable[[Any, str], None], not_found: type[Exception]) -> Callable[[Any, str], None]:
    def delete(self: Any, object_id: str) -> None:
        try:
            path = self.get_path(object_id)
        except Exception:
            return original(self, object_id)  # stock's own error for a missing record
        if in_package(path):
            raise not_found("This image is part of InvokeAI's package: it is never deleted")
        original(self, object_id)

    delete.__name__ = original.__name__
    return delete


def _defaults_only_from_their_folder(original: Callable[[Any, str], Path]) -> Callable[[Any, str], Path]:
    def get_path(self: Any, style_preset_id: str) -> Path:
        path = original(self, style_preset_id)
        if str(path).startswith(str(DEFAULT_PRESET_IMAGES)) and not packaged_default(DEFAULT_PRESET_IMAGES, path):
            return self._style_preset_images_folder / (style_preset_id + ".webp")  # no packaged image: none at all
        return path

    get_path.__name__ = original.__name__
    return get_path


def apply() -> None:
    presets, thumbnails = StylePresetImageFileStorageDisk, WorkflowThumbnailFileStorageDisk
    presets.delete = _never_deletes_the_package(presets.delete, StylePresetImageFileNotFoundException)  # type: ignore[method-assign]
    presets.get_path = _defaults_only_from_their_folder(presets.get_path)  # type: ignore[method-assign]
    thumbnails.delete = _never_deletes_the_package(thumbnails.delete, WorkflowThumbnailFileNotFoundException)  # type: ignore[method-assign]
