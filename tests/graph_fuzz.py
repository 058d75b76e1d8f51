"""Fuzzed graphs for the worker: the class of "one request stops a worker", not only its instances.

Every invocation type of a running studio's OpenAPI (so a node type InvokeAI adds is fuzzed the
day it lands) gets graphs of one node whose inputs are drawn from boundary values its schema
allows or refuses: NaN and infinities (written as the JSON tokens `NaN`/`Infinity`, which Python's
`json` reads), 1e308, ints past 64 bits, -1, empty and 10,000-character strings, a NUL character,
unknown and traversing names, unknown model keys, invalid enum values, wrong types. Beside them,
fixed cases: shapes no schema describes (cycles, self-edges, dangling edges), values that overflow
only at run time (`float_math` 1e308 × 10), and nodes that reach outside the workspace (a server
file, another workspace's image, a write outside the data folder).

One node type per random graph, so a failure names the node and the inputs that caused it. Pure:
no HTTP and no server; `tests/test_fuzz_graphs.py` sends the cases and judges the outcomes. The
same seed, schema and targets give the same cases, so a printed seed replays a run.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

LONG = "x" * 10_000
NAN, INF = float("nan"), float("inf")
FLOATS = [NAN, INF, -INF, 1e308, -1e308, 5e-324, -0.0, 0.0, -1.0, 2.0**63]
# No value between 2**20 and 2**63: a size of 2**31 is a real allocation of tens of GB, which would
# take this shared machine down rather than test the product. 2**63 and beyond fail at once (they
# overflow the C types that sizes go through).
INTS = [0, -1, 1, 2**63, -(2**63) - 1, 2**64]
STRINGS = ["", LONG, "a\u0000b", "../../../../../../../../etc/passwd", "ünï 🎨 \u202e", "{a|b}", "%s%n"]
NAMES = ["no-such-object", "", LONG, "../../../../../../../../etc/passwd", "a\u0000b"]
WRONG_TYPES: list[Any] = ["not-a-number", [], {}, True]
INVALID_ENUM = "NOT_A_CHOICE"
SET_FIELD = 0.6  # chance that a random node sets a given input (else it keeps its default, or none)
PLAIN = 0.3  # chance that a set input gets an ordinary value (a default, a real image) to reach deeper
WRONG_TYPE = 0.04
MAX_DEPTH = 3

# Node types left out of the random cases, with the reason. They may still appear in fixed cases.
SKIPPED: dict[str, str] = {
    **dict.fromkeys(
        [
            "depth_anything_depth_estimation", "dw_openpose_detection", "esrgan", "grounding_dino",
            "hed_edge_detection", "img_nsfw", "infill_lama", "lineart_anime_edge_detection",
            "lineart_edge_detection", "mlsd_detection", "normal_map", "pbr_maps", "pidi_edge_detection",
            "segment_anything",
        ],
        "downloads its weights from the network at run time (Hugging Face or GitHub): a real image "
        "would start a download of hundreds of MB, or wait on a network this machine may not reach",
    ),  # fmt: skip
    "flux_redux": "installs the SigLIP starter model from Hugging Face into the shared model store at run time "
    "(before it looks at its own model key), for any workspace",
}


@dataclass(frozen=True)
class Targets:
    """Real objects the fuzzer names beside made-up ones."""

    image: str  # an image of the fuzzing workspace
    foreign_image: str  # an image of another workspace
    escape_dir: str  # an absolute folder outside the studio's data: nothing may ever be written there


@dataclass
class Case:
    name: str  # the node type and the inputs that were set, shortened
    body: dict[str, Any]  # the JSON body of enqueue_batch
    node_type: str | None = None
    must_not_complete: str | None = None  # why this graph must end failed or be refused, never complete

    @property
    def non_finite(self) -> bool:
        """The body carries NaN or an infinity: it must be refused with 422 (ARCHITECTURE §7)."""
        return _has_non_finite(self.body)

    def encode(self) -> bytes:
        return json.dumps(self.body, allow_nan=True).encode()


def cases(openapi: dict[str, Any], seed: int, total: int, targets: Targets) -> list[Case]:
    """`total` cases: the fixed ones, random single-node graphs (node types in turn), and last the
    cases that stopped a worker, so one that still does cannot hide what the others find."""
    rng = random.Random(seed)
    schema = _Schema(openapi, rng, targets)
    fixed, last = fixed_cases(targets), worker_stoppers()
    types = [t for t in schema.node_types() if t not in SKIPPED]
    rng.shuffle(types)
    randoms = [schema.random_case(types[i % len(types)], i) for i in range(max(total - len(fixed) - len(last), 0))]
    return fixed + randoms + last


def node_types(openapi: dict[str, Any]) -> list[str]:
    """Every invocation type a graph of this studio may hold."""
    return _Schema(openapi, random.Random(0), Targets("", "", "")).node_types()


# region fixed cases


def _node(node_id: str, node_type: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "is_intermediate": True, "use_cache": False, **fields}


def _edge(src: str, src_field: str, dst: str, dst_field: str) -> dict[str, Any]:
    return {"source": {"node_id": src, "field": src_field}, "destination": {"node_id": dst, "field": dst_field}}


def _body(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **batch: Any) -> dict[str, Any]:
    graph = {"id": "fuzz", "nodes": {n["id"]: n for n in nodes}, "edges": edges or []}
    return {"batch": {"graph": graph, "runs": 1, **batch}, "prepend": False}


def fixed_cases(targets: Targets) -> list[Case]:
    def one(name: str, node: dict[str, Any], **kwargs: Any) -> Case:
        return Case(name, _body([node]), node_type=node["type"], **kwargs)

    fm = "float_math"
    escape = "../" * 40 + targets.escape_dir.lstrip("/") + "/escaped_"
    return [
        one("float_math EXP a=10 b=400 (OverflowError at run time)", _node("n", fm, operation="EXP", a=10.0, b=400.0)),
        one("float_math a=NaN (JSON token)", _node("n", fm, operation="ADD", a=NAN, b=1.0)),
        one("float_math a=Infinity (JSON token)", _node("n", fm, operation="ADD", a=INF, b=1.0)),
        one("float_math b=-Infinity (JSON token)", _node("n", fm, operation="MIN", a=1.0, b=-INF)),
        Case(
            "float_math MUL 1e308*10 -> float_math ADD -> float_to_int (inf flows into the next nodes)",
            _body(
                [_node("m", fm, operation="MUL", a=1e308, b=10.0), _node("s", fm, operation="ADD", b=1.0), _node("i", "float_to_int")],
                [_edge("m", "value", "s", "a"), _edge("s", "value", "i", "value")],
            ),
            node_type=fm,
        ),
        one("float_to_int value=1e308 (an int of 309 digits)", _node("n", "float_to_int", value=1e308, multiple=1, method="Nearest")),
        one("integer_math MUL a=2**63 b=2**63 (an int beyond 64 bits in the results)", _node("n", "integer_math", operation="MUL", a=2**63, b=2**63)),
        one("add a=2**63 b=2**63", _node("n", "add", a=2**63, b=2**63)),
        one("add a=-2**63-1 b=-1", _node("n", "add", a=-(2**63) - 1, b=-1)),
        one("range start=0 stop=2**63 step=1", _node("n", "range", start=0, stop=2**63, step=1)),
        one("string value with a NUL character", _node("n", "string", value="a\u0000b")),
        one("string value of 10,000 characters", _node("n", "string", value=LONG)),
        one(
            "workflow_return_get key with a NUL character (the node's error message carries it)",
            _node("n", "workflow_return_get", key="a\u0000b"),
        ),
        one("node id is empty", _node("", "add", a=1, b=2)),
        one("node id of 10,000 characters", _node(LONG, "add", a=1, b=2)),
        Case("node key differs from its id", {"batch": {"graph": {"id": "g", "nodes": {"k": _node("other", "add")}, "edges": []}, "runs": 1}}, "add"),
        Case("self-edge add.value -> add.a", _body([_node("n", "add")], [_edge("n", "value", "n", "a")]), "add"),
        Case(
            "cycle add a -> add b -> add a",
            _body([_node("a", "add"), _node("b", "add")], [_edge("a", "value", "b", "a"), _edge("b", "value", "a", "a")]),
            "add",
        ),
        Case("edge from a missing node", _body([_node("n", "add")], [_edge("ghost", "value", "n", "a")]), "add"),
        Case("edge from a missing output field", _body([_node("a", "add"), _node("b", "add")], [_edge("a", "nope", "b", "a")]), "add"),
        Case(
            "two edges into one input",
            _body([_node("a", "add"), _node("b", "add"), _node("c", "add")], [_edge("a", "value", "c", "a"), _edge("b", "value", "c", "a")]),
            "add",
        ),
        Case("edge string -> int input", _body([_node("s", "string", value="x"), _node("n", "add")], [_edge("s", "value", "n", "a")]), "add"),
        Case(
            "iterate over an empty collection -> add",
            _body(
                [_node("c", "integer_collection", collection=[]), _node("it", "iterate"), _node("n", "add")],
                [_edge("c", "collection", "it", "collection"), _edge("it", "item", "n", "a")],
            ),
            "iterate",
        ),
        one("collect with no items", _node("n", "collect")),
        Case(
            "a chain of 300 add nodes",
            _body([_node(f"n{i}", "add", b=1) for i in range(300)], [_edge(f"n{i}", "value", f"n{i + 1}", "a") for i in range(299)]),
            "add",
        ),
        Case(
            "batch data puts NaN into float_math.a",
            _body([_node("n", fm)], data=[[{"node_path": "n", "field_name": "a", "items": [NAN, 1e308]}]]),
            fm,
        ),
        Case(
            "batch data puts 1e308 into float_math.a of a MUL by 10",
            _body([_node("n", fm, operation="MUL", b=10.0)], data=[[{"node_path": "n", "field_name": "a", "items": [1e308]}]]),
            fm,
        ),
        Case(
            "batch data names a missing node",
            _body([_node("n", "add")], data=[[{"node_path": "ghost", "field_name": "a", "items": [1]}]]),
            "add",
        ),
        Case("batch runs=0", _body([_node("n", "add")], runs=0), "add"),
        Case("batch runs=-1", _body([_node("n", "add")], runs=-1), "add"),
        Case("batch runs=2**63", _body([_node("n", "add")], runs=2**63), "add"),
        one("unknown node type", _node("n", "no_such_node_type")),
        one("float_math with an invalid operation", _node("n", fm, operation=INVALID_ENUM)),
        one(
            "main_model_loader with an unknown model key",
            _node("n", "main_model_loader", model={"key": "no-such-model", "hash": "x", "name": "x", "base": "sd-1", "type": "main"}),
        ),
        one("img_blur of an unknown image", _node("n", "img_blur", image={"image_name": "no-such-image.png"})),
        one(
            "img_blur of another workspace's image",
            _node("n", "img_blur", image={"image_name": targets.foreign_image}),
            must_not_complete="it would read another workspace's image",
        ),
        one(
            "img_resize of the workspace's image to width 2**63",
            _node("n", "img_resize", image={"image_name": targets.image}, width=2**63, height=8),
        ),
        one(
            "prompt_from_file reads /etc/passwd",
            _node("n", "prompt_from_file", file_path="/etc/passwd", max_prompts=0),
            must_not_complete="it would return a file of the server to the workspace",
        ),
        one(
            "save_image_to_file with a prefix that climbs out of the outputs folder",
            _node("n", "save_image_to_file", image={"image_name": targets.image}, prefix=escape),
            must_not_complete="it would write a file outside the studio's data folder",
        ),
    ]


def worker_stoppers() -> list[Case]:
    """Graphs that stopped a worker (or the whole studio) when they were found."""
    return [
        Case(
            "float_math MUL a=1e308 b=10 (overflows to inf at run time; issue 21)",
            _body([_node("n", "float_math", operation="MUL", a=1e308, b=10.0)]),
            "float_math",
        ),
        Case(
            "metadata item whose value is null (a required field that may be null)",
            _body([_node("n", "metadata", items={"label": "x", "value": None})]),
            "metadata",
        ),
        Case(
            "integer_math EXP a=3 b=2**63 (an exponent of 2**63: minutes to hours of CPU in one C call)",
            _body([_node("n", "integer_math", operation="EXP", a=3, b=2**63)]),
            "integer_math",
        ),
    ]


# endregion

# region random cases


class _Schema:
    """Values for the inputs of each node type, drawn from its OpenAPI schema."""

    def __init__(self, openapi: dict[str, Any], rng: random.Random, targets: Targets) -> None:
        self.components: dict[str, Any] = openapi["components"]["schemas"]
        self.rng = rng
        self.targets = targets
        nodes = self.components["Graph"]["properties"]["nodes"]["additionalProperties"]["oneOf"]
        self.by_type = {self.components[_ref(n)]["properties"]["type"]["const"]: self.components[_ref(n)] for n in nodes}

    def node_types(self) -> list[str]:
        return sorted(self.by_type)

    def random_case(self, node_type: str, index: int) -> Case:
        node: dict[str, Any] = {"id": "n", "type": node_type, "is_intermediate": self.rng.random() < 0.8, "use_cache": False}
        fields: dict[str, Any] = {}
        for name, prop in self.by_type[node_type]["properties"].items():
            if prop.get("field_kind") == "input" and self.rng.random() < SET_FIELD:
                fields[name] = node[name] = self.value(prop, name, 0)
        graph = {"id": f"fuzz-{index}", "nodes": {"n": node}, "edges": []}
        described = ", ".join(f"{k}={describe(v)}" for k, v in fields.items())
        return Case(f"{node_type}({described})", {"batch": {"graph": graph, "runs": 1}, "prepend": False}, node_type)

    def value(self, prop: dict[str, Any], name: str, depth: int) -> Any:
        rng = self.rng
        if depth == 0 and rng.random() < WRONG_TYPE:
            return rng.choice(WRONG_TYPES)
        if "$ref" in prop:
            ref = _ref(prop)
            special = self._special(ref, depth)
            if special is not _NONE:
                return special
            return self.value(self.components[ref], name, depth)
        for key in ("anyOf", "oneOf"):
            if key in prop:
                options = [o for o in prop[key] if o.get("type") != "null"]
                if not options or rng.random() < 0.1:
                    return None
                return self.value(_merge(prop, rng.choice(options), key), name, depth)
        if "allOf" in prop:
            return self.value(_merge(prop, prop["allOf"][0], "allOf"), name, depth)
        plain = rng.random() < PLAIN
        if "const" in prop:
            return prop["const"]
        if "enum" in prop:
            return rng.choice(prop["enum"] if plain else [*prop["enum"], INVALID_ENUM])
        kind = prop.get("type")
        if plain and "default" in prop:
            return prop["default"]
        if kind == "integer":
            return rng.choice(INTS + _bounds(prop, 1))
        if kind == "number":
            return rng.choice(FLOATS + _bounds(prop, 0.5))
        if kind == "string":
            return rng.choice(NAMES if name.endswith(("_name", "_id", "key")) else STRINGS)
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "array":
            if depth >= MAX_DEPTH:
                return []
            return [self.value(prop.get("items", {}), name, depth + 1) for _ in range(rng.choice([0, 1, 3]))]
        if kind == "object" or "properties" in prop:
            if depth >= MAX_DEPTH or "properties" not in prop:
                return rng.choice([{}, {"a": LONG}])
            required = set(prop.get("required", []))
            return {
                k: self.value(v, k, depth + 1)
                for k, v in prop["properties"].items()
                if k in required or rng.random() < 0.3
            }
        return rng.choice([None, LONG, NAN, 2**63, [], {}])  # no type: anything

    def _special(self, ref: str, depth: int) -> Any:
        rng, t = self.rng, self.targets
        if ref == "ImageField":
            # the workspace's own image most often, so nodes get past loading it
            return {"image_name": rng.choice([t.image, t.image, t.image, t.foreign_image, *NAMES])}
        if ref == "ModelIdentifierField":
            base = self.components.get("BaseModelType", {}).get("enum", ["sd-1"])
            kind = self.components.get("ModelType", {}).get("enum", ["main"])
            return {
                "key": rng.choice(["no-such-model", "", LONG]),
                "hash": "blake3:fuzz",
                "name": "fuzz",
                "base": rng.choice([*base, INVALID_ENUM]),
                "type": rng.choice([*kind, INVALID_ENUM]),
            }
        if ref == "BoardField":
            return {"board_id": rng.choice(NAMES)}
        return _NONE


_NONE = object()


def _ref(prop: dict[str, Any]) -> str:
    return prop["$ref"].rsplit("/", 1)[-1]


def _merge(prop: dict[str, Any], option: dict[str, Any], drop: str) -> dict[str, Any]:
    """An option of a union, keeping the outer schema's default and bounds."""
    merged = {k: v for k, v in prop.items() if k != drop}
    merged.update(option)
    return merged


def _bounds(prop: dict[str, Any], step: float) -> list[Any]:
    """The schema's own limits and the values just past them."""
    values: list[Any] = []
    for key, outside in (("minimum", -step), ("maximum", step), ("exclusiveMinimum", 0), ("exclusiveMaximum", 0)):
        if key in prop:
            values += [prop[key], prop[key] + outside]
    if prop.get("multipleOf"):
        values.append(prop["multipleOf"] + step)
    return values


# endregion


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def describe(value: Any, limit: int = 60) -> str:
    """A value as a short, replayable hint: long strings by length, floats by their JSON token."""
    if isinstance(value, str) and len(value) > 40:
        return f"'{value[0]}'*{len(value)}" if value == value[0] * len(value) else repr(value[:30]) + f"...({len(value)} chars)"
    text = json.dumps(value, allow_nan=True, ensure_ascii=False).replace(LONG, f"<'x'*{len(LONG)}>")
    return text if len(text) <= limit else text[: limit - 3] + "..."
