"""Document ids, texts and metadata in SQLite (docs.sqlite in the index folder).

Every document gets an internal *number* (`num`), allocated from the manifest's `next_doc_num` and never
reused; segments refer to documents by number. Rows are immutable once written. Which rows are *live* is
decided by the manifest alone (a number is live when a segment of the manifest holds it and no tombstone
covers it), so the docstore and the array files can never disagree after a crash: rows written by a commit
that never reached its manifest have `num >= next_doc_num` and are removed by the next writer.

Integrity. Each row carries two checks keyed with the index's uid (recorded in the manifest and in the
store's `meta` table): `idcheck` over (num, id) and `rowcheck` over (num, id, text, metadata). Reads verify
them (the id for lookups; everything when a text or metadata is returned), so an altered row, or a row of
another index's store, is an IndexFormatError, never wrong data. Opening checks that the store exists (it
is never re-created), belongs to this index and holds at least the manifest's live documents (one count on
the primary key). `jcolbert verify` checks every row.

Journal: SQLite's rollback journal with synchronous=FULL (stores of format 1 used WAL and are converted by
their next writer): readers need no -wal/-shm file and no free space, so an index on read-only media or a
full disk can still be searched; a read-only folder is opened immutable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from jcolbert.errors import IndexFormatError, IndexLockedError
from jcolbert.index import storage
from jcolbert.index.filters import Filter
from jcolbert.index.ingest import metadata_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL, text TEXT, metadata TEXT,
                                 idcheck INTEGER NOT NULL DEFAULT 0, rowcheck INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS docs_id ON docs(id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_BATCH = 500  # parameters per IN (...) query, well under SQLite's limit


def row_check(key: bytes, *fields: Any) -> int:
    """A 64-bit keyed hash of a row's fields (signed, as SQLite stores integers)."""
    h = hashlib.blake2b(digest_size=8, key=key)
    for f in fields:
        if f is None:
            h.update(b"\x00")
        elif isinstance(f, int):
            h.update(b"\x01" + f.to_bytes(8, "little", signed=True))
        else:
            data = f.encode("utf-8", "surrogatepass")
            h.update(b"\x02" + len(data).to_bytes(8, "little") + data)
    return int.from_bytes(h.digest(), "little", signed=True)


