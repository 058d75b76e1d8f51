"""One SQLAlchemy engine for SQLite (embedded) or Postgres (production).

`Database.begin()` opens a transaction, or joins the one already open in this context,
so services can call each other inside one unit of work. On Postgres every transaction
starts with the caller's tenant in `pingvas.tenant_id` for the row-level-security policies.
"""

import threading
import time
from collections.abc import Iterator
from typing import Any
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from tenant_middleware.context import current_tenant_id, is_platform_scope, is_system_scope

_open_connection: ContextVar[Connection | None] = ContextVar("pingvas_open_connection", default=None)


def utcnow() -> datetime:
    """Naive UTC timestamp, as InvokeAI's SQLite rows store them."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def tenant_clause(table: sa.Table) -> sa.ColumnElement[bool]:
    """Rows of `table` the current scope may see: its tenant's, the platform's, all (system) or none."""
    if is_system_scope():
        return sa.true()
    tenant_id = current_tenant_id()
    if tenant_id is not None:
        return table.c.tenant_id == tenant_id
    if is_platform_scope():
        return table.c.tenant_id.is_(None)
    return sa.false()


class Database:
    def __init__(self, url: str, schema: str | None = None, app_role: str | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.schema = schema
        self.app_role = app_role
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self._lock = threading.RLock() if self.is_sqlite else None
        self.engine = self._create_engine()

    def _create_engine(self) -> Engine:
        if self.is_sqlite:
            engine = sa.create_engine(
                self.url,
                connect_args={"check_same_thread": False},
                poolclass=StaticPool,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            # pysqlite's implicit transactions break SAVEPOINT and DDL atomicity: emit BEGIN ourselves.
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        connect_args: dict[str, str] = {}
        if self.schema:
            connect_args["options"] = f"-csearch_path={self.schema}"
        # LIFO: a thread reuses the connection it just returned, whose row-level-security scope is
        # usually already the one it needs (a scope switch is a round trip of its own).
        engine = sa.create_engine(
            self.url, connect_args=connect_args, pool_size=10, max_overflow=20, pool_recycle=1800, pool_use_lifo=True
        )
        _ping_idle_connections(engine)
        event.listen(engine, "before_cursor_execute", _restore_scope)
        if self.app_role:
            role = self.app_role

            @event.listens_for(engine, "connect")
            def _set_role(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
                with dbapi_conn.cursor() as cur:
                    cur.execute(f'SET ROLE "{role}"')
                dbapi_conn.commit()

        return engine

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A DB-API cursor inside `begin()`: the slice of InvokeAI's SqliteDatabase that stock services
        reach through a record service's `_db` (the orphaned-models scan reads `models` with it)."""
        with self.begin() as conn:
            _restore_scope_now(conn)  # a raw cursor passes no `before_cursor_execute`
            cursor = conn.connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; nested calls in the same context join the outer one.

        A nested call under another scope (say `system_scope()` inside a tenant's transaction)
        switches the connection's RLS scope for its block and switches it back before the next
        statement of the enclosing block, if there is one: two nested blocks of one scope in a row,
        or a nested block that ends the transaction's work, cost no switch back.
        """
        outer = _open_connection.get()
        if outer is not None:
            if not self.is_postgres:
                yield outer
                return
            outer_scope = outer.info.pop(_RESTORE_KEY, None) or outer.info.get(_SCOPE_KEY)
            _bind_scope(outer)
            try:
                yield outer
            except BaseException:
                outer.info.pop(_SCOPE_KEY, None)  # the transaction is likely aborted: no SQL here
                raise
            if outer_scope is not None and outer.info.get(_SCOPE_KEY) != outer_scope:
                outer.info[_RESTORE_KEY] = outer_scope  # see `_restore_scope`
            return
        if self._lock is not None:
            self._lock.acquire()
        try:
            with self.engine.connect() as conn:
                try:
                    with conn.begin():
                        if self.is_postgres:
                            _bind_scope(conn)
                        token = _open_connection.set(conn)
                        try:
                            yield conn
                        finally:
                            _open_connection.reset(token)
                except BaseException:
                    # A rollback (also of a failed COMMIT) undoes a scope set in this transaction;
                    # forget it before the connection goes back to the pool.
                    conn.info.pop(_SCOPE_KEY, None)
                    raise
                finally:
                    # A switch back nothing ran after: the scope the transaction ended with stays
                    # the connection's (`_SCOPE_KEY`), and the next transaction binds its own.
                    conn.info.pop(_RESTORE_KEY, None)
        finally:
            if self._lock is not None:
                self._lock.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for ONE read statement, without BEGIN/COMMIT round trips on Postgres.

        A single statement sees one snapshot, so it needs no transaction of its own. Inside an
        open transaction this joins it, like `begin()`.
        """
        with self.one_statement() as conn:
            yield conn

    @contextmanager
    def one_statement(self) -> Iterator[Connection]:
        """A connection for ONE statement, a write included: a single statement is atomic by itself,
        so on Postgres it runs in autocommit, without BEGIN/COMMIT round trips. Inside an open
        transaction this joins it, like `begin()`.
        """
        if _open_connection.get() is not None or not self.is_postgres:
            with self.begin() as conn:
                yield conn
            return
        with self._autocommit() as conn:
            _bind_scope(conn)  # in autocommit the setting is committed at once: nothing to roll back
            yield conn

    @contextmanager
    def self_scoped(self) -> Iterator[Connection]:
        """A Postgres connection for ONE statement that sets its own scope for its own transaction (a
        server-side function such as `pingvas_claim`): autocommit, never joining an open transaction
        (the scope it sets would outlive the statement there), and no scope bound, so no switch."""
        with self._autocommit() as conn:
            yield conn

    def _autocommit(self) -> Any:
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def cluster_lock(self, name: str, wait: bool = False, engine: Engine | None = None) -> Iterator[bool]:
        """A lock across every pod on one database (a Postgres advisory lock held by a connection of
        its own, from `engine` if given): yields whether this pod holds it; `wait` blocks until it
        does. SQLite serves one process, which always holds it."""
        if not self.is_postgres:
            yield True
            return
        key = sa.func.hashtext(f"pingvas.{name}")
        with (engine or self.engine).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if wait:
                conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
                held = True
            else:
                held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one())
            try:
                yield held
            finally:
                if held:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))

    def dispose(self) -> None:
        self.engine.dispose()


