"""InvokeAI's video, style-preset-image and workflow-thumbnail stores on S3, with stock's contracts.

Objects live under `<prefix>/videos/…` (stock's layout: `thumbnails/` and `sidecars/` inside it),
`<prefix>/style_preset_images/<id>.webp` and `<prefix>/workflow_thumbnails/<id>.webp`. Methods whose contract
is a `Path` return a local read-through copy under `cache_dir`. URLs are exactly stock's same-origin route
URLs, never presigned ones: the routes check the tenant before redirecting anywhere. Default presets and
workflows keep their thumbnails in InvokeAI's package, as stock does.

Like the image store, a staged delete only records what to delete; no object goes before `commit_delete()`.
"""

import io
import json
import mimetypes
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from PIL import Image
from PIL.Image import Image as PILImageType

import invokeai.app.services.style_preset_images.style_preset_images_disk as stock_style_presets
import invokeai.app.services.workflow_thumbnails.workflow_thumbnails_disk as stock_workflow_thumbnails
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.style_preset_images.style_preset_images_base import StylePresetImageFileStorageBase
from invokeai.app.services.style_preset_images.style_preset_images_common import (
    StylePresetImageFileDeleteException,
    StylePresetImageFileNotFoundException,
    StylePresetImageFileSaveException,
)
from invokeai.app.services.style_preset_records.style_preset_records_common import PresetType
from invokeai.app.services.video_files.video_files_base import VideoFileStorageBase
from invokeai.app.services.video_files.video_files_common import (
    VideoFileDeleteException,
    VideoFileNotFoundException,
    VideoFileSaveException,
)
from invokeai.app.services.workflow_records.workflow_records_common import WorkflowCategory
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_base import WorkflowThumbnailServiceBase
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_common import (
    WorkflowThumbnailFileDeleteException,
    WorkflowThumbnailFileNotFoundException,
    WorkflowThumbnailFileSaveException,
)
from invokeai.app.util.misc import uuid_string
from invokeai.app.util.thumbnails import make_thumbnail
from invokeai.app.util.video_thumbnails import extract_video_frame, get_video_thumbnail_name
from invokeai.backend.util.logging import InvokeAILogger

from invokeai_saas.media.delete_journal import VIDEO, DeleteJournal, JournalEntry
from patches.package_files_read_only import packaged_default
from invokeai_saas.media.s3 import ObjectNotFound, ObjectStore, ReadThroughCache, object_key

VIDEOS = "videos"
VIDEO_THUMBNAILS = "videos/thumbnails"
VIDEO_SIDECARS = "videos/sidecars"
STYLE_PRESET_IMAGES = "style_preset_images"
WORKFLOW_THUMBNAILS = "workflow_thumbnails"
DEFAULT_STYLE_PRESET_IMAGES = Path(stock_style_presets.__file__).parent / "default_style_preset_images"
DEFAULT_WORKFLOW_THUMBNAILS = Path(stock_workflow_thumbnails.__file__).parent / "default_workflow_thumbnails"


def _webp_thumbnail(image: PILImageType, size: int = 256) -> bytes:
    output = io.BytesIO()
    make_thumbnail(image, size).save(output, format="WEBP")
    return output.getvalue()


def _validate_path(cache: ReadThroughCache, path: Union[str, Path], folder: str) -> bool:
    """Present locally, or a cache path under `folder` whose object can be fetched."""
    path = Path(path)
    if path.exists():
        return True
    key = cache.key_of(path)
    return key is not None and key.startswith(f"{folder}/") and cache.fetch(key).exists()


@dataclass(frozen=True)
class _StagedVideoDelete:
    keys: tuple[str, ...]
    journal: JournalEntry = JournalEntry(())


