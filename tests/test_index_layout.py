"""The index package's house rules, checked on its source: leaves at the bottom (no import of the package
root), exception classes only in jcolbert.errors, the manifest's file name in one place, readable modules."""

from __future__ import annotations

import ast
from pathlib import Path

import jcolbert.index

PACKAGE = Path(jcolbert.index.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in MODULES]


def test_no_module_imports_the_package_root() -> None:
    offenders = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "jcolbert" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "jcolbert":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"index modules import the package root: {offenders}"


def test_exception_classes_live_in_errors() -> None:
    classes = [f"{p.name}:{n.name}" for p, tree in _trees() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
               and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in n.bases)]
    assert not classes, f"exception classes outside jcolbert.errors: {classes}"


def test_the_manifest_file_name_is_named_once() -> None:
    named = [p.name for p in MODULES if '"manifest.json"' in p.read_text(encoding="utf-8")]
    assert named == ["manifest.py"]


def test_modules_are_readable_in_one_sitting() -> None:
    long = {p.name: n for p in MODULES if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"modules over 500 lines: {long}"
