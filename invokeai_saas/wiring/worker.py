"""`pingvas worker`: the session processor and a small health/metrics server, nothing else.

No web UI, no InvokeAI routes or Socket.IO, no model installer and no start-up maintenance (image-move
recovery, install clean-up): those belong to API pods. The worker builds the same services as an
API pod (`services.build_services`), so a session runs exactly as it does in `serve`; its events
reach the processor's own handlers here and, with Redis, every API pod's clients (`event_bridge`).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_events.handlers.local import local_handler
from fastapi_events.middleware import EventHandlerASGIMiddleware

import patches
from invokeai_saas.accounts.account_cache import AccountCache
from invokeai_saas.api.health import health_router
from invokeai_saas.wiring.app import configure_invokeai, open_database, prepare_database, readiness_checks
from invokeai_saas.wiring.logs import configure_logging
from invokeai_saas.core.metrics import watch_queue
from invokeai_saas.accounts.rate_limits import parse_networks
from invokeai_saas.core.settings import Settings

logger = logging.getLogger("pingvas.worker")


def create_worker_app(settings: Settings) -> tuple[FastAPI, asyncio.AbstractEventLoop]:
    """The worker's app and the event loop its events are dispatched on (run the server on it)."""
    patches.apply_all()
    configure_logging(settings.log_format)
    configure_invokeai(settings)
    db = open_database(settings)
    prepare_database(db)
    watch_queue(db)
    loop = asyncio.new_event_loop()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from invokeai.app.api.dependencies import ApiDependencies
        from invokeai.app.services.config.config_default import get_config
        from invokeai.backend.util.logging import InvokeAILogger

        from invokeai_saas.wiring.services import make_initializer

        config = get_config()
        initialize = make_initializer(db, AccountCache(), settings, run_processor=True, role="worker")
        # On the loop's own thread, as InvokeAI does: its event service schedules a task on this loop.
        initialize(config, id(app), loop, InvokeAILogger.get_logger(config=config))
        try:
            yield
        finally:
            await asyncio.to_thread(ApiDependencies.shutdown)

    app = FastAPI(title="Pingvas worker", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    # InvokeAI's events reach in-process handlers (the processor's own) through this middleware's id.
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler], middleware_id=id(app))
    app.include_router(health_router("worker", readiness_checks(settings, db), parse_networks(settings.trusted_proxies)))
    return app, loop

