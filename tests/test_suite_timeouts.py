"""Every call a test makes to a server has a timeout fit for these busy 2-core machines.

httpx's default is 5 s, and a fresh clone's first `/openapi.json` once took 5.3 s here: tests call
`tests.http` (60 s) or give an explicit timeout to the clients they build.
"""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BARE_HTTPX_CALL = re.compile(r"\bhttpx\.(get|post|put|patch|delete|head|options|request|stream)\(")
CLIENT = re.compile(r"\bhttpx\.(Client|AsyncClient)\(")


def _sources() -> list[Path]:
    return [p for p in TESTS.rglob("*.py") if p.name not in ("http.py", Path(__file__).name)]


def test_no_test_calls_httpx_with_its_default_timeout() -> None:
    offenders = [f"{p.relative_to(TESTS)}:{n}" for p in _sources()
                 for n, line in enumerate(p.read_text().splitlines(), 1) if BARE_HTTPX_CALL.search(line)]
    assert offenders == [], f"use tests.http (or pass timeout=) instead of httpx's 5 s default: {offenders}"


def test_every_httpx_client_a_test_builds_sets_a_timeout() -> None:
    offenders = []
    for p in _sources():
        text = p.read_text()
        for match in CLIENT.finditer(text):
            call = text[match.end(): text.find("\n", text.find(")", match.end()))]
            if "timeout=" not in call:
                offenders.append(f"{p.relative_to(TESTS)}:{text[: match.start()].count(chr(10)) + 1}")
    assert offenders == [], f"httpx clients without a timeout: {offenders}"
