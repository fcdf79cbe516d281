"""The index folder on disk: manifest, immutable array files, durable commits, the writer lock.

Layout of an index folder::

    manifest.json          the only mutable file; names every live array file with its size and crc32
    docs.sqlite            document ids, texts, metadata (see docstore.py)
    writer.lock            held by the one process that is changing the index
    codec-<gen>-<rand>/    centroids + residual codebook (codec.py), shared by all compressed segments
    seg-<gen>-<rand>/      one immutable segment: doclens, doc numbers, codes/residuals/IVF or exact vectors,
                           plus tombstone files del-<gen>.npy written when documents are deleted
                           (<gen>: the generation of the commit that wrote it; <rand>: makes names unique)

Why this shape: a commit only ever *adds* files, fsyncs them, then atomically replaces manifest.json (and
fsyncs the folder). A crash before the replace leaves the old manifest naming only old, untouched files; a
crash after it leaves the new one. Files no manifest names are garbage, removed by the next writer. Readers
memory-map the files their manifest names, so each reader sees one consistent snapshot however long it lives.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from jcolbert.errors import IndexFormatError, IndexLockedError

FORMAT_NAME = "jcolbert-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK_FILE = "writer.lock"
DOCSTORE = "docs.sqlite"
_CRC_BLOCK = 1 << 22


# ----------------------------------------------------------------------------------------------- fsync helpers


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a directory entry (a created, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def file_crc32(path: str | os.PathLike) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(_CRC_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


def write_array(path: str | os.PathLike, array: np.ndarray) -> dict[str, Any]:
    """Write one array as .npy, fsync it, and return its manifest entry (bytes, crc32, shape, dtype)."""
    array = np.ascontiguousarray(array)
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return file_entry(path, array.shape, array.dtype)


def file_entry(path: str | os.PathLike, shape: tuple[int, ...], dtype: np.dtype) -> dict[str, Any]:
    return {"bytes": os.path.getsize(path), "crc32": file_crc32(path), "shape": list(shape), "dtype": np.dtype(dtype).str}


class NpyAppender:
    """Writes a 2-D (or 1-D) .npy file chunk by chunk when the final row count is not known in advance.

    The header is written with room to spare and rewritten in place with the true shape on `close()`, so a
    build never holds more than one chunk in memory and never copies the file.
    """

    _HEADER_LEN = 256  # multiple of 64, large enough for any shape tuple we write

    def __init__(self, path: str | os.PathLike, dtype: np.dtype, row_shape: tuple[int, ...] = ()):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.rows = 0
        self._fh = open(self.path, "wb")  # noqa: SIM115 (closed by close()/abort())
        self._fh.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, *self.row_shape)}
        body = repr(d).encode("latin1")
        pad = self._HEADER_LEN - 10 - len(body) - 1
        assert pad >= 0
        return b"\x93NUMPY\x01\x00" + (self._HEADER_LEN - 10).to_bytes(2, "little") + body + b" " * pad + b"\n"

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]} != {self.row_shape}")
        self._fh.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> dict[str, Any]:
        self._fh.seek(0)
        self._fh.write(self._header(self.rows))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return file_entry(self.path, (self.rows, *self.row_shape), self.dtype)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def open_array(path: Path, entry: dict[str, Any], *, verify: bool, mmap: bool = True) -> np.ndarray:
    """Open an array file named by the manifest, checking it is the file the manifest describes.

    Size is always checked (a truncated file is the common crash/copy failure); the crc32 when `verify`.
    """
    where = f"index file {path}"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexFormatError(f"{where} is missing (the manifest names it); the index folder is incomplete") from None
    if size != entry["bytes"]:
        raise IndexFormatError(
            f"{where} is {size} bytes but the manifest recorded {entry['bytes']}: truncated or replaced; "
            "restore the folder from a copy or rebuild the index"
        )
    if verify and file_crc32(path) != entry["crc32"]:
        raise IndexFormatError(f"{where} fails its checksum (crc32 differs from the manifest): the file is corrupted")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise IndexFormatError(f"{where} is not a readable .npy array: {exc}") from None
    if list(arr.shape) != entry["shape"] or arr.dtype.str != entry["dtype"]:
        raise IndexFormatError(
            f"{where} holds {arr.dtype.str}{list(arr.shape)} but the manifest recorded {entry['dtype']}{entry['shape']}"
        )
    return arr


# ----------------------------------------------------------------------------------------------- the manifest


def read_manifest(root: Path) -> dict[str, Any]:
    """Load and validate manifest.json; refuse folders that are not indexes or come from a newer version."""
    path = root / MANIFEST
    if not root.is_dir():
        raise IndexFormatError(f"no index at {root}: the folder does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexFormatError(f"no index at {root}: {MANIFEST} is missing") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IndexFormatError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexFormatError(f"{path} is not a jcolbert index manifest (field 'format' != {FORMAT_NAME!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise IndexFormatError(f"{path}: field 'format_version' is missing or not an integer")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{path}: format_version {version} was written by a newer jcolbert (this one reads up to "
            f"{FORMAT_VERSION}); upgrade jcolbert to open it"
        )
    return manifest


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """The commit point: write a temporary manifest, fsync, rename over the old one, fsync the folder."""
    tmp = root / f"{MANIFEST}.tmp"
    data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / MANIFEST)
    fsync_dir(root)


def manifest_stamp(root: Path) -> tuple[int, int, int]:
    """Cheap identity of the current manifest file (changes on every commit, since commits rename a new file)."""
    st = os.stat(root / MANIFEST)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def referenced_names(manifest: dict[str, Any]) -> set[str]:
    """Top-level entries of the folder that the manifest keeps alive."""
    names = {MANIFEST, LOCK_FILE, DOCSTORE, DOCSTORE + "-wal", DOCSTORE + "-shm", DOCSTORE + "-journal"}
    if manifest.get("codec"):
        names.add(manifest["codec"]["dir"])
    names.update(seg["dir"] for seg in manifest.get("segments", []))
    return names


def collect_garbage(root: Path, manifest: dict[str, Any]) -> None:
    """Remove what no manifest names: leftovers of crashed commits, replaced segments and tombstone files.

    Only the writer calls this (under the lock). Readers that mapped a removed file keep their mapping (POSIX).
    """
    keep = referenced_names(manifest)
    for entry in root.iterdir():
        if entry.name in keep:
            continue
        if entry.name.startswith(("seg-", "codec-", "spool-")) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(MANIFEST) and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)
    for seg in manifest.get("segments", []):
        seg_dir = root / seg["dir"]
        live = set(seg["files"]) | ({seg["deleted"]["file"]} if seg.get("deleted") else set())
        for f in seg_dir.iterdir():
            if f.name not in live:
                f.unlink(missing_ok=True)


def new_dir(root: Path, prefix: str, generation: int) -> Path:
    """A fresh, uniquely named folder for files of the commit that will become `generation`."""
    while True:
        path = root / f"{prefix}-{generation:06d}-{secrets.token_hex(3)}"
        if not path.exists():
            path.mkdir()
            return path


def finish_dir(path: Path, root: Path) -> None:
    fsync_dir(path)
    fsync_dir(root)


def total_bytes(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


# ----------------------------------------------------------------------------------------------- the writer lock


class WriterLock:
    """One writer per index: a lock file next to the manifest, held for the duration of one change."""

    def __init__(self, root: Path, timeout: float = 0.0):
        self._lock = FileLock(str(root / LOCK_FILE), timeout=timeout)
        self._root = root

    def __enter__(self) -> WriterLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"index {self._root} is being changed by another process (lock {self._root / LOCK_FILE} is held); "
                "retry when it finishes, or pass lock_timeout= to wait"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