class S3VideoFileStorage(VideoFileStorageBase):
    """Videos, their first-frame WEBP thumbnails and JSON sidecars, with a local read-through cache."""

    def __init__(self, store: ObjectStore, cache_dir: Path, journal: DeleteJournal | None = None) -> None:
        self._store = store
        self._cache = ReadThroughCache(store, cache_dir)
        self._journal = journal  # None: no database to journal to (objects of a dead delete may stay)

    def start(self, invoker: Invoker) -> None:
        # Images' start-up finishes dead deletes of both kinds (one journal): see S3ImageFileStorage.start.
        self._invoker = invoker

    @staticmethod
    def video_key(video_name: str, video_subfolder: str = "") -> str:
        return object_key(VIDEOS, video_name, video_subfolder)

    @staticmethod
    def thumbnail_key(video_name: str, video_subfolder: str = "") -> str:
        return object_key(VIDEO_THUMBNAILS, get_video_thumbnail_name(video_name), video_subfolder)

    @staticmethod
    def sidecar_key(video_name: str, video_subfolder: str = "") -> str:
        return object_key(VIDEO_SIDECARS, Path(video_name).stem + ".json", video_subfolder)

    def _keys(self, video_name: str, video_subfolder: str) -> tuple[str, ...]:
        return (self.video_key(video_name, video_subfolder), self.thumbnail_key(video_name, video_subfolder),
                self.sidecar_key(video_name, video_subfolder))

    def get_path(self, video_name: str, thumbnail: bool = False, video_subfolder: str = "") -> Path:
        if thumbnail:
            return self._cache.fetch(self.thumbnail_key(video_name, video_subfolder))
        return self._cache.fetch(self.video_key(video_name, video_subfolder))

    def save(
        self,
        source_path: Path,
        video_name: str,
        thumbnail_size: int = 256,
        video_subfolder: str = "",
        metadata: Optional[str] = None,
        workflow: Optional[str] = None,
        graph: Optional[str] = None,
        first_frame: Optional[Image.Image] = None,
    ) -> None:
        try:
            video_key = self.video_key(video_name, video_subfolder)
            # Like stock, the source is consumed: it becomes the local copy, then is uploaded from there.
            local = self._cache.path(video_key)
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source_path), str(local))
            content_type = mimetypes.guess_type(video_name)[0] or "application/octet-stream"
            self._store.put_file(video_key, local, content_type)
            self._save_thumbnail(local, video_name, video_subfolder, thumbnail_size, first_frame)
            if metadata is not None or workflow is not None or graph is not None:
                sidecar = {"invokeai_metadata": metadata, "invokeai_workflow": workflow, "invokeai_graph": graph}
                self._store.put_bytes(self.sidecar_key(video_name, video_subfolder), json.dumps(sidecar).encode(),
                                      "application/json")
        except Exception as e:
            # The caller rolls the record back on this exception: leave no object behind without one.
            try:
                self.delete(video_name, video_subfolder=video_subfolder)
            except Exception as cleanup_error:
                InvokeAILogger.get_logger().error(f"Failed to clean up partially saved {video_name}: {cleanup_error}")
            raise VideoFileSaveException from e

    def _save_thumbnail(
        self, local: Path, video_name: str, video_subfolder: str, size: int, first_frame: Optional[Image.Image]
    ) -> None:
        """Best effort, as stock: a video without a thumbnail shows a placeholder, which is not worth failing for."""
        frame = first_frame
        if frame is None:
            try:
                frame = extract_video_frame(local, frame_index=0)
            except Exception as e:
                InvokeAILogger.get_logger().warning(f"Thumbnail extraction raised for {video_name}: {e}")
        if frame is None:
            InvokeAILogger.get_logger().warning(f"No thumbnail frame for {video_name}; its thumbnail will be missing.")
            return
        key = self.thumbnail_key(video_name, video_subfolder)
        data = _webp_thumbnail(frame, size)
        self._store.put_bytes(key, data, "image/webp")
        self._cache.put(key, data)

    def delete(self, video_name: str, video_subfolder: str = "") -> None:
        self.commit_delete(self.stage_delete(video_name, video_subfolder))

    def stage_delete(self, video_name: str, video_subfolder: str = "") -> _StagedVideoDelete:
        """Records the video's objects to delete; unlike stock they stay in service until `commit_delete()`."""
        keys = self._keys(video_name, video_subfolder)
        entry = self._journal.record(VIDEO, [(video_name, k) for k in keys]) if self._journal else JournalEntry(())
        return _StagedVideoDelete(keys, entry)

    def commit_delete(self, token: object) -> None:
        if not isinstance(token, _StagedVideoDelete):
            raise VideoFileDeleteException("Invalid staged-delete token")
        try:
            self._store.delete_many(token.keys)
            for key in token.keys:
                self._cache.drop(key)
        except Exception as e:
            raise VideoFileDeleteException from e
        if self._journal:
            self._journal.erase(token.journal)

    def rollback_delete(self, token: object) -> None:
        """Forgets a staged delete: its objects never left the bucket."""
        if not isinstance(token, _StagedVideoDelete):
            raise VideoFileDeleteException("Invalid staged-delete token")
        if self._journal:
            self._journal.erase(token.journal)

    def get_workflow(self, video_name: str, video_subfolder: str = "") -> Optional[str]:
        workflow = self._read_sidecar(video_name, video_subfolder).get("invokeai_workflow")
        return workflow if isinstance(workflow, str) else None

    def get_graph(self, video_name: str, video_subfolder: str = "") -> Optional[str]:
        graph = self._read_sidecar(video_name, video_subfolder).get("invokeai_graph")
        return graph if isinstance(graph, str) else None

    def _read_sidecar(self, video_name: str, video_subfolder: str) -> dict:
        """The sidecar's fields; empty when the video has none, as stock."""
        try:
            data = self._store.get_bytes(self.sidecar_key(video_name, video_subfolder))
        except ObjectNotFound:
            return {}
        try:
            sidecar = json.loads(data)
        except ValueError as e:
            raise VideoFileNotFoundException from e
        return sidecar if isinstance(sidecar, dict) else {}

    def validate_path(self, path: Union[str, Path]) -> bool:
        return _validate_path(self._cache, path, VIDEOS)