class DocStore:
    """Thin, thread-safe wrapper over one SQLite connection. uid: the index's (None for a format-1 index,
    whose rows carry no checks until its next writer adds them)."""

    def __init__(self, path: Path, *, uid: str | None, readonly: bool = False):
        self.path = path
        self._lock = threading.Lock()
        self._key = bytes.fromhex(uid) if uid else None
        for name in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
            storage.check_regular(name, "document store")
        if not path.is_file():
            raise IndexFormatError(f"document store {path} is missing: the index folder is incomplete")
        self._con = self._connect(readonly)
        with self._reading():
            cols = {r[1] for r in self._con.execute("PRAGMA table_info(docs)")}
        if not {"num", "id", "text", "metadata"} <= cols:
            raise IndexFormatError(f"document store {path} has no table of documents")
        self._cols = "idcheck, rowcheck" if {"idcheck", "rowcheck"} <= cols else "0, 0"
        self.checked = {"idcheck", "rowcheck"} <= cols and self._key is not None
        if self._key is not None:
            with self._reading():
                row = self._con.execute("SELECT value FROM meta WHERE key = 'uid'").fetchone() if \
                    "meta" in self._tables() else None
            if not self.checked or row is None or row[0] != uid:
                raise IndexFormatError(f"document store {path} belongs to another index (or lost its row checks): "
                                       "it was replaced; restore the folder from a copy")

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        uri = "file:" + quote(str(self.path.resolve()))
        tries = [f"{uri}?mode=ro"] if readonly else [f"{uri}?mode=rw"]
        if readonly or not os.access(self.path.parent, os.W_OK):
            tries.append(f"{uri}?mode=ro&immutable=1")  # read-only media: no locks, no journal, no -shm to create
        for i, target in enumerate(tries):
            try:
                con = sqlite3.connect(target, uri=True, check_same_thread=False, isolation_level=None, timeout=30)
                con.execute("PRAGMA synchronous=FULL")
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return con
            except sqlite3.DatabaseError as exc:
                if i == len(tries) - 1:
                    raise IndexFormatError(f"document store {self.path} cannot be read: {exc}") from None
        raise AssertionError("unreachable")

    def _tables(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @staticmethod
    def create(path: Path, uid: str) -> None:
        """A new, empty store (Index.create)."""
        con = sqlite3.connect(str(path), isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=DELETE")
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(_SCHEMA)
            con.execute("INSERT INTO meta(key, value) VALUES ('uid', ?)", (uid,))
        finally:
            con.close()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise IndexLockedError(f"document store {self.path} stayed busy: {exc}; retry") from None
            raise IndexFormatError(f"document store {self.path} cannot be read: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"document store {self.path} cannot be read: {exc}") from None

    # ------------------------------------------------------------------------------------------- open-time checks

    def check_count(self, next_num: int, live: int) -> None:
        """Refuse a store holding fewer rows than the manifest's live documents (deleted, emptied, replaced)."""
        with self._lock, self._reading():
            n = self._con.execute("SELECT count(*) FROM docs WHERE num < ?", (int(next_num),)).fetchone()[0]
        if n < live:
            raise IndexFormatError(f"document store {self.path} holds {n} of the {live} documents the manifest "
                                   "names: it was emptied or replaced; restore the folder from a copy")

    # ------------------------------------------------------------------------------------------- writes

    def insert(self, nums: Sequence[int], ids: Sequence[str], texts: Sequence[str | None] | None,
               metadata: Sequence[dict | None] | None) -> None:
        """Insert rows in one durable transaction (they stay invisible until the manifest names their segment)."""
        n = len(ids)
        texts = texts if texts is not None else [None] * n
        metas = [metadata_json(m) for m in (metadata if metadata is not None else [None] * n)]
        key = self._key or b""
        rows = [(int(num), i, t, m, row_check(key, int(num), i), row_check(key, int(num), i, t, m))
                for num, i, t, m in zip(nums, ids, texts, metas, strict=True)]
        self._transaction("INSERT OR REPLACE INTO docs(num, id, text, metadata, idcheck, rowcheck) VALUES (?,?,?,?,?,?)",
                          rows)

    def _transaction(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(sql, rows)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def checkpoint(self) -> None:
        """Fold a write-ahead log (stores of format 1) into the database file; nothing to do otherwise."""
        with self._lock:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def delete_from(self, first_num: int) -> int:
        """Drop rows of commits that never reached the manifest; returns how many."""
        with self._lock:
            return self._con.execute("DELETE FROM docs WHERE num >= ?", (int(first_num),)).rowcount

    def delete_nums(self, nums: Iterable[int]) -> None:
        nums = [int(x) for x in nums]
        self._transaction("DELETE FROM docs WHERE num = ?", [(x,) for x in nums])

    def migrate(self, uid: str) -> None:
        """Give a format-1 store its row checks, its uid and a rollback journal (its next writer calls this)."""
        key = bytes.fromhex(uid)
        with self._lock:
            cols = {r[1] for r in self._con.execute("PRAGMA table_info(docs)")}
            self._con.execute("BEGIN IMMEDIATE")
            try:
                for col in ("idcheck", "rowcheck"):
                    if col not in cols:
                        self._con.execute(f"ALTER TABLE docs ADD COLUMN {col} INTEGER NOT NULL DEFAULT 0")
                self._con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                self._con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('uid', ?)", (uid,))
                rows = self._con.execute("SELECT num, id, text, metadata FROM docs").fetchall()
                self._con.executemany("UPDATE docs SET idcheck = ?, rowcheck = ? WHERE num = ?",
                                      [(row_check(key, n, i), row_check(key, n, i, t, m), n) for n, i, t, m in rows])
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            with contextlib.suppress(sqlite3.OperationalError):  # a reader holds the WAL open: a later writer
                self._con.execute("PRAGMA journal_mode=DELETE")
        self._key = key
        self._cols = "idcheck, rowcheck"
        self.checked = True

    # ------------------------------------------------------------------------------------------- reads

    def _bad_row(self, num: int, doc_id: Any) -> IndexFormatError:
        return IndexFormatError(f"document store {self.path}: the row of document {num} (id {doc_id!r}) fails its "
                                "check: it was altered or corrupted; `jcolbert verify` checks the whole store")

    def nums_for_ids(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All (position in `ids`, num) pairs whose row has that id, live or not (the caller checks liveness)."""
        pos_of: dict[str, list[int]] = {}
        for i, x in enumerate(ids):
            pos_of.setdefault(x, []).append(i)
        uniq = list(pos_of)
        out_pos: list[int] = []
        out_num: list[int] = []
        with self._lock, self._reading():
            for i in range(0, len(uniq), _BATCH):
                part = uniq[i:i + _BATCH]
                q = f"SELECT id, num, {self._cols.split(',')[0]} FROM docs WHERE id IN ({','.join('?' * len(part))})"
                for doc_id, num, check in self._con.execute(q, part):
                    if self.checked and check != row_check(self._key, num, doc_id):
                        raise self._bad_row(num, doc_id)
                    for p in pos_of.get(doc_id, ()):
                        out_pos.append(p)
                        out_num.append(num)
        return np.asarray(out_pos, dtype=np.int64), np.asarray(out_num, dtype=np.int64)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._lock, self._reading():
            for i in range(0, len(ids), _BATCH):
                part = list(ids[i:i + _BATCH])
                q = f"SELECT DISTINCT id FROM docs WHERE id IN ({','.join('?' * len(part))})"
                found.update(r[0] for r in self._con.execute(q, part))
        return found

    def rows(self, nums: Sequence[int], fields: str = "id") -> dict[int, tuple]:
        """{num: (field values...)} for the given numbers; `fields` is a comma list of id/text/metadata.
        Every row read is verified against its check (the whole row when text or metadata is asked for)."""
        cols = [f.strip() for f in fields.split(",")]
        if not set(cols) <= {"id", "text", "metadata"}:
            raise ValueError(f"unknown docstore fields {fields!r}")
        whole = cols != ["id"]
        first, second = self._cols.split(", ")
        select = f"num, id, text, metadata, {second}" if whole else f"num, id, {first}"
        nums = [int(x) for x in nums]
        out: dict[int, tuple] = {}
        with self._lock, self._reading():
            for i in range(0, len(nums), _BATCH):
                part = nums[i:i + _BATCH]
                q = f"SELECT {select} FROM docs WHERE num IN ({','.join('?' * len(part))})"
                for row in self._con.execute(q, part):
                    if self.checked and row[-1] != row_check(self._key, *row[:-1]):
                        raise self._bad_row(row[0], row[1])
                    values = dict(zip(("id", "text", "metadata"), row[1:-1], strict=False))
                    out[row[0]] = tuple(_decode(c, values[c], self, row[0]) for c in cols)
        if len(out) < len(set(nums)):
            lost = sorted(set(nums) - set(out))
            raise IndexFormatError(f"document store {self.path} has no row for document {lost[0]}"
                                   + (f" and {len(lost) - 1} more" if len(lost) > 1 else "")
                                   + ": rows were deleted; restore the folder from a copy")
        return out

    def match(self, flt: Filter) -> np.ndarray:
        """Numbers of rows a Filter admits (filters.py), evaluated inside SQLite."""
        cond, params = flt.sql()
        nums = None
        if flt.clauses:
            q = f"SELECT num FROM docs WHERE metadata IS NOT NULL AND {cond}"
            with self._lock, self._reading():
                nums = np.fromiter((r[0] for r in self._con.execute(q, params)), dtype=np.int64)
        if flt.ids is not None:
            _, by_id = self.nums_for_ids(list(flt.ids))
            nums = by_id if nums is None else np.intersect1d(nums, by_id)
        return np.unique(nums) if nums is not None else np.zeros(0, np.int64)

    def match_predicate(self, predicate: Callable[[dict], bool]) -> np.ndarray:
        """Numbers of rows for which predicate(metadata or {}) is true (evaluated in Python, row by row)."""
        with self._lock, self._reading():
            rows = self._con.execute("SELECT num, metadata FROM docs").fetchall()
        return np.asarray([num for num, meta in rows if predicate(_decode("metadata", meta, self, num) or {})],
                          dtype=np.int64)

    def count(self) -> int:
        with self._lock, self._reading():
            return self._con.execute("SELECT count(*) FROM docs").fetchone()[0]

    def count_from(self, first_num: int) -> int:
        """Rows numbered first_num or above: rows of changes that never reached the manifest."""
        with self._lock, self._reading():
            return self._con.execute("SELECT count(*) FROM docs WHERE num >= ?", (int(first_num),)).fetchone()[0]

    def scan(self, batch: int = 10_000) -> Iterator[list[tuple]]:
        """Every row (num, id, text, metadata, idcheck, rowcheck) in number order, in batches (jcolbert verify)."""
        last = -1
        while True:
            with self._lock, self._reading():
                rows = self._con.execute(f"SELECT num, id, text, metadata, {self._cols} FROM docs WHERE num > ? "
                                         "ORDER BY num LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def verify_row(self, row: tuple) -> bool:
        num, doc_id, text, meta, idcheck, rowcheck = row
        return idcheck == row_check(self._key, num, doc_id) and rowcheck == row_check(self._key, num, doc_id, text, meta)

    def integrity(self) -> list[str]:
        """SQLite's own integrity check (every page of the file)."""
        with self._lock, self._reading():
            found = [r[0] for r in self._con.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found


def _decode(col: str, value: Any, store: DocStore, num: int) -> Any:
    if col == "metadata" and value is not None:
        try:
            return json.loads(value)
        except ValueError:
            raise IndexFormatError(f"document store {store.path}: the metadata of document {num} is not valid "
                                   "JSON") from None
    return value
