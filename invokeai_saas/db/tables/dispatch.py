"""What the queue's dispatcher shares between pods: live workers and each tenant's last turn.

All are platform tables (no tenant column, no row-level security): only the dispatcher, in
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
    # Postgres claims (migration 0012) walk the ready turns in dispatch order: the tier of the
    # tenant's plan, whether it may have claimable work (triggers set it, a claim that finds none
    # clears it), a sequence every mark moves on, and the first item id since it became ready.
    sa.Column("tier", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ready", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ready_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("waiting_since", sa.BigInteger, nullable=True),
)
sa.Index(
    "ix_queue_turns_ready",
    queue_turns.c.tier.desc(),
    queue_turns.c.last_claimed_at,
    queue_turns.c.waiting_since,
    postgresql_where=queue_turns.c.ready,
    sqlite_where=queue_turns.c.ready,
)

# Each plan's tier and concurrency where Postgres claims read them (from billing/plans.py; "" is
# what an unknown plan gets). Written by `pingvas migrate`.
dispatch_plans = sa.Table(
    "dispatch_plans",
    metadata,
    sa.Column("plan", sa.String(32), primary_key=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("concurrent_queues", sa.Integer, nullable=True),
)
