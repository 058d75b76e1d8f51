"""The patches to InvokeAI's nodes (`patches/`), in process:
- a node that runs out of memory frees what it had allocated before its error is handled (the error
  handler then has memory to format and store it, and the worker thread goes on);
- a patched `invoke` keeps the node's output type, which InvokeAI reads to check a graph's edges.
Each patch's refusals are tested through a real studio in `test_worker_faults.py`."""

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


def test_patched_nodes_keep_their_output_type() -> None:
    """InvokeAI reads a node's output type off its `invoke` signature to check a graph's edges: a
    patched `invoke` that lost it refused every graph wiring that node to another (422 at enqueue)."""
    patches.apply_all()
    from invokeai.app.invocations.baseinvocation import BaseInvocationOutput, InvocationRegistry

    lost = [
        node.get_type()
        for node in InvocationRegistry.get_invocation_classes()
        if not (isinstance(out := node.get_output_annotation(), type) and issubclass(out, BaseInvocationOutput))
    ]
    assert lost == []


def test_a_graph_wiring_the_patched_nodes_is_valid() -> None:
    patches.apply_all()
    from invokeai.app.invocations.collections import RangeInvocation
    from invokeai.app.invocations.math import AddInvocation, IntegerMathInvocation
    from invokeai.app.invocations.prompt import PromptsFromFileInvocation
    from invokeai.app.invocations.tiles import CalculateImageTilesInvocation, TileToPropertiesInvocation
    from invokeai.app.services.shared.graph import CollectInvocation, Edge, EdgeConnection, Graph, IterateInvocation

    graph = Graph()
    nodes = [
        RangeInvocation(id="range"), IterateInvocation(id="each"), IntegerMathInvocation(id="math"),
        AddInvocation(id="add"), CollectInvocation(id="collect"), CalculateImageTilesInvocation(id="tiles"),
        IterateInvocation(id="each_tile"), TileToPropertiesInvocation(id="tile"),
        PromptsFromFileInvocation(id="prompts", file_path=__file__), IterateInvocation(id="each_prompt"),
    ]
    for node in nodes:
        graph.add_node(node)
    for source, out, destination, field in [
        ("range", "collection", "each", "collection"), ("each", "item", "math", "a"), ("math", "value", "add", "a"),
        ("add", "value", "collect", "item"), ("tiles", "tiles", "each_tile", "collection"),
        ("each_tile", "item", "tile", "tile"), ("prompts", "collection", "each_prompt", "collection"),
    ]:  # add_edge checks each edge's types against the nodes' output types
        graph.add_edge(Edge(source=EdgeConnection(node_id=source, field=out), destination=EdgeConnection(node_id=destination, field=field)))
    graph.validate_self()
