"""The indexes a server answers for, their models, and the per-index reader and writer.

Each folder given to the server is either an index (served under its folder's name) or a *home*: a folder of
index folders, all served, looked at again whenever a name is not known yet, so an index that appears there
later (created through the API or by another process) is served without a restart. The first home is where
`POST /v1/indexes` creates indexes.

Per index the server keeps two handles on the same folder: a read handle that every search uses concurrently
(each search runs on the snapshot committed when it starts, and notices new commits, from this server or
another process, by the manifest's identity) and a write handle owned by the index's `IndexWriter` thread.
Indexes recorded with the same model share one loaded model and one query batcher.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jcolbert.errors import JColbertError, ServiceError
from jcolbert.serve import threads
from jcolbert.serve.batcher import QueryBatcher
from jcolbert.serve.config import ServeConfig
from jcolbert.serve.search_batcher import SearchBatcher
from jcolbert.serve.writer import IndexWriter

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class ServedModel:
    key: str
    name: str
    model: Any
    batcher: QueryBatcher


@dataclass
class ServedIndex:
    name: str
    path: Path
    reader: Any  # jcolbert.Index (read handle)
    writer: IndexWriter
    model: ServedModel | None  # None for an index of precomputed vectors
    searches: SearchBatcher  # concurrent searches with the same settings, answered together


class Registry:
    """Name -> served index, opened on first use; models shared by their recorded settings."""

    def __init__(self, config: ServeConfig, on_batch=None, run=None, on_search_call=None):
        self.config = config
        self._on_batch = on_batch  # told the queries of each encoder call (for /metrics)
        self._on_search_call = on_search_call  # told the queries of each search batcher call (for /metrics)
        self._run = run  # the server's run(fn, *args): fn on a search thread (for the search batchers)
        self._explicit: dict[str, Path] = {}
        self.homes: list[Path] = []
        for p in config.paths:
            if _is_index(p):
                self._explicit.setdefault(p.resolve().name, p)
            else:
                self.homes.append(p)
        self._served: dict[str, ServedIndex] = {}
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.RLock()  # held while opening/creating, never while answering a search
        self.errors: dict[str, str] = {}  # name -> why it could not be opened (shown by /readyz)

    # ------------------------------------------------------------------------------------------- names

    def names(self) -> list[str]:
        """Every index name served now (homes scanned again)."""
        found = dict(self._explicit)
        for home in self.homes:
            for child in sorted(home.iterdir()) if home.is_dir() else ():
                if child.is_dir() and NAME_RE.match(child.name) and _is_index(child):
                    found.setdefault(child.name, child)
        return sorted(found)

    def _path_of(self, name: str) -> Path | None:
        if name in self._explicit:
            return self._explicit[name]
        if not NAME_RE.match(name):
            return None
        for home in self.homes:
            if _is_index(home / name):
                return home / name
        return None

    # ------------------------------------------------------------------------------------------- indexes

    def get(self, name: str) -> ServedIndex:
        """The served index called name (opened now if needed); 404 when there is none."""
        served = self._served.get(name)
        if served is not None:
            return served
        with self._lock:
            if name in self._served:
                return self._served[name]
            path = self._path_of(name)
            if path is None:
                raise ServiceError(404, "index_not_found", f"no index named {name!r} on this server")
            try:
                served = self._open(name, path)
            except JColbertError as exc:
                self.errors[name] = str(exc)
                raise ServiceError(503, "index_unavailable", f"index {name!r} cannot be opened: {exc}") from None
            self.errors.pop(name, None)
            self._served[name] = served
            return served

    def lookup(self, name: str) -> ServedIndex | None:
        """The served index called name if it is open already (no file access, no lock)."""
        return self._served.get(name)

    def opened(self) -> list[ServedIndex]:
        return list(self._served.values())

    def _open(self, name: str, path: Path) -> ServedIndex:
        from jcolbert.distributed import open_index  # an Index or a ShardedIndex: the same interface

        recorded = _recorded_model(path)
        model = self._model_for(recorded) if recorded is not None else None
        reader = open_index(path, model=model.model if model else None, readonly=True, warm=True)
        lock_timeout = self.config.lock_timeout_s

        def open_writer() -> Any:
            return open_index(path, model=model.model if model else None, lock_timeout=lock_timeout)

        writer = IndexWriter(name, open_writer, max_pending=self.config.limits.max_pending_writes,
                             thread_init=self._thread_init)
        searches = SearchBatcher(self._run, self.config.search_threads, on_call=self._on_search_call)
        return ServedIndex(name, path, reader, writer, model, searches)

    def create(self, name: str, options: dict[str, Any]) -> ServedIndex:
        """Create an empty index in the first home with the server's model (409 if the name is taken)."""
        from jcolbert.index import Index

        if not NAME_RE.match(name):
            raise ServiceError(422, "invalid_name", f"index name {name!r}: use 1-128 of A-Z a-z 0-9 . _ - "
                               "(starting with a letter or digit)")
        if not self.homes:
            raise ServiceError(409, "no_home", "this server was given index folders only, no folder of indexes "
                               "to create new ones in (start it with a parent folder)")
        with self._lock:
            if self._path_of(name) is not None or (self.homes[0] / name).exists():
                raise ServiceError(409, "index_exists", f"an index named {name!r} already exists")
            model = self.default_model()
            Index.create(self.homes[0] / name, model=model.model, **options).close()
            return self.get(name)

    # ------------------------------------------------------------------------------------------- models

    def _model_for(self, recorded: dict[str, Any]) -> ServedModel:
        # the recorded precision is how the documents were encoded; queries use the server's (config.dtype)
        key = json.dumps({k: v for k, v in recorded.items() if k != "dtype"}, sort_keys=True)
        with self._lock:
            if key not in self._models:
                import jcolbert

                model = jcolbert.load_model(recorded, dtype=self.config.dtype)
                self._models[key] = self._serve_model(key, str(recorded.get("name_or_path")), model)
            return self._models[key]

    def _serve_model(self, key: str, name: str, model: Any) -> ServedModel:
        batcher = QueryBatcher(lambda texts: model.encode_queries(texts, batch_size=len(texts)),
                               wait_ms=self.config.batch_wait_ms, max_batch=self.config.max_batch,
                               on_batch=self._on_batch, thread_init=self._thread_init)
        return ServedModel(key, name, model, batcher)

    def _thread_init(self) -> None:
        threads.init_worker(self.config.compute_threads)

    def default_model(self) -> ServedModel:
        """The model named by the server's `model` setting, else the first served index's model."""
        with self._lock:
            if self.config.model is not None:
                key = "name:" + self.config.model
                if key not in self._models:
                    import jcolbert

                    self._models[key] = self._serve_model(key, self.config.model,
                                                          jcolbert.load_model(self.config.model,
                                                                             dtype=self.config.dtype))
                return self._models[key]
            for name in self.names():
                try:
                    served = self.get(name)
                except ServiceError:
                    continue
                if served.model is not None:
                    return served.model
        raise ServiceError(409, "no_model", "this server has no model: start it with --model NAME, or serve an "
                           "index built from text")

    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    # ------------------------------------------------------------------------------------------- life cycle

    def preload(self) -> None:
        """Open every index now (and load their models), recording failures for /readyz."""
        for name in self.names():
            with contextlib.suppress(ServiceError):  # recorded in self.errors
                self.get(name)
        if self.config.model is not None:
            self.default_model()

    def close(self) -> None:
        for served in list(self._served.values()):
            served.writer.close()
            served.reader.close()
        for m in self._models.values():
            m.batcher.close()


def _is_index(path: Path) -> bool:
    from jcolbert.distributed import exists

    return exists(path)


def _recorded_model(path: Path) -> dict[str, Any] | None:
    """The model settings an index recorded (None: an index of precomputed vectors).

    Read from the manifest through the index layer's reader, before opening, so that indexes built with the
    same model share one loaded copy."""
    from jcolbert.distributed import recorded_model

    return recorded_model(path)


__all__ = ["NAME_RE", "Registry", "ServedIndex", "ServedModel"]
