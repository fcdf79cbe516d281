"""The BM25 baseline stems like the baselines it is set against (BEIR's Elasticsearch BM25, the model
card's BM25 column), records its stemmer, and `evaluate` is short named stages that say what takes time."""

from __future__ import annotations

import inspect
import json

import pytest
from typer.testing import CliRunner

from jcolbert.cli.evaluate import evaluate as evaluate_command
from jcolbert.cli.main import app
from jcolbert.errors import InputError
from jcolbert.evaluate import EvalSettings, evaluate, load_dataset, runner, stages
from jcolbert.evaluate.bm25 import BM25, BM25Settings
from jcolbert.evaluate.metrics import evaluate_run
from jcolbert.evaluate.runs import Run
from test_cli_readme import _write_beir

DOCS = ["The runners were running a marathon.", "A cat sleeps on the warm mat."]


def test_english_stemming_is_the_default():
    assert BM25Settings().stemmer == "english" and BM25Settings().k1 == 1.2 and BM25Settings().b == 0.75
    stemmed = BM25(["run", "cat"], DOCS).search(["run"], k=2)
    assert [d for d, _ in stemmed[0]] == ["run"]  # "run" matches "running" / "runners" only when stemmed
    assert BM25(["run", "cat"], DOCS, BM25Settings(stemmer=None)).search(["run"], k=2) == [[]]


def test_unknown_stemmer_is_one_clear_error():
    with pytest.raises(InputError, match=r"no stemmer named 'klingon'; PyStemmer has: .*english"):
        BM25(["a"], ["text"], BM25Settings(stemmer="klingon"))


def test_cli_stemmer_option_runs_and_is_recorded(tmp_path):
    """`--bm25-stemmer english` crashed inside bm25s (a one-word stemmer handed a list of words)."""
    _write_beir(tmp_path / "beir")
    cli = CliRunner()
    for option, recorded, said in (("english", "english", "english stemming"), ("none", None, "no stemming")):
        out = tmp_path / f"out-{option}"
        args = ["evaluate", str(tmp_path / "beir"), "--mode", "bm25", "--bm25-stemmer", option, "--out", str(out)]
        result = cli.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        settings = json.loads((out / "results.json").read_text())["settings"]
        assert settings["bm25"]["stemmer"] == recorded
        assert f"BM25: indexing 8 documents ({said})" in result.stderr
    assert inspect.signature(evaluate_command).parameters["bm25_stemmer"].default == "english"


def test_scifact_bm25_matches_the_model_cards_figure(data_dir):
    """bm25s + PyStemmer English, k1 1.2, b 0.75, English stop words: NDCG@10 0.6791 (the card: 0.679)."""
    dataset = load_dataset(data_dir / "scifact", "test")
    bm25 = BM25(dataset.doc_ids, dataset.doc_texts())
    qids = list(dataset.queries)
    results = bm25.search([dataset.queries[q] for q in qids], k=100)
    run = Run("bm25", dict(zip(qids, results, strict=True)))
    ndcg = evaluate_run(dataset.qrels, run, ["ndcg@10"]).mean["ndcg@10"]
    assert ndcg == pytest.approx(0.6791, abs=5e-4)


def test_evaluation_says_what_takes_time(tmp_path):
    _write_beir(tmp_path / "beir")
    said: list[str] = []
    evaluate(tmp_path / "beir", None, EvalSettings(modes=("bm25",)), log=said.append)
    assert runner.METRICS_NOTE in said and "numba" in runner.METRICS_NOTE


def test_evaluate_is_named_stages():
    """The old 200-line `evaluate()` is a sequence of stages, each short enough to read at once."""
    body = inspect.getsource(runner.evaluate)
    for stage in ("load_stage", "bm25_stage", "colbert_stage", "score_stage"):
        assert f"{stage}(" in body
    assert len(body.splitlines()) <= 40
    functions = [f for m in (runner, stages) for _, f in inspect.getmembers(m, inspect.isfunction)
                 if f.__module__ == m.__name__]  # fmt: skip
    too_long = {f.__name__: n for f in functions if (n := len(inspect.getsource(f).splitlines())) > 60}
    assert too_long == {}
