"""Metrics: ranx agrees with a second, independent library (ir-measures' pytrec_eval provider, i.e.
trec_eval's C code) to 1e-6 per query, on real runs and on runs with tied scores; TREC files round-trip."""

from __future__ import annotations

import pytest

from jcolbert.errors import InputError
from jcolbert.evaluate.bm25 import BM25
from jcolbert.evaluate.datasets import load_dataset
from jcolbert.evaluate.metrics import (
    DEFAULT_METRICS,
    compare_runs,
    cross_check,
    evaluate_run,
    evaluate_with_ir_measures,
    metrics_for_depth,
    parse_metric,
)
from jcolbert.evaluate.runs import Run, read_trec, write_trec

TOL = 1e-6


def _bm25_run(ds, k=1000, **kw):
    bm25 = BM25(ds.doc_ids, ds.doc_texts(), **kw)
    qids = list(ds.queries)
    return Run("bm25", dict(zip(qids, bm25.search([ds.queries[q] for q in qids], k), strict=True)))


def _assert_agree(qrels, run, metrics):
    for metric, row in cross_check(qrels, run, metrics).items():
        assert row["max_abs_diff_per_query"] <= TOL, (metric, row)
        assert abs(row["ranx"] - row["ir_measures"]) <= TOL, (metric, row)


@pytest.fixture(scope="module")
def scifact_bm25(data_dir, tmp_path_factory):
    """BM25 top-1000 on SciFact test, written to and read back from a TREC run file."""
    ds = load_dataset(data_dir / "scifact")
    path = write_trec(_bm25_run(ds), tmp_path_factory.mktemp("runs") / "bm25.trec")
    return ds, read_trec(path)


def test_ranx_matches_ir_measures_on_scifact_bm25_run_file(scifact_bm25):
    ds, run = scifact_bm25
    assert run.depth() == 1000 and len(run.results) == 300
    _assert_agree(ds.qrels, run, DEFAULT_METRICS)
    # And it is a sane BM25: BEIR reports NDCG@10 0.665 for Elasticsearch BM25 on SciFact.
    assert 0.60 < evaluate_run(ds.qrels, run, ["ndcg@10"]).mean["ndcg@10"] < 0.72


def test_ranx_matches_ir_measures_on_graded_judgments(data_dir):
    ds = load_dataset(data_dir / "cranfield")  # grades 1..4: NDCG's linear gains are exercised
    _assert_agree(ds.qrels, _bm25_run(ds, k=100), metrics_for_depth(100))


def test_ties_are_evaluated_in_trec_eval_order():
    qrels = {"q1": {"a": 1, "b": 2, "c": 0}, "q2": {"x": 1}, "q3": {"m": 1}}
    run = Run("tied", {"q1": [("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 0.5)], "q2": [("x", 2.0), ("y", 2.0)]})
    # trec_eval order among equal scores: document id descending.
    assert [d for d, _ in run.results["q1"]] == ["c", "b", "a", "d"]
    assert [d for d, _ in run.results["q2"]] == ["y", "x"]
    metrics = ["ndcg@10", "mrr@10", "recall@10", "map", "precision@5"]
    _assert_agree(qrels, run, metrics)
    result = evaluate_run(qrels, run, metrics)
    assert result.per_query["mrr@10"] == {"q1": 0.5, "q2": 0.5, "q3": 0.0}  # q3: no result -> 0
    assert result.n_queries == 3


def test_mrr_cutoff_is_applied_by_both_libraries():
    qrels = {"q": {"hit": 1}}
    run = Run("deep", {"q": [(f"miss{i:02d}", 100.0 - i) for i in range(10)] + [("hit", 1.0)]})
    assert evaluate_run(qrels, run, ["mrr@10"]).mean["mrr@10"] == 0.0
    assert evaluate_with_ir_measures(qrels, run, ["mrr@10"]).mean["mrr@10"] == 0.0
    assert evaluate_run(qrels, run, ["mrr@11"]).mean["mrr@11"] == pytest.approx(1 / 11)


def test_trec_round_trip_keeps_scores_exact(tmp_path):
    run = Run("r", {"q1": [("d1", 0.123456789012345), ("d2", 0.123456789012344)], "q2": [("d3", -1.5)]})
    back = read_trec(write_trec(run, tmp_path / "r.trec"), name="r")
    assert back.results == run.results
    line = (tmp_path / "r.trec").read_text().splitlines()[0].split()
    assert line[:4] == ["q1", "Q0", "d1", "1"] and line[5] == "r"


def test_bad_trec_and_metric_names(tmp_path):
    (tmp_path / "bad.trec").write_text("q1 Q0 d1 1 0.5\n")
    with pytest.raises(InputError, match=r"bad\.trec:1"):
        read_trec(tmp_path / "bad.trec")
    with pytest.raises(InputError, match="unknown metric"):
        parse_metric("bleu")
    with pytest.raises(InputError, match="needs a cutoff"):
        parse_metric("ndcg")
    assert metrics_for_depth(100) == ["ndcg@10", "mrr@10", "recall@10", "recall@50", "recall@100", "map"]


def test_significance_tests_between_runs(scifact_bm25):
    ds, run = scifact_bm25
    a = evaluate_run(ds.qrels, run, ["ndcg@10"])
    shallow = Run("bm25-top3", {q: r[:3] for q, r in run.results.items()})
    b = evaluate_run(ds.qrels, shallow, ["ndcg@10"])
    same = evaluate_run(ds.qrels, Run("copy", run.results), ["ndcg@10"])
    for test in ("student", "fisher"):
        rec = compare_runs([a, b, same], ["ndcg@10"], stat_test=test, n_permutations=200)
        by_pair = {(r["a"], r["b"]): r for r in rec}
        assert by_pair[("bm25", "bm25-top3")]["significant"]
        assert not by_pair[("bm25", "copy")]["significant"]
        assert 0.0 <= by_pair[("bm25", "bm25-top3")]["p_value"] < 0.05
    with pytest.raises(InputError):
        compare_runs([a, b], stat_test="anova")
