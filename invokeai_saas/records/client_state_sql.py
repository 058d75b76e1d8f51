"""InvokeAI's per-user client state on SQLAlchemy Core, scoped to the current tenant."""

import sqlalchemy as sa
from invokeai.app.services.client_state_persistence.client_state_persistence_base import ClientStatePersistenceABC
from invokeai.app.services.invoker import Invoker
from sqlalchemy.dialects import postgresql, sqlite

from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.tables.client_state import client_state as cs
from tenant_middleware.context import current_tenant_id


class ClientStateTenantMismatchError(PermissionError):
    """The (user_id, key) row exists but belongs to another tenant."""


def _mine(user_id: str) -> list[sa.ColumnElement[bool]]:
    return [cs.c.user_id == user_id, tenant_clause(cs)]


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlClientStatePersistence(ClientStatePersistenceABC):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker

    def set_by_key(self, user_id: str, key: str, value: str) -> str:
        now = utcnow()
        with self._db.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(cs).values(tenant_id=current_tenant_id(), user_id=user_id, key=key, value=value, updated_at=now)
            # User ids are global, so the key cannot collide across tenants for a real caller;
            # the WHERE makes sure a stray foreign user id never overwrites another tenant's row.
            stmt = stmt.on_conflict_do_update(
                index_elements=[cs.c.user_id, cs.c.key],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                where=tenant_clause(cs),
            )
            if conn.execute(stmt).rowcount == 0:
                raise ClientStateTenantMismatchError(f"Client state of user {user_id} belongs to another tenant")
        return value

    def get_by_key(self, user_id: str, key: str) -> str | None:
        with self._db.begin() as conn:
            return conn.execute(sa.select(cs.c.value).where(*_mine(user_id), cs.c.key == key)).scalar_one_or_none()

    def get_keys_by_prefix(self, user_id: str, prefix: str) -> list[str]:
        # ILIKE: stock's SQLite LIKE matches ASCII case-insensitively.
        pattern = _escape_like(prefix) + "%"
        stmt = (
            sa.select(cs.c.key)
            .where(*_mine(user_id), cs.c.key.ilike(pattern, escape="\\"))
            .order_by(cs.c.updated_at.desc(), cs.c.key)
        )
        with self._db.begin() as conn:
            return list(conn.execute(stmt).scalars())

    def delete_by_key(self, user_id: str, key: str) -> None:
        with self._db.begin() as conn:
            conn.execute(sa.delete(cs).where(*_mine(user_id), cs.c.key == key))

    def delete(self, user_id: str) -> None:
        with self._db.begin() as conn:
            conn.execute(sa.delete(cs).where(*_mine(user_id)))
