"""`Index`: a late-interaction index in one folder. Create, add, search, delete, compact.

    index = Index.create("my_index", model="minilm")          # or model=None, dim=128 for vectors only
    index.add(["a document", {"id": "d2", "text": "another", "metadata": {"lang": "en"}}])
    index.search("a query", k=10)                              # [Hit(id, score, rank), ...]

Small collections are stored exactly (float32) and searched exhaustively; once the collection reaches
`exact_threshold` tokens the index trains its codec (k-means centroids + residual codebook) on the vectors it
already holds and switches to compressed PLAID segments, transparently. See storage.py for the on-disk
layout and the crash-safety argument, query.py and plaid.py for search, codec.py for compression.

Concurrency: one writer at a time (a lock held for the duration of each change; a second writer gets
IndexLockedError), any number of readers. Each search runs on the snapshot named by the manifest at the
time it starts; an `Index` object notices other processes' commits by the manifest's file identity.

Threads: search and build use numpy/BLAS and torch's int8 GEMM, which follow OMP_NUM_THREADS. One query is a
few milliseconds of work, so a second thread gains little; on a busy machine OpenMP threads that spin while
waiting can make it several times slower: set OMP_WAIT_POLICY=PASSIVE, or use one thread per process
(BENCHMARKS.md, "Index engine", has both measurements).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index import ingest, query, storage
from jcolbert.index.codec import Codec
from jcolbert.index.docstore import DocStore
from jcolbert.index.query import Hit
from jcolbert.index.segment import Segment, write_deletes

DEFAULT_EXACT_THRESHOLD = 32_768  # tokens; below this clustering is meaningless and exact search is cheap


@dataclass
class _Snapshot:
    """Everything a reader needs, as named by one manifest."""

    manifest: dict[str, Any]
    stamp: tuple[int, int, int]
    codec: Codec | None
    segments: list[Segment]

    @property
    def num_live(self) -> int:
        return sum(s.num_live for s in self.segments)

    @property
    def num_tokens(self) -> int:
        return sum(s.num_tokens for s in self.segments)

    def live_positions(self, nums: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per segment: (mask over nums of the live documents stored there, their positions)."""
        out = []
        for seg in self.segments:
            hit, pos = seg.positions_of(nums)
            alive = seg.live[pos]
            idx = np.flatnonzero(hit)
            hit[idx[~alive]] = False
            out.append((hit, pos[alive]))
        return out


