from tests.db_fixtures import database, other_tenant, tenant  # noqa: F401
