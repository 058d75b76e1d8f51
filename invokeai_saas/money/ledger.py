"""The credit ledger on the database: every movement an entry with an idempotency key, the balance
changed in the same transaction (the rules are billing/credits.py's).

`post` takes the caller's connection so a movement commits or rolls back with the change that
caused it (a queue item's status change, a webhook's subscription update). It locks the tenant's
row first: movements of one tenant are serialized, and a replayed key changes nothing.
"""

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from billing.credits import (
    Balance,
    EntryKind,
    apply,
    gpu_seconds_cost,
    lost_attempt_refund_key,
    period_reset_amount,
    running_cost,
    trial_grant_key,
    trial_lapse_key,
    usage_key,
    usage_slice_key,
)
from invokeai_saas.money.credit_events import note_balance
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.billing import credit_ledger as ledger
from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.core.metrics import LEDGER_ENTRIES
from invokeai_saas.mail.notices import NoticeKind, notify_managers

LOW_CREDITS_DIVISOR = 10  # owners are told when the balance falls under 1/10 of the period's allowance


class Entry(BaseModel):
    """A ledger entry as the workspace's usage page, its receipts and the operator console show it."""

    model_config = ConfigDict(frozen=True)

    entry_id: int
    kind: str
    amount: int
    balance_after: int
    item_id: int | None
    attempt: int | None
    seconds: float | None
    reason: str | None
    created_at: datetime


