"""A helper for the patches that bound a node's inputs (not a patch itself): runs a check before a
node's stock `invoke`, failing the node with the check's reason."""

import functools
from collections.abc import Callable
from typing import Any

from patches.route_not_found import PatchTargetMissing


def refuse_before_invoke(node_class: type, refusal: Callable[[Any], str | None]) -> None:
    """`refusal(node)`: why the node must not run, or None. Idempotent."""
    stock = getattr(node_class, "invoke", None)
    if stock is None:
        raise PatchTargetMissing(f"{node_class.__name__} no longer defines invoke")
    if getattr(stock, "_pingvas_bounded", False):
        return

    @functools.wraps(stock)  # InvokeAI reads a node's output type off `invoke`'s signature
    def invoke(self: Any, context: Any) -> Any:
        reason = refusal(self)
        if reason is not None:
            raise ValueError(reason)
        return stock(self, context)

    invoke._pingvas_bounded = True  # type: ignore[attr-defined]
    node_class.invoke = invoke  # type: ignore[attr-defined]
