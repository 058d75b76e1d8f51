"""A running item spends credits as it runs: each heartbeat charges the whole seconds used so far, the
end of the attempt charges the rest, a spent balance stops the item, and a lost attempt's slices come
back. On both databases, through the queue and ledger a worker uses."""

import time

from invokeai_saas.money import metering
from invokeai_saas.db import Database
from invokeai_saas.queue.claims import Dispatcher
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.queue.session_queue_sql import CREDITS_EXHAUSTED, SqlSessionQueue
from tenant_middleware.context import as_tenant
from tests.db_fixtures import make_tenant
from tests.records.test_billing import balance, entries, ledger, one_item, queue, quiet_queue  # noqa: F401
from tests.records.test_session_queue import in_processor_thread


def start(queue: SqlSessionQueue) -> int:
    """A worker claims the next item and starts its session's clock; returns the item id."""

    def claim() -> int:
        item = queue.dequeue()
        assert item is not None
        metering.session_started(queue_item=item)
        return item.item_id

    return in_processor_thread(claim)


def usage(db: Database, tenant_id: str) -> list[tuple[str, int]]:
    return [(r.idempotency_key, r.amount) for r in entries(db, tenant_id) if r.kind in ("usage", "refund")]


def test_heartbeats_charge_whole_seconds_and_the_end_charges_the_rest(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=100)
    one_item(queue, tenant_id)
    item_id = start(queue)
    time.sleep(2.2)
    assert queue.charge_running([item_id]) == []
    assert queue.charge_running([item_id]) == []  # a second beat within the same second charges nothing more
    with as_tenant(tenant_id):
        in_processor_thread(lambda: queue.complete_queue_item(item_id))
    charged = usage(database, tenant_id)
    assert charged[0] == (f"usage:{item_id}:1:to:2", -2)
    assert charged[1][0] == f"usage:{item_id}:1" and charged[1][1] in (-1, -2)  # ceil of the whole attempt, less 2
    assert sum(balance(database, tenant_id)) == 100 + sum(amount for _, amount in charged)


def test_a_spent_balance_stops_the_running_item(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=2)
    one_item(queue, tenant_id)
    item_id = start(queue)
    time.sleep(2.1)
    assert queue.charge_running([item_id]) == [item_id]
    with as_tenant(tenant_id):
        stopped = queue.get_queue_item(item_id)
    assert (stopped.status, stopped.error_type) == ("canceled", CREDITS_EXHAUSTED)
    assert -1 <= sum(balance(database, tenant_id)) <= 0
    assert CREDITS_EXHAUSTED in entries(database, tenant_id)[-1].reason
    assert queue.charge_running([item_id]) == []  # canceled: its clock is gone, nothing more is charged


def test_a_lost_attempt_gets_its_slices_back_and_the_retry_is_charged(database: Database, ledger: CreditLedger) -> None:  # noqa: F811
    queue = quiet_queue(database, SqlSessionQueue(database, dispatcher=Dispatcher(database, lease_seconds=1.5), ledger=ledger))
    tenant_id = make_tenant(database, credits=100)
    item_id = one_item(queue, tenant_id)
    assert start(queue) == item_id
    time.sleep(1.1)
    queue.charge_running([item_id])  # the worker dies after this beat
    time.sleep(0.6)
    assert [r.status for r in queue.reap()] == ["pending"]
    assert usage(database, tenant_id) == [(f"usage:{item_id}:1:to:1", -1), (f"refund:usage:{item_id}:1", 1)]
    assert sum(balance(database, tenant_id)) == 100
    assert queue.reap() == []  # reaped once, refunded once
