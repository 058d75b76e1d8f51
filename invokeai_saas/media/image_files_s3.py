"""InvokeAI's image file store on S3: `<prefix>/images/<subfolder>/<name>` and `<prefix>/thumbnails/<subfolder>/<thumb>`.

Same contract as stock `DiskImageFileStorage`: PNGs carry `invokeai_metadata`, `invokeai_workflow` and
`invokeai_graph` text chunks, thumbnails are WEBP named by `get_thumbnail_name`, decoded images are kept in a
small LRU. Callers that need a real file (`get_path`, `image_root`, bulk downloads) get a local read-through
copy under `cache_dir`, downloaded on demand, so any pod can serve an image another pod saved.

It must never lose an image on a crash. S3 has no transactions, so `begin_delete()` and `stage_delete()` only
record what to delete (in the database's delete journal) and touch no object; `commit_delete()` is the only
thing that deletes. A process that dies between the two leaves every object in place, never a record whose
file is gone; a pod's start-up then finishes the dead delete (`DeleteJournal.recover`).
"""

import io
import threading
import zlib
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from PIL import Image, PngImagePlugin
from PIL.Image import Image as PILImageType

from invokeai.app.services.image_files.image_files_base import ImageFileStorageBase
from invokeai.app.services.image_files.image_files_common import (
    ImageFileDeleteException,
    ImageFileNotFoundException,
    ImageFileSaveException,
)
from invokeai.app.services.image_files.image_files_disk import _should_use_png_rle
from invokeai.app.services.invoker import Invoker
from invokeai.app.util.thumbnails import get_thumbnail_name, make_thumbnail
from invokeai.backend.util.logging import InvokeAILogger

from invokeai_saas.media.delete_journal import IMAGE, DeleteJournal, JournalEntry
from invokeai_saas.media.s3 import ObjectStore, ReadThroughCache, object_key

IMAGES = "images"
THUMBNAILS = "thumbnails"
_DEFAULT_COMPRESS_LEVEL = 1  # InvokeAI's default `pil_compress_level`, used until start() gives us the config
_LRU_SIZE = 10  # as stock


@dataclass(frozen=True)
class _StagedDelete:
    """One image to delete, recorded by `stage_delete()`; its objects stay until the token is committed."""

    image_name: str
    image_subfolder: str
    journal: JournalEntry = JournalEntry(())


@dataclass(frozen=True)
class _PendingDelete:
    """Images to delete, recorded by `begin_delete()` before the records go; nothing is deleted yet."""

    images: tuple[tuple[str, str], ...]
    journal: JournalEntry = JournalEntry(())


