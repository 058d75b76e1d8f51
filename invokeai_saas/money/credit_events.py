"""`credits_changed`: a workspace's balance, pushed to its members' sockets whenever the ledger moves.

The studio's credit badge listens for it on the UI's own Socket.IO connection. The ledger notes the
new balance on the connection that wrote it (`note_balance`); the event is raised once that
transaction commits and never for one that rolls back, so a badge never shows a charge that did not
happen. It goes to the `tenant:<id>` room only (every socket of that workspace joins it on connect),
and it crosses pods like any other event (a worker's charge reaches the API pod holding the socket).

If the database's COMMIT itself fails after the event was raised (SQLAlchemy's commit hook runs just
before it), the badge shows that balance until the next event or page load; the ledger is right.
"""

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy.engine import Connection

from invokeai.app.services.events.events_common import EventBase, register_events

from invokeai_saas.db import Database
from invokeai_saas.db.after_commit import notes, on_commit

_NOTES = "credits_changed"  # this transaction's notes: tenant id -> balance after it

Notify = Callable[[str, int], None]


class CreditsChangedEvent(EventBase):
    """A workspace's credit balance after a ledger entry (a charge, a grant, a new period, a refund)."""

    __event_name__: ClassVar[str] = "credits_changed"

    credits: int = Field(description="The workspace's balance after the change")


def note_balance(conn: Connection, tenant_id: str, credits: int) -> None:
    """Called by the ledger inside the transaction that moved `tenant_id`'s balance."""
    notes(conn, _NOTES)[tenant_id] = credits


def raise_on_commit(db: Database, notify: Notify) -> None:
    """`notify(tenant_id, credits)` for each balance a commit on `db` moved (a second call replaces `notify`)."""

    def committed(balances: dict[str, Any]) -> None:
        for tenant_id, credits in balances.items():
            notify(tenant_id, credits)

    on_commit(db.engine, _NOTES, committed)


def route_to_sockets(sio: Any) -> None:
    """The API pod's socket layer: each event goes to its workspace's room, nowhere else."""
    from patches.sockets_tenant_rooms import stamped_tenant

    async def emit(fastapi_event: tuple[str, CreditsChangedEvent]) -> None:
        name, credits_event = fastapi_event
        tenant_id = stamped_tenant(credits_event)
        if not tenant_id:
            return  # fail closed: a balance without its workspace goes to nobody
        await sio.emit(name, {"credits": credits_event.credits}, room=f"tenant:{tenant_id}")

    register_events({CreditsChangedEvent}, emit)
