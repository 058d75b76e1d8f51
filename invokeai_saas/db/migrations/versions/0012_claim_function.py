"""dispatch at scale: the claim as one server-side function, over an index of ready tenants

On Postgres a claim is one statement, `pingvas_claim(...)`, instead of a round trip per step. It
walks `queue_turns` rows marked `ready` in dispatch order (tier, oldest turn, longest waiting) through
a partial index, so its cost does not grow with the number of workspaces that have work queued.
Triggers keep `ready` true for every tenant that may have claimable work (an item becomes pending; a
tenant's credits, status, hold, plan or overrides change); a claim that finds a ready tenant with
nothing it may run parks it (`ready` false), only if no trigger marked it since (`ready_seq`), so no
tenant with work is ever left parked. A tenant at its plan's concurrency stays ready (it was served
last, so it sits at the end of its tier). `dispatch_plans` holds each plan's tier
and concurrency for the database's side (written from billing/plans.py by `pingvas migrate`).

SQLite (the embedded single-process studio) keeps the Python claim: the table and columns exist,
the functions and triggers do not.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plans as of this revision (billing/plans.py); `pingvas migrate` rewrites them from the code.
_PLANS = [("", 0, 1), ("starter", 1, 1), ("pro", 2, 1), ("studio", 3, 3), ("enterprise", 4, None)]

_FUNCTIONS = r"""
-- (SQL-language functions that cannot be inlined are planned on every call: the ones a claim or an
-- event runs are PL/pgSQL, whose plans each connection keeps.)
-- A tenant's tier (the platform's, '' / NULL: above every plan) and concurrency (NULL: unlimited).
CREATE FUNCTION pingvas_tier(p_tenant varchar) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_tenant IS NULL OR p_tenant = '' THEN (SELECT max(priority) + 1 FROM dispatch_plans)
           ELSE coalesce((SELECT p.priority FROM tenants t JOIN dispatch_plans p ON p.plan = t.plan
                           WHERE t.tenant_id = p_tenant),
                         (SELECT priority FROM dispatch_plans WHERE plan = '')) END
$$;

-- Marks tenants ready: their turn row exists, `ready`, its sequence moved on (a park that read the
-- old sequence fails), `waiting_since` kept while it stays ready.
CREATE FUNCTION pingvas_mark_ready(p_keys varchar[], p_first bigint[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO queue_turns AS t (turn_key, last_claimed_at, tier, ready, ready_seq, waiting_since)
    SELECT k, TIMESTAMP '1970-01-01', pingvas_tier(k), true, 1, f FROM unnest(p_keys, p_first) AS u(k, f)
    ORDER BY k
    ON CONFLICT (turn_key) DO UPDATE
       SET ready = true, ready_seq = t.ready_seq + 1, tier = excluded.tier,
           waiting_since = CASE WHEN t.ready THEN least(t.waiting_since, excluded.waiting_since)
                                ELSE excluded.waiting_since END
$$;

CREATE FUNCTION pingvas_queue_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_keys varchar[]; v_first bigint[];
BEGIN
    SELECT array_agg(k ORDER BY k), array_agg(f ORDER BY k) INTO v_keys, v_first
      FROM (SELECT coalesce(tenant_id, '') AS k, min(item_id) AS f FROM new_rows
             WHERE status = 'pending' GROUP BY 1) s;
    IF v_keys IS NOT NULL THEN
        PERFORM pingvas_mark_ready(v_keys, v_first);
    END IF;
    RETURN NULL;
END $$;

-- An item that becomes pending again (returned by the reaper, handed back, resumed) marks its tenant
-- ready. A row trigger whose WHEN clause most updates fail costs them nothing.
CREATE FUNCTION pingvas_queue_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pingvas_mark_ready(ARRAY[coalesce(NEW.tenant_id, '')]::varchar[], ARRAY[NEW.item_id]::bigint[]);
    RETURN NULL;
END $$;

-- What a claim checks of a tenant changed: its turn is ready again (and its tier follows its plan).
CREATE FUNCTION pingvas_tenant_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE queue_turns
       SET ready_seq = ready_seq + 1, tier = pingvas_tier(NEW.tenant_id),
           ready = ready OR EXISTS (SELECT 1 FROM session_queue q
                                     WHERE q.status = 'pending' AND q.tenant_id = NEW.tenant_id)
     WHERE turn_key = NEW.tenant_id;
    RETURN NULL;
END $$;

CREATE TRIGGER pingvas_queue_inserted AFTER INSERT ON session_queue
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingvas_queue_inserted();
CREATE TRIGGER pingvas_queue_updated AFTER UPDATE OF status ON session_queue FOR EACH ROW
    WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending') EXECUTE FUNCTION pingvas_queue_updated();
CREATE TRIGGER pingvas_tenant_updated AFTER UPDATE ON tenants FOR EACH ROW
    WHEN (OLD.plan IS DISTINCT FROM NEW.plan OR OLD.overrides IS DISTINCT FROM NEW.overrides
          OR OLD.status IS DISTINCT FROM NEW.status OR OLD.billing_hold_at IS DISTINCT FROM NEW.billing_hold_at
          OR (OLD.credits_period + OLD.credits_extra <= 0 AND NEW.credits_period + NEW.credits_extra > 0))
    EXECUTE FUNCTION pingvas_tenant_updated();

-- The batch and queue status a queue item's status-changed event carries, as InvokeAI's
-- get_batch_status / get_queue_status compute them for the item's owner (one tenant's items).
CREATE FUNCTION pingvas_event_statuses(p_tenant varchar, p_queue varchar, p_batch varchar, p_user varchar)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_tenant IS NULL THEN  -- the platform's own items
        RETURN ($STATUSES_PLATFORM$);
    END IF;
    RETURN ($STATUSES_TENANT$);
END $$;

-- Parks a ready tenant that has nothing a claim may run now, unless it was marked ready since the
-- claim read `p_seq` (or another transaction holds its row: then it stays ready, which is safe).
CREATE FUNCTION pingvas_park(p_key varchar, p_seq bigint) RETURNS void LANGUAGE sql AS $$
    UPDATE queue_turns SET ready = false
     WHERE turn_key = (SELECT turn_key FROM queue_turns WHERE turn_key = p_key AND ready_seq = p_seq
                         FOR UPDATE SKIP LOCKED)
$$;

-- One tenant's next item, claimed for `p_worker` unless another worker is claiming for the tenant,
-- served it since the caller read its turn (`p_seen`), or an enqueue holds its turn: 'raced'; or it
-- has as many items running as its plan allows ('capped'), or none pending ('empty').
CREATE FUNCTION pingvas_claim_tenant(p_key varchar, p_seen timestamp, p_conc integer, p_seq bigint,
                                     p_worker varchar, p_device varchar, p_lease interval,
                                     OUT o_outcome text, OUT o_row session_queue, OUT o_waited double precision)
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant varchar := nullif(p_key, '');
    v_now timestamp;
    v_last timestamp;
    v_item_id bigint;
    v_attempt integer;
    v_updated timestamp;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pingvas.claim:' || p_key)) THEN
        o_outcome := 'raced';
        RETURN;
    END IF;
    SELECT last_claimed_at INTO v_last FROM queue_turns WHERE turn_key = p_key FOR UPDATE SKIP LOCKED;
    IF v_last IS DISTINCT FROM p_seen THEN
        o_outcome := 'raced';
        RETURN;
    END IF;
    IF p_conc IS NOT NULL AND (SELECT count(*) FROM session_queue q
                                WHERE q.status = 'in_progress' AND q.tenant_id = v_tenant) >= p_conc THEN
        o_outcome := 'capped';
        RETURN;
    END IF;
    IF v_tenant IS NULL THEN
        SELECT q.item_id, q.attempt, q.updated_at INTO v_item_id, v_attempt, v_updated FROM session_queue q
         WHERE q.status = 'pending' AND q.tenant_id IS NULL
         ORDER BY q.priority DESC, q.item_id LIMIT 1 FOR UPDATE SKIP LOCKED;
    ELSE
        SELECT q.item_id, q.attempt, q.updated_at INTO v_item_id, v_attempt, v_updated FROM session_queue q
         WHERE q.status = 'pending' AND q.tenant_id = v_tenant
         ORDER BY q.priority DESC, q.item_id LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF v_item_id IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM session_queue q WHERE q.status = 'pending'
                          AND (q.tenant_id = v_tenant OR (v_tenant IS NULL AND q.tenant_id IS NULL))) THEN
            PERFORM pingvas_park(p_key, p_seq);
            o_outcome := 'empty';
        ELSE
            o_outcome := 'raced';  -- its next items are being claimed or canceled right now
        END IF;
        RETURN;
    END IF;
    v_now := clock_timestamp() AT TIME ZONE 'UTC';  -- the moment of the claim, not of the call
    UPDATE session_queue q
       SET status = 'in_progress', status_sequence = coalesce(q.status_sequence, 0) + 1,
           updated_at = v_now, started_at = v_now, worker_id = p_worker,
           lease_expires_at = v_now + p_lease, attempt = v_attempt + 1, device = coalesce(p_device, q.device)
     WHERE q.item_id = v_item_id RETURNING q.* INTO o_row;
    UPDATE queue_turns SET last_claimed_at = v_now, passed_at = NULL WHERE turn_key = p_key;
    o_outcome := 'claimed';
    o_waited := greatest(extract(epoch FROM v_now - v_updated)::double precision, 0.0);
