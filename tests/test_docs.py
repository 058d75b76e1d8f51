"""The written documents hold together: every Mermaid diagram parses with Mermaid's own parser, and every
relative link points at a file of the repository. (The generated ones are checked against the code
by tests/test_docs_generated.py; the tutorial runs in tests/test_tutorial.py.)"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "frontend-overrides" / "app"
CHECK = APP / "scripts" / "check-diagrams.mjs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    skip = ("node_modules", "dist", "storybook-static", "test-artifacts", ".terraform")
    return sorted(p for p in ROOT.rglob("*.md") if not any(part in skip or part.startswith(".venv") for part in p.parts))


def parse_diagrams(files: list[Path]) -> subprocess.CompletedProcess[str]:
    if not shutil.which("node") or not (APP / "node_modules" / "mermaid").is_dir():
        pytest.fail("Node.js and the app's packages are needed (make frontend)")
    return subprocess.run(["node", str(CHECK), *map(str, files)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_mermaid_diagram_parses() -> None:
    run = parse_diagrams(markdown_files())
    assert run.returncode == 0, run.stdout + run.stderr
    parsed = re.findall(r"^ok ", run.stdout, flags=re.M)
    assert len(parsed) >= 14, run.stdout  # the ERD, architecture, data flows, sitemap, network, GitOps, payments


def test_a_broken_diagram_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text("```mermaid\nsequenceDiagram\n    A->>B: one; two\n    B-->>\n```\n")
    run = parse_diagrams([broken])
    assert run.returncode == 1 and "FAIL" in run.stdout, run.stdout + run.stderr


def test_relative_links_point_at_files() -> None:
    broken = []
    for page in markdown_files():
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in LINK.findall(text):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z]+:", path):
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)
