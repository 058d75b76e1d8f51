"""The plan catalog: the one place plans, prices and entitlements are written down (ARCHITECTURE §1)."""

from dataclasses import dataclass
from enum import Enum


class Feature(str, Enum):
    GENERATE = "generate"
    CANVAS = "canvas"
    UPSCALING = "upscaling"
    WORKFLOWS = "workflows"
    SD_MODELS = "sd_models"
    FLUX_MODELS = "flux_models"
    NANO_BANANA = "nano_banana"
    MULTI_QUEUE = "multi_queue"
    LORA_TRAINING = "lora_training"
    DEDICATED_INFRA = "dedicated_infrastructure"
    SLA = "sla"


@dataclass(frozen=True)
class Plan:
    name: str
    price_usd_month: int | None  # None: negotiated
    credits_per_period: int | None  # None: per contract
    storage_gb: int | None  # None: per contract
    concurrent_queues: int | None  # None: unlimited
    priority: int  # higher runs first
    features: frozenset[Feature]


_STARTER = frozenset({Feature.GENERATE, Feature.CANVAS, Feature.UPSCALING, Feature.WORKFLOWS, Feature.SD_MODELS})
_PRO = _STARTER | {Feature.FLUX_MODELS, Feature.NANO_BANANA}
_STUDIO = _PRO | {Feature.MULTI_QUEUE, Feature.LORA_TRAINING}
_ENTERPRISE = _STUDIO | {Feature.DEDICATED_INFRA, Feature.SLA}

PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("starter", 25, 5_000, 20, 1, 1, _STARTER),
        Plan("pro", 75, 15_000, 100, 1, 2, _PRO),
        Plan("studio", 150, 30_000, 200, 3, 3, _STUDIO),
        Plan("enterprise", None, None, None, None, 4, _ENTERPRISE),
    )
}
# A plan name this code does not know (an older or newer catalog): generation only, one at a time.
UNKNOWN_PLAN = Plan("unknown", None, 0, 0, 1, 0, frozenset({Feature.GENERATE}))

CREDITS_PER_GPU_SECOND = 1
CREDITS_PER_NANO_BANANA_REQUEST = 20


def get_plan(name: str) -> Plan:
    return PLANS[name]
