"""Socket.IO rooms never cross tenants.

Why: InvokeAI's shared rooms (a queue id such as "default", "workflows:shared", bulk-download ids)
are global, so every user subscribed to queue "default" receives every other user's sanitized queue
events, and `subscribe_queue` joins any room by name. We keep InvokeAI's socket code and translate
room names instead: a shared room becomes `tenant:<id>:<room>`, using the socket's tenant when it
joins and the event's tenant when one is emitted. Client-supplied room ids (queue and bulk-download
subscriptions) must be plain ids, so a client cannot name "admin" or another user's room. `user:<id>` rooms (unique per user) and the
platform operators' `admin` room are left as they are. An event whose tenant cannot be determined
is not sent to any shared room (fail closed).
"""

import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import socketio

from invokeai.app.api import sockets

_UNKNOWN = "\0unknown"
# What a tenant lookup returns for a user who belongs to no tenant and is no operator: no shared room.
NO_SHARED_ROOMS = _UNKNOWN
_EVENT_TENANT_ATTR = "_pingvas_tenant"

# user_id -> tenant_id (None for platform operators, NO_SHARED_ROOMS for anyone else); installed by the app wiring.
tenant_of_user: Callable[[str], str | None] = lambda _user_id: _UNKNOWN  # noqa: E731
_emit_tenant: ContextVar[str | None] = ContextVar("pingvas_emit_tenant", default=_UNKNOWN)


def set_tenant_lookup(lookup: Callable[[str], str | None]) -> None:
    global tenant_of_user
    tenant_of_user = lookup


def stamp_event_tenant(event: object, tenant_id: str | None) -> None:
    """Record on an event which tenant it belongs to (not serialized: pydantic ignores the attribute)."""
    object.__setattr__(event, _EVENT_TENANT_ATTR, tenant_id)


def stamped_tenant(event: object) -> str | None:
    """The tenant `stamp_event_tenant` recorded on an event (None when none was)."""
    stamped = getattr(event, _EVENT_TENANT_ATTR, None)
    return None if stamped == _UNKNOWN else stamped


def _tenant_of_event(event: object) -> str | None:
    stamped = getattr(event, _EVENT_TENANT_ATTR, _UNKNOWN)
    if stamped != _UNKNOWN:
        return stamped
    user_id = getattr(event, "user_id", None)
    if isinstance(user_id, str) and user_id not in ("system", "redacted"):
        return tenant_of_user(user_id)
    return _UNKNOWN


def _is_shared(room: str) -> bool:
    return not (room == "admin" or room.startswith("user:") or room.startswith("tenant:"))


def _qualify(room: str, tenant_id: str | None) -> str | None:
    if not _is_shared(room):
        return room
    if tenant_id == _UNKNOWN:
        return None
    return f"tenant:{tenant_id or '-'}:{room}"


class TenantRoomServer(socketio.AsyncServer):
    """AsyncServer whose shared room names are qualified by tenant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sid_tenant: dict[str, str | None] = {}

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        qualified = _qualify(room, self.sid_tenant.get(sid, _UNKNOWN))
        if qualified is not None:
            await super().enter_room(sid, qualified, namespace=namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        qualified = _qualify(room, self.sid_tenant.get(sid, _UNKNOWN))
        if qualified is not None:
            await super().leave_room(sid, qualified, namespace=namespace)

    async def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None, **kwargs: Any) -> None:
        target = to if to is not None else room
        tenant_id = _emit_tenant.get()
        if target is None:
            # A broadcast: only the event's tenant (or the operators, if it has none).
            target = "admin" if tenant_id in (_UNKNOWN, None) else f"tenant:{tenant_id}"
        rooms = target if isinstance(target, list) else [target]
        qualified = [q for r in rooms if (q := _qualify(r, tenant_id)) is not None]
        if qualified:
            await super().emit(event, data, room=qualified, **kwargs)


def _with_event_tenant(handler: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(self: Any, event: Any) -> Any:
        token = _emit_tenant.set(_tenant_of_event(event[1]))
        try:
            return await handler(self, event)
        finally:
            _emit_tenant.reset(token)

    wrapped.__name__ = handler.__name__
    return wrapped


def _connect_with_tenant(original: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(self: Any, sid: str, environ: dict, auth: dict | None) -> bool:
        user_id = _user_id_from_handshake(environ, auth)
        self._sio.sid_tenant[sid] = tenant_of_user(user_id) if user_id else _UNKNOWN
        accepted = await original(self, sid, environ, auth)
        if accepted and self._sio.sid_tenant[sid] != _UNKNOWN:
            await self._sio.enter_room(sid, f"tenant:{self._sio.sid_tenant[sid] or '-'}")
        elif not accepted:
            self._sio.sid_tenant.pop(sid, None)
        return accepted

    return wrapped


def _disconnect_forgetting_tenant(original: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(self: Any, sid: str, reason: str | None = None) -> None:
        try:
            await original(self, sid, reason)
        finally:
            self._sio.sid_tenant.pop(sid, None)

    return wrapped


def _user_id_from_handshake(environ: dict | None, auth: dict | None) -> str | None:
    from invokeai.app.services.auth.token_service import verify_token

    token = auth.get("token") if isinstance(auth, dict) else None
    if not token and environ:
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:] if header.startswith("Bearer ") else None
    data = verify_token(token) if token else None
    return data.user_id if data else None


_PLAIN_ROOM_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _plain_id_only(original: Callable[..., Any], field: str) -> Callable[..., Any]:
    """Stock code joins whatever room name the client sends ("admin", "user:<someone>" included)."""

    async def wrapped(self: Any, sid: str, data: Any) -> None:
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str) or not _PLAIN_ROOM_ID.match(value) or value == "admin":
            sockets.logger.warning(f"Refusing {original.__name__} for socket {sid}: invalid {field}")
            return
        await original(self, sid, data)

    wrapped.__name__ = original.__name__
    return wrapped


_EVENT_HANDLERS = (
    "_handle_queue_event",
    "_handle_model_event",
    "_handle_llm_task_event",
    "_handle_bulk_image_download_event",
    "_handle_workflow_event",
    "_handle_user_access_changed",
)


def apply() -> None:
    sockets.AsyncServer = TenantRoomServer  # SocketIO.__init__ builds its server from this name
    cls = sockets.SocketIO
    for name in _EVENT_HANDLERS:
        setattr(cls, name, _with_event_tenant(getattr(cls, name)))
    cls._handle_connect = _connect_with_tenant(cls._handle_connect)
    cls._handle_disconnect = _disconnect_forgetting_tenant(cls._handle_disconnect)
    cls._handle_sub_queue = _plain_id_only(cls._handle_sub_queue, "queue_id")
    cls._handle_unsub_queue = _plain_id_only(cls._handle_unsub_queue, "queue_id")
    cls._handle_sub_bulk_download = _plain_id_only(cls._handle_sub_bulk_download, "bulk_download_id")
    cls._handle_unsub_bulk_download = _plain_id_only(cls._handle_unsub_bulk_download, "bulk_download_id")
