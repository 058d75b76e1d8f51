"""`integer_math` EXP refuses results beyond 64 bits.

Why: stock computes `a ** b` with Python's unbounded integers. `3 ** 2**63` is one C call that
holds the GIL until it finishes (hours): the whole pod, `/healthz` included, froze for as long as it
was watched. InvokeAI's integers end up in 64-bit fields anyway, so a larger power fails its node.
"""

import functools
from typing import Any

from patches.route_not_found import PatchTargetMissing

MAX_BITS = 64


def apply() -> None:
    from invokeai.app.invocations.math import IntegerMathInvocation

    stock = getattr(IntegerMathInvocation, "invoke", None)
    if stock is None:
        raise PatchTargetMissing("IntegerMathInvocation no longer defines invoke")
    if getattr(stock, "_pingvas_bounded", False):
        return

    @functools.wraps(stock)  # InvokeAI reads a node's output type off `invoke`'s signature
    def invoke(self: Any, context: Any) -> Any:
        if self.operation == "EXP" and abs(self.a) > 1 and self.b > 0 and (abs(self.a).bit_length() - 1) * self.b >= MAX_BITS:
            raise ValueError(f"{self.a} ^ {self.b} does not fit in {MAX_BITS} bits")
        return stock(self, context)

    invoke._pingvas_bounded = True  # type: ignore[attr-defined]
    IntegerMathInvocation.invoke = invoke  # type: ignore[method-assign]
