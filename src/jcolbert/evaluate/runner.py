"""Run one dataset through one or more retrieval modes and score every run the same way.

Modes (the model card's tables):
* ``bm25``   -- bm25s alone (the "BM25" column of the reranking table);
* ``rerank`` -- BM25's top `rerank_depth` reranked by ColBERT MaxSim over full-precision vectors
  (the reranking table);
* ``plaid``  -- end-to-end retrieval through a jcolbert index with PLAID search (the BEIR table);
* ``exact``  -- the same index searched exhaustively: ground truth for what PLAID approximates.

`evaluate` is four named stages: load the dataset, BM25 (`stages.bm25_stage`), ColBERT
(`stages.colbert_stage`: encode once per document length, rerank, index and search), then score and
compare every run (`score_stage`). Several `doc_maxlens` (e.g. 512 and 8192, the LoCo table) give one run
per mode and length.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from jcolbert.errors import InputError, require_extra
from jcolbert.evaluate.bm25 import BM25Settings
from jcolbert.evaluate.datasets import Dataset, load_dataset
from jcolbert.evaluate.metrics import (
    DEFAULT_METRICS,
    MetricResult,
    compare_runs,
    cross_check,
    evaluate_run,
    metrics_for_depth,
)
from jcolbert.evaluate.published import (
    BEIR_DATASETS,
    PublishedFigure,
    normalize_dataset,
    primary_metric,
    published_for,
)
from jcolbert.evaluate.runs import Run
from jcolbert.evaluate.stages import COLBERT_MODES, INDEX_MODES, Job, Log, bm25_stage, colbert_stage

MODES: tuple[str, ...] = ("plaid", "exact", "bm25", "rerank")
METRICS_NOTE = (  # measured: 15-25 s for 8 documents on 2 busy cores; most of it is not cached between runs
    "scoring with ranx: it first compiles its metric code with numba, 10-40 s in every new process "
    "whatever the collection's size"
)


@dataclass(frozen=True)
class EvalSettings:
    """Everything that decides a result; recorded verbatim in results.json."""

    modes: tuple[str, ...] = ("plaid",)
    k: int = 100  # results kept per query (the run file's depth)
    rerank_depth: int = 100  # BM25 candidates handed to ColBERT in "rerank"
    doc_maxlens: tuple[int | None, ...] = (None,)  # None: the model's own doc_maxlen
    long_documents: str = "truncate"  # or "split": overlapping windows, vectors concatenated per document
    window_overlap: int | None = None
    nbits: int = 2
    batch_size: int = 32
    metrics: tuple[str, ...] = DEFAULT_METRICS
    # BEIR drops any result whose id equals the query id (in ArguAna and Quora the query itself is in the
    # corpus). "auto" applies that rule to BEIR's datasets only: in Cranfield, CISI or CACM query and
    # document ids merely share a numbering, and dropping doc "1" for query "1" would be wrong.
    identical_ids: str = "auto"  # "auto" | "drop" | "keep"
    stat_test: str = "student"  # "student" (paired t-test) or "fisher" (randomization)
    max_p: float = 0.05
    bm25: BM25Settings = field(default_factory=BM25Settings)
    search_knobs: dict[str, Any] = field(default_factory=dict)  # passed to the index's search

    def __post_init__(self) -> None:
        if not self.modes:
            raise InputError("no evaluation mode given; choose from " + ", ".join(MODES))
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise InputError(f"unknown mode(s) {bad}; choose from {', '.join(MODES)}")
        if len(set(self.modes)) != len(self.modes):
            raise InputError(f"mode listed twice in {list(self.modes)}")
        if self.k <= 0 or self.rerank_depth <= 0:
            raise InputError(f"k and rerank_depth must be positive (got k={self.k}, rerank_depth={self.rerank_depth})")
        if self.long_documents not in ("truncate", "split"):
            raise InputError(f"long_documents must be 'truncate' or 'split', got {self.long_documents!r}")
        if self.identical_ids not in ("auto", "drop", "keep"):
            raise InputError(f"identical_ids must be 'auto', 'drop' or 'keep', got {self.identical_ids!r}")
        if not self.doc_maxlens or len(set(self.doc_maxlens)) != len(self.doc_maxlens):
            raise InputError(f"doc_maxlens must be distinct and non-empty, got {list(self.doc_maxlens)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modes"] = list(self.modes)
        d["doc_maxlens"] = list(self.doc_maxlens)
        d["metrics"] = list(self.metrics)
        return d


@dataclass
class RunResult:
    """One scored run: its ranking, metric means and per-query values, timings, and the card's figure."""

    name: str
    mode: str
    doc_maxlen: int | None
    run: Run
    scores: MetricResult
    timings: dict[str, float]
    published: PublishedFigure | None = None
    cross_check: dict[str, dict[str, float]] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class EvaluationResult:
    dataset: Dataset
    model_name: str | None
    model_config: dict[str, Any] | None
    settings: EvalSettings
    runs: list[RunResult]
    comparisons: list[dict]
    timings: dict[str, float]
    encoding: dict[str, Any]
    versions: dict[str, str]

    def run_by_name(self, name: str) -> RunResult:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(name)


