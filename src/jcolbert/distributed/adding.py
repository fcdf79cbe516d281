"""The build loops of `ShardedIndex.add` / `add_embeddings`: check, encode (in this process), route each
document to its shard by id, write every shard's part of a window in parallel, then (once, at the end)
train the shared codec when the collection has crossed the exact threshold."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jcolbert.distributed import routing
from jcolbert.errors import InputError
from jcolbert.index import build, ingest, write


def add_texts(sh: Any, documents: Iterable[Any], *, batch_size: int, max_length: int | None, long_documents: str,
              progress: Any, window: int) -> list[str]:
    if isinstance(documents, str | dict):
        documents = [documents]
    total = len(documents) if isinstance(documents, Sequence) else None
    with sh._writer():
        _start(sh)
        if isinstance(documents, Sequence):
            given, _, _ = ingest.parse_documents(documents)
            _check_new(sh, [x for x in given if x is not None])
        model = sh.model
        auto = _AutoIds(sh)
        out: list[str] = []
        done = 0
        for batch in ingest.batches(documents, window):
            ids = auto.fill(batch.ids, check=total is None)
            started = time.perf_counter()
            vectors: list[np.ndarray] = []
            step = max(1, 4 * batch_size)
            for lo in range(0, len(batch.texts), step):
                enc = model.encode_documents(batch.texts[lo:lo + step], batch_size=batch_size, max_length=max_length,
                                             long_documents=long_documents, show_progress=False)
                sh.last_add["truncated"] += int(getattr(enc, "n_truncated", 0))
                vectors += [np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32)
                            for v in enc]
                done += len(enc)
                if progress is not None:
                    progress(done, total)
            build.add_time(sh.last_timings, "encode_s", started)
            write_routed(sh, ids, vectors, batch.texts, batch.metas)
            out += ids
        _finish(sh, auto)
    return out


def add_vectors(sh: Any, ids: Sequence[str] | None, vectors: Sequence[Any], texts: Sequence[str] | None,
                metadata: Sequence[dict | None] | None, *, progress: Any, window: int) -> list[str]:
    n = len(vectors)
    for i in range(n):
        ingest.check_shape(vectors[i], sh.dim, f"vectors[{i}]")
    for name, seq in (("ids", ids), ("texts", texts), ("metadata", metadata)):
        if seq is not None and len(seq) != n:
            raise InputError(f"{len(seq)} {name} for {n} vector arrays")
    given = [ingest.check_id(x, f"ids[{i}]") for i, x in enumerate(ids)] if ids is not None else [None] * n
    for i, m in enumerate(metadata or ()):
        ingest.check_metadata(m, f"metadata[{i}]")
    with sh._writer():
        _start(sh)
        _check_new(sh, [x for x in given if x is not None])
        auto = _AutoIds(sh)
        out: list[str] = []
        for lo in range(0, n, window):
            hi = min(lo + window, n)
            chunk = auto.fill(given[lo:hi], check=False)
            mats = [ingest.as_matrix(vectors[i], sh.dim, f"vectors[{i}]") for i in range(lo, hi)]
            write_routed(sh, chunk, mats, list(texts[lo:hi]) if texts is not None else [None] * (hi - lo),
                         list(metadata[lo:hi]) if metadata is not None else [None] * (hi - lo))
            out += chunk
            if progress is not None:
                progress(hi, n)
        _finish(sh, auto)
    return out


def write_routed(sh: Any, ids: list[str], vectors: list[np.ndarray], texts: list[Any], metadata: list[Any]) -> None:
    """One window: every shard's documents written by that shard (one commit each), all shards in parallel."""
    started = time.perf_counter()
    groups = routing.group(ids, sh.num_shards)
    calls = {s: (([ids[p] for p in pos], [vectors[p] for p in pos], [texts[p] for p in pos],
                  [metadata[p] for p in pos]), {}) for s, pos in groups.items()}
    sh._each("add_embeddings", calls)
    sh.last_add["documents"] += len(ids)
    sh.last_add["tokens"] += int(sum(len(v) for v in vectors))
    sh.last_add["commits"] += len(calls)
    build.add_time(sh.last_timings, "write_s", started)


def _start(sh: Any) -> None:
    sh.last_timings.clear()
    sh.last_add.clear()
    sh.last_add.update({"documents": 0, "tokens": 0, "truncated": 0, "commits": 0})


def _finish(sh: Any, auto: _AutoIds) -> None:
    """After the last window: the shared codec when the collection crossed the threshold; shards.json."""
    started = time.perf_counter()
    if sh._m.codec is None and sh.recluster_reason():
        sh._install_codec(sh._train_on_shards())
    sh._commit_counts(next_auto_id=auto.next)
    build.add_time(sh.last_timings, "total_s", started)


def _check_new(sh: Any, given: list[str]) -> None:
    dupes = sorted(write.repeated(given))
    if dupes:
        raise InputError(f"duplicate document ids in this batch: {ingest.names(dupes)}")
    present = sorted(x for x, f in zip(given, sh._contains(given), strict=True) if f) if given else []
    if present:
        raise InputError(f"document ids already in the index: {ingest.names(present)}; nothing was added")


class _AutoIds:
    """Ids "0", "1", ... for documents given without one, unique across all shards."""

    def __init__(self, sh: Any):
        self.sh, self.next = sh, sh._m.next_auto_id
        self.taken: set[str] = set()

    def fill(self, ids: list[str | None], *, check: bool) -> list[str]:
        given = [x for x in ids if x is not None]
        if check:  # a lazy input is checked window by window
            _check_new(self.sh, given)
        self.taken.update(given)
        need = len(ids) - len(given)
        fresh: list[str] = []
        while len(fresh) < need:
            cand = [str(i) for i in range(self.next, self.next + need - len(fresh))]
            self.next += len(cand)
            held = self.sh._contains(cand)
            fresh += [c for c, h in zip(cand, held, strict=True) if not h and c not in self.taken]
        self.taken.update(fresh)
        it = iter(fresh)
        return [x if x is not None else next(it) for x in ids]
