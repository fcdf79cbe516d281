"""Segments: the immutable unit of stored documents.

A segment holds the token vectors of a run of documents, in one of two kinds:

* ``exact``: float32 vectors as given (small collections, before there are enough tokens to cluster);
* ``plaid``: per token a centroid code and nbits-per-dimension residual bytes (codec.py), plus an inverted
  file (IVF) from each centroid to the documents of this segment that have a token there.

Files of a segment folder (all .npy, memory-mapped for search, listed with size + crc32 in the manifest)::

    doc_nums.npy   int64 [docs]   document numbers (docstore rows), ascending
    doclens.npy    int32 [docs]   tokens per document
    vectors.npy    float32 [tokens, dim]                 (exact)
    codes.npy      uint16|int32 [tokens]                 (plaid)
    residuals.npy  uint8 [tokens, dim*nbits/8]           (plaid)
    ivf_docs.npy   uint16|uint32 [pairs]  document positions in this segment, grouped by centroid (plaid)
    ivf_offsets.npy int64 [centroids + 1] where each centroid's group starts in ivf_docs          (plaid)
    del-<gen>.npy  int32 [deleted]        positions of deleted documents (tombstones, a new file per change)
    rerank.npy, rerank_scale.npy          the exact tier's copy of the vectors (plaid, with rerank=; rerank.py)

The writer streams chunk by chunk (codes/residuals appended to disk, IVF pairs counted then placed with a
counting sort), so building a segment holds one chunk in memory, not the collection.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jcolbert.errors import IndexFormatError
from jcolbert.index import kernels, storage
from jcolbert.index.codec import Codec, code_dtype
from jcolbert.index.kmeans import Assigner
from jcolbert.index.manifest import FileEntry, SegmentEntry, Tombstones
from jcolbert.index.rerank import VALUES as RERANK_VALUES
from jcolbert.index.rerank import Rerank, RerankWriter

COMPRESS_BLOCK = 1 << 16  # tokens compressed per step (bounds the build's working memory)
EAGER_NORM_TOKENS = 1 << 23  # segments up to this size compute all inverse norms at first search (32 MB)


def ivf_dtype(num_docs: int) -> np.dtype:
    return np.dtype(np.uint16) if num_docs <= 65536 else np.dtype(np.uint32)


@dataclass
class Segment:
    """A loaded (memory-mapped) segment as one snapshot sees it, tombstones applied."""

    entry: SegmentEntry
    doc_nums: np.ndarray
    doclens: np.ndarray
    offsets: np.ndarray  # int64 [docs + 1]: token range of each document
    live: np.ndarray  # bool [docs]
    vectors: np.ndarray | None = None
    codes: np.ndarray | None = None
    residuals: np.ndarray | None = None
    ivf_docs: np.ndarray | None = None
    ivf_offsets: np.ndarray | None = None
    rerank: Rerank | None = None  # the exact tier (rerank.py), plaid segments of a rerank index only
    _inv_norms: np.ndarray | None = field(default=None, repr=False)  # float32 [tokens], NaN = not yet known

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def num_docs(self) -> int:
        return int(self.doc_nums.shape[0])

    @property
    def num_live(self) -> int:
        return self.entry.num_live

    @property
    def num_tokens(self) -> int:
        return self.entry.num_tokens

    @property
    def live_tokens(self) -> int:
        return self.num_tokens if not self.has_deletes else int(self.doclens[self.live].sum())

    @property
    def has_deletes(self) -> bool:
        return self.entry.deleted is not None

    def inverse_norms(self, rows: np.ndarray, codes: np.ndarray, R8: np.ndarray, codec: Codec) -> np.ndarray:
        """1/||c + r|| of token rows (kernels.inverse_norms), memoised in process memory (4 bytes per stored
        token), never a file: the index stays at its bytes per token. Segments up to EAGER_NORM_TOKENS fill
        the memo for all their tokens on the first search (~0.2 s per million tokens: each later query saves
        ~2 ms of its exact stage); larger ones fill it row by row as rows are first scored, so a segment
        larger than RAM is never read whole for it. Concurrent searches may both fill a row, with the same
        value."""
        if self._inv_norms is None:
            memo = np.full(self.num_tokens, np.nan, dtype=np.float32)
            if self.num_tokens <= EAGER_NORM_TOKENS:
                for lo in range(0, self.num_tokens, COMPRESS_BLOCK):
                    hi = min(lo + COMPRESS_BLOCK, self.num_tokens)
                    memo[lo:hi] = kernels.inverse_norms(codec, self.codes[lo:hi].astype(np.intp),
                                                        codec.decode_residuals_int8(self.residuals[lo:hi]))
            self._inv_norms = memo
        inv = np.take(self._inv_norms, rows)
        miss = np.flatnonzero(np.isnan(inv))
        if len(miss):
            inv[miss] = kernels.inverse_norms(codec, codes[miss], R8[miss])
            self._inv_norms[rows[miss]] = inv[miss]
        return inv

    @classmethod
    def load(cls, root: Path, entry: SegmentEntry, *, verify: bool, root_fd: int, next_doc_num: int,
             num_centroids: int = 0) -> Segment:
        """Map a segment's files, after checking each is the file the manifest describes (storage.open_array)
        and that the arrays hold what they must (check_arrays): nothing read from them can index out of range."""
        where = f"index file {root / entry.dir}"
        with storage.open_dir(entry.dir, root_fd) as fd:
            arr = {name: storage.open_array(fd, name, e, where=f"{where}/{name}", verify=verify)
                   for name, e in entry.files.items()}
            dead = None
            if entry.deleted is not None:
                dead = storage.open_array(fd, entry.deleted.file, entry.deleted.meta, verify=verify, mmap_it=False,
                                          where=f"{where}/{entry.deleted.file}")
        check_arrays(arr, dead, entry, where, next_doc_num, num_centroids)
        doclens = arr["doclens.npy"]
        offsets = np.zeros(len(doclens) + 1, dtype=np.int64)
        np.cumsum(doclens, out=offsets[1:])
        live = np.ones(len(doclens), dtype=bool)
        if dead is not None:
            live[dead] = False
        rerank = None
        if RERANK_VALUES in arr:
            rerank = Rerank.from_arrays("int8" if arr[RERANK_VALUES].dtype == np.int8 else "fp16", arr,
                                        f"{where}/{RERANK_VALUES}")
        return cls(entry=entry, doc_nums=arr["doc_nums.npy"], doclens=doclens, offsets=offsets, live=live,
                   vectors=arr.get("vectors.npy"), codes=arr.get("codes.npy"), residuals=arr.get("residuals.npy"),
                   ivf_docs=arr.get("ivf_docs.npy"), ivf_offsets=arr.get("ivf_offsets.npy"), rerank=rerank)

    def positions_of(self, nums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask over `nums` of those stored here, their positions in this segment)."""
        pos = np.searchsorted(self.doc_nums, nums)
        pos = np.minimum(pos, max(self.num_docs - 1, 0))
        hit = (self.doc_nums[pos] == nums) if self.num_docs else np.zeros(len(nums), dtype=bool)
        return hit, pos[hit]

    def token_rows(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token row indices of the given documents (concatenated) and the start of each doc in that list."""
        lens = self.doclens[docs].astype(np.int64)
        starts = np.zeros(len(docs), dtype=np.int64)
        if len(docs) > 1:
            np.cumsum(lens[:-1], out=starts[1:])
        rows = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(self.offsets[docs] - starts, lens)
        return rows, starts

    def vectors_of(self, docs: np.ndarray, codec: Codec | None) -> tuple[np.ndarray, np.ndarray]:
        """Float32 vectors of the given documents and each doc's start row: as stored (exact), the exact
        tier's (plaid with rerank vectors), else decompressed."""
        rows, starts = self.token_rows(docs)
        if self.kind == "exact":
            return np.take(self.vectors, rows, axis=0), starts
        if self.rerank is not None:
            return self.rerank.vectors(rows), starts
        return codec.decompress(np.take(self.codes, rows), np.take(self.residuals, rows, axis=0)), starts


def check_arrays(arr: dict[str, np.ndarray], dead: np.ndarray | None, entry: SegmentEntry, where: str,
                 next_doc_num: int, num_centroids: int) -> None:
    """Arrays that passed their size and checksum can still lie (a crafted folder): check every value that is
    used as an index or a count, vectorised (a few ms per million tokens)."""
    def bad(name: str, problem: str) -> IndexFormatError:
        return IndexFormatError(f"{where}/{name} {problem}; the index is corrupted or was tampered with")

    n = entry.num_docs
    doclens, nums = arr["doclens.npy"], arr["doc_nums.npy"]
    if n and int(doclens.min()) < 1:
        raise bad("doclens.npy", "holds a document with no tokens")
    if int(doclens.sum(dtype=np.int64)) != entry.num_tokens:
        raise bad("doclens.npy", f"sums to {int(doclens.sum(dtype=np.int64))} tokens, not the {entry.num_tokens} recorded")
    if n and (int(nums[0]) < 0 or int(nums[-1]) >= next_doc_num or (n > 1 and not (np.diff(nums) > 0).all())):
        raise bad("doc_nums.npy", f"is not strictly increasing within [0, {next_doc_num})")
    if dead is not None and (int(dead[0]) < 0 or int(dead[-1]) >= n or (len(dead) > 1 and not (np.diff(dead) > 0).all())):
        raise bad(entry.deleted.file, f"is not a strictly increasing list of positions below {n}")
    if entry.kind == "exact":
        v = arr["vectors.npy"]
        for lo in range(0, len(v), COMPRESS_BLOCK):
            if not np.isfinite(v[lo:lo + COMPRESS_BLOCK].sum(axis=1)).all():
                raise bad("vectors.npy", "holds NaN or infinite values")
        return
    if RERANK_VALUES in arr:
        found = Rerank.from_arrays("int8" if arr[RERANK_VALUES].dtype == np.int8 else "fp16", arr).problem()
        if found:
            raise bad(*found)
    codes, ivf_docs, ivf_off = arr["codes.npy"], arr["ivf_docs.npy"], arr["ivf_offsets.npy"]
    if len(codes) and (int(codes.max()) >= num_centroids or int(codes.min()) < 0):
        raise bad("codes.npy", f"holds centroid ids outside [0, {num_centroids})")
    if int(ivf_off[0]) != 0 or int(ivf_off[-1]) != len(ivf_docs) or not (np.diff(ivf_off) >= 0).all():
        raise bad("ivf_offsets.npy", f"is not a non-decreasing list from 0 to {len(ivf_docs)}")
    if len(ivf_docs) and int(ivf_docs.max()) >= n:
        raise bad("ivf_docs.npy", f"holds document positions outside [0, {n})")


def write_deletes(root: Path, entry: SegmentEntry, positions: np.ndarray, generation: int) -> SegmentEntry:
    """A new entry for `entry` whose tombstones are `positions` (sorted, unique), written as a new file."""
    name = f"del-{generation:06d}.npy"
    path = root / entry.dir / name
    if path.exists() or path.is_symlink():  # a leftover of a crashed commit of this generation
        path.unlink()
    meta = storage.write_array(path, np.asarray(positions, dtype=np.int32))
    storage.fsync_dir(root / entry.dir)
    return dataclasses.replace(entry, deleted=Tombstones(name, int(len(positions)), meta))


class SegmentWriter:
    """Streams documents into a new segment folder; `finish()` returns its manifest entry."""

    def __init__(self, folder: Path, *, kind: str, dim: int, num_docs: int, codec: Codec | None = None,
                 assigner: Assigner | None = None, rerank: str | None = None):
        self.folder, self.kind, self.dim, self.codec = folder, kind, dim, codec
        self.expected_docs = num_docs
        self._doc_nums: list[np.ndarray] = []
        self._doclens: list[np.ndarray] = []
        self.num_docs = 0
        self.num_tokens = 0
        self.timings = {"compress_s": 0.0, "ivf_s": 0.0}
        if kind == "exact":
            self._vectors = storage.NpyAppender(folder / "vectors.npy", np.float32, (dim,))
        else:
            assert codec is not None
            self._assigner = assigner or codec.assigner()
            self._codes = storage.NpyAppender(folder / "codes.npy", code_dtype(codec.num_centroids))
            self._residuals = storage.NpyAppender(folder / "residuals.npy", np.uint8, (codec.residual_bytes,))
            self._pair_codes = storage.NpyAppender(folder / "pairs_codes.tmp.npy", np.int64)
            self._pair_docs = storage.NpyAppender(folder / "pairs_docs.tmp.npy", np.int64)
            self._ivf_counts = np.zeros(codec.num_centroids, dtype=np.int64)
            self._rerank = RerankWriter(folder, rerank, dim) if rerank else None

    def add(self, doc_nums: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        """Append one chunk of documents (their numbers and float32 [tokens_i, dim] vectors)."""
        lens = np.fromiter((len(v) for v in vectors), dtype=np.int32, count=len(vectors))
        flat = np.concatenate([np.asarray(v, dtype=np.float32) for v in vectors]) if len(vectors) else \
            np.zeros((0, self.dim), np.float32)
        if self.kind == "exact":
            self._vectors.append(flat)
            self._count(doc_nums, lens)
            return
        started = time.perf_counter()
        if self._rerank is not None:
            self._rerank.add_vectors(flat)
        codes = np.empty(len(flat), dtype=code_dtype(self.codec.num_centroids))
        residuals = np.empty((len(flat), self.codec.residual_bytes), dtype=np.uint8)
        for i in range(0, len(flat), COMPRESS_BLOCK):  # bounded working memory, whatever the chunk
            codes[i:i + COMPRESS_BLOCK], residuals[i:i + COMPRESS_BLOCK] = \
                self.codec.compress(flat[i:i + COMPRESS_BLOCK], self._assigner)
        del flat
        self.timings["compress_s"] += time.perf_counter() - started
        self._add_compressed(doc_nums, lens, codes, residuals)

    def add_compressed(self, doc_nums: Sequence[int], lens: np.ndarray, codes: np.ndarray,
                       residuals: np.ndarray, rerank: tuple[np.ndarray, ...] | None = None) -> None:
        """Append documents already compressed with this writer's codec (compaction copies them as is), with
        their stored rerank rows when this segment has an exact tier."""
        if self._rerank is not None:
            if rerank is None:
                raise ValueError("a segment with an exact tier needs the rerank rows of copied documents")
            self._rerank.add_rows(rerank)
        self._add_compressed(doc_nums, lens, codes, residuals)

    def _add_compressed(self, doc_nums: Sequence[int], lens: np.ndarray, codes: np.ndarray,
                        residuals: np.ndarray) -> None:
        self._codes.append(codes)
        self._residuals.append(residuals)
        # unique (centroid, doc) pairs of this chunk, sorted by centroid then doc (docs never span chunks)
        local = np.repeat(np.arange(self.num_docs, self.num_docs + len(lens), dtype=np.int64), lens)
        keys = np.unique(codes.astype(np.int64) * (1 << 32) + local)
        pc = keys >> 32
        self._pair_codes.append(pc)
        self._pair_docs.append(keys & 0xFFFFFFFF)
        self._ivf_counts += np.bincount(pc, minlength=self.codec.num_centroids)
        self._count(doc_nums, lens)

    def _count(self, doc_nums: Sequence[int], lens: np.ndarray) -> None:
        self._doc_nums.append(np.asarray(doc_nums, dtype=np.int64))
        self._doclens.append(np.asarray(lens, dtype=np.int32))
        self.num_docs += len(lens)
        self.num_tokens += int(np.sum(lens))

    def finish(self) -> SegmentEntry:
        files = {
            "doc_nums.npy": storage.write_array(self.folder / "doc_nums.npy", np.concatenate(self._doc_nums or [np.zeros(0, np.int64)])),
            "doclens.npy": storage.write_array(self.folder / "doclens.npy", np.concatenate(self._doclens or [np.zeros(0, np.int32)])),
        }
        if self.kind == "exact":
            files["vectors.npy"] = self._vectors.close()
        else:
            files["codes.npy"] = self._codes.close()
            files["residuals.npy"] = self._residuals.close()
            if self._rerank is not None:
                files.update(self._rerank.close())
            started = time.perf_counter()
            files.update(self._write_ivf())
            self.timings["ivf_s"] += time.perf_counter() - started
        storage.fsync_dir(self.folder)
        return SegmentEntry(self.folder.name, self.kind, self.num_docs, self.num_tokens, files)

    def _write_ivf(self) -> dict[str, FileEntry]:
        """Counting sort of the (centroid, doc) pairs, one chunk at a time, straight into ivf_docs.npy."""
        self._pair_codes.close()
        self._pair_docs.close()
        pcodes = np.load(self.folder / "pairs_codes.tmp.npy", mmap_mode="r")
        pdocs = np.load(self.folder / "pairs_docs.tmp.npy", mmap_mode="r")
        offsets = np.zeros(len(self._ivf_counts) + 1, dtype=np.int64)
        np.cumsum(self._ivf_counts, out=offsets[1:])
        out_path = self.folder / "ivf_docs.npy"
        out = storage.reserve_array(out_path, ivf_dtype(self.num_docs), (int(offsets[-1]),))
        cursor = offsets[:-1].copy()
        block = 1 << 20
        for i in range(0, len(pcodes), block):
            # pairs of one chunk are sorted by centroid; a block may cut a chunk, so sort it again (stable)
            c = np.asarray(pcodes[i:i + block])
            d = np.asarray(pdocs[i:i + block])
            order = np.argsort(c, kind="stable")
            c, d = c[order], d[order]
            counts = np.bincount(c, minlength=len(cursor))
            first = np.zeros_like(counts)
            np.cumsum(counts[:-1], out=first[1:])
            pos = cursor[c] + (np.arange(len(c)) - first[c])
            out[pos] = d
            cursor += counts
        out.flush()
        del out
        storage.fsync_file(out_path)
        (self.folder / "pairs_codes.tmp.npy").unlink()
        (self.folder / "pairs_docs.tmp.npy").unlink()
        ivf = FileEntry(out_path.stat().st_size, storage.file_crc32(out_path), (int(offsets[-1]),),
                        ivf_dtype(self.num_docs).str)
        return {"ivf_docs.npy": ivf, "ivf_offsets.npy": storage.write_array(self.folder / "ivf_offsets.npy", offsets)}

    def abort(self) -> None:
        for name in ("_vectors", "_codes", "_residuals", "_pair_codes", "_pair_docs", "_rerank"):
            if getattr(self, name, None) is not None:
                getattr(self, name).abort()
