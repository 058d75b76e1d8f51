"""Alembic environment for the service's schema.

Run from `invokeai_saas.db.migrate` (which passes an open owner connection in
`config.attributes["connection"]` and commits it), or from the `alembic` command line with
`-c invokeai_saas/db/alembic.ini -x url=<database url> [-x schema=<postgres schema>]`.

New revisions that create tenant tables get their row-level-security block generated (see
`_add_rls`): the table names, platform-read policies and isolation condition are written into the
revision literally, so a revision keeps its meaning when the code changes later.
"""

import os
from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops

from invokeai_saas.db.database import Database
from invokeai_saas.db.migrate import include_name, owner_engine
from invokeai_saas.db.rls import TENANT_VISIBLE
from invokeai_saas.db.tables import TENANT_TABLES, metadata
from invokeai_saas.db.tables.base import PUBLIC_READ

config = context.config
if config.config_file_name is not None:  # the `alembic` command line
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render boolean server defaults dialect-neutrally (`sa.false()`, not SQLite's `'0'`)."""
    if type_ == "server_default" and isinstance(obj, sa.DefaultClause):
        if isinstance(obj.arg, sa.sql.elements.False_):
            return "sa.false()"
        if isinstance(obj.arg, sa.sql.elements.True_):
            return "sa.true()"
    return False


def _add_rls(migration_context: Any, revision: Any, directives: list[ops.MigrationScript]) -> None:
    """Give a new revision the RLS block for the tenant tables it creates."""
    template_args = migration_context.opts["template_args"]
    template_args["rls_constants"] = ""
    script = directives[0]
    if script.upgrade_ops is None:
        return
    created = {o.table_name for o in script.upgrade_ops.ops if isinstance(o, ops.CreateTableOp)}
    tables = [t for t in TENANT_TABLES if t in created]
    if not tables:
        return
    public_read = {t: PUBLIC_READ[t] for t in tables if t in PUBLIC_READ}
    lines = [
        "# Row-level security for the tenant tables this revision creates, frozen as generated",
        "# (from TENANT_TABLES, PUBLIC_READ and rls.TENANT_VISIBLE): do not import them here.",
        "RLS_TABLES: list[str] = [",
        *(f"    {t!r}," for t in tables),
        "]",
        "RLS_PUBLIC_READ: dict[str, str] = {",
        *(f"    {t!r}: {sql!r}," for t, sql in public_read.items()),
        "}",
        f"RLS_TENANT_VISIBLE = {TENANT_VISIBLE!r}",
    ]
    template_args["rls_constants"] = "\n".join(lines)
    script.imports.add("from invokeai_saas.db.rls import enable_rls")


def _configure(connection: sa.Connection, schema: str | None) -> None:
    opts: dict[str, Any] = {}
    if connection.dialect.name == "postgresql" and schema:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(sa.text(f'SET search_path TO "{schema}"'))
        opts["version_table_schema"] = schema
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=include_name,
        compare_type=True,
        render_item=render_item,
        process_revision_directives=_add_rls,
        template_args={"rls_constants": ""},
        **opts,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, config.attributes.get("schema"))
        with context.begin_transaction():
            context.run_migrations()
        return
    # Command line: `-x url=…` (or PINGVAS_DATABASE_URL), `-x schema=…` (or PINGVAS_DB_SCHEMA).
    x = context.get_x_argument(as_dictionary=True)
    url = x.get("url") or os.environ.get("PINGVAS_DATABASE_URL")
    if not url:
        raise SystemExit("alembic: pass -x url=<database url> (or set PINGVAS_DATABASE_URL)")
    db = Database(url, schema=x.get("schema") or os.environ.get("PINGVAS_DB_SCHEMA") or None)
    try:
        with owner_engine(db) as engine, engine.begin() as conn:
            _configure(conn, db.schema)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        db.dispose()


def run_migrations_offline() -> None:
    """`alembic … upgrade head --sql`: emit SQL for `-x url=…`'s dialect instead of running it."""
    x = context.get_x_argument(as_dictionary=True)
    url = x.get("url") or os.environ.get("PINGVAS_DATABASE_URL") or "sqlite://"
    schema = x.get("schema") or os.environ.get("PINGVAS_DB_SCHEMA") or None
    is_pg = sa.engine.make_url(url).get_backend_name() == "postgresql"
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=not is_pg,
        version_table_schema=schema if is_pg else None,
    )
    with context.begin_transaction():
        if is_pg and schema:
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            context.execute(f'SET search_path TO "{schema}"')
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
