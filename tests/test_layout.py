"""The core's layout holds: each folder imports only the folders below it, and no modules import each other
in a loop (the README's Layout section draws the same order)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "segkit"
# lowest first; a module may import its own folder and any folder before it in this list
FLOORS = [
    ("errors", "text", "redact", "retry", "machine", "fonts", "storage", "input_files", "config", "moved_modules"),
    ("inputs",),
    ("plugins",),
    ("plugin_api",),
    ("outputs",),
    ("evaluation",),
    ("html_report",),
    ("pipeline", "export"),
    ("cli", "__main__"),
    ("testing",),
]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    """Every segkit module ``path`` imports, at the top or inside a function (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):  # imports only for type checkers are no arrows: drop them before walking
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = [ast.Pass()]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("segkit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("segkit"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}  # `from segkit.pipeline import job`
    return out


MODULES = modules()


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    return FLOOR.get(parts[1]) if len(parts) > 1 else None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if floor_of(m) is not None))
def test_a_module_imports_no_folder_above_its_own(module):
    own = floor_of(module)
    above = sorted(t for t in imports(MODULES[module], module) if t in MODULES and (floor_of(t) or 0) > own)
    assert not above, f"{module} imports {above}, above its floor"


def test_no_modules_import_each_other_in_a_loop():
    graph = {m: {t for t in imports(p, m) if t in MODULES and t != m and t != "segkit"} for m, p in MODULES.items()}
    # a package face (__init__) that only re-exports is not a module of its own: follow through it
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in MODULES or MODULES[nxt].name == "__init__.py":
                continue
            if seen.get(nxt) == 1:
                loop = stack[stack.index(nxt):] + [nxt]
                pytest.fail("modules import each other: " + " -> ".join(loop))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module)