class CreditLedger:
    def __init__(self, db: Database, trial_credits: int = 300, trial_days: int = 14) -> None:
        self._db = db
        self.trial_credits = trial_credits
        self.trial_days = trial_days

    # region movements

    def post(
        self,
        conn: Connection,
        tenant_id: str,
        kind: EntryKind,
        amount: int,
        key: str,
        *,
        to_period: bool = False,
        item_id: int | None = None,
        attempt: int | None = None,
        seconds: float | None = None,
        reason: str | None = None,
        actor_user_id: str | None = None,
        locked: Row | None = None,
    ) -> int | None:
        """Writes the entry and moves the balance in `conn`'s transaction; returns the new balance,
        or None when an entry with `key` was already written (nothing changes). `locked`: the
        workspace's row as this transaction already locked it (`_LOCK_BALANCE`)."""
        row = locked if locked is not None else conn.execute(_LOCK_BALANCE, {"tenant_id": tenant_id}).one()
        before = Balance(row.credits_period, row.credits_extra)
        after = apply(before, kind, amount, to_period)
        entry = {
            "tenant_id": tenant_id,
            "kind": kind.value,
            "amount": amount,
            "balance_after": after.total,
            "idempotency_key": key,
            "item_id": item_id,
            "attempt": attempt,
            "seconds": seconds,
            "reason": reason,
            "actor_user_id": actor_user_id,
            "created_at": utcnow(),
        }
        balance = {"b_tenant": tenant_id, "b_period": after.period, "b_extra": after.extra}
        if conn.dialect.name == "postgresql":  # one round trip: the entry, and the balance only if it was written
            values = {f"e_{key}": value for key, value in entry.items()} | balance
            if conn.execute(_INSERT_ENTRY_SET_BALANCE_PG, values).first() is None:
                return None  # that key was written before
        else:
            if not conn.execute(_INSERT_ENTRY[conn.dialect.name], entry).first():
                return None
            conn.execute(_SET_BALANCE, balance)
        LEDGER_ENTRIES.labels(kind.value).inc()
        note_balance(conn, tenant_id, after.total)  # the studio's badge hears it once this commits
        if amount < 0 and not row.low_credits_noticed and after.total * LOW_CREDITS_DIVISOR < row.period_allowance:
            notice_if_low(conn, tenant_id, after.total, key)
        return after.total

    def reset_period(self, conn: Connection, tenant_id: str, allowance: int, key: str, reason: str) -> int | None:
        """A new period: the allowance becomes `allowance` (what was left of the last one goes; extra credits stay)."""
        amount = period_reset_amount(_locked_balance(conn, tenant_id), allowance)
        balance = self.post(conn, tenant_id, EntryKind.PERIOD_RESET, amount, key, reason=reason)
        if balance is not None:
            _start_period(conn, tenant_id, allowance)
        return balance

    def start_trial(self, conn: Connection, tenant_id: str) -> bool:
        """A new workspace's trial: its credits fill the allowance until they lapse. False when there is
        no trial, or the workspace had it before (once per workspace: the grant's key)."""
        if self.trial_credits <= 0:
            return False
        ends = utcnow() + timedelta(days=self.trial_days)
        reason = f"Trial: {self.trial_credits} credits until {ends:%Y-%m-%d}"
        key = trial_grant_key(tenant_id)
        if self.post(conn, tenant_id, EntryKind.GRANT, self.trial_credits, key, to_period=True, reason=reason) is None:
            return False  # granted before: a workspace has one trial
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(trial_ends_at=ends))
        _start_period(conn, tenant_id, self.trial_credits)
        return True

    def lapse_trial_if_over(self, conn: Connection, tenant_id: str) -> None:
        """Once its trial is over, what is left of a workspace's trial credits goes (once)."""
        row = conn.execute(
            sa.select(tenants.c.trial_ends_at, tenants.c.credits_period).where(tenants.c.tenant_id == tenant_id)
        ).first()
        if row is None or row.trial_ends_at is None or row.trial_ends_at > utcnow():
            return
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(trial_ends_at=None))
        if row.credits_period > 0:
            self.post(
                conn, tenant_id, EntryKind.TRIAL_LAPSE, -row.credits_period, trial_lapse_key(tenant_id), reason="The trial ended"
            )

    def charge_attempt(
        self, conn: Connection, tenant_id: str, item_id: int, attempt: int, seconds: float, outcome: str
    ) -> int | None:
        """An attempt of a queue item ends: ceil(seconds) of device time in all, less the slices its
        heartbeats charged while it ran, once per (item, attempt)."""
        locked, charged = self._charged(conn, tenant_id, item_id, attempt)
        cost = gpu_seconds_cost(seconds) - charged
        if cost <= 0:
            return None
        reason = f"Queue item {item_id}, attempt {attempt}: {seconds:.2f} s on a generation device ({outcome})"
        return self.post(
            conn, tenant_id, EntryKind.USAGE, -cost, usage_key(item_id, attempt),
            item_id=item_id, attempt=attempt, seconds=round(seconds, 3), reason=reason, locked=locked,
        )  # fmt: skip

    def charge_running(self, conn: Connection, tenant_id: str, item_id: int, attempt: int, seconds: float) -> int:
        """A heartbeat of a running attempt: the whole seconds used so far, less what was charged
        already. Returns the workspace's balance after it (charged or not)."""
        locked, charged = self._charged(conn, tenant_id, item_id, attempt)
        cost = running_cost(seconds) - charged
        if cost > 0:
            reason = f"Queue item {item_id}, attempt {attempt}: {seconds:.2f} s on a generation device so far (running)"
            after = self.post(
                conn, tenant_id, EntryKind.USAGE, -cost, usage_slice_key(item_id, attempt, charged + cost),
                item_id=item_id, attempt=attempt, seconds=round(seconds, 3), reason=reason, locked=locked,
            )  # fmt: skip
            if after is not None:
                return after
        return locked.credits_period + locked.credits_extra

    def refund_lost_attempt(self, conn: Connection, tenant_id: str | None, item_id: int, attempt: int) -> None:
        """A lost attempt (its worker died, or stopped) is the platform's failure: what its heartbeats
        charged while it ran comes back, once."""
        if tenant_id is None:
            return
        locked, charged = self._charged(conn, tenant_id, item_id, attempt)
        if charged > 0:
            reason = f"Queue item {item_id}, attempt {attempt}: its worker was lost; the time charged while it ran is refunded"
            self.post(
                conn, tenant_id, EntryKind.REFUND, charged, lost_attempt_refund_key(item_id, attempt),
                item_id=item_id, attempt=attempt, reason=reason, locked=locked,
            )  # fmt: skip

    @staticmethod
    def _charged(conn: Connection, tenant_id: str, item_id: int, attempt: int) -> tuple[Row, int]:
        """The workspace's row, locked (so a heartbeat's slice and the attempt's end are serialized),
        and the device time already charged to the attempt, read after the lock is held."""
        locked = conn.execute(_LOCK_BALANCE, {"tenant_id": tenant_id}).one()
        spent = conn.execute(_CHARGED, {"c_tenant": tenant_id, "c_item": item_id, "c_attempt": attempt}).scalar_one()
        return locked, -int(spent or 0)

    # endregion

    # region reads (the caller's tenant scope)

    def balance(self, tenant_id: str) -> Balance:
        with self._db.begin() as conn:
            row = conn.execute(
                sa.select(tenants.c.credits_period, tenants.c.credits_extra).where(tenants.c.tenant_id == tenant_id)
            ).one()
        return Balance(row.credits_period, row.credits_extra)

    def entries(self, tenant_id: str, before: int | None = None, limit: int = 50) -> list[Entry]:
        """The newest entries first; `before`: an entry id, for the next page."""
        query = sa.select(*_ENTRY_COLUMNS).where(ledger.c.tenant_id == tenant_id)
        if before is not None:
            query = query.where(ledger.c.entry_id < before)
        with self._db.begin() as conn:
            rows = conn.execute(query.order_by(ledger.c.entry_id.desc()).limit(limit)).all()
        return [Entry(**row._mapping) for row in rows]

    def daily_spend(self, tenant_id: str, since: datetime) -> dict[date, dict[str, int]]:
        """Credits moved per day (UTC) since `since`, by kind."""
        day = sa.func.date(ledger.c.created_at)
        query = (
            sa.select(day, ledger.c.kind, sa.func.sum(ledger.c.amount))
            .where(ledger.c.tenant_id == tenant_id, ledger.c.created_at >= since)
            .group_by(day, ledger.c.kind)
        )
        totals: dict[date, dict[str, int]] = {}
        with self._db.begin() as conn:
            for day_value, kind, amount in conn.execute(query):
                day_key = day_value if isinstance(day_value, date) else date.fromisoformat(str(day_value))
                totals.setdefault(day_key, {})[kind] = int(amount)
        return dict(sorted(totals.items()))

    def item_entries(self, tenant_id: str, item_id: int) -> list[Entry]:
        query = (
            sa.select(*_ENTRY_COLUMNS)
            .where(ledger.c.tenant_id == tenant_id, ledger.c.item_id == item_id)
            .order_by(ledger.c.entry_id)
        )
        with self._db.begin() as conn:
            return [Entry(**row._mapping) for row in conn.execute(query)]

    # endregion


