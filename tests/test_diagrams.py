"""The AWS architecture diagrams in docs/diagrams/ say what their one source says: the committed
Mermaid, draw.io and SVG files are exactly what `docs/diagrams/generate.py` writes from
`aws-architecture.yaml` (a hand edit to any of them fails), each file parses, and each names every
node and edge of the source. The source is read here with PyYAML, not through the generator."""

import html
import importlib.util
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "docs" / "diagrams"
GENERATOR = FOLDER / "generate.py"
SOURCE = yaml.safe_load((FOLDER / "aws-architecture.yaml").read_text(encoding="utf-8"))
NODES = {n["id"]: n for n in SOURCE["nodes"]}
EDGES = SOURCE["edges"]
OUTPUTS = ("aws-architecture.mmd", "aws-architecture.drawio", "aws-architecture.svg")
SVG = "{http://www.w3.org/2000/svg}"
APP = ROOT / "frontend-overrides" / "app"


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GENERATOR), *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)


def load_generator():
    spec = importlib.util.spec_from_file_location("diagram_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_source_describes_a_real_diagram() -> None:
    # Guards the checks below from passing on an empty source.
    assert len(NODES) >= 20 and len(EDGES) >= 25
    assert {"api", "worker", "aurora", "redis", "s3", "efs", "secrets_manager", "lemonsqueezy", "gemini"} <= set(NODES)


def test_regenerating_gives_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    done = generate("--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for name in OUTPUTS:
        fresh, committed = (tmp_path / name).read_bytes(), (FOLDER / name).read_bytes()
        assert fresh == committed, f"docs/diagrams/{name} differs from its source: run docs/diagrams/generate.py"


def test_the_check_passes_on_the_committed_files() -> None:
    done = generate("--check")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", OUTPUTS)
def test_a_hand_edit_to_a_generated_file_is_caught(tmp_path: Path, name: str) -> None:
    for output in OUTPUTS:
        shutil.copy(FOLDER / output, tmp_path / output)
    edited = tmp_path / name
    edited.write_text(edited.read_text(encoding="utf-8").replace("Aurora PostgreSQL 17.4", "Aurora PostgreSQL 16"), encoding="utf-8")
    assert edited.read_bytes() != (FOLDER / name).read_bytes()
    done = generate("--check", "--out", str(tmp_path))
    assert done.returncode == 1 and name in done.stderr, done.stdout + done.stderr


def test_the_layout_has_no_overlaps() -> None:
    gen = load_generator()
    layout = gen.layout(gen.load())
    assert layout.problems == []
    boxes = list(layout.nodes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_a_source_whose_boxes_would_overlap_a_frame_is_refused(tmp_path: Path) -> None:
    moved = (FOLDER / "aws-architecture.yaml").read_text(encoding="utf-8")
    # The alarms box belongs to the account only; row 2 lies inside the region's frame.
    moved = re.sub(r"(  - id: alarms\n(?:    .*\n)*?    at: )\[\d+, \d+\]", r"\g<1>[2, 2]", moved)
    assert "[2, 2]" in moved
    (tmp_path / "moved.yaml").write_text(moved, encoding="utf-8")
    done = generate("--source", str(tmp_path / "moved.yaml"), "--out", str(tmp_path))
    assert done.returncode == 2 and "box alarms overlaps frame region" in done.stderr, done.stderr
    assert not (tmp_path / "aws-architecture.svg").exists()


def test_the_drawio_file_is_a_graph_of_the_source() -> None:
    root = ET.parse(FOLDER / "aws-architecture.drawio").getroot()
    assert root.tag == "mxfile"
    model = root.find("diagram/mxGraphModel")
    assert model is not None, "draw.io opens an uncompressed mxGraphModel"
    cells = model.findall("root/mxCell")
    vertices = {c.get("id"): c for c in cells if c.get("vertex") == "1"}
    edges = [c for c in cells if c.get("edge") == "1"]
    for node_id, node in NODES.items():
        cell = vertices.get(f"node-{node_id}")
        assert cell is not None, f"node {node_id} is missing"
        assert node["label"] in html.unescape(cell.get("value", ""))
        geometry = cell.find("mxGeometry")
        assert geometry is not None and float(geometry.get("width")) > 0 and float(geometry.get("height")) > 0
        assert cell.get("parent") in vertices or cell.get("parent") == "1"
    for edge in edges:
        assert edge.get("source") in vertices and edge.get("target") in vertices, edge.attrib
        assert edge.find("mxGeometry") is not None
    drawn = {(e.get("source"), e.get("target"), html.unescape(e.get("value", ""))) for e in edges}
    assert drawn == {(f"node-{e['from']}", f"node-{e['to']}", e.get("label", "")) for e in EDGES}
    assert len(edges) == len(EDGES)


def test_the_svg_shows_every_node_and_edge_label() -> None:
    root = ET.parse(FOLDER / "aws-architecture.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") and float(root.get("width")) > 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for node in NODES.values():
        assert node["label"] in texts, node["label"]
        for line in node.get("detail", []):
            assert line in texts, line
    for edge in EDGES:
        if edge.get("label"):
            assert edge["label"] in texts, edge["label"]
    groups = {g.get("id") for g in root.iter(f"{SVG}g")}
    assert {f"edge-{e['from']}-{e['to']}" for e in EDGES} <= groups
    assert sum(1 for _ in root.iter(f"{SVG}polyline")) == len(EDGES)


def test_the_mermaid_file_names_every_node_and_edge() -> None:
    text = (FOLDER / "aws-architecture.mmd").read_text(encoding="utf-8")
    assert re.search(r"^flowchart TB$", text, re.MULTILINE)
    for node_id, node in NODES.items():
        assert re.search(rf'^\s+{node_id}\["{re.escape(node["label"])}(<br/>|")', text, re.MULTILINE), node_id
    for edge in EDGES:
        arrow = "-.->" if edge.get("style") == "dashed" else "-->"
        label = f'|"{edge["label"]}"|' if edge.get("label") else ""
        assert f"    {edge['from']} {arrow}{label} {edge['to']}\n" in text, edge
    for cluster in SOURCE["clusters"]:
        assert f'subgraph {cluster["id"]}["{cluster["label"]}"]' in text


def test_the_mermaid_file_parses_with_mermaids_own_parser(tmp_path: Path) -> None:
    if not shutil.which("node") or not (APP / "node_modules" / "mermaid").is_dir():
        pytest.fail("Node.js and the app's packages are needed (make frontend)")
    wrapped = tmp_path / "diagram.md"
    wrapped.write_text("```mermaid\n" + (FOLDER / "aws-architecture.mmd").read_text(encoding="utf-8") + "```\n")
    run = subprocess.run(["node", str(APP / "scripts" / "check-diagrams.mjs"), str(wrapped)], check=False, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "ok " in run.stdout, run.stdout + run.stderr
