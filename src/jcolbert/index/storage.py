"""The index folder on disk: safe file access, durable commits, garbage collection, the writer lock.

Layout of an index folder::

    manifest.json          the only mutable file (manifest.py): names every live array file with size and crc32
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

The folder is a boundary: every path comes from the validated manifest (plain names, no `..`, no absolute
paths), is opened relative to a folder descriptor with O_NOFOLLOW (a symlink is refused, never followed),
must be a regular file (no FIFO or device can hang a reader), and its .npy header must agree with the size
on disk before anything is mapped or allocated.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import secrets
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from jcolbert.errors import (
    IndexFormatError,
    IndexLockedError,
    IndexReadOnlyError,
    JColbertError,
    NoSpaceError,
)
from jcolbert.index.manifest import MANIFEST, FileEntry, Manifest

LOCK_FILE = "writer.lock"
DOCSTORE = "docs.sqlite"
DOCSTORE_SIDE = (DOCSTORE + "-journal", DOCSTORE + "-wal", DOCSTORE + "-shm")
TMP_MANIFEST = MANIFEST + ".tmp"
MAX_MANIFEST_BYTES = 256 << 20
_CRC_BLOCK = 1 << 22
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


# ----------------------------------------------------------------------------------------------- errors


def os_error(exc: BaseException, root: Path, doing: str) -> JColbertError | None:
    """The clear error for an OSError / SQLite error met while changing an index, or None if it is not one."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOSPC or code == errno.EDQUOT or "disk is full" in text or "requested and" in text:
        return NoSpaceError(f"No space left on the device holding index {root} while {doing}; nothing was "
                            "committed: free some space and retry")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly database" in text or "read-only" in text:
        return IndexReadOnlyError(f"index {root} cannot be changed: {os.strerror(code) if code else text} "
                                  "(read-only media or no write permission); searching it still works")
    return None


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


# ----------------------------------------------------------------------------------------------- safe reading


