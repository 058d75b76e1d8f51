"""Credits on the real queue (SQLite and Postgres): the ledger's idempotency and buckets, the trial,
metering per attempt in the status change that ends it, the enqueue gate (plan features, credits
held by queued items) and the dispatcher leaving a workspace without credits waiting."""

import asyncio
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from billing.credits import EntryKind, usage_key
from invokeai.app.invocations.external_image_generation import GeminiImageGenerationInvocation
from invokeai.app.services.session_queue.session_queue_common import Batch
from invokeai.app.services.shared.graph import Graph
from invokeai_saas.money import metering
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.billing import credit_ledger
from invokeai_saas.db.tables.models import models
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.queue.claims import Dispatcher
from invokeai_saas.money.gating import workspace_state
from invokeai_saas.money.ledger import CreditLedger
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError
from tests.db_fixtures import make_tenant
from tests.records.test_dispatch_warm import model_graph
from tests.records.test_session_queue import Q, batch, enqueue, in_processor_thread, start_queue


@pytest.fixture
def ledger(database: Database) -> CreditLedger:
    return CreditLedger(database, trial_credits=300, trial_days=14)


def quiet_queue(database: Database, queue: SqlSessionQueue) -> SqlSessionQueue:
    """The queue with no other test's items waiting (the database is shared by the session)."""
    with system_scope(), database.begin() as conn:
        conn.execute(
            sa.update(session_queue).where(session_queue.c.status.in_(("pending", "in_progress"))).values(status="canceled")
        )
    return start_queue(database, queue)[0]


@pytest.fixture
def queue(database: Database, ledger: CreditLedger) -> SqlSessionQueue:
    return quiet_queue(database, SqlSessionQueue(database, ledger=ledger))


def balance(db: Database, tenant_id: str) -> tuple[int, int]:
    with system_scope(), db.begin() as conn:
        row = conn.execute(
            sa.select(tenants.c.credits_period, tenants.c.credits_extra).where(tenants.c.tenant_id == tenant_id)
        ).one()
    return row.credits_period, row.credits_extra


def entries(db: Database, tenant_id: str) -> list[sa.Row]:
    with system_scope(), db.begin() as conn:
        return conn.execute(
            sa.select(credit_ledger).where(credit_ledger.c.tenant_id == tenant_id).order_by(credit_ledger.c.entry_id)
        ).all()


def post(db: Database, ledger: CreditLedger, tenant_id: str, kind: EntryKind, amount: int, key: str, **kw: object) -> int | None:
    """Keys are unique across workspaces: each test's are qualified by its workspace."""
    with system_scope(), db.begin() as conn:
        return ledger.post(conn, tenant_id, kind, amount, f"{tenant_id}:{key}", **kw)  # type: ignore[arg-type]


def one_item(queue: SqlSessionQueue, tenant_id: str) -> int:
    with as_tenant(tenant_id):
        return enqueue(queue, batch([1])).item_ids[0]


# region ledger


def test_a_replayed_key_moves_nothing_and_the_balance_matches_the_entries(database: Database, ledger: CreditLedger) -> None:
    tenant_id = make_tenant(database, credits=0)
    assert post(database, ledger, tenant_id, EntryKind.GRANT, 50, "grant-1") == 50
    assert post(database, ledger, tenant_id, EntryKind.GRANT, 50, "grant-1") is None
    assert post(database, ledger, tenant_id, EntryKind.USAGE, -7, "use-1") == 43
    rows = entries(database, tenant_id)
    assert [(r.kind, r.amount, r.balance_after) for r in rows] == [("grant", 50, 50), ("usage", -7, 43)]
    assert sum(balance(database, tenant_id)) == sum(r.amount for r in rows)


def test_racing_posts_of_one_key_write_one_entry(database: Database, ledger: CreditLedger) -> None:
    tenant_id = make_tenant(database, credits=0)
    results: list[int | None] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        results.append(post(database, ledger, tenant_id, EntryKind.GRANT, 15_000, "webhook-evt-1"))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=lambda r: r is None) == [15_000] + [None] * 7
    assert sum(balance(database, tenant_id)) == 15_000