_ENTRY_COLUMNS = [
    ledger.c[name]
    for name in ("entry_id", "kind", "amount", "balance_after", "item_id", "attempt", "seconds", "reason", "created_at")
]


# Built once (a worker posts one with every attempt it ends): statements with bind parameters.
_LOCK_BALANCE = (
    sa.select(tenants.c.credits_period, tenants.c.credits_extra, tenants.c.period_allowance, tenants.c.low_credits_noticed)
    .where(tenants.c.tenant_id == sa.bindparam("tenant_id"))
    .with_for_update()
)
_SET_BALANCE = (
    sa.update(tenants)
    .where(tenants.c.tenant_id == sa.bindparam("b_tenant"))
    .values(credits_period=sa.bindparam("b_period"), credits_extra=sa.bindparam("b_extra"))
)
_CHARGED = sa.select(sa.func.sum(ledger.c.amount)).where(
    ledger.c.tenant_id == sa.bindparam("c_tenant"),
    ledger.c.item_id == sa.bindparam("c_item"),
    ledger.c.attempt == sa.bindparam("c_attempt"),
    ledger.c.kind == EntryKind.USAGE.value,
)
_INSERT_ENTRY = {  # INSERT … ON CONFLICT (idempotency_key) DO NOTHING, a row back only when inserted
    name: dialect.insert(ledger).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(ledger.c.entry_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_ENTRY_KEYS = ("tenant_id", "kind", "amount", "balance_after", "idempotency_key", "item_id", "attempt", "seconds",
               "reason", "actor_user_id", "created_at")
_inserted = (
    postgresql.insert(ledger)
    .values({key: sa.bindparam(f"e_{key}", type_=ledger.c[key].type) for key in _ENTRY_KEYS})
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(ledger.c.entry_id)
    .cte("inserted")
)
# The entry (unless its key was written before) and, in the same statement, the new balance: a row
# back only when both were written.
_INSERT_ENTRY_SET_BALANCE_PG = (
    sa.update(tenants)
    .where(tenants.c.tenant_id == sa.bindparam("b_tenant"), sa.exists(sa.select(_inserted.c.entry_id)))
    .values(credits_period=sa.bindparam("b_period"), credits_extra=sa.bindparam("b_extra"))
    .returning(tenants.c.tenant_id)
)


def _start_period(conn: Connection, tenant_id: str, allowance: int) -> None:
    """A period (or trial) starts with `allowance`: its low-credits notice may be sent again."""
    conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id)
                 .values(period_allowance=allowance, low_credits_noticed=False))


def notice_if_low(conn: Connection, tenant_id: str, balance: int, key: str) -> None:
    """Once per period, when a debit leaves the balance under 10 % of the period's allowance, its
    owners and admins are told (the flag is set in the debit's transaction: one notice, whichever pod).
    `post` calls it only when the row it locked says so: most debits cost no statement more."""
    low = sa.and_(tenants.c.tenant_id == tenant_id, tenants.c.low_credits_noticed.is_(False),
                  tenants.c.period_allowance > 0, tenants.c.period_allowance > balance * LOW_CREDITS_DIVISOR)
    row = conn.execute(sa.update(tenants).where(low).values(low_credits_noticed=True)
                       .returning(tenants.c.name, tenants.c.period_allowance)).first()
    if row is None:
        return
    notify_managers(
        conn, tenant_id, NoticeKind.LOW_CREDITS, f"low-credits:{tenant_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}",
        f"{row.name} is running low on credits",
        f"Your workspace {row.name} has {balance} credits left, under 10 % of the {row.period_allowance} this period "
        "started with. When they run out, generation stops until the next period. Buy credits or change your plan "
        "to keep generating.",
        "/account/plan", "Get more credits",
    )


def _locked_balance(conn: Connection, tenant_id: str) -> Balance:
    row = conn.execute(_LOCK_BALANCE, {"tenant_id": tenant_id}).one()
    return Balance(row.credits_period, row.credits_extra)


def ledger_for(settings: Any, db: Database) -> CreditLedger:
    """The ledger as the settings configure it (`PINGVAS_TRIAL_CREDITS`, `PINGVAS_TRIAL_DAYS`)."""
    return CreditLedger(db, trial_credits=settings.trial_credits, trial_days=settings.trial_days)