class _PackagedOrBucketImage:
    """One WEBP image per id in the bucket, except for InvokeAI's defaults, whose images ship in its
    package (read there, never deleted: the object has no image of its own to delete, "not found",
    which stock's routes take as nothing to do). Subclasses name the key, the packaged path and the errors."""

    _not_found: type[Exception]
    _save_failed: type[Exception]
    _delete_failed: type[Exception]
    _default_refusal: str

    def __init__(self, store: ObjectStore, cache_dir: Path) -> None:
        self._store = store
        self._cache = ReadThroughCache(store, cache_dir)

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker

    def _key(self, object_id: str) -> str:
        raise NotImplementedError

    def _default_path(self, object_id: str) -> Optional[Path]:
        raise NotImplementedError

    def _open(self, object_id: str) -> PILImageType:
        try:
            return Image.open(self._path(object_id))
        except FileNotFoundError as e:
            raise self._not_found from e

    def _path(self, object_id: str) -> Path:
        default = self._default_path(object_id)
        return default if default is not None else self._cache.fetch(self._key(object_id))

    def _exists(self, object_id: str) -> bool:
        """Asks the bucket, not the local copy: another pod may have deleted the image."""
        default = self._default_path(object_id)
        return default.exists() if default is not None else self._store.exists(self._key(object_id))

    def _save(self, object_id: str, image: PILImageType) -> None:
        try:
            key = self._key(object_id)
            data = _webp_thumbnail(image)
            self._store.put_bytes(key, data, "image/webp")
            self._cache.put(key, data)
        except Exception as e:
            raise self._save_failed from e

    def _delete(self, object_id: str) -> None:
        try:
            default = self._default_path(object_id)
            key = self._key(object_id)
            exists = default.exists() if default is not None else self._store.exists(key)
        except Exception as e:
            raise self._delete_failed from e
        if not exists:
            raise self._not_found
        if default is not None:
            raise self._not_found(self._default_refusal)
        try:
            self._store.delete(key)
            self._cache.drop(key)
        except Exception as e:
            raise self._delete_failed from e