def test_usage_spends_the_allowance_first_and_only_extra_credits_go_below_zero(
    database: Database, ledger: CreditLedger
) -> None:
    tenant_id = make_tenant(database, credits=0)
    post(database, ledger, tenant_id, EntryKind.PERIOD_RESET, 10, "period-1")
    post(database, ledger, tenant_id, EntryKind.GRANT, 5, "grant-1")
    post(database, ledger, tenant_id, EntryKind.USAGE, -12, "use-1")
    assert balance(database, tenant_id) == (0, 3)
    post(database, ledger, tenant_id, EntryKind.USAGE, -4, "use-2")
    assert balance(database, tenant_id) == (0, -1)


def test_a_trial_grants_its_credits_and_they_lapse_once_when_it_ends(database: Database, ledger: CreditLedger) -> None:
    tenant_id = make_tenant(database, credits=0)
    with system_scope(), database.begin() as conn:
        ledger.start_trial(conn, tenant_id)
        ledger.lapse_trial_if_over(conn, tenant_id)  # not over yet
    assert balance(database, tenant_id) == (300, 0)
    post(database, ledger, tenant_id, EntryKind.USAGE, -20, "use-1")
    post(database, ledger, tenant_id, EntryKind.GRANT, 7, "operator-1")
    with system_scope(), database.begin() as conn:
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(trial_ends_at=utcnow() - timedelta(seconds=1)))
        ledger.lapse_trial_if_over(conn, tenant_id)
        ledger.lapse_trial_if_over(conn, tenant_id)
    assert balance(database, tenant_id) == (0, 7)  # an operator's grant outlives the trial
    assert [(r.kind, r.amount) for r in entries(database, tenant_id)][-1] == ("trial_lapse", -280)


def test_no_trial_when_its_credits_are_zero(database: Database) -> None:
    tenant_id = make_tenant(database, credits=0)
    with system_scope(), database.begin() as conn:
        CreditLedger(database, trial_credits=0).start_trial(conn, tenant_id)
    assert balance(database, tenant_id) == (0, 0) and entries(database, tenant_id) == []


# endregion

# region metering


def run_attempt(queue: SqlSessionQueue, seconds: float, end: str = "complete", expect: bool = True) -> int | None:
    """A worker claims the next item, runs its session for `seconds` and ends the attempt; returns the
    item id (None when there was nothing it could claim and `expect` is false)."""

    def work() -> int | None:
        item = queue.dequeue()
        if item is None and not expect:
            return None
        assert item is not None
        metering.session_started(queue_item=item)
        time.sleep(seconds)
        if end == "complete":
            queue.complete_queue_item(item.item_id)
        elif end == "node_error":
            item.session.set_node_error("add", "ValueError: bad input")
            queue.set_queue_item_session(item.item_id, item.session)
            queue.fail_queue_item(item.item_id, "ValueError", "bad input", "")
        elif end == "processor_error":
            queue.fail_queue_item(item.item_id, "RuntimeError", "the processor broke", "")
        return item.item_id

    return in_processor_thread(work)


def test_an_attempt_is_charged_its_device_seconds_once(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=100)
    one_item(queue, tenant_id)
    item_id = run_attempt(queue, 1.2)
    charges = [r for r in entries(database, tenant_id) if r.kind == "usage"]
    assert [(r.item_id, r.attempt, r.amount, r.idempotency_key) for r in charges] == [(item_id, 1, -2, usage_key(item_id, 1))]
    assert 1.2 <= charges[0].seconds < 2.0
    with as_tenant(tenant_id):
        queue.complete_queue_item(item_id)  # a repeated status change charges nothing more
        queue.cancel_queue_item(item_id)
    assert sum(balance(database, tenant_id)) == 98


def test_a_graphs_failure_is_charged_and_the_platforms_is_not(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=100)
    one_item(queue, tenant_id)
    one_item(queue, tenant_id)
    failed_in_node = run_attempt(queue, 0.1, end="node_error")
    failed_by_platform = run_attempt(queue, 0.1, end="processor_error")
    charged = {r.item_id: r.amount for r in entries(database, tenant_id) if r.kind == "usage"}
    assert charged == {failed_in_node: -1}
    assert failed_by_platform not in charged


def test_a_cancel_on_another_pod_is_charged_for_the_time_used(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=100)
    item_id = one_item(queue, tenant_id)
    assert in_processor_thread(queue.dequeue) is not None  # a worker holds it; its clock is on that worker
    time.sleep(1.1)
    with as_tenant(tenant_id):
        queue.cancel_queue_item(item_id)  # the API pod: no session clock here, the claim's start is used
    (charge,) = [r for r in entries(database, tenant_id) if r.kind == "usage"]
    assert charge.amount == -2 and "canceled" in charge.reason


