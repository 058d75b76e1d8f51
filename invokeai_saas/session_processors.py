"""The session processor of an `api` pod: it runs nothing (workers do) and says so."""

from invokeai.app.services.session_processor.session_processor_base import SessionProcessorBase
from invokeai.app.services.session_processor.session_processor_common import SessionProcessorStatus


class NoSessionProcessor(SessionProcessorBase):
    def resume(self) -> SessionProcessorStatus:
        return self.get_status()

    def pause(self) -> SessionProcessorStatus:
        return self.get_status()

    def get_status(self) -> SessionProcessorStatus:
        return SessionProcessorStatus(is_started=False, is_processing=False)

    def get_running_queue_item_owners(self) -> set[str]:
        return set()