@contextlib.contextmanager
def open_dir(name: str | os.PathLike, parent_fd: int | None = None) -> Iterator[int]:
    """A descriptor of a folder, refusing a symlink (the index root itself may be reached through one)."""
    flags = _DIR if parent_fd is not None else (_DIR & ~_NOFOLLOW)
    try:
        fd = os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        raise IndexFormatError(f"index folder {name} is missing (the manifest names it)") from None
    except OSError as exc:
        kind = "a symlink or not a folder" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
        raise IndexFormatError(f"index entry {name} cannot be used: {kind}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def open_regular(name: str, dir_fd: int | None, where: str) -> int:
    """A read descriptor of a regular file (never a symlink, FIFO or device); IndexFormatError otherwise."""
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except FileNotFoundError:
        raise IndexFormatError(f"{where} is missing (the manifest names it); the index folder is incomplete") from None
    except OSError as exc:
        why = "is a symlink (refused: an index never follows links)" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
        raise IndexFormatError(f"{where} {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IndexFormatError(f"{where} is not a regular file")
    return fd


def check_regular(path: Path, what: str) -> bool:
    """Whether `path` exists as a regular file; IndexFormatError if it is a symlink, FIFO, folder, ..."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise IndexFormatError(f"{what} {path} is {kind}; refusing to use it")
    return True


def read_small(root: Path, name: str, limit: int) -> bytes:
    with open_dir(root) as dfd:
        fd = open_regular(name, dfd, f"{root / name}")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise IndexFormatError(f"{root / name} is larger than {limit} bytes: not an index file")
    return data


def open_array(dir_fd: int, name: str, entry: FileEntry, *, where: str, verify: bool, mmap_it: bool = True) -> np.ndarray:
    """Open an array file named by the manifest, checking it is the file the manifest describes.

    Size always, then the crc32 (when `verify`), then dtype and shape against the .npy header and the file's
    length, all before anything is mapped as an array or allocated. Returns a read-only array."""
    fd = open_regular(name, dir_fd, where)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size != entry.bytes:
            raise IndexFormatError(f"{where} is {size} bytes but the manifest recorded {entry.bytes}: truncated or "
                                   "replaced; restore the folder from a copy or rebuild the index")
        buf: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if mmap_it and size else fh.read()
    if verify and zlib.crc32(buf) != entry.crc32:
        raise IndexFormatError(f"{where} fails its checksum (crc32 differs from the manifest): the file is corrupted")
    try:
        head = io.BytesIO(bytes(buf[:min(size, 4096)]))
        version = np.lib.format.read_magic(head)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(head)
    except Exception as exc:  # numpy's header parser raises whatever its tokenizer meets
        raise IndexFormatError(f"{where} is not a readable .npy array ({type(exc).__name__})") from None
    offset = head.tell()
    if fortran or dtype.hasobject or dtype.str != entry.dtype or tuple(shape) != entry.shape:
        raise IndexFormatError(f"{where} holds {dtype.str}{list(shape)} but the manifest recorded "
                               f"{entry.dtype}{list(entry.shape)}")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + nbytes != size:
        raise IndexFormatError(f"{where}: its header promises {nbytes} bytes of data after {offset}, the file has "
                               f"{size - offset}")
    return np.frombuffer(buf, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape)


# ----------------------------------------------------------------------------------------------- writing arrays


def _npy_header(dtype: np.dtype, shape: tuple[int, ...], length: int | None = None) -> bytes:
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    body = repr(d).encode("latin1")
    total = length or ((10 + len(body) + 1 + 63) // 64 * 64)
    pad = total - 10 - len(body) - 1
    assert pad >= 0
    return b"\x93NUMPY\x01\x00" + (total - 10).to_bytes(2, "little") + body + b" " * pad + b"\n"


def _create(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    return os.fdopen(fd, "wb")


def write_array(path: str | os.PathLike, array: np.ndarray) -> FileEntry:
    """Write one array as a new .npy file, fsync it, and return its manifest entry (bytes, crc32, shape, dtype).

    Plain writes (no ndarray.tofile), so a full disk is an OSError with errno ENOSPC."""
    array = np.ascontiguousarray(array)
    header = _npy_header(array.dtype, array.shape)
    data = memoryview(array.reshape(-1)).cast("B") if array.size else b""
    with _create(Path(path)) as fh:
        fh.write(header)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return FileEntry(len(header) + len(data), zlib.crc32(data, zlib.crc32(header)), tuple(array.shape), array.dtype.str)


class NpyAppender:
    """Writes a 2-D (or 1-D) .npy file chunk by chunk when the final row count is not known in advance.

    The header is written with room to spare and rewritten in place with the true shape on `close()`, so a
    build never holds more than one chunk in memory and never copies the file."""

    _HEADER_LEN = 256  # multiple of 64, large enough for any shape tuple we write

    def __init__(self, path: str | os.PathLike, dtype: np.dtype, row_shape: tuple[int, ...] = ()):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.rows = 0
        self._fh = _create(self.path)
        self._fh.write(_npy_header(self.dtype, (0, *self.row_shape), self._HEADER_LEN))

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]} != {self.row_shape}")
        if block.size:
            self._fh.write(memoryview(block.reshape(-1)).cast("B"))
        self.rows += block.shape[0]

    def close(self) -> FileEntry:
        self._fh.seek(0)
        self._fh.write(_npy_header(self.dtype, (self.rows, *self.row_shape), self._HEADER_LEN))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        size = os.fstat(self._fh.fileno()).st_size
        self._fh.close()
        return FileEntry(size, file_crc32(self.path), (self.rows, *self.row_shape), self.dtype.str)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def reserve_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """A new .npy file of the given shape, its blocks allocated up front (so a full disk is an OSError here,
    never a SIGBUS when the mapping is written), mapped for writing."""
    header = _npy_header(dtype, shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    with _create(path) as fh:
        fh.write(header)
        fh.flush()
        try:
            os.posix_fallocate(fh.fileno(), 0, len(header) + nbytes)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            zeros = bytes(1 << 20)  # no fallocate on this file system: write the zeros ourselves
            left = nbytes
            while left > 0:
                left -= fh.write(zeros[:min(left, len(zeros))])
    return np.memmap(path, dtype=dtype, mode="r+", offset=len(header), shape=shape)


# ----------------------------------------------------------------------------------------------- the manifest


def read_manifest(root: Path) -> Manifest:
    """Load and validate manifest.json; refuse folders that are not indexes or come from a newer version."""
    if not root.is_dir():
        raise IndexFormatError(f"no index at {root}: {'a file, not a folder' if root.exists() else 'the folder does not exist'}")
    try:
        data = read_small(root, MANIFEST, MAX_MANIFEST_BYTES)
    except IndexFormatError as exc:
        if (root / MANIFEST).exists() or (root / MANIFEST).is_symlink():
            raise
        from jcolbert.index.folder import creation_remains

        hint = " (the remains of an interrupted Index.create: create it again)" if creation_remains(root) else ""
        raise IndexFormatError(f"no index at {root}: {MANIFEST} is missing{hint}") from exc
    try:
        return Manifest.loads(data)
    except IndexFormatError as exc:
        raise IndexFormatError(f"{root}: {exc}") from None


def write_manifest(root: Path, manifest: Manifest) -> None:
    """The commit point: write a temporary manifest, fsync, rename over the old one, fsync the folder.

    Once the rename is done the change is committed: a failure to fsync the folder afterwards is not
    reported as a failed change (the new manifest is what every reader already sees)."""
    replace_file(root, MANIFEST, TMP_MANIFEST, manifest.dumps())


def replace_file(root: Path, name: str, tmp_name: str, data: bytes) -> None:
    """Commit `data` as root/name: a new temporary file (no symlink followed), fsync, rename over name, fsync
    the folder (a failure of that last fsync is not a failed commit: readers already see the new file)."""
    tmp = root / tmp_name
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    with _create(tmp) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / name)
    with contextlib.suppress(OSError):
        fsync_dir(root)


def manifest_stamp(root: Path) -> tuple[int, int, int]:
    """Cheap identity of the current manifest file (changes on every commit, since commits rename a new file)."""
    st = os.lstat(root / MANIFEST)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def new_dir(root: Path, prefix: str, generation: int) -> Path:
    """A fresh, uniquely named folder for files of the commit that will become `generation`."""
    while True:
        path = root / f"{prefix}-{generation:06d}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def finish_dir(path: Path, root: Path) -> None:
    fsync_dir(path)
    fsync_dir(root)


# ----------------------------------------------------------------------------------------------- the writer lock


class WriterLock:
    """One writer per index: a lock file next to the manifest, held for the duration of one change."""

    def __init__(self, root: Path, timeout: float = 0.0):
        self._root = root
        self._timeout = timeout
        self._lock: FileLock | None = None

    def __enter__(self) -> WriterLock:
        path = self._root / LOCK_FILE
        check_regular(path, "lock file")
        try:
            self._lock = FileLock(str(path), timeout=self._timeout)
            self._lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"index {self._root} is being changed by another process (lock {path} is held); retry when it "
                "finishes, or wait for it (lock_timeout= in Python, --wait SECONDS on the command line)"
            ) from None
        except OSError as exc:
            raise os_error(exc, self._root, "taking the writer lock") or exc from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