class Index:
    """A ColBERT (late-interaction) index on disk. Use `Index.create` or `Index.open`, not the constructor."""

    def __init__(self, path: Path, *, model: Any = None, verify: bool = True, lock_timeout: float = 0.0,
                 progress: bool | None = None, readonly: bool = False):
        self.path = Path(path)
        self._verify = verify
        self._lock_timeout = lock_timeout
        self._progress = progress
        self._readonly = readonly
        self._seg_cache: dict[str, Segment] = {}
        self._codec_cache: dict[str, Codec] = {}
        self._mutex = threading.RLock()
        self.last_timings: dict[str, float] = {}  # seconds per phase of the last change (train, write, ...)
        self._snap = self._load_snapshot()
        self._docs = DocStore(self.path / storage.DOCSTORE, readonly=readonly)
        self._model = None
        if model is not None:
            self._model = self._check_model(_resolve_model(model))

    # ------------------------------------------------------------------------------------------- create / open

    @classmethod
    def create(cls, path: str | os.PathLike, model: Any = None, *, nbits: int = 2, dim: int | None = None,
               exact_threshold: int = DEFAULT_EXACT_THRESHOLD, chunk_size: int = ingest.DEFAULT_CHUNK_SIZE,
               kmeans_niters: int = 8, seed: int = 123, residual: str = "pq", overwrite: bool = False,
               lock_timeout: float = 0.0, progress: bool | None = None) -> Index:
        """Make a new, empty index folder.

        model: a loaded ColBERTModel, a model name/path (loaded now, to record its settings), or None for an
        index of precomputed vectors (then `dim` is required). nbits: residual bits per dimension (1, 2, 4).
        exact_threshold: tokens below which vectors are stored exactly and searched exhaustively.
        residual: "pq" (default: a learned 256-entry codebook per residual byte) or "quantile" (ColBERTv2's
        per-dimension buckets). Same size and search speed; on SciFact, exhaustive recall@10 against exact
        MaxSim at nbits=2 is 0.84 with "pq" and ~0.78-0.80 with "quantile" (see codec.py, BENCHMARKS.md).
        """
        root = Path(path)
        if nbits not in (1, 2, 4):
            raise InputError(f"nbits must be 1, 2 or 4, got {nbits!r}")
        if residual not in ("quantile", "pq"):
            raise InputError(f"residual must be 'quantile' or 'pq', got {residual!r}")
        loaded = _resolve_model(model) if model is not None else None
        config = loaded.config.to_dict() if loaded is not None else None
        if config is not None:
            if dim is not None and dim != config["dim"]:
                raise InputError(f"dim={dim} disagrees with the model's dim {config['dim']}")
            dim = int(config["dim"])
        if dim is None or not isinstance(dim, int) or dim <= 0:
            raise InputError("Index.create needs a model, or dim= (a positive integer) for an embeddings-only index")
        if dim % (8 // nbits) != 0:
            raise InputError(f"dim {dim} must be a multiple of {8 // nbits} for nbits={nbits}")
        for name, value in (("exact_threshold", exact_threshold), ("chunk_size", chunk_size), ("kmeans_niters", kmeans_niters)):
            if not isinstance(value, int) or value < (0 if name == "exact_threshold" else 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if root.exists() and any(root.iterdir()):
            if not (root / storage.MANIFEST).exists():
                raise InputError(f"{root} exists and is not an empty folder or a jcolbert index; refusing to write there")
            if not overwrite:
                raise InputError(f"an index already exists at {root}; pass overwrite=True to replace it, or use Index.open")
            with storage.WriterLock(root, lock_timeout):
                for entry in root.iterdir():
                    if entry.name != storage.LOCK_FILE:
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        root.mkdir(parents=True, exist_ok=True)
        with storage.WriterLock(root, lock_timeout):
            DocStore(root / storage.DOCSTORE).close()
            storage.write_manifest(root, {
                "format": storage.FORMAT_NAME, "format_version": storage.FORMAT_VERSION, "generation": 0,
                "dim": dim, "nbits": nbits, "model": config,
                "settings": {"exact_threshold": exact_threshold, "chunk_size": chunk_size,
                             "kmeans_niters": kmeans_niters, "seed": seed, "residual": residual},
                "next_doc_num": 0, "next_auto_id": 0, "codec": None, "segments": [],
            })
        return cls(root, model=loaded, lock_timeout=lock_timeout, progress=progress)

    @classmethod
    def open(cls, path: str | os.PathLike, model: Any = None, *, verify: bool = True, lock_timeout: float = 0.0,
             progress: bool | None = None, readonly: bool = False) -> Index:
        """Open an existing index. The model it was built with is recorded and loaded only when text must be
        encoded; pass `model` to reuse a loaded one (refused if its dim/markers differ from the recorded ones).
        verify: check every array file's crc32 against the manifest (sizes are always checked).
        readonly: never take the writer lock (for read-only media or shared folders)."""
        return cls(Path(path), model=model, verify=verify, lock_timeout=lock_timeout, progress=progress,
                   readonly=readonly)

    def close(self) -> None:
        self._docs.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, documents={len(self)}, mode={self.mode!r})"

    # ------------------------------------------------------------------------------------------- snapshot

    def _load_snapshot(self, manifest: dict[str, Any] | None = None) -> _Snapshot:
        for _attempt in range(5):
            stamp = storage.manifest_stamp(self.path) if (self.path / storage.MANIFEST).exists() else (0, 0, 0)
            m = manifest or storage.read_manifest(self.path)
            try:
                codec = None
                if m.get("codec"):
                    key = m["codec"]["dir"]
                    codec = self._codec_cache.get(key) or Codec.load(self.path, m["codec"], verify=self._verify)
                    self._codec_cache = {key: codec}
                segs, cache = [], {}
                for entry in m["segments"]:
                    key = entry["dir"] + ":" + ((entry.get("deleted") or {}).get("file") or "")
                    seg = self._seg_cache.get(key) or Segment.load(self.path, entry, verify=self._verify)
                    cache[key] = seg
                    segs.append(seg)
                self._seg_cache = cache
                return _Snapshot(m, stamp, codec, segs)
            except IndexFormatError:
                # a concurrent commit may have replaced files between our manifest read and the open: retry
                if manifest is None and storage.manifest_stamp(self.path) != stamp:
                    continue
                raise
        raise IndexFormatError(f"{self.path}: the index kept changing while being opened; retry")

    def _current(self) -> _Snapshot:
        """The latest committed snapshot (reloaded when another process has committed since)."""
        with self._mutex:
            try:
                stamp = storage.manifest_stamp(self.path)
            except FileNotFoundError:
                raise IndexFormatError(f"no index at {self.path}: {storage.MANIFEST} is missing") from None
            if stamp != self._snap.stamp:
                self._snap = self._load_snapshot()
            return self._snap

    def refresh(self) -> None:
        """Pick up commits made by other processes now (searches also do this on their own)."""
        self._current()

    # ------------------------------------------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        return int(self._snap.manifest["dim"])

    @property
    def nbits(self) -> int:
        return int(self._snap.manifest["nbits"])

    @property
    def mode(self) -> str:
        """'exact' (vectors stored as float32, exhaustive search) or 'plaid' (compressed, PLAID search)."""
        return "plaid" if self._current().codec is not None else "exact"

    @property
    def model(self) -> Any:
        """The encoder: the one passed in, or the recorded one, loaded on first use."""
        if self._model is None:
            config = self._snap.manifest.get("model")
            if config is None:
                raise InputError(
                    f"index {self.path} was built from precomputed vectors (no model recorded): use "
                    "add_embeddings / search_embeddings, or open it with model=..."
                )
            import jcolbert

            self._model = jcolbert.load_model(config)
        return self._model

    def _check_model(self, model: Any) -> Any:
        """Refuse a model whose vectors would not live in this index's space (dim, markers, backbone, ...)."""
        config = model.config
        dim = int(getattr(config, "dim", 0))
        if dim != self.dim:
            raise InputError(f"the model produces {dim}-dimensional vectors but index {self.path} holds {self.dim}")
        recorded = self._snap.manifest.get("model")
        if recorded is not None:
            if hasattr(config, "incompatibilities"):
                problems = config.incompatibilities(recorded)
            else:  # a duck-typed model: compare what we can
                mine = config.to_dict()
                problems = [f"{key}: {recorded.get(key)!r} != {mine.get(key)!r}"
                            for key in ("dim", "query_marker", "doc_marker", "backbone")
                            if key in recorded and recorded.get(key) != mine.get(key)]
            if problems:
                raise InputError(f"this model does not match the one index {self.path} was built with "
                                 f"({recorded.get('name_or_path')!r}): {'; '.join(problems)}")
        return model

    def __len__(self) -> int:
        return self._current().num_live

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self._live_nums([doc_id])[1].size)

    # ------------------------------------------------------------------------------------------- writing

    @contextmanager
    def _writing(self) -> Iterator[_Snapshot]:
        """Hold the writer lock; start from the latest manifest with leftovers of crashed commits removed."""
        if self._readonly:
            raise InputError(f"index {self.path} was opened readonly=True")
        with storage.WriterLock(self.path, self._lock_timeout), self._mutex:
            self.last_timings = {}
            started = time.perf_counter()
            snap = self._load_snapshot()
            self._snap = snap
            storage.collect_garbage(self.path, snap.manifest)
            self._docs.delete_from(snap.manifest["next_doc_num"])
            yield snap
            self._docs.checkpoint()
            self.last_timings["total_s"] = time.perf_counter() - started

    def _commit(self, manifest: dict[str, Any]) -> None:
        manifest = {**manifest, "generation": manifest["generation"] + 1}
        storage.write_manifest(self.path, manifest)
        self._snap = self._load_snapshot()
        storage.collect_garbage(self.path, manifest)

    def add(self, documents: str | dict | Iterable[str | dict], *, batch_size: int = 32,
            max_length: int | None = None, long_documents: str = "truncate") -> list[str]:
        """Encode and add documents: strings (ids assigned) or {"id", "text", "metadata"} dicts. Returns ids.

        Documents are encoded, compressed and written chunk by chunk (`chunk_size` of Index.create), each
        exactly once. max_length / long_documents are passed to the encoder (see encode_documents)."""
        if isinstance(documents, str | dict):
            documents = [documents]
        ids, texts, metas = ingest.parse_documents(documents)
        model = self.model
        chunk = self._snap.manifest["settings"]["chunk_size"]

        def encode(lo: int, hi: int) -> list[np.ndarray]:
            out = model.encode_documents(texts[lo:hi], batch_size=batch_size, max_length=max_length,
                                         long_documents=long_documents, show_progress=False)
            vecs = [np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32) for v in out]
            for i, v in enumerate(vecs):
                if v.ndim != 2 or v.shape[0] == 0:
                    raise InputError(f"document {ids[lo + i] or lo + i} encodes to no token vectors")
            return vecs

        return self._add(ids, texts, metas, ingest.Source(len(texts), encode, chunk, None), desc="encoding")

    def add_embeddings(self, ids: Sequence[str] | None, vectors: Sequence[Any], texts: Sequence[str] | None = None,
                       metadata: Sequence[dict | None] | None = None) -> list[str]:
        """Add documents from precomputed token vectors (a list of [tokens_i, dim] arrays). ids=None assigns ids."""
        n = len(vectors)
        lengths = np.empty(n, dtype=np.int64)
        for i in range(n):  # shapes now; values (dtype, NaN) chunk by chunk, so a lazy sequence stays lazy
            lengths[i] = ingest.check_shape(vectors[i], self.dim, f"vectors[{i}]")
        if ids is not None:
            ids = list(ids)
            if len(ids) != n:
                raise InputError(f"{len(ids)} ids for {n} vector arrays")
            for i, x in enumerate(ids):
                if not isinstance(x, str) or not x:
                    raise InputError(f"ids[{i}] must be a non-empty string, got {x!r}")
        for name, seq in (("texts", texts), ("metadata", metadata)):
            if seq is not None and len(seq) != n:
                raise InputError(f"{len(seq)} {name} for {n} vector arrays")
        if metadata is not None:
            for i, m in enumerate(metadata):
                if m is not None and not isinstance(m, dict):
                    raise InputError(f"metadata[{i}] must be a dict or None, got {type(m).__name__}")
        chunk = self._snap.manifest["settings"]["chunk_size"]
        dim = self.dim

        def produce(lo: int, hi: int) -> list[np.ndarray]:
            return [ingest.as_matrix(vectors[i], dim, f"vectors[{i}]") for i in range(lo, hi)]

        source = ingest.Source(n, produce, chunk, lengths)
        return self._add(ids if ids is not None else [None] * n, list(texts) if texts is not None else None,
                         list(metadata) if metadata is not None else None, source, desc="indexing")

    def _add(self, ids: list[str | None], texts: list[str] | None, metas: list[dict | None] | None,
             source: ingest.Source, desc: str) -> list[str]:
        if source.num_docs == 0:
            return []
        with self._writing() as snap:
            m = dict(snap.manifest)
            ids = self._assign_ids(ids, m)
            first = m["next_doc_num"]
            nums = np.arange(first, first + len(ids), dtype=np.int64)
            self._docs.insert(nums, ids, texts, metas)  # invisible until the manifest names the segment
            m["next_doc_num"] = first + len(ids)
            gen = m["generation"] + 1
            parts = [ingest.Part(nums, source, self.dim)]
            if snap.codec is not None:
                entry = self._write_plaid(storage.new_dir(self.path, "seg", gen), parts, snap.codec, desc)
                m["segments"] = [*m["segments"], entry]
            else:
                known = source.lengths is not None
                exact_tokens = sum(s.num_tokens for s in snap.segments)
                if not known:  # encoded text: spool to an exact segment first (each document is encoded once)
                    entry = self._write_exact(storage.new_dir(self.path, "seg", gen), parts, desc)
                    spooled = Segment.load(self.path, entry, verify=False)
                    parts = [ingest.SegmentPart(spooled, None)]
                new_tokens = int(sum(p.num_tokens for p in parts))
                if exact_tokens + new_tokens < m["settings"]["exact_threshold"]:
                    if known:
                        entry = self._write_exact(storage.new_dir(self.path, "seg", gen), parts, desc)
                    m["segments"] = [*m["segments"], entry]
                else:  # the collection is now big enough to cluster: train, then compress everything held
                    parts = [ingest.SegmentPart(s, None) for s in snap.segments] + parts
                    codec = self._train(parts, m)
                    m["codec"] = codec.save(storage.new_dir(self.path, "codec", gen))
                    storage.fsync_dir(self.path / m["codec"]["dir"])
                    entry = self._write_plaid(storage.new_dir(self.path, "seg", gen), parts, codec, desc)
                    m["segments"] = [entry]
            self._commit(m)
        return ids

    def _assign_ids(self, ids: list[str | None], m: dict[str, Any]) -> list[str]:
        given = [x for x in ids if x is not None]
        seen: set[str] = set()
        dupes = sorted({x for x in given if x in seen or seen.add(x)})
        if dupes:
            raise InputError(f"duplicate document ids in this batch: {ingest.names(dupes)}")
        if given:
            found, _ = self._live_nums(given, snap=self._snap)
            clash = sorted({x for x, f in zip(given, found, strict=True) if f})
            if clash:
                raise InputError(f"document ids already in the index: {ingest.names(clash)}; nothing was added")
        n_auto = sum(1 for x in ids if x is None)
        auto: list[str] = []
        next_auto = m["next_auto_id"]
        while len(auto) < n_auto:
            cand = [str(i) for i in range(next_auto, next_auto + (n_auto - len(auto)))]
            next_auto += len(cand)
            taken = self._docs.existing_ids(cand) | (set(given) & set(cand))
            auto += [c for c in cand if c not in taken]
        m["next_auto_id"] = next_auto
        it = iter(auto)
        return [x if x is not None else next(it) for x in ids]

    def _train(self, parts: list[ingest.Part], m: dict[str, Any]) -> Codec:
        return ingest.train_codec(parts, nbits=m["nbits"], settings=m["settings"], timings=self.last_timings)

    def _write_exact(self, folder: Path, parts: list[ingest.Part], desc: str) -> dict[str, Any]:
        return ingest.write_segment(self.path, folder, parts, kind="exact", dim=self.dim, codec=None,
                                    progress=self._progress, desc=desc, timings=self.last_timings)

    def _write_plaid(self, folder: Path, parts: list[ingest.Part], codec: Codec, desc: str) -> dict[str, Any]:
        return ingest.write_segment(self.path, folder, parts, kind="plaid", dim=self.dim, codec=codec,
                                    progress=self._progress, desc=desc, timings=self.last_timings)

    def delete(self, ids: str | Iterable[str], *, missing_ok: bool = False) -> int:
        """Delete documents by id; they disappear from search results at once. Returns how many were deleted.
        Unknown ids are an error naming them (nothing is deleted) unless missing_ok=True."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not ids:
            return 0
        with self._writing() as snap:
            found, nums = self._live_nums(ids, snap=snap)
            missing = sorted({x for x, f in zip(ids, found, strict=True) if not f})
            if missing and not missing_ok:
                raise InputError(f"no document with id {ingest.names(missing)} in the index; nothing was deleted")
            if nums.size == 0:
                return 0
            m = dict(snap.manifest)
            gen = m["generation"] + 1
            segments = []
            for seg, (hit, pos) in zip(snap.segments, snap.live_positions(nums), strict=True):
                if hit.any():
                    dead = np.union1d(np.flatnonzero(~seg.live), pos)
                    segments.append(write_deletes(self.path, seg.entry, dead, gen))
                else:
                    segments.append(seg.entry)
            m["segments"] = segments
            self._commit(m)
            return int(np.unique(nums).size)

    def compact(self, *, recluster: bool | str = "auto") -> dict[str, Any]:
        """Rewrite all segments as one, without deleted documents.

        recluster: True re-trains the centroids on the current collection (from the stored, decompressed
        vectors) and recompresses it; "auto" does so when `stats()["recluster_recommended"]` (the collection
        has at least doubled in tokens since the centroids were trained); False keeps the codec.
        Returns {"documents", "removed", "reclustered"}.
        """
        with self._writing() as snap:
            m = dict(snap.manifest)
            if not snap.segments:
                return {"documents": 0, "removed": 0, "reclustered": False}
            dead_nums = np.concatenate([s.doc_nums[~s.live] for s in snap.segments])
            do_recluster = snap.codec is not None and (recluster is True or (recluster == "auto" and _recluster_reason(snap)))
            gen = m["generation"] + 1
            parts = [ingest.SegmentPart(s, snap.codec) for s in snap.segments]
            if snap.codec is None:
                m["segments"] = [self._write_exact(storage.new_dir(self.path, "seg", gen), parts, "compacting")]
            else:
                codec = snap.codec
                if do_recluster:
                    codec = self._train(parts, m)
                    m["codec"] = codec.save(storage.new_dir(self.path, "codec", gen))
                    storage.fsync_dir(self.path / m["codec"]["dir"])
                    parts = [ingest.SegmentPart(s, snap.codec, recompress=True) for s in snap.segments]
                m["segments"] = [self._write_plaid(storage.new_dir(self.path, "seg", gen), parts, codec, "compacting")]
            m["segments"] = [e for e in m["segments"] if e["num_docs"]]  # everything deleted: no segment
            self._commit(m)
            if dead_nums.size:
                self._docs.delete_nums(dead_nums)
            return {"documents": self._snap.num_live, "removed": int(dead_nums.size), "reclustered": bool(do_recluster)}

    def rebuild(self) -> dict[str, Any]:
        """Re-train the centroids on the whole current collection and recompress it (compact + recluster)."""
        return self.compact(recluster=True)

    # ------------------------------------------------------------------------------------------- reading

    def _live_nums(self, ids: Sequence[str], snap: _Snapshot | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(found mask over ids, live document numbers of those found)."""
        snap = snap or self._current()
        pos, nums = self._docs.nums_for_ids(list(ids))
        found = np.zeros(len(ids), dtype=bool)
        if nums.size == 0:
            return found, nums
        alive = np.zeros(len(nums), dtype=bool)
        for hit, _ in snap.live_positions(nums):
            alive |= hit
        found[pos[alive]] = True
        return found, nums[alive]

    def get(self, ids: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        """Stored document(s) by id: {"id", "text", "metadata"} (text/metadata None when not stored)."""
        single = isinstance(ids, str)
        ids = [ids] if single else list(ids)
        snap = self._current()
        pos, nums = self._docs.nums_for_ids(ids)
        alive = np.zeros(len(nums), dtype=bool)
        for hit, _ in snap.live_positions(nums):
            alive |= hit
        num_of = {int(p): int(n) for p, n in zip(pos[alive], nums[alive], strict=True)}
        missing = [x for i, x in enumerate(ids) if i not in num_of]
        if missing:
            raise InputError(f"no document with id {ingest.names(sorted(set(missing)))} in the index")
        rows = self._docs.rows(list(num_of.values()), "id,text,metadata")
        out = [dict(zip(("id", "text", "metadata"), rows[num_of[i]], strict=True)) for i in range(len(ids))]
        return out[0] if single else out

    def ids(self) -> list[str]:
        """Ids of all live documents, in insertion order."""
        snap = self._current()
        nums = np.sort(np.concatenate([s.doc_nums[s.live] for s in snap.segments] or [np.zeros(0, np.int64)]))
        rows = self._docs.rows(nums, "id")
        return [rows[int(n)][0] for n in nums]

    def search(self, query_or_queries: str | Sequence[str], k: int = 10, filter: Any = None, *,
               return_text: bool = False, return_metadata: bool = False, batch_size: int = 32,
               **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Top-k documents for a query (list of Hit) or for each of several queries (list of lists).

        filter: restricts the search before top-k: a collection of ids, a dict of metadata key == value
        pairs, or a callable(metadata dict) -> bool. knobs: ncells, centroid_score_threshold, ndocs (PLAID;
        defaults by k as in the reference) and mode ("auto", "plaid" or "exact" for exhaustive MaxSim).
        """
        single = isinstance(query_or_queries, str)
        queries = [query_or_queries] if single else list(query_or_queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"query {i} must be a non-empty string, got {q!r}")
        query.check_k(k)
        if not queries:
            return []
        Q = self.model.encode_queries(queries, batch_size=batch_size, show_progress=False)
        Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
        out = self.search_embeddings(Q, k, filter, return_text=return_text, return_metadata=return_metadata, **knobs)
        return out[0] if single else out

    def search_embeddings(self, Q: Any, k: int = 10, filter: Any = None, *, return_text: bool = False,
                          return_metadata: bool = False, **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Search with query vectors: [query_tokens, dim] (one query -> list of Hit) or [n, query_tokens, dim]."""
        query.check_k(k)
        mode = query.check_knobs(knobs)
        Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
        if Q.ndim not in (2, 3) or Q.shape[-1] != self.dim or Q.shape[-2] == 0:
            raise InputError(f"query vectors must be [query_tokens, {self.dim}] or [n, query_tokens, {self.dim}], "
                             f"got shape {list(Q.shape)}")
        single = Q.ndim == 2
        if single:
            Q = Q[None]
        if not np.isfinite(Q).all():
            raise InputError("query vectors contain NaN or infinite values")
        snap = self._current()
        allowed = query.allowed_masks(snap.segments, self._docs, filter)
        results = query.run(snap.segments, snap.codec, Q, k, allowed, mode, knobs)
        hits = query.to_hits(snap.segments, self._docs, results, return_text, return_metadata)
        return hits[0] if single else hits

    # ------------------------------------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Sizes and settings: documents, tokens, bytes on disk (all files), bytes per token, centroids, ..."""
        snap = self._current()
        m = snap.manifest
        by_kind: dict[str, int] = {}
        for p in self.path.rglob("*"):
            if p.is_file() and p.name != storage.LOCK_FILE:
                key = "tombstones" if p.name.startswith("del-") else p.name.split("-")[0]
                by_kind[key] = by_kind.get(key, 0) + p.stat().st_size
        total = sum(by_kind.values())
        tokens = snap.num_tokens
        reason = _recluster_reason(snap)
        return {
            "path": str(self.path), "format_version": m["format_version"], "generation": m["generation"],
            "mode": "plaid" if snap.codec else "exact", "dim": m["dim"], "nbits": m["nbits"],
            "residual": m["settings"].get("residual", "pq"),
            "model": (m.get("model") or {}).get("name_or_path"),
            "documents": snap.num_live, "deleted_pending_compaction": sum(s.num_docs - s.num_live for s in snap.segments),
            "tokens": sum(s.live_tokens for s in snap.segments), "stored_tokens": tokens, "segments": len(snap.segments),
            "centroids": snap.codec.num_centroids if snap.codec else 0,
            "trained_tokens": (snap.codec.info.get("trained_tokens") if snap.codec else None),
            "exact_threshold": m["settings"]["exact_threshold"],
            "bytes_on_disk": total, "bytes_per_token": round(total / tokens, 3) if tokens else None,  # per stored token
            "bytes_by_file": dict(sorted(by_kind.items())),
            "recluster_recommended": bool(reason), "recluster_reason": reason,
        }


# ----------------------------------------------------------------------------------------------- helpers


def _recluster_reason(snap: _Snapshot) -> str | None:
    if snap.codec is None:
        return None
    trained = int(snap.codec.info.get("trained_tokens") or 0)
    now = snap.num_tokens
    if trained and now >= 2 * trained:
        return (f"the collection has {now} tokens, {now / trained:.1f}x the {trained} the centroids were trained on; "
                "compact() or rebuild() re-clusters it")
    return None


def _resolve_model(model: Any) -> Any:
    if isinstance(model, str | os.PathLike):
        import jcolbert

        return jcolbert.load_model(str(model))
    if not hasattr(model, "config") or not hasattr(model.config, "to_dict"):
        raise InputError(f"model must be a ColBERTModel or a model name/path, got {type(model).__name__}")
    return model


__all__ = ["Hit", "Index"]
