"""The retrieval stages of an evaluation: BM25 (alone and as rerank's candidates) and ColBERT (rerank,
PLAID and exact search through an index). `runner.evaluate` runs them in order on one `Job`, then scores
what they produced.

Each document is encoded once per document length and shared by every mode that needs it. Timings are
wall clock on this process; query encoding is timed separately from search so engine costs are visible.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jcolbert.errors import InputError
from jcolbert.evaluate import cache as vcache
from jcolbert.evaluate.bm25 import BM25
from jcolbert.evaluate.datasets import Dataset
from jcolbert.evaluate.runs import Run

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.evaluate.runner import EvalSettings

COLBERT_MODES = ("plaid", "exact", "rerank")
INDEX_MODES = ("plaid", "exact")

Log = Callable[[str], None]


@dataclass
class RawRun:
    """A run as a stage produced it, before identical-id removal and scoring."""

    name: str
    mode: str
    doc_maxlen: int | None
    run: Run
    timings: dict[str, float]


@dataclass
class Job:
    """What the stages share: the dataset, the settings, and what each stage leaves for the next."""

    dataset: Dataset
    settings: EvalSettings
    log: Log | None = None
    timings: dict[str, float] = field(default_factory=dict)
    encoding: dict[str, Any] = field(default_factory=dict)
    runs: list[RawRun] = field(default_factory=list)
    candidates: dict[str, list[str]] = field(default_factory=dict)  # BM25's top rerank_depth per query
    bm25_timings: dict[str, float] = field(default_factory=dict)
    model_name: str | None = None
    model_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.qids = list(self.dataset.queries)
        self.qtexts = [self.dataset.queries[q] for q in self.qids]
        self.doc_ids = self.dataset.doc_ids
        self.k = min(self.settings.k, len(self.doc_ids))
        self.several_lengths = len(self.settings.doc_maxlens) > 1

    def say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def wants(self, *modes: str) -> bool:
        return any(m in self.settings.modes for m in modes)

    def run_name(self, mode: str, maxlen: int | None) -> str:
        base = {"rerank": "bm25+rerank"}.get(mode, mode)
        return f"{base}@{maxlen if maxlen is not None else 'default'}" if self.several_lengths else base


def latency(samples: Sequence[float], prefix: str) -> dict[str, float]:
    """Total seconds and p50 / p95 milliseconds of per-query timings."""

    def percentile_ms(q: int) -> float:
        if not samples:
            return 0.0
        if len(samples) == 1:
            return samples[0] * 1000.0
        return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000.0

    return {f"{prefix}_s": float(sum(samples)), f"{prefix}_ms_p50": percentile_ms(50),
            f"{prefix}_ms_p95": percentile_ms(95)}  # fmt: skip


# -- BM25 -------------------------------------------------------------------------------------------------


def bm25_stage(job: Job) -> None:
    """BM25 alone (mode "bm25") and the candidates that "rerank" hands to ColBERT."""
    if not job.wants("bm25", "rerank"):
        return
    settings = job.settings
    stemmer = settings.bm25.stemmer or "no"
    job.say(f"BM25: indexing {len(job.doc_ids)} documents ({stemmer} stemming)")
    t0 = time.perf_counter()
    bm25 = BM25(job.doc_ids, job.dataset.doc_texts(), settings.bm25)
    job.bm25_timings["bm25_index_s"] = time.perf_counter() - t0
    depth = max(job.k if job.wants("bm25") else 0, settings.rerank_depth if job.wants("rerank") else 0)
    t0 = time.perf_counter()
    results = bm25.search(job.qtexts, depth)
    job.bm25_timings["bm25_search_s"] = time.perf_counter() - t0
    job.bm25_timings["bm25_ms_per_query"] = job.bm25_timings["bm25_search_s"] * 1000.0 / max(len(job.qids), 1)
    # Cut in the run's canonical order (ties by doc id), so that "bm25" and the candidates that "rerank"
    # receives are the same documents that run.trec shows.
    full = Run("bm25", dict(zip(job.qids, results, strict=True)))
    if job.wants("bm25"):
        run = Run("bm25", {q: r[: job.k] for q, r in full.results.items()})
        job.runs.append(RawRun("bm25", "bm25", None, run, dict(job.bm25_timings)))
    job.candidates = {q: [d for d, _ in r[: settings.rerank_depth]] for q, r in full.results.items()}


# -- ColBERT ----------------------------------------------------------------------------------------------


def colbert_stage(job: Job, model: Any, index_dir: str | Path | None, vectors_cache: str | Path | None) -> None:
    """Encode queries once, then per document length: encode (or read cached) documents, rerank, index."""
    modes = job.settings.modes
    if not job.wants(*COLBERT_MODES):
        return
    if model is None:
        raise InputError(f"modes {[m for m in modes if m in COLBERT_MODES]} need a model (--model)")
    colbert = ColBERT(_loaded(job, model), job.settings)
    job.model_config = colbert.config_dict()
    job.model_name = colbert.name()

    job.say(f"encoding {len(job.qids)} queries")
    Q, t_q = colbert.encode_queries(job.qtexts)
    job.timings["encode_queries_s"] = t_q
    job.encoding["queries"] = {"queries": len(job.qids), "seconds": t_q}
    # Documents with no text cannot be encoded (the encoder refuses them): they are left out of the
    # ColBERT runs, counted, and can never be retrieved there.
    empty = [d for d, t in zip(job.doc_ids, job.dataset.doc_texts(), strict=True) if not t.strip()]
    if empty:
        job.say(f"{len(empty)} document(s) have no text and are left out of ColBERT runs, e.g. {empty[:5]}")
    job.encoding["empty_documents"] = len(empty)

    with ExitStack() as stack:
        base_dir = Path(index_dir) if index_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for maxlen in job.settings.doc_maxlens:
            ids, vecs, info = _document_vectors(job, colbert, maxlen, vectors_cache)
            shared = {"encode_queries_s": t_q, "encode_documents_s": info["seconds"]}
            if job.wants("rerank"):
                _rerank(job, colbert, Q, maxlen, dict(zip(ids, vecs, strict=True)), shared)
            if job.wants(*INDEX_MODES):
                _index_and_search(job, colbert, Q, maxlen, ids, vecs, base_dir, shared)
            del vecs


def _loaded(job: Job, model: Any) -> Any:
    if not isinstance(model, str | Path):
        return model
    from jcolbert.model import load_model

    job.say(f"loading model {model}")
    t0 = time.perf_counter()
    loaded = load_model(str(model))
    job.timings["load_model_s"] = time.perf_counter() - t0
    return loaded


def _document_vectors(job: Job, colbert: ColBERT, maxlen: int | None, vectors_cache: str | Path | None):
    """(ids, vectors, info) of the documents this length needs: all of them for an index or a cache, the
    rerank candidates otherwise; from the vectors cache when it holds them."""
    settings = job.settings
    if job.wants(*INDEX_MODES) or vectors_cache is not None:
        wanted = job.doc_ids
    else:  # rerank only: encode just the candidates
        pool = {d for c in job.candidates.values() for d in c}
        wanted = [d for d in job.doc_ids if d in pool]
    wanted = [d for d in wanted if job.dataset.corpus[d].text_for_encoding.strip()]
    label = maxlen if maxlen is not None else "default"
    job.say(f"encoding {len(wanted)} documents (doc_maxlen={label}, {settings.long_documents})")
    texts = job.dataset.doc_texts(wanted)
    key = None
    if vectors_cache is not None:
        key = vcache.cache_key(job.model_config, maxlen, settings.long_documents, settings.window_overlap,
                               wanted, texts)  # fmt: skip
    cached = vcache.load(vectors_cache, key) if key is not None else None
    if cached is not None:
        import torch

        vecs = [torch.from_numpy(np.array(a)) for a in cached[0]]
        info = {**cached[1], "from_cache": str(vectors_cache)}
        job.say(f"document vectors read from {vectors_cache} (encoded in {info.get('seconds', 0):.0f} s earlier)")
    else:
        vecs, info = colbert.encode_documents(texts, maxlen)
        if key is not None:
            vcache.save(vectors_cache, key, vecs, info)
    job.encoding[f"documents@{label}"] = info
    if info["truncated"]:
        job.say(f"{info['truncated']} document(s) truncated to doc_maxlen={label}")
    return wanted, vecs, info


def _rerank(job: Job, colbert: ColBERT, Q, maxlen: int | None, by_id: dict[str, Any], shared: dict) -> None:
    job.say(f"reranking BM25 top-{job.settings.rerank_depth}")
    name = job.run_name("rerank", maxlen)
    run, samples = colbert.rerank(Q, job.qids, job.candidates, by_id, name)
    job.runs.append(RawRun(name, "rerank", maxlen, run, {**job.bm25_timings, **shared, **latency(samples, "rerank")}))


def _index_and_search(job: Job, colbert: ColBERT, Q, maxlen: int | None, ids: list[str], vecs: list,
                      base_dir: Path, shared: dict) -> None:  # fmt: skip
    label = maxlen if maxlen is not None else "default"
    path = base_dir / f"index-{label}"
    job.say(f"building index at {path} (nbits={job.settings.nbits})")
    index, t_build = colbert.build_index(path, ids, vecs)
    vecs.clear()  # the caller's list too: the vectors are on disk now, free them before searching
    try:
        job.encoding[f"index@{label}"] = index.stats()
        k_index = min(job.k, len(ids))  # documents without text are not in the index
        for mode in (m for m in job.settings.modes if m in INDEX_MODES):
            name = job.run_name(mode, maxlen)
            job.say(f"searching: {name} (k={k_index})")
            run, samples = colbert.search(index, Q, job.qids, k_index, mode, name)
            timings = {**shared, "index_build_s": t_build, **latency(samples, "search")}
            job.runs.append(RawRun(name, mode, maxlen, run, timings))
    finally:
        index.close()


class ColBERT:
    """One model's work in an evaluation: encode queries and documents, rerank candidates by MaxSim, and
    build / search an index from the same vectors."""

    def __init__(self, model: Any, settings: EvalSettings) -> None:
        self.model = model
        self.settings = settings

    def config_dict(self) -> dict[str, Any] | None:
        config = getattr(self.model, "config", None)
        return config.to_dict() if hasattr(config, "to_dict") else None

    def name(self) -> str | None:
        config = getattr(self.model, "config", None)
        return getattr(config, "name_or_path", None) or getattr(self.model, "name_or_path", None)

    def encode_queries(self, texts: list[str]):
        t0 = time.perf_counter()
        Q = self.model.encode_queries(texts, batch_size=self.settings.batch_size)
        return Q, time.perf_counter() - t0

    def encode_documents(self, texts: list[str], maxlen: int | None):
        t0 = time.perf_counter()
        docs = self.model.encode_documents(texts, batch_size=self.settings.batch_size, max_length=maxlen,
                                           long_documents=self.settings.long_documents,
                                           window_overlap=self.settings.window_overlap)  # fmt: skip
        info = {
            "documents": len(texts),
            "tokens": int(sum(int(d.shape[0]) for d in docs)),
            "truncated": int(getattr(docs, "n_truncated", 0)),
            "encoder_passes": int(getattr(docs, "n_windows", len(texts))),
            "seconds": time.perf_counter() - t0,
        }
        return list(docs), info

    def rerank(self, Q, qids: list[str], candidates: dict[str, list[str]], vectors: dict[str, Any], name: str):
        from jcolbert.scoring import maxsim

        run = Run(name)
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
