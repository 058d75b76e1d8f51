"""The generated documents (docs/database/schema.md, docs/api/reference.md, docs/api/events.md) are
what the code generates now: a table, route, refusal code or event changed without regenerating them fails."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_documents_match_the_code() -> None:
    done = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
