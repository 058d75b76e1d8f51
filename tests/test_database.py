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


def _in_no_scope(fn):  # type: ignore[no-untyped-def]
    """Run `fn` in a fresh context: no tenant, no platform, no system scope (what an unresolved caller had)."""
    import contextvars

    return contextvars.Context().run(fn)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_platform_rows_are_visible_only_to_platform_and_system_scope(database: Database, tenant: str) -> None:
    """An empty tenant setting sees nothing: neither a tenant's rows nor the operators' own."""
    from invokeai_saas.db.tables.media import boards

    board_id, now = str(uuid.uuid4()), utcnow()
    with as_tenant(None), database.begin() as conn:  # an operator's own board and account
        conn.execute(sa.insert(boards).values(board_id=board_id, board_name="ops", tenant_id=None, created_at=now, updated_at=now))
        operator = _add_user(conn, None)

    def visible() -> tuple[int, int]:
        with database.begin() as conn:  # no WHERE on the tenant: only RLS decides
            return (
                len(conn.execute(sa.select(boards.c.board_id).where(boards.c.board_id == board_id)).all()),
                len(conn.execute(sa.select(users.c.user_id).where(users.c.user_id == operator)).all()),
            )

    assert _in_no_scope(visible) == (0, 0)
    assert visible() == (0, 0)  # the test's tenant
    with as_tenant(None):
        assert visible() == (1, 1)
    with system_scope():
        assert visible() == (1, 1)

    def write_platform_row() -> None:
        with database.begin() as conn:
            conn.execute(sa.insert(boards).values(board_id=str(uuid.uuid4()), board_name="ghost", tenant_id=None, created_at=now, updated_at=now))

    with pytest.raises(sa.exc.DBAPIError):
        _in_no_scope(write_platform_row)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_row_level_security_covers_the_account_tables(database: Database, tenant: str, other_tenant: str) -> None:
    """Users, invitations, API keys and the tenant row itself: a tenant sees its own, never another's."""
    from invokeai_saas.db.tables.image_moves import image_subfolder_move_jobs
    from invokeai_saas.db.tables.tenancy import tenant_invitations

    now = utcnow()
    with as_tenant(other_tenant), database.begin() as conn:
        theirs = _add_user(conn, other_tenant)
        conn.execute(sa.insert(tenant_invitations).values(
            invitation_id=str(uuid.uuid4()), tenant_id=other_tenant, email=f"{uuid.uuid4().hex}@example.com", role="member",
            token_hash=uuid.uuid4().hex, invited_by=theirs, expires_at=now, created_at=now))
        conn.execute(sa.insert(api_keys).values(
            api_key_id=str(uuid.uuid4()), tenant_id=other_tenant, user_id=theirs, name="k", prefix="pvk_x",
            secret_hash=uuid.uuid4().hex, created_at=now))
    with database.begin() as conn:  # as the test's tenant, no filters
        mine = _add_user(conn, tenant)
        assert set(conn.scalars(sa.select(tenants.c.tenant_id))) == {tenant}
        assert mine in set(conn.scalars(sa.select(users.c.user_id))) and theirs not in set(conn.scalars(sa.select(users.c.user_id)))
        assert conn.execute(sa.select(tenant_invitations.c.tenant_id).where(tenant_invitations.c.tenant_id == other_tenant)).first() is None
        assert conn.execute(sa.select(api_keys.c.tenant_id).where(api_keys.c.tenant_id == other_tenant)).first() is None
        assert conn.execute(sa.update(users).where(users.c.user_id == theirs).values(display_name="x")).rowcount == 0
        # the image-move journal names every tenant's images: system scope only
        with pytest.raises(sa.exc.DBAPIError):
            with conn.begin_nested():
                conn.execute(sa.insert(image_subfolder_move_jobs).values(state="planned", created_at=now, updated_at=now))
    with system_scope(), database.begin() as conn:
        assert {tenant, other_tenant} <= set(conn.scalars(sa.select(tenants.c.tenant_id)))
        assert {mine, theirs} <= set(conn.scalars(sa.select(users.c.user_id)))


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_nested_scope_is_switched_back_only_when_the_enclosing_block_runs_another_statement(
    database: Database, tenant: str, other_tenant: str
) -> None:
    """A worker's claim (system scope) reads the item as its tenant in two nested blocks: one switch
    there, none back before COMMIT; and every statement still runs in the scope of its block."""
    switches: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "set_config('pingvas.tenant_id'" in statement:
            switches.append(statement)

    def setting(conn: sa.Connection) -> str:
        return conn.execute(sa.text("SELECT current_setting('pingvas.tenant_id')")).scalar_one()

    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        with system_scope(), database.begin() as conn:
            setting(conn)
            switches.clear()
            for _ in range(2):
                with as_tenant(other_tenant), database.begin() as inner:
                    assert setting(inner) == other_tenant
            assert len(switches) == 1
        assert len(switches) == 1  # nothing ran after the nested blocks: no switch back before COMMIT
        with as_tenant(other_tenant), database.begin() as conn:
            assert setting(conn) == other_tenant
        assert len(switches) == 1  # the connection kept the scope the last transaction ended with
        with system_scope(), database.begin() as conn:
            with as_tenant(tenant), database.begin() as inner:
                assert setting(inner) == tenant
            assert conn.execute(sa.text("SELECT current_setting('pingvas.system')")).scalar_one() == "on"
            with database.transaction() as cursor:  # a raw cursor gets the enclosing scope too
                cursor.execute("SELECT current_setting('pingvas.system')")
                assert cursor.fetchone()[0] == "on"
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
