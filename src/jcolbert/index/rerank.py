"""The exact tier: a second, memory-mapped copy of every token vector, read only for the final candidates.

`Index.create(..., rerank="int8" | "fp16")` makes every compressed segment also hold its tokens' vectors at
near-original precision, next to the codes:

    rerank.npy        int8 [tokens, dim]  + rerank_scale.npy float32 [tokens]   ("int8": x ~= q * scale, one
                      symmetric scale per token, max|x| / 127: 1 byte per dimension + 4 per token)
    rerank.npy        float16 [tokens, dim]                                   ("fp16": 2 bytes per dimension)

Search ranks candidates with the compressed codes as before (PLAID stages 1-4 touch only the hot arrays:
codes, residuals, IVF), then scores the final candidates by MaxSim over these vectors instead of the
decompressed ones: only those documents' rows are read (np.take on the mapping), so the resident memory of
a warm index stays the compressed part and the page cache holds what recent queries touched. Exhaustive
search (mode="exact", narrow filters) scores with them too, so a rerank index's ground truth is MaxSim over
its stored rerank vectors.

Scores are computed in float32 as (Q @ q.T) * scale (int8) or Q @ v.T (fp16): the same numbers, up to float
rounding, as MaxSim over the dequantized vectors. The arrays are written with their segment (same commit,
size, CRC and header checks as every array, storage.py) and copied or recomputed whenever the segment is
rewritten (compaction, re-clustering, a new codec): recompressing starts from these vectors, not from the
lossy codes. Quantizing a dequantized int8 row gives the same int8 row back, so a copy never drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jcolbert.errors import IndexFormatError
from jcolbert.index import storage
from jcolbert.index.manifest import RERANK_KINDS, FileEntry, rerank_files

KINDS = RERANK_KINDS
VALUES = "rerank.npy"
SCALE = "rerank_scale.npy"
_BLOCK = 1 << 16


def file_names(kind: str | None) -> tuple[str, ...]:
    """The segment files a rerank kind adds (none for None)."""
    return tuple(rerank_files(kind))


def value_dtype(kind: str) -> np.dtype:
    return np.dtype(np.int8) if kind == "int8" else np.dtype("<f2")


def encode(x: np.ndarray, kind: str) -> tuple[np.ndarray, ...]:
    """float32 [n, dim] -> the stored rows: (int8 values, float32 scales) or (float16 values,)."""
    x = np.asarray(x, dtype=np.float32)
    if kind == "fp16":
        return (x.astype(np.float16),)
    scale = np.abs(x).max(axis=1) / np.float32(127.0) if len(x) else np.zeros(0, np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    q = np.rint(x / safe[:, None])
    np.clip(q, -127, 127, out=q)
    return q.astype(np.int8), scale.astype(np.float32)


@dataclass
class Rerank:
    """The mapped rerank arrays of one segment."""

    kind: str
    values: np.ndarray  # int8 or float16 [tokens, dim]
    scale: np.ndarray | None  # float32 [tokens] (int8 only)
    where: str = VALUES  # the file, for error messages

    @classmethod
    def from_arrays(cls, kind: str, arr: dict[str, np.ndarray], where: str = VALUES) -> Rerank:
        return cls(kind, arr[VALUES], arr.get(SCALE), where)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """The rows as float32. float16 files are checked here, row by row as they are read (opening never
        reads the whole tier): a NaN or infinity is a damaged file, not a score."""
        V = np.take(self.values, rows, axis=0).astype(np.float32)
        if self.scale is None and not np.isfinite(V.sum(axis=1)).all():
            raise IndexFormatError(f"{self.where} holds NaN or infinite values; the index is corrupted or was "
                                   "tampered with")
        return V

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """The stored rows themselves (to copy into a rewritten segment)."""
        if self.scale is None:
            return (self._take(rows).astype(np.float16),)
        return np.take(self.values, rows, axis=0), np.take(self.scale, rows)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 [len(rows), dim]: the dequantized vectors."""
        V = self._take(rows)
        if self.scale is not None:
            V *= np.take(self.scale, rows)[:, None]
        return V

    def scores(self, Q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Q [m, dim] . vector of each row -> float32 [m, len(rows)] (only these rows are read)."""
        S = Q @ self._take(rows).T
        if self.scale is not None:
            S *= np.take(self.scale, rows)[None, :]
        return S

    def problem(self) -> tuple[str, str] | None:
        """(file, problem) if the int8 scales hold values search must not meet (NaN, infinite, negative): 4
        bytes per token, checked at open. float16 values are checked as they are read (`_take`)."""
        s = self.scale
        if s is not None and len(s) and not (np.isfinite(s).all() and float(s.min()) >= 0):
            return SCALE, "holds NaN, infinite or negative scales"
        return None


class RerankWriter:
    """Streams a segment's rerank rows to disk, chunk by chunk (storage.NpyAppender)."""

    def __init__(self, folder: Path, kind: str, dim: int):
        self.kind = kind
        self._values = storage.NpyAppender(folder / VALUES, value_dtype(kind), (dim,))
        self._scale = storage.NpyAppender(folder / SCALE, np.float32) if kind == "int8" else None

    def add_vectors(self, flat: np.ndarray) -> None:
        for lo in range(0, len(flat), _BLOCK):
            self.add_rows(encode(flat[lo:lo + _BLOCK], self.kind))

    def add_rows(self, rows: tuple[np.ndarray, ...]) -> None:
        self._values.append(rows[0])
        if self._scale is not None:
            self._scale.append(rows[1])

    def close(self) -> dict[str, FileEntry]:
        files = {VALUES: self._values.close()}
        if self._scale is not None:
            files[SCALE] = self._scale.close()
        return files

    def abort(self) -> None:
        self._values.abort()
        if self._scale is not None:
            self._scale.abort()
