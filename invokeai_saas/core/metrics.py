"""Prometheus metrics (prometheus-client's default registry), served at `/metrics` by every role.

Queue depth and running items are read from the shared database when scraped, so every pod
reports the same cluster-wide value (aggregate them with `max`, not `sum`). The counters and
histograms are this process's own (aggregate with `sum`).
"""

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from billing.plans import PLANS
from invokeai_saas.db.database import Database
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope

ITEM_SECONDS = Histogram(
    "pingvas_queue_item_seconds",
    "Time from claim to the end of a queue item on this worker, by outcome.",
    ["status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
DISPATCH_SECONDS = Histogram(
    "pingvas_dispatch_latency_seconds",
    "Time an item waited from enqueue (or its return to the queue) to its claim.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600),
)
LEASE_EXPIRIES = Counter("pingvas_lease_expiries_total", "Claims whose worker stopped renewing them, by what followed.", ["outcome"])
WORKER_ERRORS = Counter("pingvas_worker_errors_total", "Queue items that failed on this worker.", ["error_type"])
# Counted by the billing work (webhooks, credit ledger); declared here so dashboards have them from day one.
WEBHOOKS = Counter("pingvas_webhooks_total", "Billing webhooks received, by outcome.", ["outcome"])
LEDGER_ENTRIES = Counter("pingvas_ledger_entries_total", "Credit ledger entries written, by kind.", ["kind"])


class QueueCollector(Collector):
    """Pending items by plan tier and items in progress, read from the database at scrape time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only (the registry asks at registration: no database read then)."""
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, running = self._families()
        pending, in_progress = queue_counts(self._db)
        for plan, count in pending.items():
            depth.add_metric([plan], count)
        running.add_metric([], in_progress)
        yield depth
        yield running

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("pingvas_queue_depth", "Pending queue items, by the plan of their workspace.", labels=["tier"]),
            GaugeMetricFamily("pingvas_queue_items_running", "Queue items in progress on any worker."),
        )


def queue_counts(db: Database) -> tuple[dict[str, int], int]:
    """Pending items by the plan of their workspace ("platform": operators' own) and items in progress, cluster-wide."""
    with system_scope(), db.begin() as conn:
        rows = conn.execute(
            sa.select(tenants.c.plan, sq.c.status, sa.func.count())
            .select_from(sq.outerjoin(tenants, tenants.c.tenant_id == sq.c.tenant_id))
            .where(sq.c.status.in_(("pending", "in_progress")))
            .group_by(tenants.c.plan, sq.c.status)
        ).all()
    pending = dict.fromkeys([*PLANS, "platform"], 0)
    in_progress = 0
    for plan, status, count in rows:
        if status == "pending":
            pending[plan or "platform"] = pending.get(plan or "platform", 0) + count
        else:
            in_progress += count
    return pending, in_progress


_collectors: dict[str, QueueCollector] = {}


def watch_queue(db: Database) -> None:
    """Registers the queue collector once per process (the app factory may run more than once in tests)."""
    key = "queue"
    if key in _collectors:
        _collectors[key]._db = db
        return
    collector = QueueCollector(db)
    REGISTRY.register(collector)
    _collectors[key] = collector
