"""Getting documents in: input checks, vector sources, codec training and segment writing.

A write operation (add, the exact->PLAID switch, compaction, re-clustering) streams *parts* into one
`SegmentWriter`: the new documents (`Part`: vectors produced chunk by chunk, from the encoder or from given
arrays) and/or the live documents of stored segments (`SegmentPart`: copied as compressed bytes when the
codec does not change, decompressed otherwise). Memory stays bounded by a chunk, whatever the collection.

The codec is trained on a random sample of whole documents drawn from the parts themselves: vectors that
are already at hand, so nothing is ever encoded twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from jcolbert.errors import InputError
from jcolbert.index import storage
from jcolbert.index.codec import Codec, num_centroids_for
from jcolbert.index.segment import Segment, SegmentWriter

DEFAULT_CHUNK_SIZE = 2_048  # documents encoded / compressed / written per step of a build
SAMPLE_PER_CENTROID = 64  # k-means sample: this many vectors per centroid...
MAX_SAMPLE = 1 << 20  # ...but never more than this many (512 MB of float32 at dim 128)


# ----------------------------------------------------------------------------------------------- sources


class Source:
    """Vectors of new documents, produced chunk by chunk (encoded text, or slices of given arrays).
    `lengths` (tokens per document) is known for given arrays, not for text before it is encoded."""

    def __init__(self, num_docs: int, produce: Callable[[int, int], list[np.ndarray]], chunk: int,
                 lengths: np.ndarray | None):
        self.num_docs, self.produce, self.chunk, self.lengths = num_docs, produce, chunk, lengths


class Part:
    """Documents feeding a segment writer: their numbers, vectors chunk by chunk, and any document on demand."""

    def __init__(self, nums: np.ndarray, source: Source, dim: int):
        self.nums, self.source, self.dim = nums, source, dim
        self.num_docs = len(nums)
        self.lengths = source.lengths

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def chunks(self, codec: Codec | None = None) -> Iterator[tuple[np.ndarray, Any]]:
        for lo in range(0, self.num_docs, self.source.chunk):
            hi = min(lo + self.source.chunk, self.num_docs)
            yield self.nums[lo:hi], self.source.produce(lo, hi)

    def doc_vectors(self, docs: np.ndarray) -> np.ndarray:
        """float32 vectors of some documents, concatenated (sources with known lengths only)."""
        return np.concatenate([self.source.produce(int(d), int(d) + 1)[0] for d in docs])


class SegmentPart(Part):
    """The live documents of a stored segment (decompressed when they must be recompressed or made exact)."""

    def __init__(self, seg: Segment, codec: Codec | None, recompress: bool = False):
        self.seg, self.codec, self.recompress = seg, codec, recompress
        self.dim = int(seg.vectors.shape[1]) if seg.kind == "exact" else codec.dim
        self.docs = np.flatnonzero(seg.live)
        self.nums = seg.doc_nums[self.docs]
        self.num_docs = len(self.docs)
        self.lengths = seg.doclens[self.docs].astype(np.int64)

    def chunks(self, codec: Codec | None = None) -> Iterator[tuple[np.ndarray, Any]]:
        step = DEFAULT_CHUNK_SIZE
        for lo in range(0, self.num_docs, step):
            docs = self.docs[lo:lo + step]
            lens = self.seg.doclens[docs]
            if self.seg.kind == "plaid" and codec is self.codec and not self.recompress:
                rows, _ = self.seg.token_rows(docs)
                yield self.nums[lo:lo + step], (lens, np.take(self.seg.codes, rows),
                                                np.take(self.seg.residuals, rows, axis=0))
                continue
            V, _ = self.seg.vectors_of(docs, self.codec)
            yield self.nums[lo:lo + step], np.split(V, np.cumsum(lens)[:-1])

    def doc_vectors(self, docs: np.ndarray) -> np.ndarray:
        return self.seg.vectors_of(self.docs[docs], self.codec)[0]


# ----------------------------------------------------------------------------------------------- training, writing


def train_codec(parts: list[Part], *, nbits: int, settings: dict[str, Any], timings: dict[str, float]) -> Codec:
    """Codec for the documents of `parts`, trained on a random sample of whole documents of about
    SAMPLE_PER_CENTROID vectors per centroid (at most MAX_SAMPLE)."""
    started = time.perf_counter()
    total = int(sum(p.num_tokens for p in parts))
    k = num_centroids_for(total)
    budget = min(max(SAMPLE_PER_CENTROID * k, 1 << 16), MAX_SAMPLE)
    lens = np.concatenate([p.lengths for p in parts])
    order = np.random.default_rng(settings["seed"]).permutation(len(lens))
    take = np.sort(order[: int(np.searchsorted(np.cumsum(lens[order]), budget)) + 1])
    sample = np.empty((int(lens[take].sum()), parts[0].dim), dtype=np.float32)  # filled in place: no copies
    base, row = 0, 0
    for p in parts:
        mine = take[(take >= base) & (take < base + p.num_docs)] - base
        for i in range(0, len(mine), 256):
            block = p.doc_vectors(mine[i:i + 256])
            sample[row:row + len(block)] = block
            row += len(block)
        base += p.num_docs
    _add_time(timings, "sample_s", started)
    started = time.perf_counter()
    codec = Codec.train(sample, nbits=nbits, num_centroids=k, niter=settings["kmeans_niters"], seed=settings["seed"],
                        total_tokens=total, residual=settings.get("residual", "pq"))
    _add_time(timings, "train_s", started)
    return codec


def write_segment(root: Path, folder: Path, parts: list[Part], *, kind: str, dim: int, codec: Codec | None,
                  progress: bool | None, desc: str, timings: dict[str, float]) -> dict[str, Any]:
    """Stream every part into a new segment folder (fsynced); returns its manifest entry."""
    started = time.perf_counter()
    writer = SegmentWriter(folder, kind=kind, dim=dim, num_docs=sum(p.num_docs for p in parts), codec=codec)
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    try:
        with tqdm(total=writer.expected_docs, desc=desc, unit="doc", disable=disable, leave=False) as bar:
            for p in parts:
                for nums, payload in p.chunks(codec):
                    if isinstance(payload, tuple):  # already compressed with this codec: copy as is
                        writer.add_compressed(nums, *payload)
                    else:
                        writer.add(nums, payload)
                    bar.update(len(nums))
        entry = writer.finish()
    except BaseException:
        writer.abort()
        raise
    storage.finish_dir(folder, root)
    _add_time(timings, f"write_{kind}_s", started)
    for phase, seconds in writer.timings.items():
        timings[phase] = timings.get(phase, 0.0) + seconds
    return entry


def _add_time(timings: dict[str, float], phase: str, started: float) -> None:
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - started


# ----------------------------------------------------------------------------------------------- input checks


def names(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_shape(v: Any, dim: int, where: str) -> int:
    shape = getattr(v, "shape", None)
    if shape is None:
        shape = np.shape(v)
    if len(shape) != 2 or shape[1] != dim:
        raise InputError(f"{where} must be a [tokens, {dim}] array, got shape {list(shape)}")
    if shape[0] == 0:
        raise InputError(f"{where} is empty (a document needs at least one token vector)")
    return int(shape[0])


def as_matrix(v: Any, dim: int, where: str) -> np.ndarray:
    """A validated float32 [tokens, dim] array."""
    a = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
    check_shape(a, dim, where)
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"{where} must hold floats, got {a.dtype}")
    a = np.asarray(a, dtype=np.float32)
    # NaN/inf propagate into row sums: one pass over the data instead of an elementwise isfinite
    if not np.isfinite(a.sum(axis=1)).all() and not np.isfinite(a).all():
        raise InputError(f"{where} contains NaN or infinite values")
    return a


def parse_documents(documents: Iterable[Any]) -> tuple[list[str | None], list[str], list[dict | None]]:
    ids: list[str | None] = []
    texts: list[str] = []
    metas: list[dict | None] = []
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            doc_id, text, meta = None, doc, None
        elif isinstance(doc, dict):
            unknown = set(doc) - {"id", "text", "metadata"}
            if unknown:
                raise InputError(f"document {i}: unknown field(s) {sorted(unknown)}; expected id, text, metadata")
            doc_id, text, meta = doc.get("id"), doc.get("text"), doc.get("metadata")
            if doc_id is not None and (not isinstance(doc_id, str) or not doc_id):
                raise InputError(f"document {i}: id must be a non-empty string, got {doc_id!r}")
            if meta is not None and not isinstance(meta, dict):
                raise InputError(f"document {i}: metadata must be a dict, got {type(meta).__name__}")
        else:
            raise InputError(f"document {i} must be a string or a dict with id/text/metadata, got {type(doc).__name__}")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"document {i}{f' (id {doc_id!r})' if doc_id else ''} has empty text")
        ids.append(doc_id)
        texts.append(text)
        metas.append(meta)
    return ids, texts, metas
