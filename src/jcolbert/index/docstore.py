"""Document ids, texts and metadata in SQLite (docs.sqlite in the index folder).

Every document gets an internal *number* (`num`), allocated from the manifest's `next_doc_num` and never
reused; segments refer to documents by number. Rows are immutable once written. Which rows are *live* is
decided by the manifest alone (a number is live when a segment of the manifest holds it and no tombstone
covers it), so the docstore and the array files can never disagree after a crash: rows written by a commit
that never reached its manifest have `num >= next_doc_num` and are removed by the next writer.

SQLite runs in WAL mode: readers never block the writer and see committed rows only.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import IndexFormatError
from jcolbert.index.filters import Filter
from jcolbert.index.ingest import metadata_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL, text TEXT, metadata TEXT);
CREATE INDEX IF NOT EXISTS docs_id ON docs(id);
"""
_BATCH = 500  # parameters per IN (...) query, well under SQLite's limit


class DocStore:
    """Thin, thread-safe wrapper over one SQLite connection."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        self._lock = threading.Lock()
        if not path.is_file():
            raise IndexFormatError(f"document store {path} is missing: the index folder is incomplete")
        try:
            mode = "ro" if readonly else "rw"  # never create: a missing store is an error, not an empty index
            self._con = sqlite3.connect(f"{_uri(path)}?mode={mode}", uri=True, check_same_thread=False,
                                        isolation_level=None)
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("SELECT count(*) FROM docs").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"document store {path} cannot be read: {exc}") from None

    @staticmethod
    def create(path: Path) -> None:
        """A new, empty store (Index.create)."""
        con = sqlite3.connect(str(path), isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
        finally:
            con.close()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # ------------------------------------------------------------------------------------------- writes

    def insert(self, nums: Sequence[int], ids: Sequence[str], texts: Sequence[str | None] | None,
               metadata: Sequence[dict | None] | None) -> None:
        """Insert rows in one durable transaction (they stay invisible until the manifest names their segment)."""
        n = len(ids)
        texts = texts if texts is not None else [None] * n
        metas = [metadata_json(m) for m in (metadata if metadata is not None else [None] * n)]
        rows = zip((int(x) for x in nums), ids, texts, metas, strict=True)
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany("INSERT OR REPLACE INTO docs(num, id, text, metadata) VALUES (?,?,?,?)", rows)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (keeps the folder's size honest after big writes)."""
        with self._lock:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def delete_from(self, first_num: int) -> None:
        """Drop rows of commits that never reached the manifest."""
        with self._lock:
            self._con.execute("DELETE FROM docs WHERE num >= ?", (int(first_num),))

    def delete_nums(self, nums: Iterable[int]) -> None:
        nums = [int(x) for x in nums]
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(nums), _BATCH):
                    part = nums[i:i + _BATCH]
                    self._con.execute(f"DELETE FROM docs WHERE num IN ({','.join('?' * len(part))})", part)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------------------------------- reads

    def nums_for_ids(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All (position in `ids`, num) pairs whose row has that id, live or not (the caller checks liveness)."""
        pos_of: dict[str, list[int]] = {}
        for i, x in enumerate(ids):
            pos_of.setdefault(x, []).append(i)
        uniq = list(pos_of)
        out_pos: list[int] = []
        out_num: list[int] = []
        with self._lock:
            for i in range(0, len(uniq), _BATCH):
                part = uniq[i:i + _BATCH]
                q = f"SELECT id, num FROM docs WHERE id IN ({','.join('?' * len(part))})"
                for doc_id, num in self._con.execute(q, part):
                    for p in pos_of[doc_id]:
                        out_pos.append(p)
                        out_num.append(num)
        return np.asarray(out_pos, dtype=np.int64), np.asarray(out_num, dtype=np.int64)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._lock:
            for i in range(0, len(ids), _BATCH):
                part = list(ids[i:i + _BATCH])
                q = f"SELECT DISTINCT id FROM docs WHERE id IN ({','.join('?' * len(part))})"
                found.update(r[0] for r in self._con.execute(q, part))
        return found

    def rows(self, nums: Sequence[int], fields: str = "id") -> dict[int, tuple]:
        """{num: (field values...)} for the given numbers; `fields` is a comma list of id/text/metadata."""
        cols = [f.strip() for f in fields.split(",")]
        if not set(cols) <= {"id", "text", "metadata"}:
            raise ValueError(f"unknown docstore fields {fields!r}")
        nums = [int(x) for x in nums]
        out: dict[int, tuple] = {}
        with self._lock:
            for i in range(0, len(nums), _BATCH):
                part = nums[i:i + _BATCH]
                q = f"SELECT num, {', '.join(cols)} FROM docs WHERE num IN ({','.join('?' * len(part))})"
                for row in self._con.execute(q, part):
                    out[row[0]] = tuple(_decode(c, v) for c, v in zip(cols, row[1:], strict=True))
        return out

    def match(self, flt: Filter) -> np.ndarray:
        """Numbers of rows a Filter admits (filters.py), evaluated inside SQLite."""
        cond, params = flt.sql()
        nums = None
        if flt.clauses:
            q = f"SELECT num FROM docs WHERE metadata IS NOT NULL AND {cond}"
            with self._lock:
                try:
                    nums = np.fromiter((r[0] for r in self._con.execute(q, params)), dtype=np.int64)
                except sqlite3.OperationalError as exc:
                    raise IndexFormatError(f"document store {self.path}: a metadata filter failed ({exc}): some "
                                           "stored metadata is not valid JSON; `jcolbert verify` names the rows") from None
        if flt.ids is not None:
            _, by_id = self.nums_for_ids(list(flt.ids))
            nums = by_id if nums is None else np.intersect1d(nums, by_id)
        return np.unique(nums) if nums is not None else np.zeros(0, np.int64)

    def match_predicate(self, predicate: Callable[[dict], bool]) -> np.ndarray:
        """Numbers of rows for which predicate(metadata or {}) is true (evaluated in Python, row by row)."""
        with self._lock:
            rows = self._con.execute("SELECT num, metadata FROM docs").fetchall()
        return np.asarray([num for num, meta in rows if predicate(json.loads(meta) if meta else {})], dtype=np.int64)

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM docs").fetchone()[0]

    def count_from(self, first_num: int) -> int:
        """Rows numbered first_num or above: rows of changes that never reached the manifest."""
        with self._lock:
            return self._con.execute("SELECT count(*) FROM docs WHERE num >= ?", (int(first_num),)).fetchone()[0]


def _uri(path: Path) -> str:
    from urllib.parse import quote

    return "file:" + quote(str(path.resolve()))


def _decode(col: str, value: Any) -> Any:
    if col == "metadata":
        return json.loads(value) if value is not None else None
    return value
