"""Write the AWS architecture diagrams (Mermaid, draw.io, SVG) from one source, aws-architecture.yaml.

Why it exists: the three files must say the same thing, and none of the usual renderers (mermaid-cli,
draw.io, a browser) can be assumed on a developer's machine or in CI. So this script lays the
diagram out itself, on the grid the source gives, and writes each format from that one layout; the
same source always gives the same bytes (`tests/test_diagrams.py` regenerates and compares).

What it must never do: guess. It refuses a source whose ids, labels or positions do not hold
together, and a layout in which boxes, frames or edge labels overlap or text does not fit
(`Layout.problems`); move things on the grid instead. It reads nothing but the source (no project
imports, no network), so it runs with any Python that has PyYAML.

Run: .venv/bin/python docs/diagrams/generate.py           (rewrites the three files here)
     .venv/bin/python docs/diagrams/generate.py --check   (fails if they differ from the source)
"""

import argparse
import itertools
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "aws-architecture.yaml"
STEM = "aws-architecture"
OUTPUTS = (f"{STEM}.mmd", f"{STEM}.drawio", f"{STEM}.svg")

# Geometry, in pixels. A grid cell holds one box; the gaps between columns and rows are the lanes
# edges run in, widened by each frame that opens or closes there.
BOX_W, BOX_H = 240, 70
GAP_X, GAP_Y = 72, 64  # free lane band between two columns / rows
PAD = 14  # a frame's margin around what it holds (sides and bottom)
TITLE_H = 24  # a frame's title band (top)
MARGIN = GAP_X  # outside the outermost frames (a lane too)
HEADER_H = 64  # diagram title and subtitle
LEGEND_H = 56
LANE_STEP = 10  # distance between parallel edges in one lane
NEAR = 9  # parallel edges closer than this read as one
PORT_STEP_X, PORT_STEP_Y = 28, 14  # distance between edges leaving one side of a box

FONT = "Helvetica, Arial, sans-serif"
LABEL_PX, DETAIL_PX, FRAME_PX, EDGE_PX = 13, 11, 12, 11

NODE_KINDS = {  # fill, stroke, dashed, legend
    "external": ("#f4f4f4", "#666666", False, "outside AWS"),
    "aws": ("#fff3e3", "#d86613", False, "AWS resource (Terraform)"),
    "app": ("#e5f4e3", "#2e7d32", False, "our pods (Helm chart)"),
    "k8s": ("#f1ecfa", "#6f4cbf", False, "Kubernetes object (Helm chart)"),
    "addon": ("#e8eefb", "#3f6fd1", False, "cluster add-on, installed by hand"),
    "missing": ("#ffffff", "#8a8a8a", True, "not built by this repository"),
}
CLUSTER_KINDS = {  # fill, stroke, dashed
    "external": ("#fafafa", "#8a8a8a", False),
    "account": ("#ffffff", "#232f3e", False),
    "region": ("#f5f9fd", "#147eba", False),
    "vpc": ("#f9f6ff", "#8c4fff", False),
    "public": ("#f5faec", "#7aa116", False),
    "private": ("#eef6fc", "#147eba", False),
    "eks": ("#fff8f0", "#ed7100", False),
    "group": ("#f7f9fe", "#3f6fd1", True),
    "pool": ("#ffffff", "#5f6b7a", True),
}
EDGE_COLOR, DASHED_EDGE_COLOR = "#444444", "#8a8a8a"

ID = re.compile(r"^[a-z][a-z0-9_]*$")
TEXT = re.compile(r"^[A-Za-z0-9 .,:/()+\-_%'*=&]*$")  # safe in Mermaid's quoted labels and in XML
RESERVED = {"end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click",
            "linkstyle", "default", "call", "href"}
ROUTES = ("straight", "over", "beside", "vertical-first", "horizontal-first", "lane-near-source",
          "lane-near-target", "row-near-source", "row-near-target", "channel")


class SourceError(ValueError):
    """The source does not hold together (ids, positions, labels)."""


@dataclass
class Cluster:
    id: str
    label: str
    kind: str
    parent: str | None


@dataclass
class Node:
    id: str
    label: str
    detail: list[str]
    kind: str
    cluster: str | None
    col: int
    row: int


@dataclass
class Edge:
    source: str
    target: str
    label: str
    dashed: bool
    route: str | None


@dataclass
class Diagram:
    title: str
    subtitle: str
    clusters: list[Cluster]
    nodes: list[Node]
    edges: list[Edge]


def load(path: Path = SOURCE) -> Diagram:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    clusters = [Cluster(c["id"], c["label"], c.get("kind", "group"), c.get("parent")) for c in raw["clusters"]]
    nodes = [Node(n["id"], n["label"], list(n.get("detail", [])), n["kind"], n.get("cluster"), *n["at"])
             for n in raw["nodes"]]
    edges = [Edge(e["from"], e["to"], e.get("label", ""), e.get("style") == "dashed", e.get("route"))
             for e in raw["edges"]]
    diagram = Diagram(raw["title"], raw["subtitle"], clusters, nodes, edges)
    _check_source(diagram)
    return diagram