class S3StylePresetImageFileStorage(_PackagedOrBucketImage, StylePresetImageFileStorageBase):
    """User style preset images as `style_preset_images/<id>.webp`; default presets' images stay in InvokeAI's package."""

    _not_found = StylePresetImageFileNotFoundException
    _save_failed = StylePresetImageFileSaveException
    _delete_failed = StylePresetImageFileDeleteException
    _default_refusal = "Default style preset images are part of InvokeAI"

    @staticmethod
    def image_key(style_preset_id: str) -> str:
        return object_key(STYLE_PRESET_IMAGES, style_preset_id + ".webp")

    def _key(self, object_id: str) -> str:
        return self.image_key(object_id)

    def _default_path(self, style_preset_id: str) -> Optional[Path]:
        """The packaged image of a default preset, None for a user preset (raises when the record is missing)."""
        style_preset = self._invoker.services.style_preset_records.get(style_preset_id)
        if style_preset.type is PresetType.Default:
            path = DEFAULT_STYLE_PRESET_IMAGES / (style_preset.name + ".png")
            return path if packaged_default(DEFAULT_STYLE_PRESET_IMAGES, path) else None  # no "../" out of the folder
        return None

    def get(self, style_preset_id: str) -> PILImageType:
        return self._open(style_preset_id)

    def get_path(self, style_preset_id: str) -> Path:
        return self._path(style_preset_id)

    def get_url(self, style_preset_id: str) -> str | None:
        if not self._exists(style_preset_id):
            return None
        # The image URL never changes, so stock adds a random query string to defeat caching.
        return self._invoker.services.urls.get_style_preset_image_url(style_preset_id) + f"?{uuid_string()}"

    def save(self, style_preset_id: str, image: PILImageType) -> None:
        self._save(style_preset_id, image)

    def delete(self, style_preset_id: str) -> None:
        self._delete(style_preset_id)


class S3WorkflowThumbnailFileStorage(_PackagedOrBucketImage, WorkflowThumbnailServiceBase):
    """User workflow thumbnails as `workflow_thumbnails/<id>.webp`; default workflows' stay in InvokeAI's package."""

    _not_found = WorkflowThumbnailFileNotFoundException
    _save_failed = WorkflowThumbnailFileSaveException
    _delete_failed = WorkflowThumbnailFileDeleteException
    _default_refusal = "Default workflow thumbnails are part of InvokeAI"

    @staticmethod
    def thumbnail_key(workflow_id: str) -> str:
        return object_key(WORKFLOW_THUMBNAILS, workflow_id + ".webp")

    def _key(self, object_id: str) -> str:
        return self.thumbnail_key(object_id)

    def _default_path(self, workflow_id: str) -> Optional[Path]:
        """The packaged thumbnail of a default workflow, None for a user one (raises when the record is missing)."""
        workflow = self._invoker.services.workflow_records.get(workflow_id).workflow
        if workflow.meta.category is WorkflowCategory.Default:
            return DEFAULT_WORKFLOW_THUMBNAILS / (workflow_id + ".png")
        return None

    def get(self, workflow_id: str) -> PILImageType:
        return self._open(workflow_id)

    def get_path(self, workflow_id: str, with_hash: bool = True) -> Path:
        return self._path(workflow_id)

    def get_url(self, workflow_id: str, with_hash: bool = True) -> str | None:
        if not self._exists(workflow_id):
            return None
        url = self._invoker.services.urls.get_workflow_thumbnail_url(workflow_id)
        # The image URL never changes, so stock adds a random query string to defeat caching.
        return url + f"?{uuid_string()}" if with_hash else url

    def save(self, workflow_id: str, image: PILImageType) -> None:
        self._save(workflow_id, image)

    def delete(self, workflow_id: str) -> None:
        self._delete(workflow_id)
