"""The database wrapper: transactions, joining, tenant scoping and Postgres RLS."""

import uuid

import pytest
import sqlalchemy as sa

from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.tables.tenancy import api_keys, tenants, users
from tenant_middleware.context import as_tenant, system_scope


def _add_user(conn: sa.Connection, tenant_id: str | None) -> str:
    user_id = str(uuid.uuid4())
    now = utcnow()
    conn.execute(
        sa.insert(users).values(
            user_id=user_id, email=f"{user_id}@example.com", password_hash="x", created_at=now, updated_at=now,
            tenant_id=tenant_id, tenant_role="owner" if tenant_id else None,
        )
    )
    return user_id


def test_nested_begin_joins_outer_transaction(database: Database, tenant: str) -> None:
    with pytest.raises(RuntimeError):
        with database.begin() as outer:
            user_id = _add_user(outer, tenant)
            with database.begin() as inner:
                assert inner is outer
            raise RuntimeError("roll back")
    with database.begin() as conn:
        assert conn.execute(sa.select(users).where(users.c.user_id == user_id)).first() is None


def test_tenant_clause_fails_closed(database: Database, tenant: str, other_tenant: str) -> None:
    with database.begin() as conn:
        mine = _add_user(conn, tenant)
    with as_tenant(other_tenant), database.begin() as conn:
        theirs = _add_user(conn, other_tenant)
    with database.begin() as conn:
        seen = {r.user_id for r in conn.execute(sa.select(users.c.user_id).where(tenant_clause(users)))}
    assert mine in seen and theirs not in seen
    with as_tenant(None), database.begin() as conn:
        seen = {r.user_id for r in conn.execute(sa.select(users.c.user_id).where(tenant_clause(users)))}
    assert mine not in seen and theirs not in seen
    with system_scope(), database.begin() as conn:
        seen = {r.user_id for r in conn.execute(sa.select(users.c.user_id).where(tenant_clause(users)))}
    assert {mine, theirs} <= seen
    assert tenants is not None and api_keys is not None


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_postgres_scope_follows_each_transaction_on_a_reused_connection(database: Database, tenant: str, other_tenant: str) -> None:
    """RLS settings are pinned per pooled connection; a new scope, or a rolled-back one, must never leak."""
    with database.begin() as conn:
        mine = _add_user(conn, tenant)
        seen = conn.execute(sa.text("SELECT current_setting('pingvas.tenant_id')")).scalar_one()
    assert seen == tenant
    with pytest.raises(RuntimeError):
        with as_tenant(other_tenant), database.begin() as conn:
            assert conn.execute(sa.text("SELECT current_setting('pingvas.tenant_id')")).scalar_one() == other_tenant
            raise RuntimeError("roll back after switching scope")
    with database.begin() as conn:
        assert conn.execute(sa.text("SELECT current_setting('pingvas.tenant_id')")).scalar_one() == tenant
    with as_tenant(other_tenant), database.begin() as conn:
        assert conn.execute(sa.text("SELECT current_setting('pingvas.tenant_id')")).scalar_one() == other_tenant
    with system_scope(), database.begin() as conn:
        assert conn.execute(sa.text("SELECT current_setting('pingvas.system')")).scalar_one() == "on"
    with database.begin() as conn:
        assert conn.execute(sa.text("SELECT current_setting('pingvas.system')")).scalar_one() == "off"
    assert mine


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_row_level_security_hides_other_tenants_rows_from_an_unfiltered_query(database: Database, tenant: str, other_tenant: str) -> None:
    """The second wall: a query that forgets its tenant filter still sees only its own tenant's rows."""
    from invokeai_saas.db.tables.media import boards

    def add_board(tenant_id: str) -> str:
        board_id, now = str(uuid.uuid4()), utcnow()
        with as_tenant(tenant_id), database.begin() as conn:
            conn.execute(sa.insert(boards).values(board_id=board_id, board_name="b", tenant_id=tenant_id, created_at=now, updated_at=now))
        return board_id

    mine, theirs = add_board(tenant), add_board(other_tenant)
    with database.begin() as conn:
        visible = set(conn.scalars(sa.select(boards.c.board_id)))  # no WHERE at all
        assert mine in visible and theirs not in visible
        # nor can a tenant write a row into another tenant, or move its own row there
        with pytest.raises(sa.exc.DBAPIError):
            with conn.begin_nested():
                conn.execute(sa.insert(boards).values(board_id=str(uuid.uuid4()), board_name="x", tenant_id=other_tenant, created_at=utcnow(), updated_at=utcnow()))
        with pytest.raises(sa.exc.DBAPIError):
            with conn.begin_nested():
                conn.execute(sa.update(boards).where(boards.c.board_id == mine).values(tenant_id=other_tenant))
        assert conn.execute(sa.update(boards).where(boards.c.board_id == theirs).values(board_name="hijacked")).rowcount == 0
    with system_scope(), database.begin() as conn:
        assert {mine, theirs} <= set(conn.scalars(sa.select(boards.c.board_id)))


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_system_scope_nested_in_a_tenant_transaction_sees_all_then_switches_back(database: Database, tenant: str, other_tenant: str) -> None:
    from invokeai_saas.db.tables.media import boards

    now = utcnow()
    with as_tenant(other_tenant), database.begin() as conn:
        theirs = str(uuid.uuid4())
        conn.execute(sa.insert(boards).values(board_id=theirs, board_name="b", tenant_id=other_tenant, created_at=now, updated_at=now))
    with database.begin() as conn:
        assert theirs not in set(conn.scalars(sa.select(boards.c.board_id)))
        with system_scope(), database.begin() as inner:
            assert inner is conn and theirs in set(inner.scalars(sa.select(boards.c.board_id)))
        assert theirs not in set(conn.scalars(sa.select(boards.c.board_id)))
