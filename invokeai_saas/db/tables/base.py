import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Names of tables whose rows belong to one tenant; the migration enables RLS on each.
TENANT_TABLES: list[str] = []
# Tables that hold tenants' data but no tenant column (platform maintenance): only system scope sees them.
SYSTEM_ONLY_TABLES: list[str] = []
# Extra SQL read condition per table for platform rows every tenant may read
# (e.g. InvokeAI's default workflows); becomes a second, SELECT-only RLS policy.
PUBLIC_READ: dict[str, str] = {}


def _tenant_id_column() -> sa.Column:
    return sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=True, index=True)


def tenant_table(name: str, *columns: sa.schema.SchemaItem, public_read_sql: str | None = None) -> sa.Table:
    """A table owned by a tenant: gets `tenant_id` and is registered for RLS.

    `public_read_sql` (SQL over the table's columns) marks platform rows that every
    tenant may read but not write, e.g. "tenant_id IS NULL AND category = 'default'".
    """
    TENANT_TABLES.append(name)
    if public_read_sql:
        PUBLIC_READ[name] = public_read_sql
    return sa.Table(name, metadata, _tenant_id_column(), *columns)