def test_a_lost_worker_is_not_charged_and_the_retry_is(database: Database, ledger: CreditLedger) -> None:
    queue = quiet_queue(database, SqlSessionQueue(database, dispatcher=Dispatcher(database, lease_seconds=0.2), ledger=ledger))
    tenant_id = make_tenant(database, credits=100)
    item_id = one_item(queue, tenant_id)
    assert in_processor_thread(queue.dequeue) is not None  # this worker dies: it never ends the attempt
    time.sleep(0.4)
    assert [r.status for r in queue.reap()] == ["pending"]
    queue.dispatcher.lease = timedelta(seconds=30)
    assert run_attempt(queue, 0.3) == item_id
    charges = [(r.attempt, r.amount) for r in entries(database, tenant_id) if r.kind == "usage"]
    assert charges == [(2, -1)]


# endregion

# region gating


def flux_model(db: Database) -> str:
    key = f"flux-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with system_scope(), db.begin() as conn:
        conn.execute(
            sa.insert(models).values(
                id=key, hash=key, base="flux", type="main", path=f"/models/{key}", format="diffusers", name=key,
                source=key, source_type="path", file_size=1, config=json.dumps({"key": key}), created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return key


def refusal(queue: SqlSessionQueue, tenant_id: str, b: Batch) -> ErrorCode:
    with as_tenant(tenant_id), pytest.raises(ServiceError) as refused:
        enqueue(queue, b)
    return refused.value.code


def queued(db: Database, tenant_id: str) -> int:
    with system_scope(), db.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).where(session_queue.c.tenant_id == tenant_id)).scalar_one()


def test_flux_needs_a_plan_with_it_whatever_base_the_client_claims(database: Database, queue: SqlSessionQueue) -> None:
    key = flux_model(database)
    starter, pro = make_tenant(database, plan="starter"), make_tenant(database, plan="pro")
    graph = model_graph(key)  # the graph's identifier says base sd-1; the model records say flux
    assert refusal(queue, starter, Batch(graph=graph)) == ErrorCode.FEATURE_NOT_IN_PLAN
    assert queued(database, starter) == 0
    with as_tenant(pro):
        assert enqueue(queue, Batch(graph=graph)).enqueued == 1


def test_nano_banana_needs_a_plan_with_it_and_is_estimated_at_20_credits(database: Database, queue: SqlSessionQueue) -> None:
    graph = Graph()
    graph.add_node(GeminiImageGenerationInvocation(id="banana", prompt="a cat"))
    starter, pro = make_tenant(database, plan="starter"), make_tenant(database, plan="pro", credits=30)
    assert refusal(queue, starter, Batch(graph=graph)) == ErrorCode.FEATURE_NOT_IN_PLAN
    with as_tenant(pro):
        assert queue.estimate_batch(Q, Batch(graph=graph, runs=2)).need == 42
        assert enqueue(queue, Batch(graph=graph)).enqueued == 1  # 21 of 30 held
    assert refusal(queue, pro, Batch(graph=graph)) == ErrorCode.INSUFFICIENT_CREDITS


def test_queued_items_hold_credits_so_a_batch_beyond_the_balance_is_refused(database: Database, queue: SqlSessionQueue) -> None:
    tenant_id = make_tenant(database, credits=3)
    with as_tenant(tenant_id):
        enqueue(queue, batch([1, 2]))
        assert queue.estimate_batch(Q, batch([1, 2])).refusal is not None
    assert refusal(queue, tenant_id, batch([1, 2])) == ErrorCode.INSUFFICIENT_CREDITS
    with as_tenant(tenant_id):
        enqueue(queue, batch([3]))
    assert refusal(queue, tenant_id, batch([4])) == ErrorCode.INSUFFICIENT_CREDITS
    assert queued(database, tenant_id) == 3


def enqueue_outcome(queue: SqlSessionQueue, tenant_id: str, values: list[int]) -> str:
    """'queued', or the code the enqueue was refused with."""
    with as_tenant(tenant_id):
        try:
            asyncio.run(queue.enqueue_batch(Q, batch(values), False))
            return "queued"
        except ServiceError as e:
            return e.code.value