_SCOPE_KEY = "pingvas_scope"  # the RLS scope the connection has now
_RESTORE_KEY = "pingvas_scope_restore"  # the scope its next statement needs, left by a nested block
# A pooled connection idle longer than this is pinged before use: one the server dropped (a restart,
# a failover, an idle timeout) is replaced instead of failing the request that drew it. Connections
# in steady use skip the round trip.
PING_AFTER_IDLE_S = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_conn.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as e:
            raise sa.exc.DisconnectionError(str(e)) from e  # the pool retries with a new connection


def _bind_scope(conn: Connection) -> None:
    """Point the RLS settings of this pooled connection at the caller's scope.

    The settings are session-level and remembered per connection, so a connection that served
    the same scope last time skips the round trip; every transaction still starts with the
    right scope, because each one goes through here.
    """
    scope = (current_tenant_id() or "", _on(is_system_scope()), _on(is_platform_scope()))
    if conn.info.get(_SCOPE_KEY) != scope:
        _set_scope(conn, scope)


def _restore_scope(conn: Connection, *_: Any) -> None:
    """Before any statement: the scope an enclosing block needs again after a nested block of
    another scope, set first on the driver's connection (no event of its own, no recursion)."""
    scope = conn.info.pop(_RESTORE_KEY, None)
    if scope is not None and conn.info.get(_SCOPE_KEY) != scope:
        conn.connection.driver_connection.execute(_SET_SCOPE_SQL, {"t": scope[0], "s": scope[1], "p": scope[2]})  # type: ignore[union-attr]
        conn.info[_SCOPE_KEY] = scope


def _restore_scope_now(conn: Connection) -> None:
    scope = conn.info.pop(_RESTORE_KEY, None)
    if scope is not None and conn.info.get(_SCOPE_KEY) != scope:
        _set_scope(conn, scope)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


_SET_SCOPE_SQL = (
    "SELECT set_config('pingvas.tenant_id', %(t)s, false), set_config('pingvas.system', %(s)s, false),"
    " set_config('pingvas.platform', %(p)s, false)"
)
_SET_SCOPE = sa.text(_SET_SCOPE_SQL.replace("%(t)s", ":t").replace("%(s)s", ":s").replace("%(p)s", ":p"))


def _set_scope(conn: Connection, scope: tuple[str, str, str]) -> None:
    conn.execute(_SET_SCOPE, {"t": scope[0], "s": scope[1], "p": scope[2]})
    conn.info[_SCOPE_KEY] = scope


def _sqlite_begin(conn: Connection) -> None:
    # Straight to the driver: through SQLAlchemy's execute path, a BEGIN cost a third of a transaction.
    conn.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # we emit BEGIN in the "begin" event
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA busy_timeout = 5000")
    cur.close()
