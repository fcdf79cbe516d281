"""The index folder as a whole: what a new index may be created in, what crashed writers leave behind
(`leftovers`, removed by `collect_garbage`), and the bytes on disk by kind of file.

Only entries with the index's own name patterns (seg-*, codec-*, manifest.json.tmp) are ever removed;
symlinks are removed as links, never followed; segment folders are walked through descriptors opened
with O_NOFOLLOW, so a folder swapped for a link cannot make a writer delete files elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from jcolbert.errors import InputError
from jcolbert.index import storage
from jcolbert.index.manifest import MANIFEST, Manifest
from jcolbert.index.storage import DOCSTORE, DOCSTORE_SIDE, LOCK_FILE, TMP_MANIFEST, open_dir

CREATION_FILES = frozenset({LOCK_FILE, DOCSTORE, TMP_MANIFEST, *DOCSTORE_SIDE})


def creation_remains(root: Path) -> bool:
    """Whether a folder without a manifest holds only what an interrupted Index.create leaves (and is not empty)."""
    try:
        names = {e.name for e in os.scandir(root)}
    except OSError:
        return False
    return bool(names) and MANIFEST not in names and names <= CREATION_FILES


def leftovers(root: Path, manifest: Manifest) -> list[tuple[str, int]]:
    """(relative path, bytes) of what no manifest names: remains of crashed or replaced commits."""
    keep = manifest.folders() | {MANIFEST, LOCK_FILE, DOCSTORE, *DOCSTORE_SIDE}
    out = []
    for entry in os.scandir(root):
        if entry.name in keep:
            continue
        if _is_ours(entry.name):
            out.append((entry.name, _size(entry)))
    for seg in manifest.segments:
        live = set(seg.files) | ({seg.deleted.file} if seg.deleted else set())
        with contextlib.suppress(OSError), os.scandir(root / seg.dir) as it:
            out += [(f"{seg.dir}/{e.name}", _size(e)) for e in it if e.name not in live]
    return sorted(out)


def _is_ours(name: str) -> bool:
    return name.startswith(("seg-", "codec-", "spool-")) or (name.startswith(MANIFEST) and name.endswith(".tmp"))


def _size(entry: os.DirEntry) -> int:
    try:
        if entry.is_dir(follow_symlinks=False):
            return sum(f.stat(follow_symlinks=False).st_size for f in os.scandir(entry.path))
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def collect_garbage(root: Path, manifest: Manifest) -> int:
    """Remove what no manifest names: leftovers of crashed commits, replaced segments and tombstone files.
    Returns how many entries were removed. Symlinks are removed as links, never followed.

    Only the writer calls this (under the lock). Readers that mapped a removed file keep their mapping (POSIX)."""
    removed = 0
    keep = manifest.folders()
    for entry in os.scandir(root):
        if entry.name in keep or not _is_ours(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        removed += 1
    with open_dir(root) as rfd:
        for seg in manifest.segments:
            live = set(seg.files) | ({seg.deleted.file} if seg.deleted else set())
            with open_dir(seg.dir, rfd) as sfd:
                for name in os.listdir(sfd):
                    if name not in live:
                        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                            os.unlink(name, dir_fd=sfd)
                        removed += 1
    return removed


def folder_bytes(root: Path) -> dict[str, int]:
    """Bytes on disk by kind of file (segments' files by name, tombstones, docstore, manifest, codec)."""
    by_kind: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            if name == LOCK_FILE:
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                key = "tombstones" if name.startswith("del-") else name.split("-")[0]
                by_kind[key] = by_kind.get(key, 0) + st.st_size
    return by_kind


def tier_bytes(manifest: Manifest, tokens: int) -> dict[str, object]:
    """The exact tier and the array bytes per stored token: hot (everything search reads for every query:
    codec, codes, residuals, IVF, document lengths; the vectors of an exact index) and the rerank copy."""
    hot = rerank = 0
    for seg in manifest.segments:
        for name, entry in seg.files.items():
            if name.startswith("rerank"):
                rerank += entry.bytes
            else:
                hot += entry.bytes
    if manifest.codec is not None:
        hot += sum(e.bytes for e in manifest.codec.files.values())
    per = (lambda b: round(b / tokens, 3)) if tokens else (lambda b: None)
    return {"rerank": manifest.settings.rerank, "bytes_per_token_hot": per(hot), "bytes_per_token_rerank": per(rerank)}


def prepare(root: Path, overwrite: bool, lock_timeout: float) -> None:
    """Make `root` an empty folder for a new index: refuse files and foreign folders, reuse the remains of
    an interrupted create, clear an existing index only with overwrite=True (its manifest first, so a
    clearing that is interrupted leaves no index rather than half of one)."""
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise InputError(f"{root} is a file, not a folder: an index is a folder; choose another path")
    if not root.exists():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage.os_error(exc, root, "creating its folder") or exc from None
        return
    names = {e.name for e in os.scandir(root)}
    ours = {n for n in names if n.startswith(("seg-", "codec-"))}
    if not names or creation_remains(root):
        pass
    elif MANIFEST not in names and not (overwrite and names <= CREATION_FILES | ours):
        hint = " (index files without a manifest: pass overwrite=True to replace them)" if ours else ""
        raise InputError(f"{root} exists and is not an empty folder or a jcolbert index; refusing to write there{hint}")
    elif not overwrite:
        raise InputError(f"an index already exists at {root}; pass overwrite=True to replace it, or use Index.open")
    with storage.WriterLock(root, lock_timeout):
        if (root / MANIFEST).exists():
            os.unlink(root / MANIFEST)
            storage.fsync_dir(root)
        for entry in os.scandir(root):
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
