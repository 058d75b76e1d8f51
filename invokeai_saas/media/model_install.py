"""Model installs on a models folder that every API pod shares (EFS in production).

Stock's installer start deletes "dangling" install folders (`tmpinstall_*`) and resumes every
unfinished install it finds in the models folder, and an import reuses any unfinished folder of the
same source. With several pods, a pod starting (or importing) would delete, re-run or write into an
install another pod is downloading right now. Here:

- the start-up maintenance runs on one pod at a time (a cluster lock);
- it, and the reuse of a folder at import, touch only folders nobody has written to for
  `quiet_seconds` (abandoned: the pod that made them died or stalled);
- a folder it takes over is touched at once, so the next pod to start leaves it alone.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
import time
from pathlib import Path
from typing import Any, Optional

from invokeai.app.services.model_install.model_install_default import ModelInstallService
from invokeai.app.services.model_install.model_install_common import ModelSource
from invokeai_saas.db.database import Database

MAINTENANCE_LOCK = "model-install-maintenance"
# An install folder nobody wrote to for this long is abandoned (a download writes every second or so).
SHARED_INSTALL_QUIET_SECONDS = 600.0


def last_write(folder: Path) -> float:
    """When anything in `folder` (itself included) was last modified."""
    times = [folder.stat().st_mtime]
    times += [p.stat().st_mtime for p in folder.rglob("*") if p.exists()]
    return max(times)


class SharedFolderModelInstall(ModelInstallService):
    def __init__(self, *args: Any, db: Database, quiet_seconds: float = SHARED_INSTALL_QUIET_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db = db
        self._quiet_seconds = quiet_seconds
        self._scan = threading.local()  # what stock code scanning the shared folder is doing, on this thread
        self._taken: set[Path] = set()  # abandoned folders this pod took over

    def is_abandoned(self, tmpdir: Path) -> bool:
        try:
            return time.time() - last_write(tmpdir) >= self._quiet_seconds
        except FileNotFoundError:
            return False  # its owner just finished or removed it

    def _remove_dangling_install_dirs(self) -> None:
        with self._db.cluster_lock(MAINTENANCE_LOCK, wait=True), self._scanning("remove"):
            super()._remove_dangling_install_dirs()

    def _restore_incomplete_installs(self) -> None:
        with self._db.cluster_lock(MAINTENANCE_LOCK, wait=True), self._scanning("take"):
            super()._restore_incomplete_installs()

    def _find_reusable_tmpdir(self, source: ModelSource) -> Optional[Path]:
        with self._scanning("take"):
            return super()._find_reusable_tmpdir(source)

    def _read_install_marker(self, tmpdir: Path) -> Optional[dict]:
        """While scanning, a folder another pod may still be writing has no marker (stock skips it);
        one that is abandoned is taken over (touched, so other pods now leave it alone) when read to
        resume or reuse it."""
        scan = getattr(self._scan, "doing", None)
        if scan is not None and tmpdir not in self._taken:
            if not self.is_abandoned(tmpdir):
                return None
            if scan == "take":
                self._taken.add(tmpdir)
                if self._marker_path(tmpdir).exists():
                    self._marker_path(tmpdir).touch()
        return super()._read_install_marker(tmpdir)

    def _safe_rmtree(self, path: Path, logger: Any) -> None:  # type: ignore[override]  # stock: a staticmethod
        """While scanning, only folders this pod took over or that are abandoned are removed (stock
        removes one without a marker at once: on a shared folder it may be an install just begun)."""
        scanning = getattr(self._scan, "doing", None) is not None
        if scanning and path.exists() and path not in self._taken and not self.is_abandoned(path):
            logger.info(f"Leaving {path}: another pod may be installing into it")
            return
        self._taken.discard(path)
        ModelInstallService._safe_rmtree(path, logger)

    @contextmanager
    def _scanning(self, doing: str) -> Iterator[None]:
        self._scan.doing = doing
        try:
            yield
        finally:
            self._scan.doing = None