END $$;

-- The claim. Dispatch order: tier, then the oldest turn, then the longest waiting; inside a tier,
-- with warm-model dispatch (`p_warm` not NULL), the order of invokeai_saas/queue/warm.py over a
-- window of `p_window` ready tenants. Returns one row: outcome 'claimed' (with the item as it is now,
-- the statuses its event carries and its owner's name), 'none' (nothing may run), 'deferred' (the
-- work waits for warmer workers: try again in `retry_in` seconds) or 'raced' (other workers won
-- every race: try again at once). It never waits for a lock.
CREATE FUNCTION pingvas_claim(p_worker varchar, p_device varchar, p_lease_s double precision,
                              p_warm varchar[], p_warm_wait_s double precision, p_window integer)
RETURNS TABLE (outcome text, retry_in double precision, dispatch_s double precision,
               item session_queue, statuses json, owner json)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off  -- index probes only; costs that high would JIT-compile
AS $$
DECLARE
    v_now timestamp := clock_timestamp() AT TIME ZONE 'UTC';
    v_wait interval := make_interval(secs => p_warm_wait_s);
    v_lease interval := make_interval(secs => p_lease_s);
    v_platform_tier integer := (SELECT max(priority) + 1 FROM dispatch_plans);
    c record;
    v_cand record;
    v_got record;
    v_tenant varchar;
    v_live_tier integer;
    v_conc integer;
    v_may_run boolean;
    v_model_keys text;
    v_head varchar[];
    v_rank integer;
    v_keys varchar[];
    v_seen timestamp[];
    v_passed timestamp[];
    v_tiers integer[];
    v_ranks integer[];
    v_concs integer[];
    v_seqs bigint[];
    v_deferred varchar[] := '{}';
    v_deferred_seen timestamp[] := '{}';
    v_deferred_due timestamp[] := '{}';
    v_raced_tier integer;
    v_pass_keys varchar[];
    v_pass_seen timestamp[];
    v_offset integer := 0;
    v_scanned integer := 0;
    v_kept integer;
    v_any_race boolean := false;
    v_restarts integer := 0;
