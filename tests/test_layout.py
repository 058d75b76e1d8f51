"""The house's layout: every room of `invokeai_saas` and every top-level package imports only what its
README's "May import:" sentence names, and no module of ours imports another in a circle.

Imports are read from the source (function-level ones included), so the READMEs and the code cannot
drift apart: an import a README does not allow fails here, naming the file and the line.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("invokeai_saas", "billing", "tenant_middleware", "patches")
ROOMS = sorted(p.name for p in (ROOT / "invokeai_saas").iterdir() if (p / "__init__.py").exists())


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = module_files()


def resolve(name: str) -> str | None:
    """The module of ours that importing `name` loads last (a name inside a module counts as the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(module of ours, line) for every import in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = resolve(name)
            if target and target != module:
                found.append((target, node.lineno))
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    return f"invokeai_saas.{parts[1]}" if parts[0] == "invokeai_saas" and len(parts) > 1 else parts[0]


def may_import(readme: Path) -> set[str]:
    """The rooms and packages of ours that the README's "May import:" sentence names in backticks."""
    text = readme.read_text()
    found = re.search(r"May import:(.*?)(?:\.\s|\.$|$)", text, re.S)
    assert found, f"{readme.relative_to(ROOT)} has no 'May import:' sentence"
    allowed = set()
    for name in re.findall(r"`([\w.]+)`", found.group(1)):
        if name in ROOMS:
            allowed.add(f"invokeai_saas.{name}")
        elif name in PACKAGES:
            allowed.add(name)
        else:
            raise AssertionError(f"{readme.relative_to(ROOT)} allows `{name}`, which is neither a room nor a package")
    return allowed


def readme_of(room: str) -> Path:
    return ROOT / room.replace(".", "/") / "README.md"


def outside(target: str, allowed: set[str]) -> bool:
    return not any(target == a or target.startswith(a + ".") for a in allowed)


def test_every_room_and_package_says_what_it_may_import() -> None:
    assert {"wiring", "accounts", "money", "queue", "media", "operators", "core"} <= set(ROOMS)
    for room in [f"invokeai_saas.{r}" for r in ROOMS] + list(PACKAGES):
        may_import(readme_of(room))


@pytest.mark.parametrize("room", [f"invokeai_saas.{r}" for r in ROOMS] + ["billing", "tenant_middleware", "patches"])
def test_imports_stay_inside_what_the_readme_allows(room: str) -> None:
    allowed = may_import(readme_of(room)) | {room}
    if room.startswith("invokeai_saas."):
        assert allowed <= may_import(readme_of("invokeai_saas")) | {f"invokeai_saas.{r}" for r in ROOMS}
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for module, path in MODULES.items()
        if room_of(module) == room
        for target, line in imports_of(module, path)
        if target != "invokeai_saas" and outside(target, allowed)  # the package's own __init__ is empty
    ]
    assert not wrong, "\n".join(wrong)


def test_rooms_form_no_circle() -> None:
    """Room to room, the arrows have an order: no room imports, through others, a room that imports it."""
    edges = {room_of(m): set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _ in imports_of(module, path):
            if room_of(target) != room_of(module):
                edges[room_of(module)].add(room_of(target))
    assert not cycles(edges), cycles(edges)


def test_no_module_imports_in_a_circle() -> None:
    edges = {m: {t for t, _ in imports_of(m, p)} for m, p in MODULES.items()}
    assert not cycles(edges), cycles(edges)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups
