"""A node that runs out of memory frees what it had allocated before its error is handled (the error
handler then has memory to format and store it, and the worker thread goes on)."""

import weakref
from types import SimpleNamespace
from typing import Any

import pytest

import patches


class _Block:
    """Stands for what a node had allocated when the allocator refused."""


def test_a_nodes_memory_error_frees_its_frames_and_names_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    patches.apply_all()
    from invokeai.app.invocations.math import AddInvocation

    held: list[weakref.ref[_Block]] = []

    def invoke(self: Any, context: Any) -> Any:
        grown = [_Block() for _ in range(1000)]
        held.append(weakref.ref(grown[0]))
        raise MemoryError()

    monkeypatch.setattr(AddInvocation, "invoke", invoke)
    services = SimpleNamespace(configuration=SimpleNamespace(node_cache_size=0))
    with pytest.raises(MemoryError, match="node add needed more memory") as raised:
        AddInvocation(a=1, b=2).invoke_internal(context=None, services=services)  # type: ignore[arg-type]
    assert held and held[0]() is None  # the failing frame's list is gone while the error is still being handled
    assert raised.value.__context__ is None and raised.value.__cause__ is None


def test_other_errors_pass_through_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    patches.apply_all()
    from invokeai.app.invocations.math import AddInvocation

    def invoke(self: Any, context: Any) -> Any:
        raise ValueError("its own reason")

    monkeypatch.setattr(AddInvocation, "invoke", invoke)
    services = SimpleNamespace(configuration=SimpleNamespace(node_cache_size=0))
    with pytest.raises(ValueError, match="its own reason"):
        AddInvocation(a=1, b=2).invoke_internal(context=None, services=services)  # type: ignore[arg-type]
