"""Credits: the ledger's kinds and keys, what an attempt or a batch costs, and how an entry moves the
two buckets of a balance. Pure rules; `invokeai_saas/money/ledger.py` stores them.

A balance has two buckets. The period allowance (a plan's credits, or a trial's) is replaced when a
new period starts and lapses with a trial; extra credits (operator grants, refunds) persist. Usage
spends the allowance first. Only extra credits go below zero: a running item is charged on each
heartbeat and stopped once the balance is spent, so it overdraws by at most about one heartbeat of
device time (see the README).
"""

import math
from dataclasses import dataclass
from enum import Enum

from billing.plans import CREDITS_PER_GPU_SECOND, CREDITS_PER_NANO_BANANA_REQUEST


class EntryKind(str, Enum):
    GRANT = "grant"  # a trial's credits, or an operator's or contract's grant
    PERIOD_RESET = "period_reset"  # a paid period starts: the allowance becomes the plan's credits
    USAGE = "usage"  # GPU seconds of a queue item's attempt
    EXTERNAL_API = "external_api"  # a nano-banana request that returned an image
    REFUND = "refund"
    ADJUSTMENT = "adjustment"  # an operator's correction, with a reason
    TRIAL_LAPSE = "trial_lapse"  # the trial ended: what is left of its credits goes


# Kinds that land in (or leave) the period allowance; the others move extra credits.
PERIOD_KINDS = frozenset({EntryKind.PERIOD_RESET, EntryKind.TRIAL_LAPSE})
SPENDING_KINDS = frozenset({EntryKind.USAGE, EntryKind.EXTERNAL_API})


@dataclass(frozen=True)
class Balance:
    period: int = 0
    extra: int = 0

    @property
    def total(self) -> int:
        return self.period + self.extra


def apply(balance: Balance, kind: EntryKind, amount: int, to_period: bool = False) -> Balance:
    """The balance after an entry of `amount` (signed). A period reset's amount is the change that
    makes the allowance the new period's credits; `to_period`: a grant that fills the allowance (a trial's)."""
    if kind in PERIOD_KINDS or to_period:
        return Balance(balance.period + amount, balance.extra)
    if kind in SPENDING_KINDS and amount < 0:
        from_period = min(-amount, max(balance.period, 0))
        return Balance(balance.period - from_period, balance.extra + amount + from_period)
    return Balance(balance.period, balance.extra + amount)


def period_reset_amount(balance: Balance, allowance: int) -> int:
    """The entry that makes the allowance `allowance`: what is left of the old period does not carry over."""
    return allowance - balance.period


def gpu_seconds_cost(seconds: float) -> int:
    """Credits for `seconds` of a generation device: every started second counts."""
    return math.ceil(seconds) * CREDITS_PER_GPU_SECOND if seconds > 0 else 0


def batch_estimate(sessions: int, nano_banana_nodes_per_session: int) -> int:
    """The least a batch can cost: one GPU second per session (every session that runs holds a
    device for at least part of a second) plus each nano-banana request. Real use is charged as it
    happens; this is what the balance must cover before the batch is queued."""
    return sessions * (CREDITS_PER_GPU_SECOND + nano_banana_nodes_per_session * CREDITS_PER_NANO_BANANA_REQUEST)


def usage_key(item_id: int, attempt: int) -> str:
    """The entry that ends an attempt: what its device time costs beyond the slices already charged."""
    return f"usage:{item_id}:{attempt}"


def running_cost(seconds: float) -> int:
    """What a running attempt owes so far: its whole seconds (the started one is charged when it ends)."""
    return math.floor(seconds) * CREDITS_PER_GPU_SECOND if seconds > 0 else 0


def usage_slice_key(item_id: int, attempt: int, charged_total: int) -> str:
    """A slice of a running attempt, named by the attempt's charged total after it: a replayed or
    racing heartbeat that would bring the attempt to the same total writes nothing."""
    return f"usage:{item_id}:{attempt}:to:{charged_total}"


def lost_attempt_refund_key(item_id: int, attempt: int) -> str:
    return f"refund:usage:{item_id}:{attempt}"


def trial_grant_key(tenant_id: str) -> str:
    return f"trial:{tenant_id}"


def trial_lapse_key(tenant_id: str) -> str:
    return f"trial-lapse:{tenant_id}"
