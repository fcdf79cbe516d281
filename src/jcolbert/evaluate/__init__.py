"""Evaluation: reproduce the model card's tables and judge every change by the same numbers.

    from jcolbert.evaluate import EvalSettings, evaluate, write_report
    result = evaluate("path/to/scifact", "minilm", EvalSettings(modes=("bm25", "rerank", "plaid", "exact")))
    write_report(result, "out/scifact")   # results.json, run.trec, results.md, results.png

Modules, one concern each: `datasets` (BEIR / MS MARCO folders), `download` (BEIR zips by name, online
only), `runs` (rankings, TREC files), `metrics` (ranx, cross-checked with ir-measures), `bm25` (bm25s),
`runner` (modes, timings), `report` (output files), `published` (the model card's figures).
"""

from __future__ import annotations

from jcolbert.evaluate.bm25 import BM25, BM25Settings
from jcolbert.evaluate.datasets import Dataset, DatasetError, load_dataset
from jcolbert.evaluate.metrics import DEFAULT_METRICS, compare_runs, cross_check, evaluate_run
from jcolbert.evaluate.report import write_report, write_summary
from jcolbert.evaluate.runner import MODES, EvalSettings, EvaluationResult, evaluate
from jcolbert.evaluate.runs import Run, read_trec, write_trec

__all__ = [
    "BM25",
    "BM25Settings",
    "DEFAULT_METRICS",
    "Dataset",
    "DatasetError",
    "EvalSettings",
    "EvaluationResult",
    "MODES",
    "Run",
    "compare_runs",
    "cross_check",
    "evaluate",
    "evaluate_run",
    "load_dataset",
    "read_trec",
    "write_report",
    "write_summary",
    "write_trec",
]