class _ImageLRU:
    """Decoded images by path, shared by the session-processor threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Path, PILImageType] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> Optional[PILImageType]:
        with self._lock:
            image = self._items.get(path)
            if image is not None:
                self._items.move_to_end(path)
            return image

    def put(self, path: Path, image: PILImageType) -> None:
        with self._lock:
            self._items[path] = image
            self._items.move_to_end(path)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, path: Path) -> None:
        with self._lock:
            self._items.pop(path, None)


class S3ImageFileStorage(ImageFileStorageBase):
    """Images and thumbnails in one bucket prefix, with a local read-through cache in `cache_dir`."""

    def __init__(self, store: ObjectStore, cache_dir: Path, journal: DeleteJournal | None = None) -> None:
        self._store = store
        self._cache = ReadThroughCache(store, cache_dir)
        self._decoded = _ImageLRU(_LRU_SIZE)
        self._invoker: Optional[Invoker] = None
        self._journal = journal  # None: no database to journal to (objects of a dead delete may stay)
        for folder in (IMAGES, THUMBNAILS):
            self._cache.path(folder).mkdir(parents=True, exist_ok=True)

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker
        if self._journal is not None:
            try:
                finished = self._journal.recover(self._store)
            except Exception as e:  # the rows stay: the next pod to start tries again
                InvokeAILogger.get_logger().warning(f"Could not finish earlier media deletes: {e}")
            else:
                if finished:
                    InvokeAILogger.get_logger().info(f"Finished earlier media deletes: {finished} objects removed")

    @property
    def store(self) -> ObjectStore:
        return self._store

    @property
    def image_root(self) -> Path:
        return self._cache.path(IMAGES)

    @property
    def thumbnail_root(self) -> Path:
        return self._cache.path(THUMBNAILS)

    @staticmethod
    def image_key(image_name: str, image_subfolder: str = "") -> str:
        return object_key(IMAGES, image_name, image_subfolder)

    @staticmethod
    def thumbnail_key(image_name: str, image_subfolder: str = "") -> str:
        return object_key(THUMBNAILS, get_thumbnail_name(image_name), image_subfolder)

    def _keys(self, image_name: str, image_subfolder: str) -> list[str]:
        return [self.image_key(image_name, image_subfolder), self.thumbnail_key(image_name, image_subfolder)]

    def get_path(self, image_name: str, thumbnail: bool = False, image_subfolder: str = "") -> Path:
        """The local copy's path, downloaded first if the object exists; like stock, a missing image is no error."""
        if thumbnail:
            return self._cache.fetch(self.thumbnail_key(image_name, image_subfolder))
        return self._cache.fetch(self.image_key(image_name, image_subfolder))

    def get(self, image_name: str, image_subfolder: str = "") -> PILImageType:
        try:
            path = self.get_path(image_name, image_subfolder=image_subfolder)
            cached = self._decoded.get(path)
            if cached is not None:
                return cached
            image = Image.open(path)
            # Decode now, as stock does: the cached object is shared between threads, and a lazy one would
            # race on its file handle.
            image.load()
            self._decoded.put(path, image)
            return image
        except FileNotFoundError as e:
            raise ImageFileNotFoundException from e

    def save(
        self,
        image: PILImageType,
        image_name: str,
        metadata: Optional[str] = None,
        workflow: Optional[str] = None,
        graph: Optional[str] = None,
        thumbnail_size: int = 256,
        image_subfolder: str = "",
    ) -> None:
        try:
            image_key, thumbnail_key = self._keys(image_name, image_subfolder)
            # Build the thumbnail before image.info is replaced: PIL keeps palette transparency there.
            thumbnail = make_thumbnail(image, thumbnail_size)
            png = self._encode_png(image, {"invokeai_metadata": metadata, "invokeai_workflow": workflow,
                                           "invokeai_graph": graph})
            webp = io.BytesIO()
            thumbnail.save(webp, "WEBP")
        except Exception as e:
            raise ImageFileSaveException from e
        self._upload(image_key, png.getvalue(), thumbnail_key, webp.getvalue())
        self._cache_locally(image_key, png.getvalue(), image)
        self._cache_locally(thumbnail_key, webp.getvalue(), thumbnail)

    def _encode_png(self, image: PILImageType, chunks: dict[str, Optional[str]]) -> io.BytesIO:
        pnginfo = PngImagePlugin.PngInfo()
        info = {name: value for name, value in chunks.items() if value is not None}
        for name, value in info.items():
            pnginfo.add_text(name, value)
        image.info = info
        compress_level = self._compress_level()
        options: dict[str, int] = {"compress_level": compress_level}
        if compress_level == 1 and _should_use_png_rle(image):
            options["compress_type"] = zlib.Z_RLE
        output = io.BytesIO()
        image.save(output, "PNG", pnginfo=pnginfo, **options)
        return output

    def _compress_level(self) -> int:
        if self._invoker is None:
            return _DEFAULT_COMPRESS_LEVEL
        return self._invoker.services.configuration.pil_compress_level

    def _upload(self, image_key: str, png: bytes, thumbnail_key: str, webp: bytes) -> None:
        """Thumbnail first: a failure can then never leave a full-size image without its thumbnail."""
        try:
            self._store.put_bytes(thumbnail_key, webp, "image/webp")
        except Exception as e:
            raise ImageFileSaveException from e
        try:
            self._store.put_bytes(image_key, png, "image/png")
        except Exception as e:
            self._drop_orphan_thumbnail(image_key, thumbnail_key)
            raise ImageFileSaveException from e

    def _drop_orphan_thumbnail(self, image_key: str, thumbnail_key: str) -> None:
        """Best effort: a thumbnail whose image never existed is garbage; one of an older image is kept."""
        try:
            if not self._store.exists(image_key):
                self._store.delete(thumbnail_key)
        except Exception as e:
            InvokeAILogger.get_logger().warning(f"Could not remove orphan thumbnail {thumbnail_key}: {e}")

    def _cache_locally(self, key: str, data: bytes, image: PILImageType) -> None:
        """The bucket already holds the file; a cache that cannot be written only costs a download later."""
        path = self._cache.path(key)
        try:
            self._cache.put(key, data)
            self._decoded.put(path, image)
        except OSError as e:
            self._decoded.pop(path)
            InvokeAILogger.get_logger().warning(f"Could not cache {key} locally: {e}")

    def delete(self, image_name: str, image_subfolder: str = "") -> None:
        self.commit_delete(self.stage_delete(image_name, image_subfolder))

    def stage_delete(self, image_name: str, image_subfolder: str = "") -> _StagedDelete:
        """Records one image to delete. Unlike stock, its files stay in service until `commit_delete()`."""
        keys = self._keys(image_name, image_subfolder)  # a bad name raises ValueError here, as stock does
        return _StagedDelete(image_name, image_subfolder, self._record([(image_name, k) for k in keys]))

    def begin_delete(self, images: Sequence[tuple[str, str]]) -> _PendingDelete:
        # Every name must turn into keys now, while the caller can still abort — not after the records are gone.
        objects = [(name, key) for name, subfolder in images for key in self._keys(name, subfolder)]
        return _PendingDelete(tuple((name, subfolder) for name, subfolder in images), self._record(objects))

    def _record(self, objects: list[tuple[str, str]]) -> JournalEntry:
        return self._journal.record(IMAGE, objects) if self._journal is not None else JournalEntry(())

    def _erase(self, entry: JournalEntry) -> None:
        if self._journal is not None:
            self._journal.erase(entry)

    def commit_delete(self, token: object, image_names: Optional[Collection[str]] = None) -> None:
        if isinstance(token, _StagedDelete):
            images = [(token.image_name, token.image_subfolder)]
        elif isinstance(token, _PendingDelete):
            selected = None if image_names is None else set(image_names)
            images = [(name, sub) for name, sub in token.images if selected is None or name in selected]
        else:
            raise ImageFileDeleteException("Invalid delete token")
        self._purge(images)
        self._erase(token.journal)  # the images not selected kept their records: their delete is abandoned

    def _purge(self, images: list[tuple[str, str]]) -> None:
        keys = [key for name, subfolder in images for key in self._keys(name, subfolder)]
        try:
            self._store.delete_many(keys)
        except Exception as e:
            raise ImageFileDeleteException(f"Failed to purge deleted image files: {e}") from e
        for key in keys:
            self._decoded.pop(self._cache.path(key))
            try:
                self._cache.drop(key)
            except OSError as e:
                InvokeAILogger.get_logger().warning(f"Could not remove cached copy of {key}: {e}")

    def abandon_delete(self, token: object) -> None:
        """Forgets a pending delete: nothing was deleted, so there is nothing to undo."""
        if not isinstance(token, _PendingDelete):
            raise ImageFileDeleteException("Invalid pending-delete token")
        self._erase(token.journal)

    def rollback_delete(self, token: object) -> None:
        """Forgets a staged delete: its objects never left the bucket."""
        if not isinstance(token, _StagedDelete):
            raise ImageFileDeleteException("Invalid staged-delete token")
        self._erase(token.journal)

    def move(self, image_name: str, old_subfolder: str, new_subfolder: str) -> None:
        """Moves an image and its thumbnail to another subfolder: copy both, then delete the old ones.

        Not in the ABC: InvokeAI's image moves rename files on disk, which moves only the local copies. A crash
        between the copy and the delete leaves both copies, never neither.
        """
        old_keys, new_keys = self._keys(image_name, old_subfolder), self._keys(image_name, new_subfolder)
        for old, new in zip(old_keys, new_keys, strict=True):
            self._store.copy(old, new)
        self._purge([(image_name, old_subfolder)])

    def evict_cache_paths(self, paths: list[Path]) -> None:
        for path in paths:
            self._decoded.pop(path.resolve())

    def validate_path(self, path: Union[str, Path]) -> bool:
        """True when the file is (or can be made) present locally; a path outside the cache must already exist."""
        path = Path(path)
        if path.exists():
            return True
        key = self._cache.key_of(path)
        if key is None or not key.startswith((f"{IMAGES}/", f"{THUMBNAILS}/")):
            return False
        return self._cache.fetch(key).exists()

    def get_workflow(self, image_name: str, image_subfolder: str = "") -> Optional[str]:
        workflow = self.get(image_name, image_subfolder=image_subfolder).info.get("invokeai_workflow")
        return workflow if isinstance(workflow, str) else None

    def get_graph(self, image_name: str, image_subfolder: str = "") -> Optional[str]:
        graph = self.get(image_name, image_subfolder=image_subfolder).info.get("invokeai_graph")
        return graph if isinstance(graph, str) else None