def _check_source(d: Diagram) -> None:
    seen: set[str] = set()
    for item in [*d.clusters, *d.nodes]:
        if not ID.match(item.id) or item.id in RESERVED or item.id in seen:
            raise SourceError(f"bad or repeated id {item.id!r}")
        seen.add(item.id)
    cluster_ids: set[str] = set()
    for c in d.clusters:
        if c.parent is not None and c.parent not in cluster_ids:
            raise SourceError(f"cluster {c.id}: parent {c.parent!r} must be listed before it")
        if c.kind not in CLUSTER_KINDS:
            raise SourceError(f"cluster {c.id}: unknown kind {c.kind!r}")
        cluster_ids.add(c.id)
    cells: dict[tuple[int, int], str] = {}
    for n in d.nodes:
        if n.kind not in NODE_KINDS:
            raise SourceError(f"node {n.id}: unknown kind {n.kind!r}")
        if n.cluster is not None and n.cluster not in cluster_ids:
            raise SourceError(f"node {n.id}: unknown cluster {n.cluster!r}")
        if n.col < 0 or n.row < 0 or (n.col, n.row) in cells:
            raise SourceError(f"node {n.id}: cell {n.col},{n.row} is taken or negative")
        cells[(n.col, n.row)] = n.id
    node_ids = {n.id for n in d.nodes}
    pairs: set[tuple[str, str]] = set()
    for e in d.edges:
        if e.source not in node_ids or e.target not in node_ids or e.source == e.target:
            raise SourceError(f"edge {e.source} -> {e.target}: unknown or same node")
        if (e.source, e.target) in pairs:
            raise SourceError(f"edge {e.source} -> {e.target} is listed twice")
        pairs.add((e.source, e.target))
        if e.route is not None and e.route not in ROUTES:
            raise SourceError(f"edge {e.source} -> {e.target}: route must be one of {ROUTES}")
    texts = [d.title, d.subtitle, *(c.label for c in d.clusters), *(e.label for e in d.edges)]
    texts += [t for n in d.nodes for t in (n.label, *n.detail)]
    for text in texts:
        if not TEXT.match(text):
            raise SourceError(f"label {text!r}: use letters, digits, spaces and .,:/()+-_%'*=& only")
    for c in d.clusters:
        if not any(n.cluster == c.id for n in d.nodes) and not any(k.parent == c.id for k in d.clusters):
            raise SourceError(f"cluster {c.id} holds nothing")


# ---------------------------------------------------------------------------------------------
# Layout


def text_width(text: str, px: float, bold: bool = False) -> float:
    """A Helvetica-like estimate; generous, so text that passes fits in every common sans font."""
    em = 0.0
    for ch in text:
        if ch in "il.,:;'|!I":
            em += 0.28
        elif ch in "frtj()/ -":
            em += 0.36
        elif ch in "mwMW%@":
            em += 0.88
        elif ch.isupper():
            em += 0.69
        elif ch.isdigit():
            em += 0.56
        else:
            em += 0.56
    return em * px * (1.07 if bold else 1.0)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: "Rect", gap: float = 0) -> bool:
        return (self.x < other.right + gap and other.x < self.right + gap
                and self.y < other.bottom + gap and other.y < self.bottom + gap)

    def contains(self, other: "Rect") -> bool:
        return self.x <= other.x and self.y <= other.y and other.right <= self.right and other.bottom <= self.bottom


Point = tuple[float, float]


@dataclass
class RoutedEdge:
    edge: Edge
    points: list[Point]
    label_box: Rect | None


@dataclass
class Layout:
    width: float
    height: float
    nodes: dict[str, Rect]
    clusters: dict[str, Rect]
    edges: list[RoutedEdge]
    legend_y: float
    titles: dict[str, tuple[str, Rect]] = field(default_factory=dict)  # frame id: (left or right, where)
    problems: list[str] = field(default_factory=list)


def layout(d: Diagram) -> Layout:
    clusters = {c.id: c for c in d.clusters}
    children = {c.id: [k.id for k in d.clusters if k.parent == c.id] for c in d.clusters}

    def ancestors(cluster_id: str | None) -> list[str]:
        chain = []
        while cluster_id is not None:
            chain.append(cluster_id)
            cluster_id = clusters[cluster_id].parent
        return chain

    members = {c.id: [n for n in d.nodes if c.id in ancestors(n.cluster)] for c in d.clusters}
    span = {cid: (min(n.col for n in ns), max(n.col for n in ns), min(n.row for n in ns), max(n.row for n in ns))
            for cid, ns in members.items()}

    def stack(cid: str, index: int) -> int:  # frames sharing this edge, nested inside cid, cid included
        return 1 + max((stack(k, index) for k in children[cid] if span[k][index] == span[cid][index]), default=0)

    ncols = max(n.col for n in d.nodes) + 1
    nrows = max(n.row for n in d.nodes) + 1
    opens_c, closes_c = [0] * ncols, [0] * ncols
    opens_r, closes_r = [0] * nrows, [0] * nrows
    for cid, (c0, c1, r0, r1) in span.items():
        opens_c[c0] = max(opens_c[c0], stack(cid, 0))
        closes_c[c1] = max(closes_c[c1], stack(cid, 1))
        opens_r[r0] = max(opens_r[r0], stack(cid, 2))
        closes_r[r1] = max(closes_r[r1], stack(cid, 3))

    lefts = [MARGIN + PAD * opens_c[0]]
    for c in range(1, ncols):
        lefts.append(lefts[-1] + BOX_W + PAD * closes_c[c - 1] + GAP_X + PAD * opens_c[c])
    tops = [HEADER_H + GAP_Y + TITLE_H * opens_r[0]]
    for r in range(1, nrows):
        tops.append(tops[-1] + BOX_H + PAD * closes_r[r - 1] + GAP_Y + TITLE_H * opens_r[r])
    width = lefts[-1] + BOX_W + PAD * closes_c[-1] + MARGIN
    grid_bottom = tops[-1] + BOX_H + PAD * closes_r[-1] + GAP_Y
    height = grid_bottom + LEGEND_H

    def lane_x(c: int) -> float:  # the lane between column c and c + 1 (c = -1: left of the grid)
        if c < 0:
            return MARGIN / 2
        if c >= ncols - 1:
            return width - MARGIN / 2
        return lefts[c] + BOX_W + PAD * closes_c[c] + GAP_X / 2

    def lane_y(r: int) -> float:  # the lane between row r and r + 1
        if r < 0:
            return HEADER_H + GAP_Y / 2
        if r >= nrows - 1:
            return grid_bottom - GAP_Y / 2
        return tops[r] + BOX_H + PAD * closes_r[r] + GAP_Y / 2

    node_rects = {n.id: Rect(lefts[n.col], tops[n.row], BOX_W, BOX_H) for n in d.nodes}

    cluster_rects: dict[str, Rect] = {}

    def frame(cid: str) -> Rect:
        if cid not in cluster_rects:
            inner = [node_rects[n.id] for n in d.nodes if n.cluster == cid] + [frame(k) for k in children[cid]]
            x0, y0 = min(r.x for r in inner), min(r.y for r in inner)
            x1, y1 = max(r.right for r in inner), max(r.bottom for r in inner)
            cluster_rects[cid] = Rect(x0 - PAD, y0 - TITLE_H, x1 - x0 + 2 * PAD, y1 - y0 + TITLE_H + PAD)
        return cluster_rects[cid]

    for c in d.clusters:
        frame(c.id)
    cluster_rects = {c.id: cluster_rects[c.id] for c in d.clusters}  # source order

    router = _Router(d, node_rects, lane_x, lane_y)
    routed = router.route_all()
    out = Layout(width, height, node_rects, cluster_rects, routed, grid_bottom)
    _place_titles(d, out)
    _place_labels(d, out)
    out.problems += router.problems
    out.problems += _check_layout(d, out, ancestors)
    return out