def test_100_concurrent_enqueues_with_10_credits_never_spend_past_the_balance(database: Database, queue: SqlSessionQueue) -> None:
    """The bound: a batch is queued only if the balance left after queued items' estimates covers its
    own, and a workspace at zero gets no worker; so 10 credits buy at most 10 one-second items."""
    tenant_id = make_tenant(database, credits=10)
    start = threading.Barrier(100)
    outcomes: list[str] = []

    def one() -> None:
        start.wait()
        outcomes.append(enqueue_outcome(queue, tenant_id, [1]))

    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("queued") == 10 and outcomes.count("insufficient_credits") == 90
    ran = 0
    while run_attempt(queue, 0.05, expect=False) is not None:  # each: a twentieth of a second, charged 1 credit
        ran += 1
    assert ran == 10 and sum(balance(database, tenant_id)) == 0


def test_an_enqueue_that_waited_while_the_last_credit_was_charged_is_refused(database: Database, queue: SqlSessionQueue) -> None:
    """CI found it: an enqueue waiting for the workspace's enqueue lock while its one queued item
    completed (the item's charge and its end commit together) read the balance from before the charge
    and the queue from after it, so it saw a free credit that was spent, and queued an item."""
    tenant_id = make_tenant(database, credits=1)
    one_item(queue, tenant_id)
    outcome: list[str] = []

    waiting = threading.Thread(target=lambda: outcome.append(enqueue_outcome(queue, tenant_id, [2])))
    if database.is_postgres:
        with system_scope(), database.begin() as holder:  # another enqueue of the workspace holds its lock meanwhile
            workspace_state(holder, tenant_id, lock=True)
            waiting.start()
            wait_for_advisory_lock_waiter(database)
            run_attempt(queue, 0.05)  # the queued item runs: charged its credit, in its last status change
    else:  # SQLite serializes the whole transaction: the enqueue comes after the charge
        run_attempt(queue, 0.05)
        waiting.start()
    waiting.join(timeout=60)
    assert outcome == ["insufficient_credits"]
    assert sum(balance(database, tenant_id)) == 0 and queued(database, tenant_id) == 1  # the one that ran


_ADVISORY_LOCK_WAITERS = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def wait_for_advisory_lock_waiter(database: Database) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with system_scope(), database.begin() as conn:
            if conn.execute(_ADVISORY_LOCK_WAITERS).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError("the enqueue never waited for the workspace's lock")


@pytest.mark.parametrize("plan", ["starter", "pro", "studio", "enterprise"])
def test_each_plans_features_are_gated_at_enqueue(database: Database, queue: SqlSessionQueue, plan: str) -> None:
    """The feature table: FLUX models and nano-banana are refused exactly where the plan lacks them."""
    from billing.plans import PLANS, Feature

    tenant_id = make_tenant(database, plan=plan)
    banana = Graph()
    banana.add_node(GeminiImageGenerationInvocation(id="banana", prompt="a cat"))
    for feature, graph in ((Feature.FLUX_MODELS, model_graph(flux_model(database))), (Feature.NANO_BANANA, banana)):
        if feature in PLANS[plan].features:
            with as_tenant(tenant_id):
                assert enqueue(queue, Batch(graph=graph)).enqueued == 1
        else:
            assert refusal(queue, tenant_id, Batch(graph=graph)) == ErrorCode.FEATURE_NOT_IN_PLAN


def test_a_workspace_out_of_credits_waits_and_runs_once_credits_arrive(
    database: Database, queue: SqlSessionQueue, ledger: CreditLedger
) -> None:
    tenant_id = make_tenant(database, credits=2)
    with as_tenant(tenant_id):
        enqueue(queue, batch([1, 2]))
    run_attempt(queue, 1.5)  # 2 credits: the balance is now 0
    assert sum(balance(database, tenant_id)) == 0
    assert in_processor_thread(queue.dequeue) is None  # its second item waits
    post(database, ledger, tenant_id, EntryKind.GRANT, 5, "top-up")
    assert run_attempt(queue, 0.1) is not None


def test_operators_items_are_not_billed(database: Database, queue: SqlSessionQueue) -> None:
    with as_tenant(None):
        assert enqueue(queue, batch([1])).enqueued == 1


