"""A node that runs out of memory frees what it allocated before its error is handled.

Why: a MemoryError's traceback keeps the failing frames alive, and with them everything the node had
allocated (a list grown until the allocator refused). Stock's error handler then formats that
traceback, and the queue saves the error, with memory still at its limit: those allocations raised
MemoryError again outside any handler, the worker thread ended, and the pod stopped serving. Here the
frames are cleared first, so the memory is freed, and the node fails with a plain MemoryError that
names it, the way any other node error fails its item alone.
"""

import functools
import traceback
from typing import Any

from patches.route_not_found import PatchTargetMissing


def apply() -> None:
    from invokeai.app.invocations.baseinvocation import BaseInvocation

    stock = BaseInvocation.__dict__.get("invoke_internal")
    if stock is None:
        raise PatchTargetMissing("BaseInvocation no longer defines invoke_internal")
    if getattr(stock, "_pingvas_frees_memory", False):
        return

    @functools.wraps(stock)
    def invoke_internal(self: Any, context: Any, services: Any) -> Any:
        try:
            return stock(self, context, services)
        except MemoryError as e:
            traceback.clear_frames(e.__traceback__)
            del e
        raise MemoryError(f"node {self.get_type()} needed more memory than a worker allows")

    invoke_internal._pingvas_frees_memory = True  # type: ignore[attr-defined]
    BaseInvocation.invoke_internal = invoke_internal  # type: ignore[method-assign]
