"""InvokeAI's event service, with each event stamped by the tenant it was raised in."""

from invokeai.app.services.events.events_common import EventBase
from invokeai.app.services.events.events_fastapievents import FastAPIEventService

from patches.sockets_tenant_rooms import stamp_event_tenant
from tenant_middleware.context import current_tenant_id, is_system_scope


class TenantEventService(FastAPIEventService):
    def dispatch(self, event: EventBase) -> None:
        # In system scope (e.g. a claim across tenants) the tenant is not known here;
        # the socket layer then derives it from the event's user.
        if not is_system_scope():
            stamp_event_tenant(event, current_tenant_id())
        super().dispatch(event)