class _Router:
    """Orthogonal edges on the grid. A box sits in each occupied cell, so a segment along a cell's
    centre line crosses a box only where a cell on its way is occupied, and a segment in a lane
    between columns or rows crosses none: `shapes` lists the shapes whose cells are free. Each edge
    takes the cheapest (length, bends, crossings), unless it would run on top of another edge; the
    edges on one side of a box are spread along it, and parallel segments in one lane apart."""

    def __init__(self, d: Diagram, rects: dict[str, Rect], lane_x, lane_y) -> None:
        self.d = d
        self.rects = rects
        self.lane_x, self.lane_y = lane_x, lane_y
        self.cell = {(n.col, n.row): n.id for n in d.nodes}
        self.pos = {n.id: (n.col, n.row) for n in d.nodes}
        self.problems: list[str] = []

    def free(self, cells: list[tuple[int, int]]) -> bool:
        return not any(c in self.cell for c in cells)

    def shapes(self, e: Edge) -> list[tuple[str, str, list[tuple[str, int]], str]]:
        """(name, exit side, lanes [('x', column lane) or ('y', row lane)], entry side), in preference order."""
        (cs, rs), (ct, rt) = self.pos[e.source], self.pos[e.target]
        dx = (ct > cs) - (ct < cs)
        dy = (rt > rs) - (rt < rs)
        h_out, h_in = ("R", "L") if dx > 0 else ("L", "R")
        v_out, v_in = ("B", "T") if dy > 0 else ("T", "B")
        col_near_s = cs if dx > 0 else cs - 1
        col_near_t = ct - 1 if dx > 0 else ct
        row_near_s = rs if dy > 0 else rs - 1
        row_near_t = rt - 1 if dy > 0 else rt
        out: list[tuple[str, str, list[tuple[str, int]], str]] = []
        if dy == 0:
            if self.free([(c, rs) for c in range(min(cs, ct) + 1, max(cs, ct))]):
                out.append(("straight", h_out, [("x", col_near_t)], h_in))
            out.append(("over", "T", [("y", rs - 1)], "T"))
            out.append(("over", "B", [("y", rs)], "B"))
            return out
        if dx == 0:
            if self.free([(cs, r) for r in range(min(rs, rt) + 1, max(rs, rt))]):
                out.append(("straight", v_out, [("y", row_near_t)], v_in))
            out.append(("beside", "R", [("x", cs)], "R"))
            out.append(("beside", "L", [("x", cs - 1)], "L"))
            return out
        cols_between = list(range(cs + dx, ct, dx))
        rows_between = list(range(rs + dy, rt, dy))
        if self.free([(cs, r) for r in rows_between] + [(c, rt) for c in [cs, *cols_between]]):
            out.append(("vertical-first", v_out, [], h_in))
        if self.free([(c, rs) for c in cols_between] + [(ct, r) for r in [rs, *rows_between]]):
            out.append(("horizontal-first", h_out, [], v_in))
        if self.free([(c, rt) for c in cols_between]):
            out.append(("lane-near-source", h_out, [("x", col_near_s)], h_in))
        if self.free([(c, rs) for c in cols_between]):
            out.append(("lane-near-target", h_out, [("x", col_near_t)], h_in))
        if self.free([(ct, r) for r in rows_between]):
            out.append(("row-near-source", v_out, [("y", row_near_s)], v_in))
        if self.free([(cs, r) for r in rows_between]):
            out.append(("row-near-target", v_out, [("y", row_near_t)], v_in))
        out.append(("channel", h_out, [("x", col_near_s), ("y", row_near_t), ("x", col_near_t)], h_in))
        return out

    def route_all(self) -> list[RoutedEdge]:
        options = []
        for e in self.d.edges:
            mine = self.shapes(e)
            if e.route is not None:
                mine = [o for o in mine if o[0] == e.route]
                if not mine:
                    self.problems.append(f"edge {e.source} -> {e.target}: route {e.route} is blocked here")
                    mine = self.shapes(e)
            options.append(self._by_cost(mine, e, options))
        # Each edge's cheapest shape first; where two edges would still run on top of each other, the
        # later one takes its next shape, until none do (or no edge has a shape left to try).
        pick = [0] * len(options)
        for _ in range(400):
            routed = self._geometry([o[k] for o, k in zip(options, pick)])
            movable = [k for pair in self._clashes(routed) for k in sorted(set(pair), reverse=True)
                       if pick[k] + 1 < len(options[k])]
            if not movable:
                break
            pick[movable[0]] += 1
        self.problems += self.full_lanes
        for i, j in self._clashes(routed):
            a, b = routed[i].edge, routed[j].edge
            self.problems.append(f"edges {a.source} -> {a.target} and {b.source} -> {b.target} run on top of each other")
        return routed

    def _rough(self, e: Edge, shape) -> list[Point]:
        """Where a shape would run with every port at its side's middle and every lane at its centre."""
        _, out_side, lanes, in_side = shape
        values = [self.lane_x(k) if axis == "x" else self.lane_y(k) for axis, k in lanes]
        return _simplify(self._points(_side_middle(self.rects[e.source], out_side), out_side, lanes, values,
                                      _side_middle(self.rects[e.target], in_side), in_side))

    def _by_cost(self, mine, e: Edge, earlier_options) -> list:
        """Shapes ordered by cost: length, bends, and crossings of the edges before it, each taken in its
        cheapest shape. Ties keep the order of `shapes` (simplest first). (Runs along another edge are
        left to `route_all`: with every port still at its side's middle, they would be seen everywhere.)"""
        earlier = [self._rough(prev, opts[0]) for prev, opts in zip(self.d.edges, earlier_options)]

        def cost(shape) -> float:
            pts = self._rough(e, shape)
            length = sum(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in _segments(pts))
            crossings = sum(_crossings(pts, other) for other in earlier)
            return length + 120 * (len(pts) - 2) + 80 * crossings

        return sorted(mine, key=cost)

    def _clashes(self, routed: list[RoutedEdge]) -> list[tuple[int, int]]:
        """(i, j): edges i and j share a stretch of line."""
        return _collinear_pairs(routed)

    def _geometry(self, chosen) -> list[RoutedEdge]:
        # Ports: edges on one side of a box, ordered by where their other end lies, spread along it.
        sides: dict[tuple[str, str], list[tuple[float, int, str]]] = {}
        for i, (e, (_, out_side, _, in_side)) in enumerate(zip(self.d.edges, chosen)):
            for node, side, other in ((e.source, out_side, e.target), (e.target, in_side, e.source)):
                o = self.rects[other]
                key = (o.x + o.w / 2) if side in "TB" else (o.y + o.h / 2)
                sides.setdefault((node, side), []).append((key, i, "s" if node == e.source else "t"))
        ports: dict[tuple[int, str], Point] = {}
        for (node, side), entries in sides.items():
            r = self.rects[node]
            entries.sort()
            step = min(PORT_STEP_X, r.w / (len(entries) + 1)) if side in "TB" else min(PORT_STEP_Y, r.h / (len(entries) + 1))
            for k, (_, i, end) in enumerate(entries):
                off = (k - (len(entries) - 1) / 2) * step
                ports[(i, end)] = {
                    "T": (r.x + r.w / 2 + off, r.y), "B": (r.x + r.w / 2 + off, r.bottom),
                    "L": (r.x, r.y + r.h / 2 + off), "R": (r.right, r.y + r.h / 2 + off),
                }[side]

        # Lanes: a segment in a lane takes the first offset whose stretch no earlier segment there covers.
        used: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        self.full_lanes = []
        routed = []
        for i, (e, (_, out_side, lanes, in_side)) in enumerate(zip(self.d.edges, chosen)):
            start, end = ports[(i, "s")], ports[(i, "t")]
            values = [self.lane_x(k) if axis == "x" else self.lane_y(k) for axis, k in lanes]
            rough = self._points(start, out_side, lanes, values, end, in_side)
            for j, (axis, k) in enumerate(lanes):
                a, b = rough[j], rough[j + 2] if j + 2 < len(rough) else end
                along = (a[1], b[1]) if axis == "x" else (a[0], b[0])
                lo, hi = min(along), max(along)
                taken = used.setdefault((axis, k), [])
                limit = (GAP_X if axis == "x" else GAP_Y) / 2 - 4
                off = 0.0
                for step in range(9):
                    off = LANE_STEP * ((step + 1) // 2) * (1 if step % 2 else -1) if step else 0.0
                    if abs(off) > limit:
                        self.full_lanes.append(f"edge {e.source} -> {e.target}: lane {axis}{k} is full")
                        off = 0.0
                        break
                    if not any(o == off and lo < h + 6 and l < hi + 6 for l, h, o in taken):
                        break
                taken.append((lo, hi, off))
                values[j] += off
            points = _simplify(self._points(start, out_side, lanes, values, end, in_side))
            routed.append(RoutedEdge(e, points, None))
        return routed

    @staticmethod
    def _points(start: Point, out_side: str, lanes, values, end: Point, in_side: str) -> list[Point]:
        pts = [start]
        moving = "H" if out_side in "LR" else "V"
        for (axis, _), v in zip(lanes, values):
            x, y = pts[-1]
            pts.append((v, y) if moving == "H" else (x, v))
            moving = "V" if moving == "H" else "H"
        x, y = pts[-1]
        entry = "H" if in_side in "LR" else "V"
        if moving == entry:  # every shape in `shapes` turns once more before its entry
            raise ValueError(f"shape leaves {out_side} and enters {in_side} without the turn between")
        if moving == "H":
            pts.append((end[0], y))
        else:
            pts.append((x, end[1]))
        pts.append(end)
        return pts


def _simplify(points: list[Point]) -> list[Point]:
    out: list[Point] = []
    for p in points:
        p = (round(p[0], 1), round(p[1], 1))
        if out and out[-1] == p:
            continue
        if len(out) >= 2 and ((out[-2][0] == out[-1][0] == p[0]) or (out[-2][1] == out[-1][1] == p[1])):
            out[-1] = p
            continue
        out.append(p)
    return out


def _collinear_pairs(routed: list[RoutedEdge]) -> list[tuple[int, int]]:
    """Pairs (i < j) of edges with a stretch drawn on, or nearly on, the same line (which hides where each goes)."""
    pairs = []
    segs = [_segments(r.points) for r in routed]
    for j in range(len(routed)):
        for i in range(j):
            if any(_on_top(a, b) for a in segs[i] for b in segs[j]):
                pairs.append((i, j))
    return pairs


def _side_middle(r: Rect, side: str) -> Point:
    return {"T": (r.x + r.w / 2, r.y), "B": (r.x + r.w / 2, r.bottom),
            "L": (r.x, r.y + r.h / 2), "R": (r.right, r.y + r.h / 2)}[side]


def _crossings(p: list[Point], q: list[Point]) -> int:
    """How many times two orthogonal polylines cross (a horizontal stretch of one through a vertical of the other)."""
    count = 0
    for a0, a1 in _segments(p):
        for b0, b1 in _segments(q):
            for h0, h1, v0, v1 in ((a0, a1, b0, b1), (b0, b1, a0, a1)):
                if (h0[1] == h1[1] and v0[0] == v1[0] and min(h0[0], h1[0]) < v0[0] < max(h0[0], h1[0])
                        and min(v0[1], v1[1]) < h0[1] < max(v0[1], v1[1])):
                    count += 1
    return count


def _on_top(a: tuple[Point, Point], b: tuple[Point, Point]) -> bool:
    (a0, a1), (b0, b1) = a, b
    if a0[1] == a1[1] and b0[1] == b1[1] and abs(a0[1] - b0[1]) < NEAR:
        lo, hi = max(min(a0[0], a1[0]), min(b0[0], b1[0])), min(max(a0[0], a1[0]), max(b0[0], b1[0]))
        return hi - lo > 1
    if a0[0] == a1[0] and b0[0] == b1[0] and abs(a0[0] - b0[0]) < NEAR:
        lo, hi = max(min(a0[1], a1[1]), min(b0[1], b1[1])), min(max(a0[1], a1[1]), max(b0[1], b1[1]))
        return hi - lo > 1
    return False


def _segments(points: list[Point]) -> list[tuple[Point, Point]]:
    return list(itertools.pairwise(points))


def _segment_rect(a: Point, b: Point) -> Rect:
    return Rect(min(a[0], b[0]), min(a[1], b[1]), abs(a[0] - b[0]), abs(a[1] - b[1]))


def _title_rect(label: str, frame: Rect, align: str) -> Rect:
    width = text_width(label, FRAME_PX, True) + 16
    return Rect(frame.x if align == "left" else frame.right - width, frame.y, width, TITLE_H - 4)


def _place_titles(d: Diagram, lay: Layout) -> None:
    """A frame's title sits at its top left, or top right where fewer edges cross it there. Titles are
    drawn over the edges, on their frame's colour, so a crossing edge never hides one."""
    segments = [_segment_rect(a, b) for r in lay.edges for a, b in _segments(r.points)]
    for c in d.clusters:
        crossings = {align: sum(seg.overlaps(_title_rect(c.label, lay.clusters[c.id], align)) for seg in segments)
                     for align in ("left", "right")}
        align = "right" if crossings["right"] < crossings["left"] else "left"
        lay.titles[c.id] = (align, _title_rect(c.label, lay.clusters[c.id], align))


def _place_labels(d: Diagram, lay: Layout) -> None:
    """Each edge label sits on a segment of its edge, on a white ground, touching no box, frame
    title or other label; the longest segment first, then others, then off-centre spots."""
    obstacles = [r for r in lay.nodes.values()] + [box for _, box in lay.titles.values()]
    placed: list[Rect] = []
    for re_ in lay.edges:
        if not re_.edge.label:
            continue
        w, h = text_width(re_.edge.label, EDGE_PX) + 8, EDGE_PX + 5
        segs = sorted(_segments(re_.points), key=lambda s: -(abs(s[0][0] - s[1][0]) + abs(s[0][1] - s[1][1])))
        spots = []
        for fraction in (0.5, 0.3, 0.7, 0.15, 0.85):
            for a, b in segs:
                spots.append((a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction))
        for x, y in spots:
            box = Rect(round(x - w / 2, 1), round(y - h / 2, 1), round(w, 1), h)
            if not any(box.overlaps(o, 3) for o in obstacles) and not any(box.overlaps(p, 2) for p in placed):
                break
        else:
            x, y = spots[0]
            box = Rect(round(x - w / 2, 1), round(y - h / 2, 1), round(w, 1), h)
            lay.problems.append(f"edge {re_.edge.source} -> {re_.edge.target}: no free spot for its label")
        re_.label_box = box
        placed.append(box)


def _check_layout(d: Diagram, lay: Layout, ancestors) -> list[str]:
    problems = []
    nodes = {n.id: n for n in d.nodes}
    ids = list(lay.nodes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if lay.nodes[a].overlaps(lay.nodes[b], 8):
                problems.append(f"boxes {a} and {b} overlap")
    for nid, rect in lay.nodes.items():
        mine = set(ancestors(nodes[nid].cluster))
        for cid, frame in lay.clusters.items():
            if cid in mine and not frame.contains(rect):
                problems.append(f"box {nid} sticks out of frame {cid}")
            if cid not in mine and frame.overlaps(rect, 4):
                problems.append(f"box {nid} overlaps frame {cid}, which does not hold it")
        n = nodes[nid]
        if text_width(n.label, LABEL_PX, True) > BOX_W - 12:
            problems.append(f"box {nid}: label too wide")
        if any(text_width(t, DETAIL_PX) > BOX_W - 12 for t in n.detail) or len(n.detail) > 2:
            problems.append(f"box {nid}: detail too wide or more than two lines")
    cids = list(lay.clusters)
    for i, a in enumerate(cids):
        for b in cids[i + 1:]:
            nested = a in ancestors(b) or b in ancestors(a)
            fa, fb = lay.clusters[a], lay.clusters[b]
            if not nested and fa.overlaps(fb, 4):
                problems.append(f"frames {a} and {b} overlap")
            if nested and (fa.x == fb.x or fa.right == fb.right or fa.y == fb.y or fa.bottom == fb.bottom):
                problems.append(f"frames {a} and {b} share a border")
    for c in d.clusters:
        if _title_rect(c.label, lay.clusters[c.id], "left").right > lay.clusters[c.id].right:
            problems.append(f"frame {c.id}: title wider than the frame")
    for re_ in lay.edges:
        ends = {re_.edge.source, re_.edge.target}
        for a, b in _segments(re_.points):
            seg = _segment_rect(a, b)
            for nid, rect in lay.nodes.items():
                if nid not in ends and seg.overlaps(rect):
                    problems.append(f"edge {re_.edge.source} -> {re_.edge.target} crosses box {nid}")
    return problems


# ---------------------------------------------------------------------------------------------
# Writers


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def mermaid(d: Diagram) -> str:
    lines = [f"%% {d.title}. Generated by docs/diagrams/generate.py from aws-architecture.yaml: edit that, not this.",
             "flowchart TB"]

    def node_line(n: Node, indent: str) -> str:
        return f'{indent}{n.id}["{"<br/>".join([n.label, *n.detail])}"]'

    def emit(cid: str | None, indent: str) -> None:
        for n in d.nodes:
            if n.cluster == cid:
                lines.append(node_line(n, indent))
        for c in d.clusters:
            if c.parent == cid:
                lines.append(f'{indent}subgraph {c.id}["{c.label}"]')
                emit(c.id, indent + "    ")
                lines.append(f"{indent}end")

    emit(None, "    ")
    for e in d.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f'|"{e.label}"|' if e.label else ""
        lines.append(f"    {e.source} {arrow}{label} {e.target}")
    for kind, (fill, stroke, dashed, _) in NODE_KINDS.items():
        extra = ",stroke-dasharray: 5 5" if dashed else ""
        lines.append(f"    classDef {kind} fill:{fill},stroke:{stroke},color:#1a1a1a{extra}")
    for kind in NODE_KINDS:
        ids = [n.id for n in d.nodes if n.kind == kind]
        if ids:
            lines.append(f"    class {','.join(ids)} {kind}")
    return "\n".join(lines) + "\n"


def svg(d: Diagram, lay: Layout) -> str:
    w, h = _num(lay.width), _num(lay.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="{FONT}" role="img" aria-labelledby="diagram-title">'),
        f'  <title id="diagram-title">{escape(d.title)}</title>',
        "  <desc>Generated by docs/diagrams/generate.py from aws-architecture.yaml: edit that, not this.</desc>",
        "  <defs>",
        (f'    <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOR}"/></marker>'),
        (f'    <marker id="arrow-dashed" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{DASHED_EDGE_COLOR}"/></marker>'),
        "  </defs>",
        f'  <rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
        f'  <text x="{MARGIN}" y="30" font-size="20" font-weight="bold" fill="#1a1a1a">{escape(d.title)}</text>',
        f'  <text x="{MARGIN}" y="52" font-size="12" fill="#444444">{escape(d.subtitle)}</text>',
    ]
    clusters = {c.id: c for c in d.clusters}
    for cid, r in lay.clusters.items():
        fill, stroke, dashed = CLUSTER_KINDS[clusters[cid].kind]
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'  <g class="cluster" id="cluster-{cid}">')
        out.append(f'    <rect x="{_num(r.x)}" y="{_num(r.y)}" width="{_num(r.w)}" height="{_num(r.h)}" rx="4" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>')
        out.append("  </g>")
    for re_ in lay.edges:
        color = DASHED_EDGE_COLOR if re_.edge.dashed else EDGE_COLOR
        dash = ' stroke-dasharray="6 4"' if re_.edge.dashed else ""
        marker = "arrow-dashed" if re_.edge.dashed else "arrow"
        pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in re_.points)
        out.append(f'  <g class="edge" id="edge-{re_.edge.source}-{re_.edge.target}">')
        out.append(f'    <polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.4"{dash} '
                   f'marker-end="url(#{marker})"/>')
        out.append("  </g>")
    for cid, r in lay.clusters.items():
        fill, stroke, _ = CLUSTER_KINDS[clusters[cid].kind]
        align, box = lay.titles[cid]
        x, anchor = (box.x + 8, "start") if align == "left" else (box.right - 8, "end")
        out.append(f'  <g class="cluster-title" id="title-{cid}">')
        out.append(f'    <rect x="{_num(box.x + 2)}" y="{_num(box.y + 2)}" width="{_num(box.w - 4)}" height="{_num(box.h - 2)}" '
                   f'fill="{fill}"/>')
        out.append(f'    <text x="{_num(x)}" y="{_num(r.y + 16)}" font-size="{FRAME_PX}" font-weight="bold" '
                   f'text-anchor="{anchor}" fill="{stroke}">{escape(clusters[cid].label)}</text>')
        out.append("  </g>")
    nodes = {n.id: n for n in d.nodes}
    for nid, r in lay.nodes.items():
        n = nodes[nid]
        fill, stroke, dashed, _ = NODE_KINDS[n.kind]
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        lines = len(n.detail)
        first = r.y + r.h / 2 - (lines * (DETAIL_PX + 3)) / 2 + LABEL_PX / 2 - 1
        cx = _num(r.x + r.w / 2)
        out.append(f'  <g class="node" id="node-{nid}">')
        out.append(f'    <rect x="{_num(r.x)}" y="{_num(r.y)}" width="{_num(r.w)}" height="{_num(r.h)}" rx="8" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>')
        out.append(f'    <text x="{cx}" y="{_num(first)}" font-size="{LABEL_PX}" font-weight="bold" '
                   f'text-anchor="middle" fill="#1a1a1a">{escape(n.label)}</text>')
        for k, text in enumerate(n.detail):
            y = first + (k + 1) * (DETAIL_PX + 4) + 1
            out.append(f'    <text x="{cx}" y="{_num(y)}" font-size="{DETAIL_PX}" text-anchor="middle" '
                       f'fill="#333333">{escape(text)}</text>')
        out.append("  </g>")
    for re_ in lay.edges:
        if re_.label_box is None:
            continue
        b = re_.label_box
        out.append(f'  <g class="edge-label" id="label-{re_.edge.source}-{re_.edge.target}">')
        out.append(f'    <rect x="{_num(b.x)}" y="{_num(b.y)}" width="{_num(b.w)}" height="{_num(b.h)}" rx="3" '
                   f'fill="#ffffff" fill-opacity="0.92"/>')
        out.append(f'    <text x="{_num(b.x + b.w / 2)}" y="{_num(b.y + b.h - 5)}" font-size="{EDGE_PX}" '
                   f'text-anchor="middle" fill="#222222">{escape(re_.edge.label)}</text>')
        out.append("  </g>")
    out += _svg_legend(lay)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend_items() -> list[tuple[str, str, str, bool, str]]:
    items = [(kind, fill, stroke, dashed, text) for kind, (fill, stroke, dashed, text) in NODE_KINDS.items()]
    return items + [("edge-dashed", "", DASHED_EDGE_COLOR, True, "meant, not built")]