BEGIN
    PERFORM set_config('pingvas.system', 'on', true);  -- every tenant's items, for this transaction only
    -- Windows of the ready list, in dispatch order. A tenant that may not run is parked (it leaves the
    -- list) or, at its cap, stepped over; a lost race reads the list again from the top.
    FOR v_window_no IN 1..20 LOOP
        v_keys := '{}'; v_seen := '{}'; v_passed := '{}'; v_tiers := '{}'; v_ranks := '{}'; v_concs := '{}'; v_seqs := '{}';
        v_scanned := 0; v_kept := 0; v_raced_tier := NULL;
        FOR c IN SELECT turn_key, tier, last_claimed_at, passed_at, ready_seq FROM queue_turns
                  WHERE ready ORDER BY tier DESC, last_claimed_at, waiting_since OFFSET v_offset LIMIT p_window LOOP
            v_scanned := v_scanned + 1;
            IF v_raced_tier IS NOT NULL AND c.tier < v_raced_tier THEN
                EXIT;  -- never hand a lower tier a slot a higher tier lost a race for: read again
            END IF;
            v_tenant := nullif(c.turn_key, '');
            IF v_tenant IS NULL THEN
                v_live_tier := v_platform_tier;
                v_conc := NULL;
            ELSE
                SELECT coalesce(p.priority, f.priority),
                       CASE WHEN t.overrides IS NOT NULL AND t.overrides::jsonb ? 'concurrent_queues'
                            THEN (t.overrides::jsonb ->> 'concurrent_queues')::integer
                            WHEN p.plan IS NOT NULL THEN p.concurrent_queues ELSE f.concurrent_queues END,
                       t.status = 'active' AND t.credits_period + t.credits_extra > 0
                           AND (t.billing_hold_at IS NULL OR t.billing_hold_at > v_now)
                  INTO v_live_tier, v_conc, v_may_run
                  FROM tenants t LEFT JOIN dispatch_plans p ON p.plan = t.plan
                  JOIN dispatch_plans f ON f.plan = ''
                 WHERE t.tenant_id = v_tenant;
                IF NOT FOUND OR NOT v_may_run THEN  -- suspended, out of credits, on hold, or gone
                    PERFORM pingvas_park(c.turn_key, c.ready_seq);
                    CONTINUE;
                END IF;
            END IF;
            IF v_live_tier <> c.tier THEN  -- its plan changed under a stale row: put it in its place
                UPDATE queue_turns SET tier = v_live_tier
                 WHERE turn_key = (SELECT turn_key FROM queue_turns WHERE turn_key = c.turn_key FOR UPDATE SKIP LOCKED);
                CONTINUE;
            END IF;
            v_kept := v_kept + 1;
            IF p_warm IS NULL THEN  -- plain dispatch order: claim from the first tenant that may run
                v_got := pingvas_claim_tenant(c.turn_key, c.last_claimed_at, v_conc, c.ready_seq,
                                              p_worker, p_device, v_lease);
                IF v_got.o_outcome = 'claimed' THEN
                    RETURN QUERY SELECT * FROM pingvas_claimed(v_got.o_row, v_got.o_waited);
                    RETURN;
                ELSIF v_got.o_outcome = 'raced' THEN
                    v_raced_tier := c.tier;
                ELSIF v_got.o_outcome = 'empty' THEN
                    v_kept := v_kept - 1;
                END IF;
                CONTINUE;
            END IF;
            -- Warm-model dispatch: rank the window's tenants first (warm.py's order inside each tier).
            IF v_tenant IS NULL THEN
                SELECT q.model_keys INTO v_model_keys FROM session_queue q
                 WHERE q.status = 'pending' AND q.tenant_id IS NULL ORDER BY q.priority DESC, q.item_id LIMIT 1;
            ELSE
                SELECT q.model_keys INTO v_model_keys FROM session_queue q
                 WHERE q.status = 'pending' AND q.tenant_id = v_tenant ORDER BY q.priority DESC, q.item_id LIMIT 1;
            END IF;
            IF NOT FOUND THEN  -- nothing pending (claimed, canceled or deleted meanwhile)
                PERFORM pingvas_park(c.turn_key, c.ready_seq);
                v_kept := v_kept - 1;
                CONTINUE;
            END IF;
            v_head := CASE WHEN v_model_keys IS NULL THEN '{}'::varchar[]
                           ELSE ARRAY(SELECT json_array_elements_text(v_model_keys::json))::varchar[] END;
            IF c.passed_at IS NOT NULL AND v_now - c.passed_at >= v_wait THEN
                v_rank := CASE WHEN v_head <@ p_warm THEN 0 ELSE 1 END;  -- overdue: warm ones first
            ELSIF v_head <@ p_warm THEN
                v_rank := CASE WHEN c.passed_at IS NOT NULL THEN 2 ELSE 3 END;  -- held here
            ELSIF NOT EXISTS (SELECT 1 FROM queue_workers w
                               WHERE w.worker_id <> p_worker AND w.models IS NOT NULL
                                 AND w.heartbeat_at >= v_now - v_lease
                                 AND v_head <@ ARRAY(SELECT json_array_elements_text(w.models::json))::varchar[]) THEN
                v_rank := 4;  -- held nowhere
            ELSE  -- held by another worker: left to it, for at most the wait
                v_deferred := v_deferred || c.turn_key;
                v_deferred_seen := v_deferred_seen || c.last_claimed_at;
                v_deferred_due := v_deferred_due || (coalesce(c.passed_at, v_now) + v_wait);
                CONTINUE;
            END IF;
            v_keys := v_keys || c.turn_key;
            v_seen := v_seen || c.last_claimed_at;
            v_passed := v_passed || c.passed_at;
            v_tiers := v_tiers || c.tier;
            v_ranks := v_ranks || v_rank;
            v_concs := v_concs || v_conc;
            v_seqs := v_seqs || c.ready_seq;
        END LOOP;
        EXIT WHEN v_scanned = 0;  -- the end of the ready list

        FOR v_cand IN SELECT u.k, u.s, u.t, u.c, u.q, u.o FROM unnest(v_keys, v_seen, v_tiers, v_ranks, v_concs, v_seqs)
                         WITH ORDINALITY AS u(k, s, t, r, c, q, o) ORDER BY u.t DESC, u.r, u.o LOOP
            IF v_raced_tier IS NOT NULL AND v_cand.t < v_raced_tier THEN
                EXIT;
            END IF;
            v_got := pingvas_claim_tenant(v_cand.k, v_cand.s, v_cand.c, v_cand.q, p_worker, p_device, v_lease);
            IF v_got.o_outcome = 'claimed' THEN
                -- the turns this claim went past for warmth, and those it left to warmer workers
                SELECT array_agg(u.k), array_agg(u.s) INTO v_pass_keys, v_pass_seen
                  FROM unnest(v_keys, v_seen, v_tiers, v_passed) WITH ORDINALITY AS u(k, s, t, p, o)
                 WHERE u.t = v_cand.t AND u.o < v_cand.o AND u.p IS NULL;
                PERFORM pingvas_pass_over(coalesce(v_pass_keys, '{}') || v_deferred,
                                          coalesce(v_pass_seen, '{}') || v_deferred_seen, v_now);
                RETURN QUERY SELECT * FROM pingvas_claimed(v_got.o_row, v_got.o_waited);
                RETURN;
            ELSIF v_got.o_outcome = 'raced' THEN
                v_raced_tier := v_cand.t;
            END IF;
        END LOOP;
        IF v_raced_tier IS NOT NULL THEN
            v_any_race := true;
            v_restarts := v_restarts + 1;
            EXIT WHEN v_restarts > 2;  -- busy: the caller tries again (and wakes the other workers)
            v_offset := 0;
        ELSE
            v_offset := v_offset + v_kept;
        END IF;
    END LOOP;
    IF v_any_race OR v_scanned > 0 THEN  -- lost races, or more of the list than one call reads
        RETURN QUERY SELECT 'raced'::text, NULL::double precision, NULL::double precision, NULL::session_queue, NULL::json, NULL::json;
    ELSIF cardinality(v_deferred) > 0 THEN
        PERFORM pingvas_pass_over(v_deferred, v_deferred_seen, v_now);
        RETURN QUERY SELECT 'deferred'::text,
            greatest(extract(epoch FROM (SELECT min(d) FROM unnest(v_deferred_due) d) - v_now)::double precision, 0.0),
            NULL::double precision, NULL::session_queue, NULL::json, NULL::json;
    ELSE
        RETURN QUERY SELECT 'none'::text, NULL::double precision, NULL::double precision, NULL::session_queue, NULL::json, NULL::json;
    END IF;
