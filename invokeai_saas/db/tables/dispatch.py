"""What the queue's dispatcher shares between pods: live workers and each tenant's last turn.

Both are platform tables (no tenant column, no row-level security): only the dispatcher, in
system scope, reads and writes them.
"""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata

# One row per worker (a generation device of a worker pod), refreshed by its pod's heartbeat; API
# pods read it to report the processor's real state, claims read which models each one holds.
# A row whose heartbeat is stale belongs to a dead worker.
queue_workers = sa.Table(
    "queue_workers",
    metadata,
    sa.Column("worker_id", sa.String(128), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    sa.Column("models", sa.Text, nullable=True),  # JSON list of model keys held warm
)

# When each tenant (or the platform, key "") last got a worker: round-robin inside a tier.
queue_turns = sa.Table(
    "queue_turns",
    metadata,
    sa.Column("turn_key", sa.String(36), primary_key=True),
    sa.Column("last_claimed_at", sa.DateTime, nullable=False),
    # When a claim first left this tenant's next item to a worker holding its models (warm-model
    # dispatch); cleared when the tenant is served. Bounds how long warmth may delay a tenant.
    sa.Column("passed_at", sa.DateTime, nullable=True),
)