def _legend_positions(lay: Layout) -> list[tuple[float, float, float]]:
    x, y, out = float(MARGIN), lay.legend_y + 8, []
    for _, _, _, _, text in _legend_items():
        width = 30 + text_width(text, DETAIL_PX) + 24
        out.append((x, y, width))
        x += width
    return out


def _svg_legend(lay: Layout) -> list[str]:
    out = ['  <g class="legend">']
    for (kind, fill, stroke, dashed, text), (x, y, _) in zip(_legend_items(), _legend_positions(lay)):
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        if kind == "edge-dashed":
            out.append(f'    <line x1="{_num(x)}" y1="{_num(y + 8)}" x2="{_num(x + 24)}" y2="{_num(y + 8)}" '
                       f'stroke="{stroke}" stroke-width="1.4"{dash} marker-end="url(#arrow-dashed)"/>')
        else:
            out.append(f'    <rect x="{_num(x)}" y="{_num(y)}" width="24" height="16" rx="4" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="1.5"{dash}/>')
        out.append(f'    <text x="{_num(x + 30)}" y="{_num(y + 12)}" font-size="{DETAIL_PX}" fill="#333333">'
                   f'{escape(text)}</text>')
    out.append("  </g>")
    return out


def drawio(d: Diagram, lay: Layout) -> str:
    """An uncompressed draw.io file: frames are containers, boxes sit in them (coordinates relative to
    their container), edges keep the computed route as waypoints and their exact ports."""
    clusters = {c.id: c for c in d.clusters}
    origin = {cid: (r.x, r.y) for cid, r in lay.clusters.items()}

    def parent_of(cluster_id: str | None) -> tuple[str, float, float]:
        if cluster_id is None:
            return "1", 0.0, 0.0
        return f"cluster-{cluster_id}", *origin[cluster_id]

    def geometry(r: Rect, cluster_id: str | None) -> str:
        _, ox, oy = parent_of(cluster_id)
        return (f'<mxGeometry x="{_num(r.x - ox)}" y="{_num(r.y - oy)}" width="{_num(r.w)}" '
                f'height="{_num(r.h)}" as="geometry"/>')

    w, h = _num(lay.width), _num(lay.height)
    out = [
        '<mxfile host="pingvas-generate" agent="docs/diagrams/generate.py" version="24.0.0" type="device">',
        '  <diagram id="aws-architecture" name="AWS architecture">',
        (f'    <mxGraphModel dx="{w}" dy="{h}" grid="1" gridSize="10" guides="1" tooltips="1" connect="1" arrows="1" '
        f'fold="1" page="1" pageScale="1" pageWidth="{w}" pageHeight="{h}" math="0" shadow="0">'),
        "      <root>",
        '        <mxCell id="0"/>',
        '        <mxCell id="1" parent="0"/>',
        (f'        <mxCell id="title" value={quoteattr(f"<b>{escape(d.title)}</b><br>{escape(d.subtitle)}")} '
        f'style="text;html=1;align=left;verticalAlign=top;fontSize=14;" vertex="1" parent="1">'
        f'<mxGeometry x="{MARGIN}" y="12" width="{_num(lay.width - 2 * MARGIN)}" height="44" as="geometry"/></mxCell>'),
    ]
    for cid, r in lay.clusters.items():
        c = clusters[cid]
        fill, stroke, dashed = CLUSTER_KINDS[c.kind]
        align = lay.titles[cid][0]
        style = (f"rounded=1;arcSize=2;whiteSpace=wrap;html=1;container=1;collapsible=0;verticalAlign=top;align={align};"
                 f"spacingLeft=8;spacingRight=8;spacingTop=-2;fontStyle=1;fontSize={FRAME_PX};fillColor={fill};strokeColor={stroke};"
                 f"fontColor={stroke};dashed={int(dashed)};")
        parent, _, _ = parent_of(c.parent)
        out.append(f'        <mxCell id="cluster-{cid}" value={quoteattr(escape(c.label))} style="{style}" vertex="1" '
                   f'parent="{parent}">{geometry(r, c.parent)}</mxCell>')
    for n in d.nodes:
        fill, stroke, dashed, _ = NODE_KINDS[n.kind]
        value = f"<b>{escape(n.label)}</b>" + "".join(f"<br><font style=\"font-size: {DETAIL_PX}px\">{escape(t)}</font>"
                                                      for t in n.detail)
        style = (f"rounded=1;whiteSpace=wrap;html=1;fontSize={LABEL_PX};fillColor={fill};strokeColor={stroke};"
                 f"dashed={int(dashed)};")
        parent, _, _ = parent_of(n.cluster)
        out.append(f'        <mxCell id="node-{n.id}" value={quoteattr(value)} style="{style}" vertex="1" '
                   f'parent="{parent}">{geometry(lay.nodes[n.id], n.cluster)}</mxCell>')
    for re_ in lay.edges:
        e = re_.edge
        s, t = lay.nodes[e.source], lay.nodes[e.target]
        (sx, sy), (tx, ty) = re_.points[0], re_.points[-1]
        color = DASHED_EDGE_COLOR if e.dashed else EDGE_COLOR
        style = (f"edgeStyle=orthogonalEdgeStyle;rounded=0;html=1;endArrow=block;endFill=1;strokeColor={color};"
                 f"dashed={int(e.dashed)};fontSize={EDGE_PX};labelBackgroundColor=#ffffff;"
                 f"exitX={_num4((sx - s.x) / s.w)};exitY={_num4((sy - s.y) / s.h)};exitDx=0;exitDy=0;"
                 f"entryX={_num4((tx - t.x) / t.w)};entryY={_num4((ty - t.y) / t.h)};entryDx=0;entryDy=0;")
        waypoints = "".join(f'<mxPoint x="{_num(x)}" y="{_num(y)}"/>' for x, y in re_.points[1:-1])
        points = f'<Array as="points">{waypoints}</Array>' if waypoints else ""
        out.append(f'        <mxCell id="edge-{e.source}-{e.target}" value={quoteattr(escape(e.label))} '
                   f'style="{style}" edge="1" parent="1" source="node-{e.source}" target="node-{e.target}">'
                   f'<mxGeometry relative="1" as="geometry">{points}</mxGeometry></mxCell>')
    for (kind, fill, stroke, dashed, text), (x, y, width) in zip(_legend_items(), _legend_positions(lay)):
        if kind == "edge-dashed":
            style = f"text;html=1;align=left;verticalAlign=middle;fontSize={DETAIL_PX};fontColor={stroke};"
            value = f"- - &gt; {escape(text)}"
        else:
            style = (f"rounded=1;whiteSpace=wrap;html=1;align=left;spacingLeft=6;fontSize={DETAIL_PX};fillColor={fill};"
                     f"strokeColor={stroke};dashed={int(dashed)};")
            value = escape(text)
        out.append(f'        <mxCell id="legend-{kind}" value={quoteattr(value)} style="{style}" vertex="1" parent="1">'
                   f'<mxGeometry x="{_num(x)}" y="{_num(y)}" width="{_num(width - 12)}" height="20" as="geometry"/>'
                   f"</mxCell>")
    out += ["      </root>", "    </mxGraphModel>", "  </diagram>", "</mxfile>"]
    return "\n".join(out) + "\n"


