"""Work done once a transaction commits, never when it rolls back.

Inside the transaction, code notes what happened on the connection (`notes(conn, name)` is a dict it
fills); when that transaction commits, the handler registered for `name` on the engine gets the notes
(`on_commit`). A rollback drops them. One pair of listeners per engine serves every name.

SQLAlchemy's commit event runs just before the database's COMMIT: a handler must not assume the
commit succeeded beyond doubt, only that nothing rolled it back first.
"""

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_NOTES = "pingvas_after_commit"  # in the pooled connection's info: name -> this transaction's notes
Handler = Callable[[dict[str, Any]], None]
_handlers: "WeakKeyDictionary[Engine, dict[str, Handler]]" = WeakKeyDictionary()


def notes(conn: Connection, name: str) -> dict[str, Any]:
    """This transaction's notes under `name`, handed to `name`'s handler if it commits."""
    return conn.info.setdefault(_NOTES, {}).setdefault(name, {})


def on_commit(engine: Engine, name: str, handler: Handler) -> None:
    """`handler(notes)` after each commit on `engine` whose transaction noted something under `name`
    (a second call for the same name replaces the handler)."""
    if engine not in _handlers:
        _handlers[engine] = {}
        event.listen(engine, "commit", _committed)
        event.listen(engine, "rollback", _rolled_back)
    _handlers[engine][name] = handler


def _committed(conn: Connection) -> None:
    noted = conn.info.pop(_NOTES, None) or {}
    handlers = _handlers.get(conn.engine, {})
    for name, values in noted.items():
        handler = handlers.get(name)
        if handler is not None and values:
            handler(values)


def _rolled_back(conn: Connection) -> None:
    conn.info.pop(_NOTES, None)
