"""Building segments: the documents a write streams (*parts*), the codec's training sample, segment writing.

A write operation (add, the exact->PLAID switch, compaction, re-clustering, a new codec) streams parts into
one `SegmentWriter`: new documents (`Part`: vectors produced chunk by chunk, from the encoder or from given
arrays) and/or the live documents of stored segments (`SegmentPart`: copied as compressed bytes when the
codec does not change, decompressed otherwise). Memory stays bounded by a chunk, whatever the collection.

The codec is trained on a random sample of whole documents drawn from the parts themselves: vectors that
are already at hand, so nothing is ever encoded twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from jcolbert.index import storage
from jcolbert.index.codec import Codec, num_centroids_for
from jcolbert.index.manifest import SegmentEntry, Settings
from jcolbert.index.segment import Segment, SegmentWriter

DEFAULT_CHUNK_SIZE = 2_048  # documents encoded / compressed / written per step of a build
SAMPLE_PER_CENTROID = 64  # k-means sample: this many vectors per centroid...
MAX_SAMPLE = 1 << 20  # ...but never more than this many (512 MB of float32 at dim 128)


# ----------------------------------------------------------------------------------------------- parts


class Source:
    """Vectors of new documents, produced chunk by chunk (encoded text, or slices of given arrays).
    `lengths` (tokens per document) is known for given arrays, not for text before it is encoded."""

    def __init__(self, num_docs: int, produce: Callable[[int, int], list[np.ndarray]], chunk: int,
                 lengths: np.ndarray | None):
        self.num_docs, self.produce, self.chunk, self.lengths = num_docs, produce, chunk, lengths


class Part:
    """Documents feeding a segment writer: their numbers, vectors chunk by chunk, and any document on demand."""

    on_chunk: Callable[[int], None] | None = None  # told the number of documents of each chunk produced

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
            vectors = self.source.produce(lo, hi)
            if self.on_chunk is not None:
                self.on_chunk(hi - lo)
            yield self.nums[lo:hi], vectors

    def doc_vectors(self, docs: np.ndarray) -> np.ndarray:
        """float32 vectors of some documents, concatenated (sources with known lengths only)."""
        return np.concatenate([self.source.produce(int(d), int(d) + 1)[0] for d in docs])


class StreamPart(Part):
    """New documents whose count is not known in advance: chunks of (numbers, vectors) from a generator,
    consumed once (encoded text is spooled to an exact segment before anything needs it twice)."""

    def __init__(self, stream: Iterator[tuple[np.ndarray, list[np.ndarray]]], dim: int):
        self.stream, self.dim = stream, dim
        self.num_docs = 0
        self.lengths = None

    def chunks(self, codec: Codec | None = None) -> Iterator[tuple[np.ndarray, Any]]:
        for nums, vectors in self.stream:
            self.num_docs += len(nums)
            yield nums, vectors


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
                rerank = self.seg.rerank.rows(rows) if self.seg.rerank is not None else None
                yield self.nums[lo:lo + step], (lens, np.take(self.seg.codes, rows),
                                                np.take(self.seg.residuals, rows, axis=0), rerank)
                continue
            V, _ = self.seg.vectors_of(docs, self.codec)
            yield self.nums[lo:lo + step], np.split(V, np.cumsum(lens)[:-1])

    def doc_vectors(self, docs: np.ndarray) -> np.ndarray:
        return self.seg.vectors_of(self.docs[docs], self.codec)[0]


# ----------------------------------------------------------------------------------------------- training, writing


def sample_vectors(parts: list[Part], budget: int, seed: int) -> np.ndarray:
    """A random sample of whole documents of the parts, about `budget` vectors (float32, filled in place)."""
    lens = np.concatenate([p.lengths for p in parts])
    order = np.random.default_rng(seed).permutation(len(lens))
    take = np.sort(order[: int(np.searchsorted(np.cumsum(lens[order]), budget)) + 1])
    sample = np.empty((int(lens[take].sum()), parts[0].dim), dtype=np.float32)
    base, row = 0, 0
    for p in parts:
        mine = take[(take >= base) & (take < base + p.num_docs)] - base
        for i in range(0, len(mine), 256):
            block = p.doc_vectors(mine[i:i + 256])
            sample[row:row + len(block)] = block
            row += len(block)
        base += p.num_docs
    return sample


def train_codec(parts: list[Part], *, nbits: int, settings: Settings, timings: dict[str, float],
                total_tokens: int | None = None) -> Codec:
    """Codec for the documents of `parts`, trained on a random sample of whole documents of about
    SAMPLE_PER_CENTROID vectors per centroid (at most MAX_SAMPLE)."""
    started = time.perf_counter()
    total = total_tokens or int(sum(p.num_tokens for p in parts))
    k = num_centroids_for(total)
    sample = sample_vectors(parts, min(max(SAMPLE_PER_CENTROID * k, 1 << 16), MAX_SAMPLE), settings.seed)
    add_time(timings, "sample_s", started)
    started = time.perf_counter()
    codec = Codec.fit(sample, nbits=nbits, num_centroids=k, niter=settings.kmeans_niters, seed=settings.seed,
                      total_tokens=total, residual=settings.residual)
    add_time(timings, "train_s", started)
    return codec


def write_segment(root: Path, folder: Path, parts: list[Part], *, kind: str, dim: int, codec: Codec | None,
                  progress: bool | None, desc: str, timings: dict[str, float],
                  rerank: str | None = None) -> SegmentEntry:
    """Stream every part into a new segment folder (fsynced); returns its manifest entry. rerank: the exact
    tier's kind for a compressed segment (rerank.py), computed from the parts' vectors or copied."""
    started = time.perf_counter()
    writer = SegmentWriter(folder, kind=kind, dim=dim, num_docs=sum(p.num_docs for p in parts), codec=codec,
                           rerank=rerank if kind == "plaid" else None)
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    try:
        with tqdm(total=writer.expected_docs or None, desc=desc, unit="doc", disable=disable, leave=False) as bar:
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
    add_time(timings, f"write_{kind}_s", started)
    for phase, seconds in writer.timings.items():
        timings[phase] = timings.get(phase, 0.0) + seconds
    return entry


def add_time(timings: dict[str, float], phase: str, started: float) -> None:
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - started
