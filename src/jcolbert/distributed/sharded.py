"""`ShardedIndex`: one collection in N ordinary index folders (shards) that share one codec.

    index = ShardedIndex.create("big", model="minilm", shards=4)          # backend="local" | "ray"
    index.add(documents)                     # each id routed to one shard by a stable hash (routing.py)
    index.search("a query", k=10)            # scattered to every shard, top-k merged

The same interface as `Index` (add / add_embeddings / search / search_embeddings / delete / compact /
get / ids / stats). Each shard is a folder `Index.open` reads; `shards.json` (manifest.py) lists them.
Shards never train a codec of their own (their exact threshold is out of reach): when the collection
crosses the sharded index's threshold, one codec is trained on a sample drawn from every shard, saved
in the folder, and adopted by all shards, so scores are comparable across shards and exhaustive search
(`mode="exact"`) returns exactly what one index holding everything would.

Atomicity: each shard commits on its own. An add is written in windows (`commit_every`, default
`DEFAULT_WINDOW` documents), each window one commit per shard; an interrupted add keeps what was
committed, and ids already present are refused (resume by skipping them, as `jcolbert index` does).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.distributed import manifest as mf
from jcolbert.distributed import routing
from jcolbert.distributed.results import PartialHits, merge_hits, raise_first
from jcolbert.errors import IndexFormatError, IndexReadOnlyError, InputError, ShardUnavailableError
from jcolbert.index import build, ingest, models, query, storage
from jcolbert.index.codec import Codec, num_centroids_for
from jcolbert.index.index import DEFAULT_EXACT_THRESHOLD, Index
from jcolbert.index.manifest import MAX_COUNT

DEFAULT_WINDOW = 10_000  # documents per commit of each shard when commit_every is not given
SHARD_THRESHOLD = MAX_COUNT  # shards stay exact until the sharded index installs the shared codec


class ShardedIndex:
    """Use `ShardedIndex.create` or `ShardedIndex.open`, not the constructor."""

    def __init__(self, path: Path, *, model: Any = None, backend: str = "local", readonly: bool = False,
                 lock_timeout: float = 0.0, verify: bool = True, **backend_options: Any):
        self.path = Path(path)
        self._readonly, self._lock_timeout = readonly, lock_timeout
        self.last_timings: dict[str, float] = {}
        self.last_add: dict[str, int] = {}
        self.last_search: dict[str, Any] = {}
        self._m = mf.read(self.path)
        self._stamp = _stamp(self.path)
        pending = check_shards(self.path, self._m)
        self._model = None
        if model is not None:
            first = storage.read_manifest(self.path / self._m.shards[0].dir)
            self._model = models.check(models.resolve(model), first, self.path)
        self._codec: Codec | None = None
        paths = [self.path / s.dir for s in self._m.shards]
        if backend == "local":
            from jcolbert.distributed.local_backend import LocalBackend

            self._backend = LocalBackend(paths, readonly=readonly, lock_timeout=lock_timeout, verify=verify,
                                         **backend_options)
        elif backend == "ray":
            from jcolbert.distributed.ray_backend import RayBackend

            self._backend = RayBackend(paths, readonly=readonly, lock_timeout=lock_timeout, verify=verify,
                                       **backend_options)
        else:
            raise InputError(f"backend must be 'local' or 'ray', got {backend!r}")
        if pending:
            try:
                if readonly:
                    raise IndexFormatError(
                        f"{self.path}: shard(s) {', '.join(self._m.shards[i].dir for i in pending)} have not "
                        "adopted the shared codec yet (an interrupted change); open the index writable to finish it")
                self._each("adopt", {i: ((str(self.path / self._m.codec.dir),), {}) for i in pending})
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------------------------------------- create / open

    @classmethod
    def create(cls, path: str | os.PathLike, model: Any = None, *, shards: int, dim: int | None = None,
               nbits: int = 2, backend: str = "local", exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
               codec: Codec | str | os.PathLike | None = None, residual: str = "pq", lock_timeout: float = 0.0,
               **backend_options: Any) -> ShardedIndex:
        """Make a new sharded index: `shards` empty index folders and shards.json (written last: the commit).

        model / dim / nbits / residual: as for `Index.create`. codec: a trained codec (or its folder) every
        shard adopts now; otherwise one is trained when the collection reaches `exact_threshold` tokens."""
        root = Path(path)
        if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= mf.MAX_SHARDS:
            raise InputError(f"shards must be an integer from 1 to {mf.MAX_SHARDS}, got {shards!r}")
        if backend not in ("local", "ray"):
            raise InputError(f"backend must be 'local' or 'ray', got {backend!r}")
        if not isinstance(exact_threshold, int) or isinstance(exact_threshold, bool) or exact_threshold < 0:
            raise InputError(f"exact_threshold must be a non-negative integer, got {exact_threshold!r}")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InputError(f"{root} exists and is not an empty folder; a sharded index is created in a new folder")
        if isinstance(codec, str | os.PathLike):
            codec = Codec.load(codec)
        loaded = models.resolve(model) if model is not None else None
        root.mkdir(parents=True, exist_ok=True)
        for i in range(shards):
            Index.create(root / mf.shard_dir(i), model=loaded, dim=dim, nbits=nbits, residual=residual,
                         exact_threshold=SHARD_THRESHOLD, codec=codec, progress=False).close()
        first = storage.read_manifest(root / mf.shard_dir(0))
        ref = None
        if codec is not None:
            ref = _codec_ref(root, codec, first.codec)
        m = mf.ShardsManifest(0, first.dim, first.nbits, first.model, exact_threshold,
                              tuple(mf.ShardEntry(mf.shard_dir(i), 0) for i in range(shards)), ref)
        mf.write(root, m)
        return cls(root, model=loaded, backend=backend, lock_timeout=lock_timeout, **backend_options)

    @classmethod
    def open(cls, path: str | os.PathLike, model: Any = None, *, backend: str = "local", readonly: bool = False,
             lock_timeout: float = 0.0, verify: bool = True, **backend_options: Any) -> ShardedIndex:
        """Open a sharded index. Every shard is checked first: present, same dim / nbits / model, the shared
        codec (IndexFormatError naming the shard otherwise). backend: "local" (threads) or "ray" (an actor
        per shard; backend_options: address=, actor_options=, timeout_s=)."""
        return cls(Path(path), model=model, backend=backend, readonly=readonly, lock_timeout=lock_timeout,
                   verify=verify, **backend_options)

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        return mf.exists(path)

    def close(self) -> None:
        backend = getattr(self, "_backend", None)
        if backend is not None:
            backend.close()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ShardedIndex({str(self.path)!r}, shards={self.num_shards}, backend={self.backend!r})"

    # ------------------------------------------------------------------------------------------- properties

    def refresh(self) -> None:
        """Pick up shards.json as another process committed it (the codec, counts); searches need no refresh."""
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            self._m, self._stamp, self._codec = mf.read(self.path), stamp, None

    @property
    def num_shards(self) -> int:
        return len(self._m.shards)

    @property
    def backend(self) -> str:
        return self._backend.kind

    @property
    def dim(self) -> int:
        return self._m.dim

    @property
    def nbits(self) -> int:
        return self._m.nbits

    @property
    def mode(self) -> str:
        return "plaid" if self._m.codec else "exact"

    @property
    def codec(self) -> Codec | None:
        if self._m.codec is None:
            return None
        if self._codec is None:
            self._codec = Codec.load(self.path / self._m.codec.dir)
        return self._codec

    @property
    def model(self) -> Any:
        if self._model is None:
            if self._m.model is None:
                raise InputError(f"sharded index {self.path} was built from precomputed vectors (no model recorded): "
                                 "use add_embeddings / search_embeddings, or open it with model=...")
            self._model = models.load_recorded(self._m.model, self.path)
        return self._model

    def shard_of(self, doc_id: str) -> int:
        """The shard (0-based) that holds, or would hold, `doc_id`."""
        return routing.shard_of(ingest.check_id(doc_id, "id"), self.num_shards)

    def __len__(self) -> int:
        return int(sum(self._each("count", self._all(()), retry=True).values()))

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._contains([doc_id])[0]

    # ------------------------------------------------------------------------------------------- fan-out

    def _all(self, args: tuple, kwargs: dict[str, Any] | None = None) -> dict[int, tuple[tuple, dict]]:
        return {i: (args, kwargs or {}) for i in range(self.num_shards)}

    def _each(self, op: str, calls: dict[int, tuple[tuple, dict]], *, retry: bool = False) -> dict[int, Any]:
        out = self._backend.call(op, calls, retry=retry)
        raise_first(out)
        return out

    def _contains(self, ids: list[str]) -> list[bool]:
        groups = routing.group(ids, self.num_shards)
        found = self._each("contains", {s: (([ids[p] for p in pos],), {}) for s, pos in groups.items()}, retry=True)
        out = [False] * len(ids)
        for s, pos in groups.items():
            for p, f in zip(pos, found[s], strict=True):
                out[p] = bool(f)
        return out

    # ------------------------------------------------------------------------------------------- writing

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """The sharded writer lock, starting from the latest shards.json."""
        if self._readonly:
            raise IndexReadOnlyError(f"sharded index {self.path} was opened readonly=True; open it again to change it")
        with storage.WriterLock(self.path, self._lock_timeout):
            self.refresh()
            yield
            self._stamp = _stamp(self.path)

    def add(self, documents: Iterable[str | dict[str, Any]], *, batch_size: int = 32, max_length: int | None = None,
            long_documents: str = "truncate", progress: Any = None, commit_every: int | None = None) -> list[str]:
        """Encode documents (strings or {"id", "text", "metadata"} dicts) and add each to the shard its id
        routes to. Returns the ids (strings get ids "0", "1", ... unique across shards). See the module
        docstring for windows and commits; progress(done, total_or_None) after each encoder call."""
        from jcolbert.distributed import adding as sharded_adding

        return sharded_adding.add_texts(self, documents, batch_size=batch_size, max_length=max_length,
                                        long_documents=long_documents, progress=progress,
                                        window=_window(commit_every))

    def add_embeddings(self, ids: Sequence[str] | None, vectors: Sequence[Any], texts: Sequence[str] | None = None,
                       metadata: Sequence[dict | None] | None = None, *, progress: Any = None,
                       commit_every: int | None = None) -> list[str]:
        """Add precomputed [tokens_i, dim] arrays (ids=None assigns ids), routed by id as `add`."""
        from jcolbert.distributed import adding as sharded_adding

        return sharded_adding.add_vectors(self, ids, vectors, texts, metadata, progress=progress,
                                          window=_window(commit_every))

    def delete(self, ids: str | Iterable[str], *, missing_ok: bool = False) -> int:
        """Delete by id, as `Index.delete`: an unknown id is an InputError naming it and nothing is deleted."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        for i, x in enumerate(ids):
            ingest.check_id(x, f"ids[{i}]")
        if not ids:
            return 0
        with self._writer():
            found = self._contains(ids)
            missing = sorted({x for x, f in zip(ids, found, strict=True) if not f})
            if missing and not missing_ok:
                raise InputError(f"no document with id {ingest.names(missing)} in the index; nothing was deleted")
            groups = routing.group(ids, self.num_shards)
            done = self._each("delete", {s: (([ids[p] for p in pos],), {}) for s, pos in groups.items()})
            self._commit_counts()
            return int(sum(done.values()))

    def compact(self, *, recluster: bool | str = "auto") -> dict[str, Any]:
        """Compact every shard (in parallel); re-train the shared codec on a sample of all shards when
        recluster=True, or "auto" and the collection has doubled since it was trained (or crossed the
        exact threshold without a codec). Returns {"documents", "removed", "reclustered"}."""
        self.last_timings.clear()
        with self._writer():
            started = time.perf_counter()
            done = self._each("compact", self._all(()))
            reason = self.recluster_reason()
            reclustered = bool(recluster is True or (recluster == "auto" and reason))
            if reclustered:
                self._install_codec(self._train_on_shards())
            self._commit_counts()
            build.add_time(self.last_timings, "total_s", started)
        return {"documents": len(self), "removed": int(sum(d["removed"] for d in done.values())),
                "reclustered": reclustered}

    def rebuild(self) -> dict[str, Any]:
        return self.compact(recluster=True)

    def train_codec(self, sample: Any = None, *, num_centroids: int | None = None) -> Codec:
        """Train the shared codec (default: on a sample drawn from every shard) and have every shard adopt it."""
        with self._writer():
            codec = self._train_on_shards(num_centroids) if sample is None else Codec.train(
                sample, nbits=self.nbits, num_centroids=num_centroids, total_tokens=self._tokens())
            self._install_codec(codec)
            self._commit_counts()
        return codec

    def recluster_reason(self) -> str | None:
        tokens = self._tokens()
        if self._m.codec is None:
            if tokens >= self._m.exact_threshold and tokens:
                return f"{tokens} tokens are stored exactly, above the threshold of {self._m.exact_threshold}"
            return None
        trained = self._m.codec.trained_tokens
        if trained and tokens >= 2 * trained:
            return f"the collection has {tokens} tokens, {tokens / trained:.1f}x the {trained} the codec was trained on"
        return None

    def _tokens(self) -> int:
        return int(sum(s["tokens"] for s in self._each("stats", self._all(()), retry=True).values()))

    def _train_on_shards(self, num_centroids: int | None = None) -> Codec:
        """One codec for all shards, trained on a sample drawn from each in proportion to its tokens."""
        started = time.perf_counter()
        tokens = {i: s["tokens"] for i, s in self._each("stats", self._all(()), retry=True).items()}
        total = sum(tokens.values())
        if not total:
            raise InputError(f"sharded index {self.path} is empty: there is nothing to train a codec on")
        k = num_centroids or num_centroids_for(total)
        budget = min(max(build.SAMPLE_PER_CENTROID * k, 1 << 16), build.MAX_SAMPLE)
        parts = self._each("sample", {i: ((int(np.ceil(budget * t / total)), 123 + i), {})
                                      for i, t in tokens.items() if t}, retry=True)
        sample = np.concatenate([np.asarray(parts[i], dtype=np.float32) for i in sorted(parts)])
        build.add_time(self.last_timings, "sample_s", started)
        started = time.perf_counter()
        codec = Codec.train(sample, nbits=self.nbits, num_centroids=k, total_tokens=total)
        build.add_time(self.last_timings, "train_s", started)
        return codec

    def _install_codec(self, codec: Codec) -> None:
        """Save the codec in the folder, commit shards.json naming it, then have every shard adopt it
        (a crash in between leaves shards that a writable open finishes, see check_shards)."""
        if codec.dim != self.dim or codec.nbits != self.nbits:
            raise InputError(f"the codec is for dim {codec.dim}, nbits {codec.nbits}; the index has dim {self.dim}, "
                             f"nbits {self.nbits}")
        started = time.perf_counter()
        folder = storage.new_dir(self.path, "codec", self._m.generation + 1)
        codec.save(folder)
        entry = Codec.load(folder)  # the arrays as stored: their crc32s are what every shard will record
        old = self._m.codec
        self._m = self._m.replace(generation=self._m.generation + 1,
                                  codec=mf.CodecRef(folder.name, _fingerprint_of(folder), entry.num_centroids,
                                                    int(codec.info.get("trained_tokens") or 0)))
        mf.write(self.path, self._m)
        self._codec = entry
        self._each("adopt", self._all((str(folder),)))
        if old is not None:
            _remove_tree(self.path / old.dir)
        build.add_time(self.last_timings, "adopt_s", started)

    def _commit_counts(self, **changes: Any) -> None:
        counts = self._each("count", self._all(()), retry=True)
        shards = tuple(mf.ShardEntry(s.dir, int(counts[i])) for i, s in enumerate(self._m.shards))
        self._m = self._m.replace(generation=self._m.generation + 1, shards=shards, **changes)
        mf.write(self.path, self._m)

    # ------------------------------------------------------------------------------------------- reading

    def get(self, ids: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        single = isinstance(ids, str)
        ids = [ids] if single else list(ids)
        found = self._contains(ids)
        missing = sorted({x for x, f in zip(ids, found, strict=True) if not f})
        if missing:
            raise InputError(f"no document with id {ingest.names(missing)} in the index")
        groups = routing.group(ids, self.num_shards)
        rows = self._each("get", {s: (([ids[p] for p in pos],), {}) for s, pos in groups.items()}, retry=True)
        out: list[Any] = [None] * len(ids)
        for s, pos in groups.items():
            for p, row in zip(pos, rows[s], strict=True):
                out[p] = row
        return out[0] if single else out

    def ids(self) -> list[str]:
        """Ids of all live documents: shard by shard, each in insertion order."""
        per = self._each("ids", self._all(()), retry=True)
        return [x for i in range(self.num_shards) for x in per[i]]

    def search(self, query_or_queries: str | Sequence[str], k: int = 10, filter: Any = None, *,
               return_text: bool = False, return_metadata: bool = False, batch_size: int = 32,
               partial: bool = False, **knobs: Any) -> Any:
        """As `Index.search`, over every shard. partial=True: shards that stay down after one retry are left
        out instead of failing the search; the hit lists are then `PartialHits` saying which shards answered."""
        single = isinstance(query_or_queries, str)
        queries = [query_or_queries] if single else list(query_or_queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"query {i} must be a non-empty string, got {q!r}")
        query.check_k(k)
        query.check_knobs(dict(knobs))
        if not queries:
            return []
        Q = self.model.encode_queries(queries, batch_size=batch_size, show_progress=False)
        Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
        out = self.search_embeddings(Q, k, filter, return_text=return_text, return_metadata=return_metadata,
                                     partial=partial, **knobs)
        return out[0] if single else out

    def search_embeddings(self, Q: Any, k: int = 10, filter: Any = None, *, return_text: bool = False,
                          return_metadata: bool = False, partial: bool = False, **knobs: Any) -> Any:
        """Scatter the query vectors to every shard, gather each shard's top-k, merge them into one top-k."""
        query.check_k(k)
        query.check_knobs(dict(knobs))
        Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
        if Q.ndim not in (2, 3) or Q.shape[-1] != self.dim or Q.shape[-2] == 0:
            raise InputError(f"query vectors must be [query_tokens, {self.dim}] or [n, query_tokens, {self.dim}], "
                             f"got shape {list(Q.shape)}")
        single = Q.ndim == 2
        Q3 = Q[None] if single else Q
        started = time.perf_counter()
        answers = self._backend.call("search", self._all((Q3, int(k), filter, return_text, return_metadata, knobs)),
                                     retry=True)
        gathered = time.perf_counter()
        down = {i: a for i, a in answers.items() if isinstance(a, ShardUnavailableError)}
        raise_first({i: a for i, a in answers.items() if i not in down})
        if down and not partial:
            raise next(iter(down.values()))
        ok = sorted(i for i in answers if i not in down)
        merged = [merge_hits([answers[i][q] for i in ok], int(k)) for q in range(len(Q3))]
        names = [self._m.shards[i].dir for i in range(self.num_shards)]
        self.last_search = {"answered": [names[i] for i in ok], "failed": {names[i]: str(e) for i, e in down.items()},
                            "scatter_gather_s": gathered - started, "merge_s": time.perf_counter() - gathered}
        if partial:
            merged = [PartialHits(h, self.last_search["answered"], self.last_search["failed"]) for h in merged]
        return merged[0] if single else merged

    def warm_up(self, *, model: bool = True) -> float:
        """Index.warm_up for every shard (codec tables, norms, one query through every stage) and, when `model`
        and a model is recorded, one query through the encoder. Returns the seconds it took."""
        started = time.perf_counter()
        if model and (self._model is not None or self._m.model is not None):
            self.model.encode_queries(["warm up"], show_progress=False)
        self._each("warm_up", self._all(()), retry=True)
        return time.perf_counter() - started

    # ------------------------------------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Totals over the shards, the shared codec, and one line per shard."""
        self.refresh()
        per = self._each("stats", self._all(()), retry=True)
        shards = [per[i] for i in range(self.num_shards)]
        tokens = sum(s["tokens"] for s in shards)
        on_disk = sum(s["bytes_on_disk"] for s in shards) + _tree_bytes(self.path, self._m)
        reason = self.recluster_reason()
        return {
            "path": str(self.path), "sharded": True, "backend": self.backend, "shards": self.num_shards,
            "generation": self._m.generation, "mode": self.mode, "dim": self.dim, "nbits": self.nbits,
            "model": (self._m.model or {}).get("name_or_path"), "routing": self._m.routing,
            "documents": sum(s["documents"] for s in shards),
            "deleted_pending_compaction": sum(s["deleted_pending_compaction"] for s in shards),
            "tokens": tokens, "centroids": self._m.codec.num_centroids if self._m.codec else 0,
            "trained_tokens": self._m.codec.trained_tokens if self._m.codec else None,
            "exact_threshold": self._m.exact_threshold, "bytes_on_disk": on_disk,
            "bytes_per_token": round(on_disk / tokens, 3) if tokens else None,
            "recluster_recommended": bool(reason), "recluster_reason": reason,
            "per_shard": [{"shard": self._m.shards[i].dir, "documents": s["documents"], "tokens": s["tokens"],
                           "segments": s["segments"], "bytes_on_disk": s["bytes_on_disk"]}
                          for i, s in enumerate(shards)],
        }


# ----------------------------------------------------------------------------------------------- checks


def check_shards(root: Path, m: mf.ShardsManifest) -> list[int]:
    """Every shard folder present (a real folder, not a link), same dim / nbits / model, and the shared
    codec; returns the shards that have not adopted the shared codec yet (an interrupted install)."""
    pending = []
    reference = None
    for i, entry in enumerate(m.shards):
        where = root / entry.dir
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            raise IndexFormatError(f"{root}: shard {entry.dir} is missing (no folder {where})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise IndexFormatError(f"{root}: shard {entry.dir} is not a folder (a link or a file); refusing it")
        try:
            sm = storage.read_manifest(where)
        except IndexFormatError as exc:
            raise IndexFormatError(f"{root}: shard {entry.dir} cannot be opened: {exc}") from None
        if (sm.dim, sm.nbits) != (m.dim, m.nbits):
            raise IndexFormatError(f"{root}: shard {entry.dir} has dim {sm.dim}, nbits {sm.nbits}; the sharded index "
                                   f"has dim {m.dim}, nbits {m.nbits}")
        if not _same_model(sm.model, m.model):
            raise IndexFormatError(f"{root}: shard {entry.dir} was built with model "
                                   f"{(sm.model or {}).get('name_or_path')!r}, the sharded index with "
                                   f"{(m.model or {}).get('name_or_path')!r} (settings differ)")
        fp = mf.codec_fingerprint(sm.codec) if sm.codec else None
        if m.codec is None and fp is not None:
            raise IndexFormatError(f"{root}: shard {entry.dir} has a codec of its own, the sharded index none; "
                                   "shards of different codecs cannot be searched together")
        if m.codec is not None and fp is None:
            pending.append(i)
        elif m.codec is not None and fp != m.codec.fingerprint:
            raise IndexFormatError(f"{root}: shard {entry.dir} uses a different codec than the other shards "
                                   f"({fp} != {m.codec.fingerprint}); its scores are not comparable")
        reference = reference or sm
    if m.codec is not None:
        storage.check_regular(root / m.codec.dir / "codec.json", "shared codec manifest")
    return pending


def _same_model(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    def strip(d: dict[str, Any]) -> dict[str, Any]:  # dtype: the precision documents were encoded at, not a
        return {k: v for k, v in d.items() if k != "dtype"}  # compatibility field (DEVELOPERS.md)

    return (a is None and b is None) or (a is not None and b is not None and strip(a) == strip(b))


def _fingerprint_of(folder: Path) -> str:
    """The fingerprint an index adopting the codec folder will record (its arrays, byte for byte)."""
    import json

    from jcolbert.index.manifest import CodecEntry

    doc = json.loads((folder / "codec.json").read_text())
    entry = CodecEntry.parse({**doc["codec"], "dir": "codec-000000-000000"}, "codec", doc["dim"], doc["codec"]["nbits"])
    return mf.codec_fingerprint(entry)


def _codec_ref(root: Path, codec: Codec, entry: Any) -> mf.CodecRef:
    folder = storage.new_dir(root, "codec", 0)
    codec.save(folder)
    return mf.CodecRef(folder.name, mf.codec_fingerprint(entry), codec.num_centroids,
                       int(codec.info.get("trained_tokens") or 0))


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)


def _tree_bytes(root: Path, m: mf.ShardsManifest) -> int:
    total = 0
    for name in (mf.SHARDS_MANIFEST, m.codec.dir if m.codec else None):
        p = root / name if name else None
        if p is None or not p.exists():
            continue
        total += p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    return total


def _stamp(root: Path) -> tuple[int, int, int]:
    st = os.lstat(root / mf.SHARDS_MANIFEST)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _window(commit_every: int | None) -> int:
    if commit_every is not None and (not isinstance(commit_every, int) or isinstance(commit_every, bool)
                                     or commit_every < 1):
        raise InputError(f"commit_every must be a positive integer or None, got {commit_every!r}")
    return commit_every or DEFAULT_WINDOW


__all__ = ["ShardedIndex", "check_shards"]
