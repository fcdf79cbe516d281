"""`Index`: a late-interaction index in one folder. Create, add, search, delete, compact.

    index = Index.create("my_index", model="minilm")          # or model=None, dim=128 for vectors only
    index.add(["a document", {"id": "d2", "text": "another", "metadata": {"lang": "en"}}])
    index.search("a query", k=10)                              # [Hit(id, score, rank), ...]

Small collections are stored exactly (float32) and searched exhaustively; once the collection reaches
`exact_threshold` tokens the index trains its codec (k-means centroids + residual codebook) on a sample of
everything it holds and switches to compressed PLAID segments, transparently. A codec can also be trained
explicitly and shared by several indexes (`Codec.train`, `Index.create(..., codec=...)`,
`index.train_codec(sample)`): shards of one collection then use the same centroids. See storage.py for
the on-disk layout and the crash-safety argument, write.py for the changes, query.py and plaid.py for
search, codec.py for compression.

Concurrency: one writer at a time (a lock held for the duration of each change; a second writer gets
IndexLockedError), any number of readers. Each search runs on the snapshot named by the manifest at the
time it starts; an `Index` object notices other processes' commits by the manifest's file identity.

Threads: search and build use numpy/BLAS and torch GEMMs (OMP_NUM_THREADS). One query is a few ms of work, so
a second thread gains little; on a busy machine OpenMP threads spinning while they wait can make it several times
slower: set OMP_WAIT_POLICY=PASSIVE, or one thread per process (BENCHMARKS.md, "Index engine", measures both).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import IndexFormatError, IndexReadOnlyError, InputError
from jcolbert.index import adding, build, folder, ingest, models, query, storage, write
from jcolbert.index.adding import Progress
from jcolbert.index.codec import Codec
from jcolbert.index.docstore import DocStore
from jcolbert.index.manifest import MANIFEST, DocStoreEntry, Manifest, Settings
from jcolbert.index.query import Hit
from jcolbert.index.snapshot import Loader, Snapshot

DEFAULT_EXACT_THRESHOLD = 32_768  # tokens; below this clustering is meaningless and exact search is cheap


class Index:
    """A ColBERT (late-interaction) index on disk. Use `Index.create` or `Index.open`, not the constructor."""

    def __init__(self, path: Path, *, model: Any = None, verify: bool = True, lock_timeout: float = 0.0,
                 progress: bool | None = None, readonly: bool = False, warm: bool = False):
        self.path = Path(path)
        self._lock_timeout = lock_timeout
        self._progress = progress
        self._readonly = readonly
        self._loader = Loader(self.path, verify)
        self._mutex = threading.RLock()
        self._commits = 0  # commits made through this object
        self.last_timings: dict[str, float] = {}  # seconds per phase of the last change (encode, train, write, ...)
        self.last_add: dict[str, int] = {}  # what the last add did: documents, tokens, truncated, commits
        self._snap = self._load_snapshot()
        m = self._snap.manifest
        self._docs = DocStore(self.path / storage.DOCSTORE, uid=m.docstore.uid if m.docstore else None,
                              readonly=readonly)
        self._model = None
        try:
            self._docs.check_count(m.next_doc_num, m.num_live)
            if model is not None:
                self._model = models.check(models.resolve(model), self._snap.manifest, self.path)
            if warm:
                self.warm_up()
        except BaseException:
            self._docs.close()
            raise

    # ------------------------------------------------------------------------------------------- create / open

    @classmethod
    def create(cls, path: str | os.PathLike, model: Any = None, *, nbits: int = 2, dim: int | None = None,
               exact_threshold: int = DEFAULT_EXACT_THRESHOLD, chunk_size: int = build.DEFAULT_CHUNK_SIZE,
               kmeans_niters: int = 8, seed: int = 123, residual: str = "pq", overwrite: bool = False,
               lock_timeout: float = 0.0, progress: bool | None = None, codec: Codec | str | os.PathLike | None = None,
               rerank: str | None = None) -> Index:
        """Make a new, empty index folder.

        model: a loaded ColBERTModel, a model name/path (loaded now, to record its settings), or None for an
        index of precomputed vectors (then `dim` is required). nbits: residual bits per dimension (1, 2, 4).
        exact_threshold: tokens below which vectors are stored exactly and searched exhaustively.
        residual: "pq" (default: a learned 256-entry codebook per residual byte) or "quantile" (ColBERTv2's
        per-dimension buckets). Same size and search speed; on SciFact, exhaustive recall@10 against exact
        MaxSim at nbits=2 is 0.84 with "pq" and ~0.78-0.80 with "quantile" (see codec.py, BENCHMARKS.md).
        codec: a trained `Codec`, or a codec folder / index folder to take it from (`Codec.load`): the index
        starts compressed with it (its nbits and residual win) and never trains its own, so several
        indexes (shards) can share one codec trained on a sample of the whole collection.
        rerank: "int8" or "fp16" keeps an exact tier (rerank.py): a memory-mapped copy of every token vector
        (int8 with a per-token scale: dim + 4 bytes per token; fp16: 2 * dim) read only for the final
        candidates, so the final ranking is MaxSim over (near-)original vectors while search keeps the
        compressed codes hot. None (default): the codes only.

        The folder must not exist, be empty, or hold the remains of an interrupted create (reused); an
        existing index is replaced only with overwrite=True. Nothing is an index until its manifest is
        written, the last step, so a create killed half-way leaves remains that the next create reuses.
        """
        root = Path(path)
        if isinstance(codec, str | os.PathLike):
            codec = Codec.load(codec)
        if codec is not None and not isinstance(codec, Codec):
            raise InputError(f"codec must be a Codec or a folder, got {type(codec).__name__}")
        if codec is not None:
            nbits, residual = codec.nbits, codec.residual
        if nbits not in (1, 2, 4):
            raise InputError(f"nbits must be 1, 2 or 4, got {nbits!r}")
        if residual not in ("quantile", "pq"):
            raise InputError(f"residual must be 'quantile' or 'pq', got {residual!r}")
        if rerank not in (None, "int8", "fp16"):
            raise InputError(f"rerank must be 'int8', 'fp16' or None, got {rerank!r}")
        loaded = models.resolve(model) if model is not None else None
        config = loaded.config.to_dict() if loaded is not None else None
        if config is not None:
            if dim is not None and dim != config["dim"]:
                raise InputError(f"dim={dim} disagrees with the model's dim {config['dim']}")
            dim = int(config["dim"])
        if dim is None and codec is not None:
            dim = codec.dim
        if dim is None or not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
            raise InputError("Index.create needs a model, or dim= (a positive integer) for an embeddings-only index")
        if dim % (8 // nbits) != 0:
            raise InputError(f"dim {dim} must be a multiple of {8 // nbits} for nbits={nbits}")
        if codec is not None and codec.dim != dim:
            raise InputError(f"the codec is for {codec.dim}-dimensional vectors, the index for {dim}")
        for name, value in (("exact_threshold", exact_threshold), ("chunk_size", chunk_size),
                            ("kmeans_niters", kmeans_niters)):
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "exact_threshold" else 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        settings = Settings(exact_threshold, chunk_size, kmeans_niters, seed, residual, rerank)
        folder.prepare(root, overwrite, lock_timeout)
        with storage.WriterLock(root, lock_timeout):
            try:
                uid = secrets.token_hex(16)
                DocStore.create(root / storage.DOCSTORE, uid)
                m = Manifest(0, dim, nbits, config, settings, docstore=DocStoreEntry(uid))
                if codec is not None:
                    m = m.replace(codec=codec.write(storage.new_dir(root, "codec", 0)))
                storage.fsync_dir(root)
                storage.write_manifest(root, m)
            except (OSError, sqlite3.Error) as exc:
                raise storage.os_error(exc, root, "creating the index") or exc from None
        return cls(root, model=loaded, lock_timeout=lock_timeout, progress=progress)

    @classmethod
    def open(cls, path: str | os.PathLike, model: Any = None, *, verify: bool = True, lock_timeout: float = 0.0,
             progress: bool | None = None, readonly: bool = False, warm: bool = False) -> Index:
        """Open an existing index. The model it was built with is recorded and loaded only when text must be
        encoded (never by opening); pass `model` to reuse a loaded one (refused if its dim/markers differ).
        verify: check every array file's crc32 against the manifest (sizes and shapes are always checked).
        readonly: never write anything, never take the writer lock (read-only media, shared folders).
        warm: call `warm_up()` before returning (a server or a loop of queries: the first query is then as fast
        as the others)."""
        return cls(Path(path), model=model, verify=verify, lock_timeout=lock_timeout, progress=progress,
                   readonly=readonly, warm=warm)

    def warm_up(self, *, model: bool = True) -> float:
        """Pay now, once, what the first search would: the codec's tables, the segments' inverse norms, the
        recorded model (loaded when `model` and the index has one) and one query through every stage (lazy
        imports, kernel set-up). Returns the seconds it took. Searches afterwards run at their warm speed."""
        started, snap = time.perf_counter(), self._current()
        query.warm(snap.segments, snap.codec)
        if model and (self._model is not None or snap.manifest.model is not None):
            self.search("warm up", k=1)
        else:
            self.search_embeddings(np.eye(1, self.dim, dtype=np.float32), k=1)
        return time.perf_counter() - started

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        """Whether `path` holds an index (a folder with a manifest; see Index.open for whether it is sound)."""
        return os.path.isfile(Path(path) / MANIFEST)

    def close(self) -> None:
        self._docs.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, documents={len(self)}, mode={self.mode!r})"

    # ------------------------------------------------------------------------------------------- snapshot

    def _load_snapshot(self) -> Snapshot:
        for _attempt in range(5):
            try:
                stamp = storage.manifest_stamp(self.path)
            except FileNotFoundError:
                stamp = (0, 0, 0)
            m = storage.read_manifest(self.path)
            try:
                return self._loader.load(m, stamp)
            except IndexFormatError:
                # a concurrent commit may have replaced files between our manifest read and the open: retry
                if storage.manifest_stamp(self.path) != stamp:
                    continue
                raise
        raise IndexFormatError(f"{self.path}: the index kept changing while being opened; retry")

    def _current(self) -> Snapshot:
        """The latest committed snapshot (reloaded when another process has committed since)."""
        with self._mutex:
            try:
                stamp = storage.manifest_stamp(self.path)
            except FileNotFoundError:
                raise IndexFormatError(f"no index at {self.path}: {MANIFEST} is missing") from None
            if stamp != self._snap.stamp:
                self._snap = self._load_snapshot()
            return self._snap

    def refresh(self) -> None:
        """Pick up commits made by other processes now (searches also do this on their own)."""
        self._current()

    # ------------------------------------------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        return self._snap.manifest.dim

    @property
    def nbits(self) -> int:
        return self._snap.manifest.nbits

    @property
    def mode(self) -> str:
        """'exact' (vectors stored as float32, exhaustive search) or 'plaid' (compressed, PLAID search)."""
        return "plaid" if self._current().codec is not None else "exact"

    @property
    def rerank(self) -> str | None:
        """The exact tier's precision ("int8", "fp16") or None (Index.create(rerank=); rerank.py)."""
        return self._snap.manifest.settings.rerank

    @property
    def codec(self) -> Codec | None:
        """The codec compressed segments use (None while the index is exact); shareable: Index.create(codec=)."""
        return self._current().codec

    @property
    def model(self) -> Any:
        """The encoder: the one passed in, or the recorded one, loaded on first use."""
        if self._model is None:
            config = self._snap.manifest.model
            if config is None:
                raise InputError(
                    f"index {self.path} was built from precomputed vectors (no model recorded): use "
                    "add_embeddings / search_embeddings, or open it with model=..."
                )
            self._model = models.load_recorded(config, self.path)
        return self._model

    def __len__(self) -> int:
        return self._current().num_live

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self._current().find(self._docs, [doc_id])[0].any())

    # ------------------------------------------------------------------------------------------- writing

    @contextmanager
    def _writing(self, doing: str) -> Iterator[write.Txn]:
        """Hold the writer lock; start from the latest manifest with leftovers of crashed commits removed;
        commit the transaction's manifest at the end if it changed. OS errors become one clear line."""
        if self._readonly:
            raise IndexReadOnlyError(f"index {self.path} was opened readonly=True; open it again to change it")
        try:
            with storage.WriterLock(self.path, self._lock_timeout), self._mutex:
                started = time.perf_counter()
                snap = self._load_snapshot()
                self._snap = snap
                folder.collect_garbage(self.path, snap.manifest)
                self._docs.delete_from(snap.manifest.next_doc_num)
                txn = write.Txn(self.path, snap, self._docs, snap.manifest, self._progress, self.last_timings)
                if snap.manifest.docstore is None:  # an index of format 1 or 2: its store gets row checks now
                    uid = secrets.token_hex(16)
                    self._docs.migrate(uid)
                    txn.m = txn.m.replace(docstore=DocStoreEntry(uid))
                yield txn
                write.merge_appended(txn, snap.manifest)  # small trailing segments merged, in this commit
                if txn.m != snap.manifest:
                    t = time.perf_counter()
                    self._docs.checkpoint()  # before the commit point: nothing after it can fail the change
                    new = txn.m.replace(generation=snap.manifest.generation + 1)
                    storage.write_manifest(self.path, new)  # the commit point
                    self._commits += 1
                    build.add_time(self.last_timings, "commit_s", t)
                    with contextlib.suppress(OSError, IndexFormatError):  # replaced files; else the next writer
                        folder.collect_garbage(self.path, new)
                build.add_time(self.last_timings, "total_s", started)
        except (OSError, sqlite3.Error) as exc:
            raise storage.os_error(exc, self.path, doing) or _store_error(exc, self.path) from None

    def add(self, documents: Iterable[str | dict[str, Any]], *, batch_size: int = 32,
            max_length: int | None = None, long_documents: str = "truncate", progress: Progress | None = None,
            commit_every: int | None = None) -> list[str]:
        """Encode and add documents: strings (ids assigned) or {"id", "text", "metadata"} dicts. Returns ids.

        Documents are encoded, compressed and written chunk by chunk (`chunk_size` of Index.create), each
        encoded exactly once, so memory stays bounded for any input, a generator included (a list is checked
        whole before anything is encoded). max_length / long_documents are passed to the encoder.

        progress: called as progress(documents_done, total_or_None) after each encoder call (every
        4 * batch_size documents). commit_every: commit every N documents (an interrupted add keeps what was
        committed; ids already added are then refused by the next add, so resume by skipping them); by
        default the whole call is one commit (all or nothing). Either way a new index crossing
        `exact_threshold` trains its codec on a sample of *all* the documents of the call, once, at the end.
        Afterwards `last_timings` holds seconds per phase (encode_s, write_*_s, sample_s, train_s, commit_s,
        total_s) and `last_add` the counts (documents, tokens, truncated, commits)."""
        return adding.add_texts(self, documents, batch_size=batch_size, max_length=max_length,
                                long_documents=long_documents, progress=progress, commit_every=commit_every)

    def add_embeddings(self, ids: Sequence[str] | None, vectors: Sequence[Any], texts: Sequence[str] | None = None,
                       metadata: Sequence[dict | None] | None = None, *, progress: Progress | None = None,
                       commit_every: int | None = None) -> list[str]:
        """Add documents from precomputed token vectors (a list of [tokens_i, dim] arrays). ids=None assigns ids.
        progress / commit_every / last_timings / last_add: as for `add` (progress after each chunk)."""
        return adding.add_vectors(self, ids, vectors, texts, metadata, progress=progress, commit_every=commit_every)

    def train_codec(self, sample: Any = None, *, num_centroids: int | None = None) -> Codec:
        """Train a codec explicitly and store the index compressed with it (recompressing what it holds).

        sample: token vectors [n, dim] (or a list of [tokens, dim] arrays), e.g. drawn from a whole
        collection of which this index is one shard; default: a sample of what the index holds. The number
        of centroids follows ColBERTv2's rule for the larger of the sample and the index (or num_centroids).
        Returns the codec (`codec.save(folder)` shares it; `Index.create(..., codec=...)` adopts it)."""
        return adding.train_codec(self, sample, num_centroids)

    def adopt_codec(self, codec: Codec | str | os.PathLike) -> None:
        """Store the index compressed with a codec trained elsewhere (a Codec, or a codec / index folder),
        recompressing what it holds: how the shards of one collection come to share one codec."""
        adding.adopt_codec(self, Codec.load(codec) if isinstance(codec, str | os.PathLike) else codec)

    def delete(self, ids: str | Iterable[str], *, missing_ok: bool = False) -> int:
        """Delete documents by id; they disappear from search results at once. Returns how many were deleted.

        Contract (the CLI's `jcolbert delete` follows it): an id that is not in the index is an InputError
        naming it, and then nothing at all is deleted; with missing_ok=True unknown ids are ignored and the
        others deleted. Deleting is a tombstone: `compact` reclaims the space."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not ids:
            return 0
        with self._writing("deleting documents") as txn:
            return write.delete(txn, ids, missing_ok=missing_ok)

    def compact(self, *, recluster: bool | str = "auto") -> dict[str, Any]:
        """Rewrite all segments as one, without deleted documents, and remove leftovers of crashed writers.

        recluster: True re-trains the centroids on the current collection (from the stored, decompressed
        vectors) and recompresses it; "auto" does so when `stats()["recluster_recommended"]` (the collection
        has at least doubled in tokens since the centroids were trained); False keeps the codec. An index
        left exact above its threshold by an interrupted build is compressed.
        Returns {"documents", "removed", "reclustered"}."""
        self.last_timings.clear()
        with self._writing("compacting the index") as txn:
            return write.compact(txn, recluster=recluster, reason=_recluster_reason(txn.snap))

    def rebuild(self) -> dict[str, Any]:
        """Re-train the centroids on the whole current collection and recompress it (compact + recluster)."""
        return self.compact(recluster=True)

    # ------------------------------------------------------------------------------------------- reading

    def get(self, ids: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        """Stored document(s) by id: {"id", "text", "metadata"} (text/metadata None when not stored)."""
        single = isinstance(ids, str)
        ids = [ids] if single else list(ids)
        _, pos, nums = self._current().find(self._docs, ids)
        num_of = {int(p): int(n) for p, n in zip(pos, nums, strict=True)}
        missing = [x for i, x in enumerate(ids) if i not in num_of]
        if missing:
            raise InputError(f"no document with id {ingest.names(sorted(set(missing)))} in the index")
        rows = self._docs.rows(list(num_of.values()), "id,text,metadata")
        out = [dict(zip(("id", "text", "metadata"), rows[num_of[i]], strict=True)) for i in range(len(ids))]
        return out[0] if single else out

    def ids(self) -> list[str]:
        """Ids of all live documents, in insertion order."""
        nums = np.sort(self._current().live_nums())
        rows = self._docs.rows(nums, "id")
        return [rows[int(n)][0] for n in nums]

    def search(self, query_or_queries: str | Sequence[str], k: int = 10, filter: Any = None, *,
               return_text: bool = False, return_metadata: bool = False, batch_size: int = 32,
               **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Top-k documents for a query (list of Hit) or for each of several queries (list of lists).

        filter: restricts the search before top-k (filters.py has the exact semantics): a `Filter`, a spec
        dict ({"lang": "en", "year": [2023, 2024], "ids": [...]}), a collection of ids, or a
        callable(metadata dict) -> bool. knobs: ncells, centroid_score_threshold, ndocs (PLAID; defaults by
        k as in the reference) and mode ("auto", "plaid" or "exact" for exhaustive MaxSim).
        """
        single = isinstance(query_or_queries, str)
        queries = [query_or_queries] if single else list(query_or_queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"query {i} must be a non-empty string, got {q!r}")
        query.check_k(k)
        query.check_knobs(dict(knobs))
        if not queries:
            return []
        Q = _as_array(self.model.encode_queries(queries, batch_size=batch_size, show_progress=False))
        out = self.search_embeddings(Q, k, filter, return_text=return_text, return_metadata=return_metadata, **knobs)
        return out[0] if single else out

    def search_embeddings(self, Q: Any, k: int = 10, filter: Any = None, *, return_text: bool = False,
                          return_metadata: bool = False, **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Search with query vectors: [query_tokens, dim] (one query -> list of Hit) or [n, query_tokens, dim]."""
        query.check_k(k)
        mode = query.check_knobs(knobs)
        Q = _as_array(Q)
        if Q.ndim not in (2, 3) or Q.shape[-1] != self.dim or Q.shape[-2] == 0:
            raise InputError(f"query vectors must be [query_tokens, {self.dim}] or [n, query_tokens, {self.dim}], "
                             f"got shape {list(Q.shape)}")
        single = Q.ndim == 2
        if single:
            Q = Q[None]
        if not np.isfinite(Q).all():
            raise InputError("query vectors contain NaN or infinite values")
        Q = query.trim_padding(Q)
        snap = self._current()
        allowed = query.allowed_masks(snap.segments, self._docs, filter)
        results = query.run(snap.segments, snap.codec, Q, k, allowed, mode, knobs)
        hits = query.to_hits(snap.segments, self._docs, results, return_text, return_metadata)
        return hits[0] if single else hits

    # ------------------------------------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Sizes and settings: documents, tokens, bytes on disk (all files), bytes per token, centroids, ...
        `rerank` (the exact tier), `bytes_per_token_hot` (what search keeps in memory: codes, residuals, IVF,
        codec; float32 vectors while exact) and `bytes_per_token_rerank` (the exact tier, read per query only
        for the final candidates) are per stored token, of the array files alone. `leftovers` lists what crashed writers left behind (counted in bytes_on_disk; compact removes it)."""
        snap = self._current()
        m = snap.manifest
        by_kind = folder.folder_bytes(self.path)
        total = sum(by_kind.values())
        tokens = snap.num_tokens
        reason = _recluster_reason(snap)
        left = folder.leftovers(self.path, m)
        orphan_rows = self._docs.count_from(m.next_doc_num)
        return {
            "path": str(self.path), "format_version": m.format_version, "generation": m.generation,
            "mode": "plaid" if snap.codec else "exact", "dim": m.dim, "nbits": m.nbits,
            "residual": m.settings.residual, "model": (m.model or {}).get("name_or_path"),
            "documents": snap.num_live, "deleted_pending_compaction": sum(s.num_docs - s.num_live for s in snap.segments),
            "tokens": snap.live_tokens, "stored_tokens": tokens, "segments": len(snap.segments),
            "centroids": snap.codec.num_centroids if snap.codec else 0,
            "trained_tokens": m.codec.trained_tokens if m.codec else None,
            "exact_threshold": m.settings.exact_threshold,
            "bytes_on_disk": total, "bytes_per_token": round(total / tokens, 3) if tokens else None,  # per stored token
            "bytes_by_file": dict(sorted(by_kind.items())),
            **folder.tier_bytes(m, tokens),
            "leftovers": {"files": [name for name, _ in left], "bytes": sum(b for _, b in left),
                          "orphan_rows": orphan_rows},
            "recluster_recommended": bool(reason), "recluster_reason": reason,
        }


# ----------------------------------------------------------------------------------------------- helpers


def _recluster_reason(snap: Snapshot) -> str | None:
    if snap.codec is None:
        if write.needs_switch(snap.manifest):
            return (f"the index holds {snap.num_tokens} tokens exactly, above its threshold of "
                    f"{snap.manifest.settings.exact_threshold} (an interrupted build): compact() compresses it")
        return None
    trained = int(snap.manifest.codec.trained_tokens or 0)
    now = snap.num_tokens
    if trained and now >= 2 * trained:
        return (f"the collection has {now} tokens, {now / trained:.1f}x the {trained} the centroids were trained on; "
                "compact() or rebuild() re-clusters it")
    return None


def _store_error(exc: BaseException, path: Path) -> BaseException:
    if isinstance(exc, sqlite3.DatabaseError):
        return IndexFormatError(f"document store {path / storage.DOCSTORE} cannot be changed: {exc}")
    return exc


def _as_array(v: Any) -> np.ndarray:
    return np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32)


__all__ = ["Hit", "Index"]
