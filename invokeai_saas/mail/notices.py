"""Messages to people, written to the outbox in the caller's transaction.

`send` writes one message to one address; `notify_managers` writes a workspace notice to each of its
owners and admins who verified their address and did not turn that kind of notice off. Security
notices (a password or an address changed) are sent with `send` and cannot be turned off. Links are
paths: the templates put `PINGVAS_PUBLIC_URL` before them.
"""

import json
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai_saas.db.tables.tenancy import users
from invokeai_saas.mail.outbox import enqueue

MANAGER_ROLES = ("owner", "admin")


class NoticeKind(str, Enum):
    """The workspace notices a user may turn off (`users.muted_notices`)."""

    LOW_CREDITS = "low_credits"
    PAYMENT_FAILED = "payment_failed"
    SUBSCRIPTION = "subscription"
    SUSPENSION = "suspension"


def send(conn: Connection, key: str, to: str, title: str, text: str, link: str | None = None,
         action: str | None = None, preferences: bool = False) -> bool:
    """One message to `to`; False when a message of `key` was written before (nothing is added)."""
    context = {"title": title, "text": text, "link": link, "action": action, "preferences": preferences}
    return enqueue(conn, key, to, "notice", context)


def muted(value: str | None) -> set[str]:
    """The kinds a user turned off, from the stored JSON (anything unreadable counts as none)."""
    try:
        kinds = json.loads(value) if value else []
    except ValueError:
        return set()
    return {k for k in kinds if isinstance(k, str)} if isinstance(kinds, list) else set()


def notify_managers(conn: Connection, tenant_id: str, kind: NoticeKind, key: str, title: str, text: str,
                    link: str | None = None, action: str | None = None) -> int:
    """The notice to each verified owner and admin of the workspace who wants `kind`; `key` names the
    cause (one message per cause and person). Returns how many were written."""
    rows = conn.execute(
        sa.select(users.c.user_id, users.c.email, users.c.muted_notices).where(
            users.c.tenant_id == tenant_id, users.c.tenant_role.in_(MANAGER_ROLES), users.c.is_active,
            users.c.email_verified_at.is_not(None),
        )
    ).all()
    return sum(
        send(conn, f"{key}:{row.user_id}", row.email, title, text, link, action, preferences=True)
        for row in rows
        if kind.value not in muted(row.muted_notices)
    )
