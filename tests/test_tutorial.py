"""docs/guides/tutorial.md runs as written: every `sh` block, in order, in one bash session, against a
fresh data folder, with this interpreter's virtual environment where it says `.venv/bin/` (so that
`make py312` runs it on Python 3.12); a `text` block right after an `sh` block lists lines that block must print (in
order, `...` matching any text).
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.studio import free_port

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "guides" / "tutorial.md"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.M | re.S)


@dataclass
class Step:
    commands: str
    expected: list[str]


def steps(markdown: str) -> list[Step]:
    """The `sh` blocks with the `text` block that follows each (only blank lines between them)."""
    found: list[Step] = []
    last_end = -1
    for fence in FENCE.finditer(markdown):
        indent, language, body = fence.groups()
        body = "\n".join(line.removeprefix(indent) for line in body.splitlines())
        if language == "sh":
            found.append(Step(body, []))
        elif language == "text" and found and not markdown[last_end:fence.start()].strip() and not found[-1].expected:
            found[-1].expected = [line for line in body.splitlines() if line.strip()]
        last_end = fence.end()
    return found


def printed_in_order(expected: list[str], output: list[str]) -> bool:
    patterns = [re.compile(re.escape(line).replace(re.escape("..."), ".*") + r"\Z") for line in expected]
    lines = iter(output)
    return all(any(pattern.match(line) for line in lines) for pattern in patterns)


def test_the_expectation_matcher() -> None:
    assert printed_in_order(["a", "from ... to ..."], ["x", "a", "from 1 to 8"])
    assert not printed_in_order(["b", "a"], ["a", "b"])
    assert not printed_in_order(["ready"], ["not ready"])
    text = "```sh\necho 1\n```\n\n```text\n1\n```\nprose\n```text\nignored\n```\n  ```sh\n  echo 2\n  ```\n"
    assert steps(text) == [Step("echo 1", ["1"]), Step("echo 2", [])]


def test_every_command_of_the_tutorial_runs(tmp_path: Path) -> None:
    tutorial = steps(TUTORIAL.read_text())
    assert len(tutorial) >= 10, "the tutorial's commands were not found"
    script = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    venv_bin = f"{Path(sys.executable).parent}/"
    for number, step in enumerate(tutorial):
        script += [f"echo '>>> step {number}'", step.commands.replace(".venv/bin/", venv_bin)]
    script.append("echo '>>> done'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGVAS_")}
    # mktemp puts the tutorial's fresh data folder under this test's own; a free port replaces 9191.
    env |= {"TMPDIR": str(tmp_path), "PINGVAS_PORT": str(free_port()), "PINGVAS_SIGNUP_RATE_LIMIT": "100/hour"}
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=540)
    log = next(tmp_path.glob("*/serve.log"), None)
    context = f"stdout:\n{run.stdout[-4000:]}\nstderr:\n{run.stderr[-4000:]}\nserver log:\n{log.read_text()[-3000:] if log else '-'}"
    assert run.returncode == 0, context
    assert run.stdout.rstrip().endswith(">>> done"), context
    printed = re.split(r"^>>> step \d+\n", run.stdout, flags=re.M)[1:]
    assert len(printed) == len(tutorial), context
    for number, (step, output) in enumerate(zip(tutorial, printed)):
        assert printed_in_order(step.expected, output.splitlines()), f"step {number} printed:\n{output}\nexpected:\n{step.expected}"
    assert list(tmp_path.glob("*/studio/databases/pingvas.db")), "the studio did not use the fresh data folder"
