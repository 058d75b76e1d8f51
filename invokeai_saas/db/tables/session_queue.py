"""InvokeAI's session queue: the stock columns plus `tenant_id`.

Stock keeps `updated_at`, `started_at` and `completed_at` current with SQLite triggers; here the
queue service sets them in each UPDATE, so both dialects behave the same without triggers.
"""

import json

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

session_queue = tenant_table(
    "session_queue",
    sa.Column("item_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String, nullable=False),
    sa.Column("queue_id", sa.String, nullable=False),
    sa.Column("session_id", sa.String, nullable=False, unique=True),
    sa.Column("field_values", sa.Text, nullable=True),
    sa.Column("session", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_traceback", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("completed_at", sa.DateTime, nullable=True),
    sa.Column("workflow", sa.Text, nullable=True),
    sa.Column("error_type", sa.Text, nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("origin", sa.String, nullable=True),
    sa.Column("destination", sa.String, nullable=True),
    sa.Column("retried_from_item_id", sa.Integer, nullable=True),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system"),
    sa.Column("status_sequence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("device", sa.String, nullable=True),
    sa.Column("workflow_call_id", sa.String, nullable=True, index=True),
    sa.Column("parent_item_id", sa.Integer, nullable=True, index=True),
    sa.Column("parent_session_id", sa.String, nullable=True),
    sa.Column("root_item_id", sa.Integer, nullable=True),
    sa.Column("workflow_call_depth", sa.Integer, nullable=True),
    # The claim: which worker holds the item, until when, and how many times it has been claimed.
    # A worker's status changes are fenced by (worker_id, attempt).
    sa.Column("worker_id", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", sa.DateTime, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    # The keys of the models the item's graph names (JSON list), for warm-model dispatch.
    sa.Column("model_keys", sa.Text, nullable=True),
    # The least the item can cost (billing/credits.py `batch_estimate`): a tenant's waiting items
    # reserve this much of its balance at enqueue.
    sa.Column("estimate_credits", sa.Integer, nullable=False, server_default="0"),
    # Per-tenant counts by status (queue badge, every status-changed event) and status-filtered lists.
    sa.Index("ix_session_queue_tenant_queue_status", "tenant_id", "queue_id", "status"),
    sa.Index("ix_session_queue_tenant_batch", "tenant_id", "batch_id"),
    sa.Index("ix_session_queue_tenant_destination", "tenant_id", "queue_id", "destination"),
)

# Dispatch finds the tenants with pending items, and each one's first item and running count.
sa.Index("ix_session_queue_status_tenant", session_queue.c.status, session_queue.c.tenant_id, session_queue.c.item_id)
# The reaper finds expired leases; a worker finds its own items.
sa.Index("ix_session_queue_status_lease", session_queue.c.status, session_queue.c.lease_expires_at)
sa.Index("ix_session_queue_worker", session_queue.c.worker_id)

# A tenant's next item in its own order (a claim takes it; warm dispatch reads its models): one probe.
sa.Index(
    "ix_session_queue_tenant_head",
    session_queue.c.status,
    session_queue.c.tenant_id,
    session_queue.c.priority.desc(),
    session_queue.c.item_id,
)

# Dequeue scans pending items across every tenant in priority, then insertion, order.
sa.Index(
    "ix_session_queue_dequeue",
    session_queue.c.status,
    session_queue.c.priority.desc(),
    session_queue.c.item_id,
)


def parse_keys(stored: str | None) -> frozenset[str]:
    """The `model_keys` column (a JSON list of model keys, or NULL) as a set."""
    return frozenset(json.loads(stored)) if stored else frozenset()