def versions() -> dict[str, str]:
    """Versions of everything that can change a figure."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("jcolbert", "torch", "numpy", "ranx", "ir_measures", "pytrec-eval-terrier", "bm25s", "PyStemmer",
                 "faiss-cpu"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def evaluate(
    dataset: Dataset | str | Path,
    model: Any = None,
    settings: EvalSettings | None = None,
    *,
    split: str = "test",
    dataset_name: str | None = None,
    index_dir: str | Path | None = None,
    vectors_cache: str | Path | None = None,
    log: Log | None = None,
) -> EvaluationResult:
    """Evaluate `dataset` with every mode in `settings.modes`; returns all runs, scored and compared.

    `model` is a loaded `ColBERTModel` or a name/folder for `jcolbert.load_model` (needed by plaid, exact
    and rerank; unused by bm25). `index_dir` keeps the built index(es) there; by default they go to a
    temporary folder that is removed afterwards. `vectors_cache` is a folder where the corpus's document
    vectors are kept between evaluations (see `cache.py`); with it the whole corpus is encoded, whatever
    the modes, so that every later mode can reuse it.
    """
    t_start = time.perf_counter()
    job = load_stage(dataset, settings or EvalSettings(), split, dataset_name, log)
    bm25_stage(job)
    colbert_stage(job, model, index_dir, vectors_cache)
    runs, comparisons = score_stage(job)
    job.timings["total_s"] = time.perf_counter() - t_start
    return EvaluationResult(
        dataset=job.dataset,
        model_name=job.model_name,
        model_config=job.model_config,
        settings=job.settings,
        runs=runs,
        comparisons=comparisons,
        timings=job.timings,
        encoding=job.encoding,
        versions=versions(),
    )


def load_stage(dataset: Dataset | str | Path, settings: EvalSettings, split: str, name: str | None,
               log: Log | None) -> Job:  # fmt: skip
    """The dataset (read from its folder unless given loaded), its issues said, as a `Job` for the stages."""
    for module in ("ranx", "ir_measures"):  # fail before the slow stages, naming the extra
        require_extra(module, "eval", "evaluation")
    timings: dict[str, float] = {}
    if not isinstance(dataset, Dataset):
        t0 = time.perf_counter()
        dataset = load_dataset(dataset, split, name=name)
        timings["load_dataset_s"] = time.perf_counter() - t0
    job = Job(dataset, settings, log, timings)
    for message in dataset.issues.messages():
        job.say(f"{dataset.name}: {message}")
    return job


def score_stage(job: Job) -> tuple[list[RunResult], list[dict]]:
    """Every run scored with ranx (cross-checked with ir-measures), then compared pairwise."""
    settings = job.settings
    metric_names = metrics_for_depth(max(job.k, 1), settings.metrics)
    skipped = [m for m in settings.metrics if m not in metric_names]
    if skipped and tuple(settings.metrics) != DEFAULT_METRICS:  # the default list is cut silently by design
        job.say(f"not reported at run depth k={job.k}: {', '.join(skipped)} (raise --k to measure them)")
    drop_identical = settings.identical_ids == "drop" or (
        settings.identical_ids == "auto" and normalize_dataset(job.dataset.name) in BEIR_DATASETS + ("msmarco",)
    )
    job.encoding["identical_ids_dropped"] = drop_identical
    if job.runs:
        job.say(METRICS_NOTE)
    results = []
    for raw in job.runs:
        run = raw.run.without_identical_ids() if drop_identical else raw.run
        run = run.restricted_to(job.qids)
        t0 = time.perf_counter()
        scores = evaluate_run(job.dataset.qrels, run, metric_names)
        raw.timings["metrics_s"] = time.perf_counter() - t0
        model = job.model_name if raw.mode != "bm25" else None
        published = published_for(job.dataset.name, model, raw.mode, primary_metric(job.dataset.name))
        results.append(RunResult(name=raw.name, mode=raw.mode, doc_maxlen=raw.doc_maxlen, run=run, scores=scores,
                                 timings=raw.timings, published=published,
                                 cross_check=cross_check(job.dataset.qrels, run, metric_names)))  # fmt: skip
    comparisons = []
    if len(results) > 1:
        comparisons = compare_runs([r.scores for r in results], metric_names, stat_test=settings.stat_test,
                                   max_p=settings.max_p)  # fmt: skip
    return results, comparisons


__all__ = ["COLBERT_MODES", "INDEX_MODES", "MODES", "EvalSettings", "EvaluationResult", "RunResult", "evaluate"]
