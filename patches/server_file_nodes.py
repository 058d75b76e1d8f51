"""Nodes that read or write the server's own files refuse to run.

Why: `prompt_from_file` reads any path the graph names (`/etc/passwd` came back in an item's results)
and `save_image_to_file` writes where its `prefix` points (`../` reached outside the data folder,
past the storage quota and S3). A workspace's graph runs on a shared worker: the worker's files are
not the customer's. Both nodes now fail with a reason; nothing is read or written. Their field
validators still run at enqueue (a path that does not exist is refused there), which the closing
note lists as an open gap.
"""

import functools
from collections.abc import Callable
from typing import Any

from patches.route_not_found import PatchTargetMissing

REASON = "This node reads or writes files on the server, which Pingvas Studio's shared workers do not allow."


def _refusing(stock: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(stock)  # InvokeAI reads the node's output type off `invoke`'s signature to check edges
    def refuse(self: Any, context: Any) -> Any:
        raise PermissionError(REASON)

    return refuse


def apply() -> None:
    from invokeai.app.invocations.image import SaveImageToFileInvocation
    from invokeai.app.invocations.prompt import PromptsFromFileInvocation

    for node in (PromptsFromFileInvocation, SaveImageToFileInvocation):
        if not callable(getattr(node, "invoke", None)):
            raise PatchTargetMissing(f"{node.__name__} no longer defines invoke")
        node.invoke = _refusing(node.invoke)  # type: ignore[method-assign]
