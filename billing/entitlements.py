"""What a tenant may use: its plan's entitlements, changed by an enterprise contract's overrides."""

import json
from dataclasses import dataclass
from typing import Any

from billing.plans import PLANS, UNKNOWN_PLAN, Feature

GB = 1024**3
_OVERRIDABLE = {"credits_per_period", "storage_gb", "concurrent_queues", "features"}


@dataclass(frozen=True)
class Entitlements:
    plan: str
    features: frozenset[Feature]
    credits_per_period: int  # 0 when the plan (enterprise) sets it per contract and no contract does
    storage_limit_bytes: int | None  # None: no limit (per contract, none set)
    concurrent_queues: int | None  # None: unlimited
    priority: int

    def allows(self, feature: Feature) -> bool:
        return feature in self.features


def parse_overrides(text: str | None) -> dict[str, Any]:
    """A contract's overrides as stored (JSON), checked: only known keys, right types."""
    if not text:
        return {}
    overrides = json.loads(text)
    return check_overrides(overrides)


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - _OVERRIDABLE
    if unknown:
        raise ValueError(f"Unknown override(s): {', '.join(sorted(unknown))}")
    for key in ("credits_per_period", "storage_gb", "concurrent_queues"):
        value = overrides.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{key} must be a whole number >= 0 or null")
    if "features" in overrides:
        overrides = overrides | {"features": sorted(Feature(f).value for f in overrides["features"])}
    return overrides


def entitlements(plan_name: str, overrides: dict[str, Any] | None = None) -> Entitlements:
    """The plan's entitlements; a contract's overrides replace credits, storage and concurrency
    (a null concurrency is unlimited) and add features."""
    plan = PLANS.get(plan_name, UNKNOWN_PLAN)
    overrides = overrides or {}
    storage_gb = overrides.get("storage_gb", plan.storage_gb)
    return Entitlements(
        plan=plan_name,
        features=plan.features | {Feature(f) for f in overrides.get("features", [])},
        credits_per_period=overrides.get("credits_per_period", plan.credits_per_period) or 0,
        storage_limit_bytes=None if storage_gb is None else storage_gb * GB,
        concurrent_queues=overrides.get("concurrent_queues", plan.concurrent_queues),
        priority=plan.priority,
    )
