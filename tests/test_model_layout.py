"""jcolbert.model's import graph: leaves at the bottom, no cycles, nothing imports the package root."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "src" / "jcolbert" / "model"


def model_imports() -> dict[str, set[str]]:
    """module name -> the jcolbert.* modules it imports (at any level of the file)."""
    graph = {}
    for path in sorted(MODEL.glob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jcolbert"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if node.module == "jcolbert.model")
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("jcolbert"))
        graph[f"jcolbert.model.{path.stem}"] = found
    return graph


def test_no_module_imports_the_package_root() -> None:
    for module, imports in model_imports().items():
        assert "jcolbert" not in imports, f"{module} imports the package root"


def test_weights_is_a_leaf_and_there_are_no_cycles() -> None:
    graph = model_imports()
    assert graph["jcolbert.model.weights"] <= {"jcolbert.errors"}
    edges = {
        m: {i for i in imports if i in graph and i != "jcolbert.model.__init__"}
        for m, imports in graph.items()
    }
    edges.pop("jcolbert.model.__init__")

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        for nxt in edges.get(module, ()):
            visit(nxt, (*path, module))

    for module in edges:
        visit(module, ())


def test_backbones_do_not_import_each_other() -> None:
    graph = model_imports()
    assert "jcolbert.model.jinabert" not in graph["jcolbert.model.bert"]
    assert "jcolbert.model.bert" not in graph["jcolbert.model.jinabert"]
    assert "jcolbert.model.checkpoint" not in graph["jcolbert.model.minilm"]
