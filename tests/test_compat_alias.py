"""`install_as_colbert()` and ``python -m jcolbert.compat SCRIPT.py``: colbert-ai code, unchanged.

The scripts below are colbert-ai's README examples (indexing, then retrieval with ``Queries`` and
``Ranking.save``) with only the paths made arguments; they import ``colbert`` as written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from jcolbert.compat import CompatError, install_as_colbert

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "HF_HUB_OFFLINE": "1"}

IMPORTS = r"""
import json, sys
import jcolbert.compat
from jcolbert.compat import install_as_colbert
assert install_as_colbert() is jcolbert.compat
install_as_colbert()  # a second call is harmless
import colbert
from colbert import Indexer, Searcher, IndexUpdater, Checkpoint, Trainer
from colbert.data import Queries, Collection
from colbert.infra import Run, RunConfig, ColBERTConfig
from colbert.infra.config import ColBERTConfig as C2
from colbert.modeling.checkpoint import Checkpoint as Ck2
from colbert.modeling.colbert import colbert_score
from colbert.indexing.collection_indexer import CollectionIndexer
import colbert.index_updater
same = [
    colbert is jcolbert.compat,
    colbert.data.Queries is jcolbert.compat.data.Queries,
    C2 is ColBERTConfig, Ck2 is Checkpoint,
    colbert.index_updater.IndexUpdater is IndexUpdater,
    sys.modules["colbert.infra.run"] is sys.modules["jcolbert.compat.infra.run"],
]
try:
    import colbert.utils.utils
    missing = None
except ModuleNotFoundError as e:
    missing = str(e)
try:  # colbert.Trainer is jcolbert.compat's: a missing triples file is its clear error
    Trainer(triples="t.jsonl", queries="q", collection="c", config=ColBERTConfig()).train("minilm")
    trainer = None
except ValueError as e:
    trainer = str(e) if Trainer is jcolbert.compat.trainer.Trainer else None
print("REPORT " + json.dumps({"same": same, "missing": missing, "trainer": trainer}))
"""


def run_python(args, cwd, timeout=600):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_install_as_colbert_aliases_every_module(tmp_path):
    out = run_python(["-c", IMPORTS], tmp_path).stdout
    report = json.loads(next(x for x in out.splitlines() if x.startswith("REPORT "))[7:])
    assert all(report["same"]), report["same"]
    assert "colbert.utils" in report["missing"]
    assert "Trainer(triples=...): t.jsonl: no such file" in report["trainer"]


def test_refuses_when_colbert_ai_is_already_imported(monkeypatch):
    fake = types.ModuleType("colbert")
    fake.__file__ = "/site-packages/colbert/__init__.py"
    monkeypatch.setitem(sys.modules, "colbert", fake)
    with pytest.raises(CompatError, match=r"colbert-ai is already imported \(colbert from /site-packages/colbert"):
        install_as_colbert()
    assert sys.modules["colbert"] is fake
    assert "colbert.data" not in sys.modules  # nothing was registered


INDEX_SCRIPT = """\
import sys
from colbert.infra import Run, RunConfig, ColBERTConfig
from colbert import Indexer

if __name__=='__main__':
    with Run().context(RunConfig(nranks=1, experiment="msmarco")):

        config = ColBERTConfig(
            nbits=2,
            root="/path/to/experiments",
        )
        indexer = Indexer(checkpoint=sys.argv[1], config=config)
        indexer.index(name="msmarco.nbits=2", collection=sys.argv[2])
"""

SEARCH_SCRIPT = """\
import sys
from colbert.data import Queries
from colbert.infra import Run, RunConfig, ColBERTConfig
from colbert import Searcher

if __name__=='__main__':
    with Run().context(RunConfig(nranks=1, experiment="msmarco")):

        config = ColBERTConfig(
            root="/path/to/experiments",
        )
        searcher = Searcher(index="msmarco.nbits=2", config=config)
        queries = Queries(sys.argv[1])
        ranking = searcher.search_all(queries, k=100)
        print("SAVED", ranking.save("msmarco.nbits=2.ranking.tsv"))
"""


def test_runner_runs_colbert_ai_readme_scripts_unchanged(tmp_path, tiny_bert_dir):
    (tmp_path / "index.py").write_text(INDEX_SCRIPT)
    (tmp_path / "search.py").write_text(SEARCH_SCRIPT)
    passages = [f"passage number {i} about topic {i % 5}" for i in range(30)]
    (tmp_path / "collection.tsv").write_text("".join(f"{i}\t{p}\n" for i, p in enumerate(passages)))
    (tmp_path / "queries.tsv").write_text("100\ttopic 3\n101\tpassage number 7\n")
    run_python(["-m", "jcolbert.compat", "index.py", str(tiny_bert_dir), "collection.tsv"], tmp_path)
    index_dir = tmp_path / "experiments" / "msmarco" / "indexes" / "msmarco.nbits=2"
    assert (index_dir / "manifest.json").is_file() and (index_dir / "metadata.json").is_file()
    out = run_python(["-m", "jcolbert.compat", "search.py", "queries.tsv"], tmp_path).stdout
    saved = Path(next(x for x in out.splitlines() if x.startswith("SAVED "))[6:])
    # Run().open: <root>/<experiment>/<script name>/<run name>/, the .meta file beside the ranking
    assert saved.is_relative_to(tmp_path / "experiments" / "msmarco" / "search")
    assert saved.name == "msmarco.nbits=2.ranking.tsv" and Path(str(saved) + ".meta").is_file()
    rows = [line.split("\t") for line in saved.read_text().splitlines()]
    assert {r[0] for r in rows} == {"100", "101"} and len(rows) == 60  # k=100 > 30 passages: all of them
    assert [r[2] for r in rows if r[0] == "100"] == [str(i) for i in range(1, 31)]


def test_runner_module_mode_usage_and_missing_script(tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "job.py").write_text("import sys, colbert\nprint('ARGS', sys.argv[1:], colbert.__name__)\n")
    env = {**ENV, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{tmp_path}"}
    proc = subprocess.run([sys.executable, "-m", "jcolbert.compat", "-m", "mypkg.job", "a", "b"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ARGS ['a', 'b'] jcolbert.compat" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "jcolbert.compat", "nope.py"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "nope.py: no such file" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "jcolbert.compat"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "usage: python -m jcolbert.compat" in proc.stderr
