"""The build loops behind `Index.add` (text) and `Index.add_embeddings` (vectors): the one place where
documents are checked, encoded, counted, reported and committed, for every caller (CLI, quickstart,
server, Ray workers).

Each *window* (all the input, or `commit_every` documents) is one write transaction (write.py) that
streams its documents chunk by chunk into a new segment. A new index that crosses its exact threshold
switches to compressed storage once, in the last window (or in a final commit): the codec is trained on
a sample of everything the build added, so a one-shot build never ends with `recluster_recommended`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from jcolbert.errors import InputError
from jcolbert.index import build, ingest, write
from jcolbert.index.codec import Codec

Progress = Callable[[int, int | None], None]  # progress(documents_done, total or None)


def add_texts(index: Any, documents: Iterable[Any], *, batch_size: int, max_length: int | None,
              long_documents: str, progress: Progress | None, commit_every: int | None) -> list[str]:
    """Index.add: encode (4 * batch_size documents per encoder call, each document once) and add."""
    if isinstance(documents, str | dict):
        documents = [documents]
    _check_every(commit_every)
    total = len(documents) if isinstance(documents, Sequence) else None
    if isinstance(documents, Sequence):
        _precheck(index, documents)
    model = index.model
    report = _Report(index)
    done = [0]

    def encode(texts: list[str]) -> list[np.ndarray]:
        started = time.perf_counter()
        out, step = [], max(1, 4 * batch_size)
        for lo in range(0, len(texts), step):
            enc = model.encode_documents(texts[lo:lo + step], batch_size=batch_size, max_length=max_length,
                                         long_documents=long_documents, show_progress=False)
            index.last_add["truncated"] += int(getattr(enc, "n_truncated", 0))
            out += [np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32)
                    for v in enc]
            done[0] += len(enc)
            if progress is not None:
                progress(done[0], total)
        build.add_time(index.last_timings, "encode_s", started)
        return out

    out: list[str] = []
    source = _Peekable(iter(documents))
    while source.has_more():
        window = source.take(commit_every) if commit_every else source.rest()
        with index._writing("adding documents") as txn:

            def stream(window=window, start=len(out), txn=txn) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
                for batch in ingest.batches(window, txn.m.settings.chunk_size, start):
                    nums, ids = write.assign(txn, batch)
                    out.extend(ids)
                    vectors = encode(batch.texts)
                    for i, v in enumerate(vectors):
                        if v.ndim != 2 or v.shape[0] == 0:
                            raise InputError(f"document {batch.start + i} encodes to no token vectors")
                    report.count(len(ids), sum(len(v) for v in vectors))
                    yield nums, vectors

            write.add_part(txn, build.StreamPart(stream(), index.dim), desc="encoding",
                           switch_now=lambda: not source.has_more())
    report.finish()
    return out


def add_vectors(index: Any, ids: Sequence[str] | None, vectors: Sequence[Any], texts: Sequence[str] | None,
                metadata: Sequence[dict | None] | None, *, progress: Progress | None,
                commit_every: int | None) -> list[str]:
    """Index.add_embeddings: precomputed [tokens_i, dim] arrays (checked for shape now, values chunk by chunk)."""
    _check_every(commit_every)
    n = len(vectors)
    dim = index.dim
    lengths = np.empty(n, dtype=np.int64)
    for i in range(n):  # shapes now; values (dtype, NaN) chunk by chunk, so a lazy sequence stays lazy
        lengths[i] = ingest.check_shape(vectors[i], dim, f"vectors[{i}]")
    ids = _check_columns(ids, texts, metadata, n)
    report = _Report(index)
    given = [x for x in ids if x is not None]
    if given and commit_every:
        _check_new_ids(index, given)
    step = commit_every or max(n, 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        with index._writing("adding documents") as txn:
            batch = ingest.Batch(lo, ids[lo:hi], list(texts[lo:hi]) if texts is not None else [None] * (hi - lo),
                                 list(metadata[lo:hi]) if metadata is not None else [None] * (hi - lo))
            nums, ids[lo:hi] = write.assign(txn, batch)

            def produce(a: int, b: int, lo: int = lo) -> list[np.ndarray]:
                return [ingest.as_matrix(vectors[lo + i], dim, f"vectors[{lo + i}]") for i in range(a, b)]

            part = build.Part(nums, build.Source(hi - lo, produce, txn.m.settings.chunk_size, lengths[lo:hi]), dim)
            part.on_chunk = _counter(progress, n, lo)
            write.add_part(txn, part, desc="indexing", switch_now=hi == n)
        report.count(hi - lo, int(lengths[lo:hi].sum()))
    report.finish()
    return list(ids)


def _check_columns(ids: Sequence[str] | None, texts: Sequence[str] | None, metadata: Sequence[dict | None] | None,
                   n: int) -> list[str | None]:
    if ids is not None:
        ids = list(ids)
        if len(ids) != n:
            raise InputError(f"{len(ids)} ids for {n} vector arrays")
        for i, x in enumerate(ids):
            ingest.check_id(x, f"ids[{i}]")
    for name, seq in (("texts", texts), ("metadata", metadata)):
        if seq is not None and len(seq) != n:
            raise InputError(f"{len(seq)} {name} for {n} vector arrays")
    for i, t in enumerate(texts or ()):
        if t is not None and not isinstance(t, str):
            raise InputError(f"texts[{i}] must be a string or None, got {type(t).__name__}")
    for i, m in enumerate(metadata or ()):
        ingest.check_metadata(m, f"metadata[{i}]")
    return ids if ids is not None else [None] * n


def _check_every(commit_every: int | None) -> None:
    if commit_every is not None and (not isinstance(commit_every, int) or isinstance(commit_every, bool)
                                     or commit_every < 1):
        raise InputError(f"commit_every must be a positive integer or None, got {commit_every!r}")


def _precheck(index: Any, documents: Sequence[Any]) -> None:
    """A list of documents is checked whole before anything is encoded: types, texts, ids, duplicates."""
    ids, _, _ = ingest.parse_documents(documents)
    given = [x for x in ids if x is not None]
    dupes = sorted(write.repeated(given))
    if dupes:
        raise InputError(f"duplicate document ids in this batch: {ingest.names(dupes)}")
    if given:
        _check_new_ids(index, given)


def _check_new_ids(index: Any, given: list[str]) -> None:
    found, _, _ = index._current().find(index._docs, given)
    clash = sorted({x for x, f in zip(given, found, strict=True) if f})
    if clash:
        raise InputError(f"document ids already in the index: {ingest.names(clash)}; nothing was added")


class _Report:
    """Keeps index.last_add / last_timings current while a build runs (an interrupted build's counts are
    those of what was committed or being committed), and finishes a stepwise build with its switch."""

    def __init__(self, index: Any):
        self.index = index
        index.last_timings.clear()
        index.last_add.clear()
        index.last_add.update({"documents": 0, "tokens": 0, "truncated": 0, "commits": 0})
        self.commits_before = index._commits

    def count(self, docs: int, tokens: int) -> None:
        add = self.index.last_add
        add["documents"] += docs
        add["tokens"] += tokens
        add["commits"] = self.index._commits - self.commits_before

    def finish(self) -> None:
        """After a build that committed in steps: the switch to compressed storage, trained on everything."""
        if write.needs_switch(self.index._current().manifest):
            with self.index._writing("compressing the index") as txn:
                write.switch(txn)
        self.index.last_add["commits"] = self.index._commits - self.commits_before


def _counter(progress: Progress | None, total: int, base: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    done = [base]

    def advance(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    return advance


class _Peekable:
    """An iterator that can tell whether it has more, and hand out bounded windows of itself."""

    def __init__(self, it: Iterator[Any]):
        self._it, self._head = it, []

    def has_more(self) -> bool:
        if not self._head:
            self._head = [x for x in [next(self._it, _END)] if x is not _END]
        return bool(self._head)

    def take(self, n: int) -> Iterator[Any]:
        for _ in range(n):
            if not self.has_more():
                return
            yield self._head.pop()

    def rest(self) -> Iterator[Any]:
        while self.has_more():
            yield self._head.pop()


_END = object()


def train_codec(index: Any, sample: Any, num_centroids: int | None) -> Codec:
    """Index.train_codec: train on `sample` (default: a sample of what the index holds), then install."""
    snap = index._current()
    settings = snap.manifest.settings
    if sample is None:
        parts = [build.SegmentPart(s, snap.codec) for s in snap.segments if s.num_live]
        if not parts:
            raise InputError(f"index {index.path} is empty: pass a sample of vectors to train on")
        sample = build.sample_vectors(parts, build.MAX_SAMPLE, settings.seed)
    if isinstance(sample, list | tuple):
        sample = np.concatenate([np.asarray(v, dtype=np.float32) for v in sample]) if sample else np.zeros((0, 0))
    sample = np.asarray(sample)
    if sample.ndim != 2 or sample.shape[1] != index.dim:
        raise InputError(f"the sample must be [n, {index.dim}] vectors, got shape {list(sample.shape)}")
    codec = Codec.train(sample, nbits=index.nbits, num_centroids=num_centroids, niter=settings.kmeans_niters,
                        seed=settings.seed, residual=settings.residual,
                        total_tokens=max(snap.live_tokens, len(sample)))
    with index._writing("installing a codec") as txn:
        write.install_codec(txn, codec)
    return codec


def adopt_codec(index: Any, codec: Codec) -> None:
    """Index.adopt_codec: store everything the index holds compressed with `codec` (a shared one)."""
    with index._writing("adopting a codec") as txn:
        write.install_codec(txn, codec)


def sample_vectors(index: Any, budget: int, seed: int | None = None) -> np.ndarray:
    """About `budget` token vectors of whole live documents, drawn at random (exact or decompressed):
    what a sharded index trains one codec on, a share from each shard. [0, dim] when the index is empty."""
    snap = index._current()
    parts = [build.SegmentPart(s, snap.codec) for s in snap.segments if s.num_live]
    if not parts or budget <= 0:
        return np.zeros((0, index.dim), dtype=np.float32)
    return build.sample_vectors(parts, int(budget), snap.manifest.settings.seed if seed is None else seed)