END $$;

-- A claim's answer: the item, how long it waited, its event's statuses and its owner's name and e-mail.
CREATE FUNCTION pingvas_claimed(p_row session_queue, p_waited double precision)
RETURNS TABLE (outcome text, retry_in double precision, dispatch_s double precision,
               item session_queue, statuses json, owner json)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT 'claimed'::text, NULL::double precision, p_waited, p_row,
           pingvas_event_statuses(p_row.tenant_id, p_row.queue_id, p_row.batch_id, p_row.user_id),
           (SELECT json_build_object('display_name', u.display_name, 'email', u.email) FROM users u
             WHERE u.user_id = p_row.user_id);
END $$;

-- Stamps `passed_at` on turns a claim left to warmer workers, the first time only and only if the
-- tenant was not served meanwhile; a row another transaction holds is skipped (it is being served).
CREATE FUNCTION pingvas_pass_over(p_keys varchar[], p_seen timestamp[], p_now timestamp) RETURNS void
LANGUAGE sql AS $$
    UPDATE queue_turns SET passed_at = p_now
     WHERE turn_key IN (SELECT t.turn_key FROM queue_turns t JOIN unnest(p_keys, p_seen) AS u(k, s)
                           ON t.turn_key = u.k AND t.last_claimed_at = u.s
                         WHERE t.passed_at IS NULL FOR UPDATE OF t SKIP LOCKED)
