"""KEDA's worker count, the chart's own query, run against a real migrated Postgres schema: it counts what
runs and what can run, and leaves out pending items that wait whatever the workers do (a suspended
workspace's, one out of credits, one whose payment hold has passed: the dispatcher skips them), so no GPU
is bought for them. KEDA connects as a role that bypasses row-level security; so does this superuser."""

import uuid
from datetime import timedelta

import psycopg
import sqlalchemy as sa

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.migrate import upgrade
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope
from tests.db_fixtures import PG_ADMIN_DSN, create_pg_database, drop_pg_database, make_tenant, pg_url
from tests.test_helm_chart import one, render


def keda_query(env: str) -> str:
    (trigger,) = one(render(env), "ScaledObject", "pingvas-worker")["spec"]["triggers"]
    return trigger["metadata"]["query"]


def queue(db: Database, tenant_id: str | None, status: str, count: int) -> None:
    now = utcnow()
    rows = [
        {"batch_id": str(uuid.uuid4()), "queue_id": "default", "session_id": str(uuid.uuid4()), "session": "{}",
         "status": status, "priority": 0, "created_at": now, "updated_at": now, "user_id": "u", "status_sequence": 0,
         "attempt": 1 if status == "in_progress" else 0, "estimate_credits": 1, "tenant_id": tenant_id}
        for _ in range(count)
    ]  # fmt: skip
    with system_scope(), db.begin() as conn:
        conn.execute(sa.insert(session_queue), rows)


def tenant(db: Database, credits: int = 1000, **state: object) -> str:
    tenant_id = make_tenant(db, credits=credits)
    if state:
        with system_scope(), db.begin() as conn:
            conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(**state))
    return tenant_id


def test_keda_counts_only_items_that_run_or_can_run() -> None:
    name = create_pg_database()
    db = Database(pg_url(name), schema="dev")
    try:
        upgrade(db)
        now = utcnow()
        active, suspended, broke = tenant(db), tenant(db, status="suspended"), tenant(db, credits=0)
        held, grace = tenant(db, billing_hold_at=now - timedelta(days=1)), tenant(db, billing_hold_at=now + timedelta(days=3))
        queue(db, active, "pending", 2)
        queue(db, grace, "pending", 1)  # a failed payment's grace period: it still runs
        queue(db, None, "pending", 1)  # an operator's item
        queue(db, suspended, "in_progress", 1)  # running when the workspace was suspended: its worker stays
        queue(db, suspended, "pending", 3)
        queue(db, broke, "pending", 4)
        queue(db, held, "pending", 5)
        queue(db, active, "completed", 6)
        admin = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=30) as conn:
            (count,) = conn.execute(keda_query("dev")).fetchone() or (None,)
        assert count == 2 + 1 + 1 + 1
    finally:
        db.dispose()
        drop_pg_database(name)
