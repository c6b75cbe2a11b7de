"""The import graph of gammalake's own packages: no cycle among modules, no upward import.

Every `import` and `from ... import` is read with `ast`, at module level and inside functions
alike (a late import still ties two modules together); imports under `if TYPE_CHECKING:` are
left out, since they never run. Layers (DESIGN.md): gammalake -> flows, backtest -> pipeline ->
warehouse; flows never imports backtest, nor backtest flows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("gammalake", "flows", "backtest", "pipeline", "warehouse")
#: What each layer may import (besides itself).
ALLOWED = {
    "warehouse": set(),
    "pipeline": {"warehouse"},
    "backtest": {"pipeline", "warehouse"},
    "flows": {"pipeline", "warehouse"},
    "gammalake": {"flows", "backtest", "pipeline", "warehouse"},
}


def module_files(root: Path) -> dict[str, Path]:
    """Return every module of the packages by dotted name (a package under its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    """Return True for `if TYPE_CHECKING:` (imports that never run)."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield every import statement that runs, at any depth (TYPE_CHECKING blocks skipped)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            for other in node.orelse:
                yield from _imports(other)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _targets(node: ast.Import | ast.ImportFrom, name: str, known: set[str]) -> set[str]:
    """Return the modules of ours one import statement in module `name` loads."""
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        wanted = [base] + [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for target in wanted:
        while target and target not in known:
            target = target.rpartition(".")[0]  # an attribute of a module: the module
        if target and target != name:
            found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Return module -> the modules of ours it imports (module and function level)."""
    files = module_files(root)
    known = set(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = set().union(*(_targets(n, name, known) for n in _imports(tree)))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Return one line per import that crosses the layers the wrong way."""
    wrong = []
    for module, targets in sorted(graph.items()):
        layer = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
    return wrong


def test_no_module_imports_a_layer_above_its_own():
    assert upward(import_graph(REPO)) == []


def test_no_import_cycle_among_modules():
    found = cycles(import_graph(REPO))
    assert found == [], "\n".join(" <-> ".join(c) for c in found)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "a.py").write_text("def f():\n    from pipeline.b import g\n")
    (tmp_path / "pipeline" / "b.py").write_text("from pipeline import a\nimport flows.x\n")
    (tmp_path / "flows" / "x.py").write_text("if TYPE_CHECKING:\n    import gammalake\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["pipeline.a", "pipeline.b"]]
    assert upward(graph) == ["pipeline.b imports flows.x"]
