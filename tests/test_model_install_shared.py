"""Model installs on a models folder every API pod shares: a pod starting leaves the install folders
another pod is writing alone, cleans up and resumes only abandoned ones, and takes each over once.
The same scene under stock's installer shows what it would break."""

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from invokeai.app.services.config import InvokeAIAppConfig
from invokeai.app.services.download import DownloadQueueService
from invokeai.app.services.model_install.model_install_default import (
    INSTALL_MARKER_FILENAME,
    INSTALL_MARKER_VERSION,
    ModelInstallService,
)
from invokeai_saas.db import Database
from invokeai_saas.media.model_install import SharedFolderModelInstall
from invokeai_saas.records.model_records_sql import SqlModelRecordService
from tenant_middleware.context import system_scope

QUIET_S = 60.0
LONG_AGO = time.time() - 3600


def install_folder(models: Path, name: str, status: str | None, source: str = "", old: bool = False) -> Path:
    folder = models / f"tmpinstall_{name}"
    folder.mkdir()
    (folder / "part.safetensors.downloading").write_bytes(b"\0" * 16)
    if status is not None:
        marker = {"version": INSTALL_MARKER_VERSION, "source": source, "config_in": {}, "status": status, "files": []}
        (folder / INSTALL_MARKER_FILENAME).write_text(json.dumps(marker))
    if old:
        for path in [*folder.iterdir(), folder]:
            os.utime(path, (LONG_AGO, LONG_AGO))
    return folder


@pytest.fixture
def scene(tmp_path: Path) -> tuple[InvokeAIAppConfig, dict[str, Path]]:
    config = InvokeAIAppConfig(models_dir=tmp_path / "models")
    config.models_path.mkdir(parents=True)
    models = config.models_path
    folders = {
        "begun": install_folder(models, "begun", None),  # another pod just made it; no marker yet
        "running": install_folder(models, "running", "paused", "http://127.0.0.1:9/running.safetensors"),
        "old_bare": install_folder(models, "old_bare", None, old=True),
        "old_done": install_folder(models, "old_done", "completed", "http://127.0.0.1:9/done.safetensors", old=True),
        "old_unfinished": install_folder(
            models, "old_unfinished", "paused", "http://127.0.0.1:9/unfinished.safetensors", old=True
        ),
    }
    return config, folders


def started(installer: ModelInstallService) -> ModelInstallService:
    with system_scope():
        installer.start()
    assert installer._wait_for_restore_complete(timeout=60)
    return installer


@pytest.fixture
def stop() -> Iterator[list[ModelInstallService]]:
    installers: list[ModelInstallService] = []
    yield installers
    for installer in installers:
        installer.stop()


def sources(installer: ModelInstallService) -> set[str]:
    return {str(job.source) for job in installer.list_jobs()}


def test_a_starting_pod_touches_only_abandoned_install_folders(
    database: Database, scene: tuple[InvokeAIAppConfig, dict[str, Path]], stop: list[ModelInstallService]
) -> None:
    config, folders = scene
    records = SqlModelRecordService(database, logging.getLogger("test"))
    downloads = DownloadQueueService(app_config=config)
    pod = SharedFolderModelInstall(
        app_config=config, record_store=records, download_queue=downloads, db=database, quiet_seconds=QUIET_S
    )
    stop.append(started(pod))

    assert folders["begun"].exists() and folders["running"].exists()  # another pod's installs: untouched
    assert not folders["old_bare"].exists() and not folders["old_done"].exists()  # left by a dead pod: cleaned
    assert sources(pod) == {"http://127.0.0.1:9/unfinished.safetensors"}  # resumed here, and only that one
    assert not pod.is_abandoned(folders["old_unfinished"])  # taken over: the next pod leaves it alone

    second = SharedFolderModelInstall(
        app_config=config, record_store=records, download_queue=downloads, db=database, quiet_seconds=QUIET_S
    )
    stop.append(started(second))
    assert sources(second) == set()
    assert all(folders[name].exists() for name in ("begun", "running", "old_unfinished"))


def test_stock_installer_breaks_the_same_scene(
    database: Database, scene: tuple[InvokeAIAppConfig, dict[str, Path]], stop: list[ModelInstallService]
) -> None:
    """The control: stock deletes the folder another pod just began and re-runs the one it is downloading."""
    config, folders = scene
    records = SqlModelRecordService(database, logging.getLogger("test"))
    stock = ModelInstallService(app_config=config, record_store=records, download_queue=DownloadQueueService(app_config=config))
    stop.append(started(stock))
    assert not folders["begun"].exists()
    assert "http://127.0.0.1:9/running.safetensors" in sources(stock)
