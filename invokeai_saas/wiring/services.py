"""Build InvokeAI's InvocationServices with our SQL record services (replaces ApiDependencies.initialize)."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from logging import Logger
from pathlib import Path
from typing import Any

import torch
from invokeai.app.api.dependencies import ApiDependencies
from invokeai.app.services.auth.token_service import set_jwt_secret
from invokeai.app.services.board_images.board_images_default import BoardImagesService
from invokeai.app.services.boards.boards_default import BoardService
from invokeai.app.services.config.config_default import InvokeAIAppConfig
from invokeai.app.services.download.download_default import DownloadQueueService
from invokeai.app.services.external_generation.external_generation_default import ExternalGenerationService
from invokeai.app.services.external_generation.providers import (
    AlibabaCloudProvider,
    GeminiProvider,
    OpenAIProvider,
    SeedreamProvider,
)
from invokeai.app.services.image_files.image_files_disk import DiskImageFileStorage
from invokeai.app.services.invocation_services import InvocationServices
from invokeai.app.services.invocation_stats.invocation_stats_default import InvocationStatsService
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.model_images.model_images_default import ModelImageFileStorageDisk
from invokeai.app.services.model_manager.model_manager_default import ModelManagerService
from invokeai.app.services.model_relationships.model_relationships_default import ModelRelationshipsService
from invokeai.app.services.names.names_default import SimpleNameService
from invokeai.app.services.object_serializer.object_serializer_disk import ObjectSerializerDisk
from invokeai.app.services.object_serializer.object_serializer_forward_cache import ObjectSerializerForwardCache
from invokeai.app.services.session_processor.session_processor_default import DefaultSessionRunner
from invokeai.app.services.session_queue.session_queue_common import SessionQueueItem
from invokeai.app.services.style_preset_images.style_preset_images_disk import StylePresetImageFileStorageDisk
from invokeai.app.services.urls.urls_default import LocalUrlService
from invokeai.app.services.video_files.video_files_disk import DiskVideoFileStorage
from invokeai.app.services.workflow_thumbnails.workflow_thumbnails_disk import WorkflowThumbnailFileStorageDisk
from invokeai.backend.stable_diffusion.diffusion import conditioning_data as cd

from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.media.bulk_downloads import SqlBulkDownloadService
from invokeai_saas.money.credit_events import CreditsChangedEvent, raise_on_commit
from invokeai_saas.db import Database
from invokeai_saas.queue.event_bridge import PROCESSOR_CONTROL, EventBridge
from invokeai_saas.queue.events import TenantEventService
from invokeai_saas.media.images import SqlImageService, SqlVideoService
from invokeai_saas.money import metering
from invokeai_saas.money.external_generation import MeteredExternalGeneration
from invokeai_saas.money.gating import ModelLoadGate
from invokeai_saas.queue.invocation_cache import TenantInvocationCache
from invokeai_saas.money.ledger import ledger_for
from invokeai_saas.media.model_install import SHARED_INSTALL_QUIET_SECONDS, SharedFolderModelInstall
from invokeai_saas.records.app_settings_sql import SqlAppSettingsService
from invokeai_saas.records.board_image_records_sql import SqlBoardImageRecordStorage
from invokeai_saas.records.board_records_sql import SqlBoardRecordStorage
from invokeai_saas.records.board_video_records_sql import SqlBoardVideoRecordStorage
from invokeai_saas.records.client_state_sql import SqlClientStatePersistence
from invokeai_saas.records.gallery_sql import SqlGalleryService
from invokeai_saas.records.image_moves_sql import SqlImageMoveService
from invokeai_saas.records.image_records_sql import SqlImageRecordStorage
from invokeai_saas.records.model_records_sql import SqlModelRecordService
from invokeai_saas.records.model_relationship_records_sql import SqlModelRelationshipRecordStorage
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from invokeai_saas.records.style_preset_records_sql import SqlStylePresetRecordsStorage
from invokeai_saas.records.system_prompt_records_sql import SqlSystemPromptRecordsStorage
from invokeai_saas.accounts.users_sql import SqlUserService
from invokeai_saas.records.video_records_sql import SqlVideoRecordStorage
from invokeai_saas.records.workflow_records_sql import SqlWorkflowRecordsStorage
from invokeai_saas.queue.claims import Dispatcher
from invokeai_saas.core.running_claim import held_claim
from invokeai_saas.queue.signals import signals_for
from invokeai_saas.queue.session_processors import NoSessionProcessor, TenantAwareSessionProcessor
from invokeai_saas.core.settings import Settings
from invokeai_saas.media.delete_journal import DeleteJournal
from invokeai_saas.media.image_files_s3 import S3ImageFileStorage
from invokeai_saas.media.media_files_s3 import (
    S3StylePresetImageFileStorage,
    S3VideoFileStorage,
    S3WorkflowThumbnailFileStorage,
)
from invokeai_saas.media.s3 import ObjectStore
from patches import processor_gc
from tenant_middleware.context import bind_tenant, system_scope

_CONDITIONING_TYPES = [
    cd.ConditioningFieldData, cd.BasicConditioningInfo, cd.SDXLConditioningInfo, cd.FLUXConditioningInfo,
    cd.SD3ConditioningInfo, cd.CogView4ConditioningInfo, cd.ZImageConditioningInfo, cd.ErnieImageConditioningInfo,
    cd.Ideogram4ConditioningInfo, cd.QwenImageConditioningInfo, cd.Krea2ConditioningInfo, cd.AnimaConditioningInfo,
    cd.WanConditioningInfo,
]


class TenantBoundSessionQueue(SqlSessionQueue):
    """The queue as the session processor sees it: a claimed item's tenant becomes the worker
    thread's scope, so everything the session writes (images, events, cache) is the item's tenant's.
    A worker finding nothing to claim pays the garbage collection it skipped while busy."""

    def dequeue(self, *args, **kwargs) -> SessionQueueItem | None:  # type: ignore[no-untyped-def]
        item = super().dequeue(*args, **kwargs)
        if item is None:
            processor_gc.collect_if_owed()
        else:
            claim = held_claim(item.item_id)
            bind_tenant(claim.tenant_id if claim is not None else self.tenant_of(item.item_id))
        return item


class OneTransactionBoards(BoardService):
    """Stock's board listings read the boards, then their covers and counts. On SQLite each
    transaction's connect, BEGIN and COMMIT is Python work of its own, so a listing takes one.
    (On Postgres each read stays a single statement in autocommit, which costs fewer round trips.)"""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def get_many(self, *args: Any, **kwargs: Any) -> Any:
        with self._one_transaction():
            return super().get_many(*args, **kwargs)

    def get_all(self, *args: Any, **kwargs: Any) -> Any:
        with self._one_transaction():
            return super().get_all(*args, **kwargs)

    def _one_transaction(self) -> AbstractContextManager[Any]:
        return self._db.begin() if self._db.is_sqlite else nullcontext()


@dataclass(frozen=True)
class MediaStores:
    images: Any
    videos: Any
    style_preset_images: Any
    workflow_thumbnails: Any
    store: ObjectStore | None  # the bucket, when media live in S3


def media_stores(settings: Settings, config: InvokeAIAppConfig, scratch: Path, db: Database) -> MediaStores:
    """Disk (the embedded default) or S3 (`PINGVAS_STORAGE_URL`, with a pod-local read-through cache)."""
    output_folder = config.outputs_path
    assert output_folder is not None
    if not settings.storage_url:
        return MediaStores(
            DiskImageFileStorage(f"{output_folder}/images"),
            DiskVideoFileStorage(f"{output_folder}/videos"),
            StylePresetImageFileStorageDisk(config.style_presets_path / "images"),
            WorkflowThumbnailFileStorageDisk(config.workflow_thumbnails_path),
            None,
        )
    store = ObjectStore.from_url(settings.storage_url)
    cache = scratch / "media-cache"
    journal = DeleteJournal(db)
    return MediaStores(
        S3ImageFileStorage(store, cache / "images", journal),
        S3VideoFileStorage(store, cache / "videos", journal),
        S3StylePresetImageFileStorage(store, cache / "style_preset_images"),
        S3WorkflowThumbnailFileStorage(store, cache / "workflow_thumbnails"),
        store,
    )


def without_startup_maintenance(services: Any) -> None:
    """A worker installs no models and runs no installer thread: stock's installer start also deletes
    "dangling" install folders and resumes unfinished installs on the shared models folder, which
    would break an install running on an API pod."""
    installer = services.model_manager.install
    installer.start = lambda *args, **kwargs: None
    installer.stop = lambda *args, **kwargs: None


def make_initializer(
    db: Database, accounts: AccountCache, settings: Settings, run_processor: bool = True, role: str = "serve"
) -> Callable[..., None]:
    """`role`: "serve" (embedded, everything), "api" (no processor), "worker" (no start-up maintenance)."""

    def initialize(config: InvokeAIAppConfig, event_handler_id: int, loop: asyncio.AbstractEventLoop, logger: Logger) -> None:
        services = build_services(db, config, event_handler_id, loop, logger, run_processor, accounts, settings, role)
        if role == "worker":
            without_startup_maintenance(services)
        # InvokeAI's start-up (default workflows, queue recovery, image-move recovery) is platform
        # maintenance: it runs in system scope, which lasts for this start-up task only.
        with system_scope():
            ApiDependencies.invoker = Invoker(services)

    return initialize


def build_services(
    db: Database,
    config: InvokeAIAppConfig,
    event_handler_id: int,
    loop: asyncio.AbstractEventLoop,
    logger: Logger,
    run_processor: bool = True,
    accounts: AccountCache | None = None,
    settings: Settings | None = None,
    role: str = "serve",
) -> InvocationServices:
    settings = settings or Settings()
    output_folder = config.outputs_path
    assert output_folder is not None
    # Never on a shared folder: a serializer deletes every leftover tmp* folder under it when built.
    scratch = settings.scratch_dir or output_folder
    files = media_stores(settings, config, scratch, db)
    image_files = files.images
    set_jwt_secret(SqlAppSettingsService(db).get_jwt_secret())

    events = TenantEventService(event_handler_id, loop=loop)
    if settings.redis_url:
        accept = (lambda name: name in PROCESSOR_CONTROL) if role == "worker" else (lambda name: True)
        events.bridge = EventBridge(
            settings.redis_url, f"pingvas:events:{db.url.database}:{db.schema or 'public'}", accept, events.dispatch_from_pod
        )
    raise_on_commit(db, lambda tenant_id, credits: events.dispatch_for_tenant(CreditsChangedEvent(credits=credits), tenant_id))
    model_records = SqlModelRecordService(db, logger)
    download_queue = DownloadQueueService(app_config=config, event_bus=events)
    model_manager = ModelManagerService.build_model_manager(
        app_config=config, model_record_service=model_records, download_queue=download_queue, events=events
    )
    installer = SharedFolderModelInstall(
        app_config=config,
        record_store=model_records,
        download_queue=download_queue,
        event_bus=events,
        db=db,
        quiet_seconds=SHARED_INSTALL_QUIET_SECONDS if db.is_postgres else 0.0,  # SQLite: one process, all left over
    )
    model_manager = ModelManagerService(store=model_records, install=installer, load=model_manager.load)
    ModelLoadGate(db).wrap(model_manager.load)
    external_generation = MeteredExternalGeneration(
        providers={
            p.provider_id: p(app_config=config, logger=logger)
            for p in (AlibabaCloudProvider, GeminiProvider, OpenAIProvider, SeedreamProvider)
        },
        logger=logger,
        record_store=model_records,
        db=db,
        ledger=ledger_for(settings, db),
    )
    image_records = SqlImageRecordStorage(db)
    signals = signals_for(db)  # one LISTEN connection per pod, for the queue and the invocation cache
    session_queue = TenantBoundSessionQueue(
        db,
        dispatcher=Dispatcher(
            db,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            warm_wait_seconds=settings.warm_wait_seconds,
        ),
        signals=signals,
        single_process=db.is_sqlite and run_processor,
        ledger=ledger_for(settings, db),
    )
    session_processor = (
        TenantAwareSessionProcessor(
            session_runner=DefaultSessionRunner(
                on_before_run_session_callbacks=[metering.session_started, session_queue.running],
                on_after_run_node_callbacks=[session_queue.record_warm_models],
            ),
            polling_interval=settings.queue_poll_seconds,
            heartbeat_seconds=settings.lease_seconds / 3,
        )
        if run_processor
        else NoSessionProcessor()
    )
    return InvocationServices(
        board_image_records=SqlBoardImageRecordStorage(db),
        board_images=BoardImagesService(),
        board_records=SqlBoardRecordStorage(db),
        boards=OneTransactionBoards(db),
        bulk_download=SqlBulkDownloadService(db, output_folder / "bulk_downloads"),
        configuration=config,
        events=events,
        image_files=image_files,
        image_moves=SqlImageMoveService(db, image_files, config, logger, recover_on_start=role != "worker"),
        image_records=image_records,
        images=SqlImageService(db, image_records),
        invocation_cache=TenantInvocationCache(config.node_cache_size, signals, listen=run_processor),
        logger=logger,
        model_images=ModelImageFileStorageDisk(config.models_path / "model_images"),
        model_manager=model_manager,
        model_relationships=ModelRelationshipsService(),
        model_relationship_records=SqlModelRelationshipRecordStorage(db),
        download_queue=download_queue,
        external_generation=external_generation,
        names=SimpleNameService(),
        performance_statistics=InvocationStatsService(),
        session_processor=session_processor,
        session_queue=session_queue,
        urls=LocalUrlService(),
        workflow_records=SqlWorkflowRecordsStorage(db),
        tensors=ObjectSerializerForwardCache(
            ObjectSerializerDisk[torch.Tensor](scratch / "tensors", safe_globals=[torch.Tensor], ephemeral=True)
        ),
        conditioning=ObjectSerializerForwardCache(
            ObjectSerializerDisk[cd.ConditioningFieldData](
                scratch / "conditioning", safe_globals=_CONDITIONING_TYPES, ephemeral=True
            )
        ),
        style_preset_records=SqlStylePresetRecordsStorage(db),
        style_preset_image_files=files.style_preset_images,
        system_prompt_records=SqlSystemPromptRecordsStorage(db),
        workflow_thumbnails=files.workflow_thumbnails,
        client_state_persistence=SqlClientStatePersistence(db),
        users=SqlUserService(db, accounts),
        videos=SqlVideoService(db),
        video_files=files.videos,
        video_records=SqlVideoRecordStorage(db),
        board_video_records=SqlBoardVideoRecordStorage(db),
        gallery=SqlGalleryService(db),
    )
