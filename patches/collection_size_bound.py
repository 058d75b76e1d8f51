"""The nodes that build a collection from a stated size refuse more than `MAX_ITEMS` items.

Why: `range`, `range_of_size`, `random_range` and `float_range` build the whole list in memory, at
any size a graph states. `range` with `stop` 2**28 asks for about 10 GB of Python integers: on a pod
without a memory limit of its own the kernel kills the pod (and the other items it was running),
and the item, handed back, kills the next pod until it runs out of attempts. No graph needs more
items than the queue holds: InvokeAI's default `max_queue_size` is 10,000, so a larger collection
fails its node at once.
"""

from collections.abc import Callable
from typing import Any

from patches.bounded_invoke import refuse_before_invoke

MAX_ITEMS = 10_000


def _range_length(node: Any) -> int:
    """`len(range(start, stop, step))` for integers of any size (`len` stops at 2**63)."""
    start, stop, step = node.start, node.stop, node.step
    if step == 0:
        return 0  # stock refuses it
    return max(0, -((start - stop) // step)) if step > 0 else max(0, -((stop - start) // -step))


def _range_of_size_length(node: Any) -> int:
    return node.size


def _size_refusal(length: Callable[[Any], int]) -> Callable[[Any], str | None]:
    def refusal(node: Any) -> str | None:
        items = length(node)
        return None if items <= MAX_ITEMS else f"{items} items is more than the {MAX_ITEMS} items a collection node may build"

    return refusal


def apply() -> None:
    from invokeai.app.invocations import collections, param_easing

    refuse_before_invoke(collections.RangeInvocation, _size_refusal(_range_length))
    refuse_before_invoke(collections.RangeOfSizeInvocation, _size_refusal(_range_of_size_length))
    refuse_before_invoke(collections.RandomRangeInvocation, _size_refusal(_range_of_size_length))
    refuse_before_invoke(param_easing.FloatLinearRangeInvocation, _size_refusal(lambda node: node.steps))