def test_a_flux_model_load_at_run_time_needs_the_plan(database: Database, tmp_path: object) -> None:
    """What enqueue cannot see (a child workflow's model): the worker's model loads are gated too."""
    from invokeai.app.services.config import InvokeAIAppConfig
    from invokeai.app.services.model_load.model_load_default import ModelLoadService
    from invokeai.backend.model_manager.configs.main import Main_Checkpoint_FLUX_Config, Main_Checkpoint_SD1_Config
    from invokeai.backend.model_manager.taxonomy import BaseModelType

    from invokeai_saas.money.gating import ModelLoadGate
    from tests.records.test_dispatch_warm import cpu_model_cache

    loader = ModelLoadService(InvokeAIAppConfig(), cpu_model_cache())
    ModelLoadGate(database).wrap(loader)
    flux = Main_Checkpoint_FLUX_Config.model_construct(key="flux-dev", base=BaseModelType.Flux, path="/nowhere/flux.safetensors")
    sd1 = Main_Checkpoint_SD1_Config.model_construct(key="sd1", base=BaseModelType.StableDiffusion1, path="/nowhere/sd1.safetensors")
    starter, pro = make_tenant(database, plan="starter"), make_tenant(database, plan="pro")
    with as_tenant(starter), pytest.raises(ServiceError) as refused:
        loader.load_model(flux)
    assert refused.value.code == ErrorCode.FEATURE_NOT_IN_PLAN
    for tenant_id, config in ((pro, flux), (starter, sd1)):
        with as_tenant(tenant_id), pytest.raises(Exception) as failed:  # past the gate: the file is not there
            loader.load_model(config)
        assert not isinstance(failed.value, ServiceError), failed.value


@pytest.mark.parametrize("studio_in_test_mode", [False, True])
def test_a_studio_applies_only_the_deliveries_of_its_stores_mode(
    database: Database, ledger: CreditLedger, studio_in_test_mode: bool
) -> None:
    """A live studio never grants a test purchase's credits (and a test-mode one ignores live deliveries)."""
    from billing.lemonsqueezy import Variants
    from billing.plans import PLANS
    from invokeai_saas.money.subscriptions import SubscriptionService
    from billing.lemonsqueezy import checkout_signing_key
    from tests.lemonsqueezy_server import STORE_ID, VARIANTS, WEBHOOK_SECRET, checkout_custom, invoice_event, ls_time, subscription_event

    service = SubscriptionService(database, ledger, Variants.parse(json.dumps(VARIANTS), set(PLANS)), test_mode=studio_in_test_mode,
                                  signing_key=checkout_signing_key(None, WEBHOOK_SECRET), store_id=STORE_ID)
    tenant_id = make_tenant(database, credits=0)
    now = ls_time(utcnow())
    for event_test_mode in (not studio_in_test_mode, studio_in_test_mode):
        sub_id = str(uuid.uuid4().int % 10**9)
        custom = checkout_custom(tenant_id, "pro", test_mode=event_test_mode)  # a checkout of a studio in that mode
        events = [subscription_event("subscription_created", tenant_id, sub_id, "101", "active", now, custom=custom),
                  invoice_event("subscription_payment_success", tenant_id, str(uuid.uuid4().int % 10**9), sub_id, now, custom=custom)]
        outcomes = []
        for event in events:
            event["meta"]["test_mode"] = event_test_mode
            outcomes.append(service.apply_delivery(json.dumps(event).encode()))
        with system_scope(), database.begin() as conn:
            plan = conn.execute(sa.select(tenants.c.plan).where(tenants.c.tenant_id == tenant_id)).scalar_one()
        with as_tenant(tenant_id):
            credits = ledger.balance(tenant_id).total
        if event_test_mode != studio_in_test_mode:
            assert all(o.startswith("ignored: a ") for o in outcomes), outcomes
            assert (plan, credits) == ("starter", 0)
        else:
            assert (plan, credits) == ("pro", 15_000), outcomes


def test_without_a_payment_provider_no_plan_is_on_sale(database: Database, ledger: CreditLedger) -> None:
    """No Lemon Squeezy client (the embedded default): the catalog offers nothing to buy, whatever variants say."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from billing.lemonsqueezy import Variants
    from billing.plans import PLANS
    from invokeai_saas.api.billing import billing_router
    from invokeai_saas.money.subscriptions import SubscriptionService
    from tests.lemonsqueezy_server import VARIANTS

    service = SubscriptionService(database, ledger, Variants.parse(json.dumps(VARIANTS), set(PLANS)))
    app = FastAPI()
    app.include_router(billing_router(ledger, service, None, None))
    plans = TestClient(app).get("/api/v1/billing/plans").json()
    assert [p["name"] for p in plans] == list(PLANS) and all(p["intervals"] == [] for p in plans)
