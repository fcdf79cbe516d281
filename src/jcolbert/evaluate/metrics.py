"""Retrieval metrics, computed by libraries (never by hand): ranx, cross-checked by ir-measures/pytrec_eval.

Why two libraries: a metric bug silently changes every figure we publish. ranx is the primary
(fast, per-query scores, significance tests); `cross_check` recomputes the same measures with
ir-measures' pytrec_eval provider (trec_eval's C code), an independent implementation, and the test
suite requires agreement to 1e-6.

Conventions (those of trec_eval and BEIR): a document is relevant when its judgment is >= 1; NDCG uses
linear gains (Jarvelin & Kekalainen, trec_eval's ``ndcg_cut``); MAP is over the whole run; queries of the
evaluated set that the run has no result for score 0. ranx sorts tied scores with an unstable argsort, so
it is handed rank-derived scores of the run's canonical order (see `runs.py`), which is exactly the order
trec_eval reads back from ``run.trec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from jcolbert.errors import InputError
from jcolbert.evaluate.runs import Run

#: The model card's measures: NDCG@10 (BEIR, LoCo), MRR@10 and Recall@50/1k (MS MARCO), plus MAP.
DEFAULT_METRICS: tuple[str, ...] = (
    "ndcg@10",
    "mrr@10",
    "recall@10",
    "recall@50",
    "recall@100",
    "recall@1000",
    "map",
)

_METRIC_RE = re.compile(r"^(ndcg|mrr|recall|precision|map)(?:@(\d+))?$")


def parse_metric(name: str) -> tuple[str, int | None]:
    """`"ndcg@10"` -> `("ndcg", 10)`; raises `InputError` for a name we do not cross-check."""
    match = _METRIC_RE.match(name.strip().lower())
    if not match:
        raise InputError(
            f"unknown metric {name!r}: use ndcg@K, mrr@K, recall@K, precision@K, map or map@K"
        )
    base, cut = match.group(1), match.group(2)
    if base in ("ndcg", "mrr", "recall", "precision") and cut is None:
        raise InputError(f"metric {name!r} needs a cutoff, e.g. {base}@10")
    return base, int(cut) if cut is not None else None


def metrics_for_depth(depth: int, metrics: Sequence[str] = DEFAULT_METRICS) -> list[str]:
    """Drop cutoffs deeper than the run: Recall@1000 of a top-100 run is only Recall@100 again."""
    out = []
    for name in metrics:
        _, cut = parse_metric(name)
        if cut is None or cut <= max(depth, 10):
            out.append(name)
    return out


def _ir_measure(name: str):
    import ir_measures

    base, cut = parse_metric(name)
    measure = {
        "ndcg": ir_measures.nDCG,
        "mrr": ir_measures.RR,
        "recall": ir_measures.R,
        "precision": ir_measures.P,
        "map": ir_measures.AP,
    }[base]
    return measure @ cut if cut is not None else measure


@dataclass
class MetricResult:
    """Mean and per-query scores of one run (per-query values feed the significance tests)."""

    run_name: str
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]  # metric -> qid -> score
    n_queries: int


def _ranx_qrels(qrels: Mapping[str, Mapping[str, int]]):
    from ranx import Qrels

    return Qrels({q: {d: int(s) for d, s in judged.items()} for q, judged in qrels.items()})


def _ranx_run(run: Run, qids: Sequence[str]):
    """The run as ranx sees it: each query's canonical ranking with strictly decreasing scores.

    A query without results still needs an entry for ranx; it gets one dummy document that no
    judgment names, so it scores 0 (as trec_eval's treatment of a missing query with `-c`).
    """
    from ranx import Run as RanxRun

    data: dict[str, dict[str, float]] = {}
    for qid in qids:
        ranked = run.results.get(qid, [])
        if ranked:
            n = len(ranked)
            data[qid] = {doc_id: float(n - i) for i, (doc_id, _) in enumerate(ranked)}
        else:
            data[qid] = {"\x00jcolbert-no-result": 1.0}
    return RanxRun(data, name=run.name)


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]], run: Run, metrics: Sequence[str] = DEFAULT_METRICS
) -> MetricResult:
    """Score `run` over every query of `qrels` with ranx (mean and per query)."""
    from ranx import evaluate

    if not qrels:
        raise InputError("no judged query to evaluate")
    metrics = list(metrics)
    for m in metrics:
        parse_metric(m)
    qids = sorted(qrels)
    ranx_qrels = _ranx_qrels(qrels)
    ranx_run = _ranx_run(run, qids)
    evaluate(ranx_qrels, ranx_run, metrics, return_mean=False, threads=1)
    per_query = {m: {q: float(s) for q, s in ranx_run.scores[m].items()} for m in metrics}
    mean = {m: float(np.mean(list(per_query[m].values()))) for m in metrics}
    return MetricResult(run.name, mean, per_query, len(qids))


def evaluate_with_ir_measures(
    qrels: Mapping[str, Mapping[str, int]], run: Run, metrics: Sequence[str] = DEFAULT_METRICS
) -> MetricResult:
    """The same measures through ir-measures' pytrec_eval provider (trec_eval's C implementation).

    The run is passed with its real scores: trec_eval does its own (score desc, doc id desc) sort.
    Queries missing from the run are added as 0, as `evaluate_run` does.
    """
    import ir_measures

    provider = ir_measures.providers.registry["pytrec_eval"]
    qids = sorted(qrels)
    qrels_dict = {q: {d: int(s) for d, s in qrels[q].items()} for q in qids}
    per_query: dict[str, dict[str, float]] = {m: dict.fromkeys(qids, 0.0) for m in metrics}
    for m in metrics:
        base, cut = parse_metric(m)
        measure = _ir_measure(m)
        depth = None
        if base == "mrr":
            # trec_eval's recip_rank has no cutoff (ir-measures' pytrec_eval provider ignores "@k" for
            # RR): evaluate RR on the run cut to its top k instead, which is the definition of RR@k.
            measure, depth = ir_measures.RR, cut
        run_dict = {q: dict(run.results[q][:depth]) for q in qids if run.results.get(q)}
        for metric in provider.iter_calc([measure], qrels_dict, run_dict):
            per_query[m][metric.query_id] = float(metric.value)
    mean = {m: float(np.mean(list(per_query[m].values()))) for m in metrics}
    return MetricResult(run.name, mean, per_query, len(qids))


def cross_check(
    qrels: Mapping[str, Mapping[str, int]], run: Run, metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, dict[str, float]]:
    """For each metric: ranx's mean, ir-measures' mean, and the largest per-query difference."""
    a = evaluate_run(qrels, run, metrics)
    b = evaluate_with_ir_measures(qrels, run, metrics)
    out = {}
    for m in metrics:
        diffs = [abs(a.per_query[m][q] - b.per_query[m][q]) for q in a.per_query[m]]
        out[m] = {"ranx": a.mean[m], "ir_measures": b.mean[m], "max_abs_diff_per_query": max(diffs)}
    return out


def compare_runs(
    results: Sequence[MetricResult],
    metrics: Sequence[str] | None = None,
    *,
    stat_test: str = "student",
    max_p: float = 0.05,
    n_permutations: int = 1000,
    random_seed: int = 42,
) -> list[dict]:
    """Pairwise significance tests between runs on their per-query scores, with ranx's tests.

    `stat_test` is ``"student"`` (paired t-test) or ``"fisher"`` (randomization test). Returns one record
    per (run a, run b, metric) with both means, the p-value and whether p < max_p.
    """
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    if stat_test not in ("student", "fisher"):
        raise InputError(f"stat_test must be 'student' or 'fisher', not {stat_test!r}")
    records = []
    for i, a in enumerate(results):
        for b in results[i + 1 :]:
            for m in metrics or list(a.mean):
                if m not in a.per_query or m not in b.per_query:
                    continue
                qids = sorted(a.per_query[m])
                if sorted(b.per_query[m]) != qids:
                    raise InputError(f"runs {a.run_name!r} and {b.run_name!r} were scored on different queries")
                xa = np.array([a.per_query[m][q] for q in qids], dtype=np.float64)
                xb = np.array([b.per_query[m][q] for q in qids], dtype=np.float64)
                if stat_test == "student":
                    p_value, significant = paired_student_t_test(xa, xb, max_p)
                else:
                    p_value, significant = fisher_randomization_test(xa, xb, n_permutations, max_p, random_seed)
                p_value = float(p_value)
                records.append(
                    {
                        "a": a.run_name,
                        "b": b.run_name,
                        "metric": m,
                        "mean_a": a.mean[m],
                        "mean_b": b.mean[m],
                        "test": "paired t-test" if stat_test == "student" else "Fisher randomization",
                        "p_value": p_value if np.isfinite(p_value) else 1.0,
                        "significant": bool(significant) and bool(np.isfinite(p_value)),
                        "max_p": max_p,
                    }
                )
    return records