$$;
"""

# The statuses' query, once per kind of owner (a generic plan keeps index probes only when the
# tenant test is a plain equality).
_STATUSES = """
    WITH counts AS (
        SELECT status, count(*) AS n, count(*) FILTER (WHERE user_id = p_user) AS mine,
               count(*) FILTER (WHERE batch_id = p_batch) AS batch,
               min(origin) FILTER (WHERE batch_id = p_batch) AS origin,
               min(destination) FILTER (WHERE batch_id = p_batch) AS destination
          FROM session_queue WHERE {owner} AND queue_id = p_queue
         GROUP BY status
    )
    SELECT json_build_object(
        'counts', (SELECT coalesce(json_object_agg(status, n), '{{}}') FROM counts),
        'user_counts', (SELECT coalesce(json_object_agg(status, mine), '{{}}') FROM counts WHERE mine > 0),
        'batch_counts', (SELECT coalesce(json_object_agg(status, batch), '{{}}') FROM counts WHERE batch > 0),
        'origin', (SELECT min(origin) FROM counts),
        'destination', (SELECT min(destination) FROM counts),
        'current', (SELECT row_to_json(c) FROM (
            SELECT item_id, session_id, batch_id, user_id FROM session_queue
             WHERE {owner} AND queue_id = p_queue AND status = 'in_progress'
             ORDER BY item_id LIMIT 1) c))"""
_FUNCTIONS = _FUNCTIONS.replace("$STATUSES_PLATFORM$", _STATUSES.format(owner="tenant_id IS NULL")).replace(
    "$STATUSES_TENANT$", _STATUSES.format(owner="tenant_id = p_tenant")
)

_DROP = """
DROP TRIGGER IF EXISTS pingvas_tenant_updated ON tenants;
DROP TRIGGER IF EXISTS pingvas_queue_updated ON session_queue;
DROP TRIGGER IF EXISTS pingvas_queue_inserted ON session_queue;
DROP FUNCTION IF EXISTS pingvas_claim(varchar, varchar, double precision, varchar[], double precision, integer);
DROP FUNCTION IF EXISTS pingvas_claimed(session_queue, double precision);
DROP FUNCTION IF EXISTS pingvas_claim_tenant(varchar, timestamp, integer, bigint, varchar, varchar, interval);
DROP FUNCTION IF EXISTS pingvas_pass_over(varchar[], timestamp[], timestamp);
DROP FUNCTION IF EXISTS pingvas_park(varchar, bigint);
DROP FUNCTION IF EXISTS pingvas_event_statuses(varchar, varchar, varchar, varchar);
DROP FUNCTION IF EXISTS pingvas_tenant_updated();
DROP FUNCTION IF EXISTS pingvas_queue_updated();
DROP FUNCTION IF EXISTS pingvas_queue_inserted();
DROP FUNCTION IF EXISTS pingvas_mark_ready(varchar[], bigint[]);
DROP FUNCTION IF EXISTS pingvas_tier(varchar);
"""

# Every tenant with a pending item is ready, in its plan's tier.
_BACKFILL = """
SELECT pingvas_mark_ready(array_agg(k ORDER BY k), array_agg(f ORDER BY k))
  FROM (SELECT coalesce(tenant_id, '') AS k, min(item_id) AS f FROM session_queue
         WHERE status = 'pending' GROUP BY 1) s
"""


def upgrade() -> None:
    plans = op.create_table(
        'dispatch_plans',
        sa.Column('plan', sa.String(length=32), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('concurrent_queues', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('plan', name=op.f('pk_dispatch_plans')),
    )
    op.bulk_insert(plans, [{'plan': p, 'priority': r, 'concurrent_queues': c} for p, r, c in _PLANS])
    with op.batch_alter_table('queue_turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('ready', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('ready_seq', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('waiting_since', sa.BigInteger(), nullable=True))
    op.create_index(
        'ix_queue_turns_ready', 'queue_turns', [sa.text('tier DESC'), 'last_claimed_at', 'waiting_since'],
        unique=False, postgresql_where=sa.text('ready'), sqlite_where=sa.text('ready'),
    )
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(sa.text(_FUNCTIONS))
    op.execute(sa.text(_BACKFILL))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(_DROP))
    op.drop_index('ix_queue_turns_ready', table_name='queue_turns')
    with op.batch_alter_table('queue_turns', schema=None) as batch_op:
        batch_op.drop_column('waiting_since')
        batch_op.drop_column('ready_seq')
        batch_op.drop_column('ready')
        batch_op.drop_column('tier')
    op.drop_table('dispatch_plans')
