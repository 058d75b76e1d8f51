"""Warm-model dispatch: a worker that already holds an item's models gets the item when it is free.

Each queue item records, at enqueue, the keys of the models its graph names (`model_keys`). Each
worker records in `queue_workers.models` the models its device's cache holds (plus those of the item
it just claimed). A claim reorders the candidates *inside a tier* only, never across tiers:

1. tenants passed over for at least `wait` seconds (overdue), those this worker holds the models of
   first, each half in fairness order;
2. tenants whose next item's models this worker holds (or that need no model);
3. tenants whose next item's models no other live worker holds either (nobody is better placed);
4. the rest (another worker holds their models) are left for that worker, for at most `wait`.

A tenant left behind is stamped `passed_at` on its turn; once overdue it goes first in its tier,
warm or not, so warmth delays an item by at most `wait` (plus the item a worker is running when it
falls due) and starves no one. Tier order holds for every item a worker may take: a lower tier's
item goes first only on a worker that the higher tier's waiting item is not waiting for, and never
once that item is overdue. A worker with nothing it may take claims nothing and tries again when
the first waiting item becomes overdue.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

MODEL_FIELDS = {"key", "hash", "name", "base", "type"}  # a serialized ModelIdentifierField


class Candidate(Protocol):
    """What warm ordering reads of a claim candidate (`claims._Candidate`)."""

    @property
    def tier(self) -> int: ...

    @property
    def head_models(self) -> frozenset[str]: ...

    @property
    def passed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class WarmOrder:
    candidates: list[Candidate]  # the order to try, possibly fewer than given
    deferred: list[Candidate]  # left for a warmer worker (their turns get `passed_at`)
    retry_in: float | None  # nothing to try: when the first deferred tenant becomes overdue


def model_keys(session_json: str) -> str | None:
    """The sorted keys of every model a session's graph names, as a JSON list; None when it names none."""
    nodes = json.loads(session_json).get("graph", {}).get("nodes", {})
    keys = sorted(set(_keys_in(nodes)))
    return json.dumps(keys) if keys else None


def _keys_in(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        if MODEL_FIELDS <= value.keys() and isinstance(value["key"], str):
            yield value["key"]
            return
        for child in value.values():
            yield from _keys_in(child)
    elif isinstance(value, list):
        for child in value:
            yield from _keys_in(child)


def cached_model_keys(model_cache: Any) -> frozenset[str]:
    """Model keys held by an InvokeAI `ModelCache` (its entries are `key` or `key:submodel`)."""
    # ModelCache has no public listing; a snapshot of its dict's keys is safe without its lock.
    return frozenset(entry.split(":", 1)[0] for entry in list(model_cache._cached_models))


def warm_order(
    candidates: list[Candidate], warm: frozenset[str], others: list[frozenset[str]], now: datetime, wait: timedelta
) -> WarmOrder:
    """Reorders `candidates` (already in dispatch order: tier, then fairness) for a worker holding `warm`;
    `others` are the other live workers' warm sets."""
    ordered: list[Candidate] = []
    deferred: list[Candidate] = []
    for tier in _tiers(candidates):
        overdue: list[Candidate] = []
        here: list[Candidate] = []
        nowhere: list[Candidate] = []
        elsewhere: list[Candidate] = []
        for c in tier:
            if c.passed_at is not None and now - c.passed_at >= wait:
                overdue.append(c)
            elif c.head_models <= warm:
                here.append(c)
            elif not any(c.head_models <= other for other in others):
                nowhere.append(c)
            else:
                elsewhere.append(c)
        deferred += elsewhere
        overdue.sort(key=lambda c: not c.head_models <= warm)  # stable: fairness order within each half
        here.sort(key=lambda c: c.passed_at is None)  # those already kept waiting first, each half in fairness order
        ordered += overdue + here + nowhere
    if not ordered and deferred:  # all of it waits for warmer workers: try again when the first is due
        due = min((c.passed_at or now) + wait for c in deferred)
        return WarmOrder([], deferred, max((due - now).total_seconds(), 0.0))
    return WarmOrder(ordered, deferred, None)


def _tiers(candidates: list[Candidate]) -> Iterable[list[Candidate]]:
    tier: list[Candidate] = []
    for c in candidates:
        if tier and c.tier != tier[0].tier:
            yield tier
            tier = []
        tier.append(c)
    if tier:
        yield tier
