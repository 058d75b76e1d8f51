"""The few statements whose SQL differs between SQLite and Postgres."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def _insert(conn: Connection, table: sa.Table):  # type: ignore[no-untyped-def]
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def upsert(conn: Connection, table: sa.Table, values: dict[str, Any], key: Sequence[str], update: Sequence[str]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET the `update` columns."""
    stmt = _insert(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in update})
    conn.execute(stmt)


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any] | list[dict[str, Any]], key: Sequence[str]) -> int:
    """INSERT … ON CONFLICT (key) DO NOTHING; returns the number of rows inserted."""
    stmt = _insert(conn, table).values(values).on_conflict_do_nothing(index_elements=list(key))
    # Counted from RETURNING: the driver's rowcount of a single-row insert is not reliable here.
    return len(conn.execute(stmt.returning(sa.literal(1))).all())


def insert_ignore_statement(conn: Connection, table: sa.Table, key: Sequence[str]) -> sa.Insert:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING the key, its values bound at each execution:
    build it once per dialect and reuse it (a row came back = inserted)."""
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(key))
    return stmt.returning(*(table.c[k] for k in key))
