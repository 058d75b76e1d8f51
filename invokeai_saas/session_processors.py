"""Session processors: InvokeAI's, tenant-aware; and the `api` pod's, which runs nothing."""

from invokeai.app.services.events.events_common import FastAPIEvent, UserAccessChangedEvent
from invokeai.app.services.session_processor.session_processor_base import SessionProcessorBase
from invokeai.app.services.session_processor.session_processor_common import SessionProcessorStatus
from invokeai.app.services.session_processor.session_processor_default import DefaultSessionProcessor

from tenant_middleware.context import system_scope


class NoSessionProcessor(SessionProcessorBase):
    """An `api` pod's processor: queue items are run by `pingvas worker` pods."""

    def resume(self) -> SessionProcessorStatus:
        return self.get_status()

    def pause(self) -> SessionProcessorStatus:
        return self.get_status()

    def get_status(self) -> SessionProcessorStatus:
        return SessionProcessorStatus(is_started=False, is_processing=False)

    def get_running_queue_item_owners(self) -> set[str]:
        return set()


class TenantAwareSessionProcessor(DefaultSessionProcessor):
    """InvokeAI's processor; its cancel-on-deactivation handler runs on the event loop with no
    tenant scope, where our tenant-scoped queue would find none of the user's running items."""

    async def _on_user_access_changed(self, event: FastAPIEvent[UserAccessChangedEvent]) -> None:
        with system_scope():  # asyncio.to_thread inside carries this scope to its cancel thread
            await super()._on_user_access_changed(event)
