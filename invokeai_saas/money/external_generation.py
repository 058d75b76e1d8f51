"""nano-banana (Gemini image) requests, gated by the workspace's plan and charged per real request.

Each request that returns an image costs `CREDITS_PER_NANO_BANANA_REQUEST`, written to the ledger as
soon as the response is in (keyed by the item's attempt and the request's number in it); a refused
or failed request costs nothing. These nodes are never served from the invocation cache
(`queue/invocation_cache.py`), so a cache hit can neither skip a charge nor hand one workspace another's
result. What is not covered: a pod killed between Gemini's answer and the ledger write (a few
milliseconds) loses that one charge.
"""

from typing import Any

from billing.credits import EntryKind
from billing.plans import CREDITS_PER_NANO_BANANA_REQUEST, Feature
from invokeai.app.services.external_generation.external_generation_common import (
    ExternalGenerationRequest,
    ExternalGenerationResult,
)
from invokeai.app.services.external_generation.external_generation_default import ExternalGenerationService
from invokeai_saas.money import metering
from invokeai_saas.db import Database
from invokeai_saas.money.gating import require, tenant_entitlements
from invokeai_saas.money.ledger import CreditLedger
from tenant_middleware.context import current_tenant_id

NANO_BANANA_PROVIDER = "gemini"


class MeteredExternalGeneration(ExternalGenerationService):
    def __init__(self, *args: Any, db: Database, ledger: CreditLedger, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db = db
        self._ledger = ledger

    def generate(self, request: ExternalGenerationRequest) -> ExternalGenerationResult:
        tenant_id = current_tenant_id()
        billed = tenant_id is not None and request.model.provider_id == NANO_BANANA_PROVIDER
        if billed:
            with self._db.begin() as conn:
                require(tenant_entitlements(conn, tenant_id), Feature.NANO_BANANA, "Nano-banana (Gemini) image requests")
        result = super().generate(request)
        if billed and result.images:
            with self._db.begin() as conn:
                self._ledger.post(
                    conn, tenant_id, EntryKind.EXTERNAL_API, -CREDITS_PER_NANO_BANANA_REQUEST, metering.external_request_key(),
                    reason=f"nano-banana request ({request.model.name}): {len(result.images)} image(s)",
                    **_item_of_this_attempt(),
                )  # fmt: skip
        return result


def _item_of_this_attempt() -> dict[str, Any]:
    claim = metering.current_claim()
    return {"item_id": claim.item_id, "attempt": claim.attempt} if claim is not None else {}
