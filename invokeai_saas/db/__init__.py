from invokeai_saas.db.database import Database, tenant_clause, utcnow

__all__ = ["Database", "tenant_clause", "utcnow"]
