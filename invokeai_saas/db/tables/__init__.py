"""Every table the service owns, on one MetaData that Alembic compares against.

One module per area (each module in this package is imported here, so the metadata is
complete). Tenant-owned tables are made with `tenant_table`, which adds `tenant_id`
(NULL = the platform operators' own rows) and registers them for row-level security.
"""

import importlib
import pkgutil

from invokeai_saas.db.tables.base import SYSTEM_ONLY_TABLES, TENANT_TABLES, metadata, tenant_table

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SYSTEM_ONLY_TABLES", "TENANT_TABLES", "metadata", "tenant_table"]
