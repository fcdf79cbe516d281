"""Run one dataset through one or more retrieval modes and score every run the same way.

Modes (the model card's tables):
* ``bm25``   -- bm25s alone (the "BM25" column of the reranking table);
* ``rerank`` -- BM25's top `rerank_depth` reranked by ColBERT MaxSim over full-precision vectors
  (the reranking table);
* ``plaid``  -- end-to-end retrieval through a jcolbert index with PLAID search (the BEIR table);
* ``exact``  -- the same index searched exhaustively: ground truth for what PLAID approximates.

Each document is encoded once per document length and shared by every mode that needs it. Several
`doc_maxlens` (e.g. 512 and 8192, the LoCo table) give one run per mode and length. Timings are wall
clock on this process; query encoding is timed separately from search so engine costs are visible.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import InputError
from jcolbert.evaluate import cache as vcache
from jcolbert.evaluate.bm25 import BM25, BM25Settings
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

MODES: tuple[str, ...] = ("plaid", "exact", "bm25", "rerank")
COLBERT_MODES = ("plaid", "exact", "rerank")
INDEX_MODES = ("plaid", "exact")

Log = Callable[[str], None]


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
    for dist in ("jcolbert", "torch", "numpy", "ranx", "ir_measures", "pytrec-eval-terrier", "bm25s", "faiss-cpu"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _percentile_ms(samples: Sequence[float], q: float) -> float:
    if not samples:
        return 0.0
    if len(samples) == 1:
        return samples[0] * 1000.0
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] * 1000.0


def _latency(samples: Sequence[float], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_s": float(sum(samples)),
        f"{prefix}_ms_p50": _percentile_ms(samples, 50),
        f"{prefix}_ms_p95": _percentile_ms(samples, 95),
    }


def _say(log: Log | None, msg: str) -> None:
    if log is not None:
        log(msg)


def _run_name(mode: str, maxlen: int | None, several_lengths: bool) -> str:
    base = {"rerank": "bm25+rerank"}.get(mode, mode)
    return f"{base}@{maxlen if maxlen is not None else 'default'}" if several_lengths else base


class _ColBERTStage:
    """Encodes queries once and documents once per length; scores rerank candidates and builds/searches
    the index from those same vectors."""

    def __init__(self, model, settings: EvalSettings, log: Log | None) -> None:
        self.model = model
        self.settings = settings
        self.log = log

    def encode_queries(self, texts: list[str]):
        t0 = time.perf_counter()
        Q = self.model.encode_queries(texts, batch_size=self.settings.batch_size)
        return Q, time.perf_counter() - t0

    def encode_documents(self, texts: list[str], maxlen: int | None):
        t0 = time.perf_counter()
        docs = self.model.encode_documents(
            texts,
            batch_size=self.settings.batch_size,
            max_length=maxlen,
            long_documents=self.settings.long_documents,
            window_overlap=self.settings.window_overlap,
        )
        elapsed = time.perf_counter() - t0
        info = {
            "documents": len(texts),
            "tokens": int(sum(int(d.shape[0]) for d in docs)),
            "truncated": int(getattr(docs, "n_truncated", 0)),
            "encoder_passes": int(getattr(docs, "n_windows", len(texts))),
            "seconds": elapsed,
        }
        return list(docs), info

    def rerank(self, Q, qids: list[str], candidates: dict[str, list[str]], vectors: dict[str, Any]):
        from jcolbert.search import maxsim

        run = Run("bm25+rerank")
        samples = []
        for i, qid in enumerate(qids):
            cands = [d for d in candidates.get(qid, []) if d in vectors]
            t0 = time.perf_counter()
            if cands:
                scores = maxsim(Q[i], [vectors[d] for d in cands])
                run.set(qid, zip(cands, (float(s) for s in scores), strict=True))
            else:
                run.set(qid, [])
            samples.append(time.perf_counter() - t0)
        return run, samples

    def build_index(self, path: Path, ids: list[str], vectors: list):
        """An embeddings-only index (dim, no model): the evaluation hands it vectors it already encoded,
        and searches it with query vectors, so the index never needs to encode anything itself."""
        from jcolbert.index import Index

        dim = int(vectors[0].shape[1]) if vectors else int(self.model.config.dim)
        t0 = time.perf_counter()
        index = Index.create(path, dim=dim, nbits=self.settings.nbits)
        index.add_embeddings(ids, vectors)
        return index, time.perf_counter() - t0

    def search(self, index, Q, qids: list[str], k: int, mode: str, name: str):
        run = Run(name)
        samples = []
        for i, qid in enumerate(qids):
            t0 = time.perf_counter()
            hits = index.search_embeddings(Q[i], k=k, mode=mode, **self.settings.search_knobs)
            samples.append(time.perf_counter() - t0)
            run.set(qid, ((h.id, h.score) for h in hits))
        return run, samples


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
    settings = settings or EvalSettings()
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    if not isinstance(dataset, Dataset):
        t0 = time.perf_counter()
        dataset = load_dataset(dataset, split, name=dataset_name)
        timings["load_dataset_s"] = time.perf_counter() - t0
    for message in dataset.issues.messages():
        _say(log, f"{dataset.name}: {message}")
    qids = list(dataset.queries)
    qtexts = [dataset.queries[q] for q in qids]
    doc_ids = dataset.doc_ids
    modes = settings.modes
    several_lengths = len(settings.doc_maxlens) > 1
    k = min(settings.k, len(doc_ids))
    raw_runs: list[tuple[str, str, int | None, Run, dict[str, float], list[str]]] = []

    # -- BM25 (alone, and as the candidate generator of rerank) -----------------------------------------
    candidates: dict[str, list[str]] = {}
    bm25_timings: dict[str, float] = {}
    if "bm25" in modes or "rerank" in modes:
        _say(log, f"BM25: indexing {len(doc_ids)} documents")
        t0 = time.perf_counter()
        bm25 = BM25(doc_ids, dataset.doc_texts(), settings.bm25)
        bm25_timings["bm25_index_s"] = time.perf_counter() - t0
        depth = max(k if "bm25" in modes else 0, settings.rerank_depth if "rerank" in modes else 0)
        t0 = time.perf_counter()
        results = bm25.search(qtexts, depth)
        bm25_timings["bm25_search_s"] = time.perf_counter() - t0
        bm25_timings["bm25_ms_per_query"] = bm25_timings["bm25_search_s"] * 1000.0 / max(len(qids), 1)
        # Cut in the run's canonical order (ties by doc id), so that "bm25" and the candidates that
        # "rerank" receives are the same documents that run.trec shows.
        full = Run("bm25", dict(zip(qids, results, strict=True)))
        if "bm25" in modes:
            raw_runs.append(
                ("bm25", "bm25", None, Run("bm25", {q: r[:k] for q, r in full.results.items()}), dict(bm25_timings), [])
            )
        candidates = {q: [d for d, _ in r[: settings.rerank_depth]] for q, r in full.results.items()}

    # -- ColBERT -----------------------------------------------------------------------------------------
    model_name: str | None = None
    model_config: dict[str, Any] | None = None
    encoding: dict[str, Any] = {}
    if any(m in COLBERT_MODES for m in modes):
        if model is None:
            raise InputError(f"modes {[m for m in modes if m in COLBERT_MODES]} need a model (--model)")
        if isinstance(model, (str, Path)):
            import jcolbert

            _say(log, f"loading model {model}")
            t0 = time.perf_counter()
            model = jcolbert.load_model(str(model))
            timings["load_model_s"] = time.perf_counter() - t0
        config = getattr(model, "config", None)
        model_config = config.to_dict() if hasattr(config, "to_dict") else None
        model_name = getattr(config, "name_or_path", None) or getattr(model, "name_or_path", None)
        stage = _ColBERTStage(model, settings, log)

        _say(log, f"encoding {len(qids)} queries")
        Q, t_q = stage.encode_queries(qtexts)
        timings["encode_queries_s"] = t_q
        encoding["queries"] = {"queries": len(qids), "seconds": t_q}

        # Documents with no text cannot be encoded (the encoder refuses them): they are left out of
        # the ColBERT runs, counted, and can never be retrieved there.
        texts_all = dataset.doc_texts()
        empty = [d for d, t in zip(doc_ids, texts_all, strict=True) if not t.strip()]
        if empty:
            _say(log, f"{len(empty)} document(s) have no text and are left out of ColBERT runs, e.g. {empty[:5]}")
        encoding["empty_documents"] = len(empty)

        with ExitStack() as stack:
            base_dir = Path(index_dir) if index_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            for maxlen in settings.doc_maxlens:
                if any(m in INDEX_MODES for m in modes) or vectors_cache is not None:
                    wanted = doc_ids
                else:  # rerank only: encode just the candidates
                    pool = {d for c in candidates.values() for d in c}
                    wanted = [d for d in doc_ids if d in pool]
                wanted = [d for d in wanted if dataset.corpus[d].text_for_encoding.strip()]
                label = maxlen if maxlen is not None else "default"
                _say(log, f"encoding {len(wanted)} documents (doc_maxlen={label}, {settings.long_documents})")
                wanted_texts = dataset.doc_texts(wanted)
                key = vcache.cache_key(model_config, maxlen, settings.long_documents, settings.window_overlap,
                                       wanted, wanted_texts) if vectors_cache is not None else None  # fmt: skip
                cached = vcache.load(vectors_cache, key) if key is not None else None
                if cached is not None:
                    import torch

                    vecs = [torch.from_numpy(np.array(a)) for a in cached[0]]
                    info = {**cached[1], "from_cache": str(vectors_cache)}
                    _say(log, f"document vectors read from {vectors_cache} (encoded in {info.get('seconds', 0):.0f} s earlier)")
                else:
                    vecs, info = stage.encode_documents(wanted_texts, maxlen)
                    if key is not None:
                        vcache.save(vectors_cache, key, vecs, info)
                del wanted_texts
                encoding[f"documents@{label}"] = info
                if info["truncated"]:
                    _say(log, f"{info['truncated']} document(s) truncated to doc_maxlen={label}")
                shared = {"encode_queries_s": t_q, "encode_documents_s": info["seconds"]}

                if "rerank" in modes:
                    _say(log, f"reranking BM25 top-{settings.rerank_depth}")
                    by_id = dict(zip(wanted, vecs, strict=True))
                    run, samples = stage.rerank(Q, qids, candidates, by_id)
                    del by_id
                    name = _run_name("rerank", maxlen, several_lengths)
                    run.name = name
                    t = {**bm25_timings, **shared, **_latency(samples, "rerank")}
                    raw_runs.append((name, "rerank", maxlen, run, t, []))

                index_modes = [m for m in modes if m in INDEX_MODES]
                if index_modes:
                    path = base_dir / f"index-{label}"
                    _say(log, f"building index at {path} (nbits={settings.nbits})")
                    index, t_build = stage.build_index(path, wanted, vecs)
                    del vecs
                    try:
                        encoding[f"index@{label}"] = index.stats()
                        k_index = min(k, len(wanted))  # documents without text are not in the index
                        for mode in index_modes:
                            name = _run_name(mode, maxlen, several_lengths)
                            _say(log, f"searching: {name} (k={k_index})")
                            run, samples = stage.search(index, Q, qids, k_index, mode, name)
                            t = {**shared, "index_build_s": t_build, **_latency(samples, "search")}
                            raw_runs.append((name, mode, maxlen, run, t, []))
                    finally:
                        index.close()
                else:
                    del vecs

    # -- scoring -----------------------------------------------------------------------------------------
    metric_names = metrics_for_depth(max(k, 1), settings.metrics)
    skipped = [m for m in settings.metrics if m not in metric_names]
    if skipped and tuple(settings.metrics) != DEFAULT_METRICS:  # the default list is cut silently by design
        _say(log, f"not reported at run depth k={k}: {', '.join(skipped)} (raise --k to measure them)")
    run_results: list[RunResult] = []
    drop_identical = settings.identical_ids == "drop" or (
        settings.identical_ids == "auto" and normalize_dataset(dataset.name) in BEIR_DATASETS + ("msmarco",)
    )
    for name, mode, maxlen, run, t, notes in raw_runs:
        if drop_identical:
            run = run.without_identical_ids()
        run = run.restricted_to(qids)
        t0 = time.perf_counter()
        scores = evaluate_run(dataset.qrels, run, metric_names)
        t["metrics_s"] = time.perf_counter() - t0
        check = cross_check(dataset.qrels, run, metric_names)
        run_results.append(
            RunResult(
                name=name,
                mode=mode,
                doc_maxlen=maxlen,
                run=run,
                scores=scores,
                timings=t,
                published=published_for(dataset.name, model_name if mode != "bm25" else None, mode,
                                        primary_metric(dataset.name)),
                cross_check=check,
                notes=notes,
            )
        )
    encoding["identical_ids_dropped"] = drop_identical
    comparisons = (
        compare_runs([r.scores for r in run_results], metric_names, stat_test=settings.stat_test, max_p=settings.max_p)
        if len(run_results) > 1
        else []
    )
    timings["total_s"] = time.perf_counter() - t_start
    return EvaluationResult(
        dataset=dataset,
        model_name=model_name,
        model_config=model_config,
        settings=settings,
        runs=run_results,
        comparisons=comparisons,
        timings=timings,
        encoding=encoding,
        versions=versions(),
    )
