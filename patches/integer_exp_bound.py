"""`integer_math` EXP refuses results beyond 64 bits.

Why: stock computes `a ** b` with Python's unbounded integers. `3 ** 2**63` is one C call that
holds the GIL until it finishes (hours): the whole pod, `/healthz` included, froze for as long as it
was watched. InvokeAI's integers end up in 64-bit fields anyway, so a larger power fails its node.
"""

from typing import Any

from patches.bounded_invoke import refuse_before_invoke

MAX_BITS = 64


def _too_large(node: Any) -> str | None:
    if node.operation == "EXP" and abs(node.a) > 1 and node.b > 0 and (abs(node.a).bit_length() - 1) * node.b >= MAX_BITS:
        return f"{node.a} ^ {node.b} does not fit in {MAX_BITS} bits"
    return None


def apply() -> None:
    from invokeai.app.invocations.math import IntegerMathInvocation

    refuse_before_invoke(IntegerMathInvocation, _too_large)
