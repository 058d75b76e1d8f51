"""InvokeAI's event service, with each event stamped by the tenant it was raised in and, in a
cluster, relayed to every other pod (`event_bridge`).

An event nothing in this process listens to (a worker pod has no sockets: node started, progress,
complete) is not handed to the event loop: each hand-over wakes the loop thread, which then takes
the interpreter from the worker thread running the item, to find no handler.
"""

from fastapi_events.handlers.local import local_handler

from invokeai.app.services.events.events_common import EventBase
from invokeai.app.services.events.events_fastapievents import FastAPIEventService
from invokeai.app.services.invoker import Invoker

from invokeai_saas.queue.event_bridge import EventBridge
from patches.sockets_tenant_rooms import stamp_event_tenant
from tenant_middleware.context import current_tenant_id, is_system_scope


class TenantEventService(FastAPIEventService):
    bridge: EventBridge | None = None

    def start(self, invoker: Invoker) -> None:
        if self.bridge is not None:
            self.bridge.start()

    def stop(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if self.bridge is not None:
            self.bridge.stop()
        super().stop(*args, **kwargs)

    def dispatch(self, event: EventBase) -> None:
        # In system scope (e.g. a claim across tenants) the tenant is not known here;
        # the socket layer then derives it from the event's user.
        stamped = not is_system_scope()
        tenant_id = current_tenant_id() if stamped else None
        if stamped:
            stamp_event_tenant(event, tenant_id)
        if _listened_to(event):
            super().dispatch(event)
        if self.bridge is not None:
            self.bridge.publish(event, tenant_id, stamped)

    def dispatch_for_tenant(self, event: EventBase, tenant_id: str) -> None:
        """An event of `tenant_id`'s raised where no tenant scope is set (e.g. a ledger commit hook)."""
        stamp_event_tenant(event, tenant_id)
        super().dispatch(event)
        if self.bridge is not None:
            self.bridge.publish(event, tenant_id, True)

    def dispatch_from_pod(self, event: EventBase, tenant_id: str | None, stamped: bool) -> None:
        """An event another pod raised: dispatched here as it was there, and not relayed again."""
        if stamped:
            stamp_event_tenant(event, tenant_id)
        super().dispatch(event)


def _listened_to(event: EventBase) -> bool:
    """Whether a handler of this process takes the event (InvokeAI registers them on fastapi-events'
    local handler, the only one its middleware serves)."""
    handlers_for = getattr(local_handler, "_get_handlers_for_event", None)
    return handlers_for is None or bool(handlers_for(event_name=event.__event_name__))