def _num4(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".") or "0"


# ---------------------------------------------------------------------------------------------


def render(source: Path = SOURCE, draft: bool = False) -> dict[str, str]:
    """The three files' text, by name. Raises SourceError if the source or its layout is not clean
    (with draft, a layout with problems is still drawn and its problems printed)."""
    d = load(source)
    lay = layout(d)
    if lay.problems and draft:
        print("layout problems:\n  " + "\n  ".join(lay.problems), file=sys.stderr)
    elif lay.problems:
        raise SourceError("layout problems:\n  " + "\n  ".join(lay.problems))
    return {f"{STEM}.mmd": mermaid(d), f"{STEM}.drawio": drawio(d, lay), f"{STEM}.svg": svg(d, lay)}


def write(files: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (or, with --check, to compare)")
    parser.add_argument("--check", action="store_true", help="fail if the files in --out differ from the source")
    parser.add_argument("--draft", action="store_true", help="draw even a layout with problems (to see them)")
    args = parser.parse_args(argv)
    try:
        files = render(args.source, draft=args.draft and not args.check)
    except SourceError as error:
        print(f"{args.source}: {error}", file=sys.stderr)
        return 2
    if not args.check:
        write(files, args.out)
        print("wrote " + ", ".join(str(args.out / name) for name in files))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write(files, Path(tmp))
        drifted = [name for name in files
                   if not (args.out / name).is_file() or (args.out / name).read_bytes() != (Path(tmp) / name).read_bytes()]
    if drifted:
        print("differ from aws-architecture.yaml (run docs/diagrams/generate.py): " + ", ".join(drifted), file=sys.stderr)
        return 1
    print("diagrams match their source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
