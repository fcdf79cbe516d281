"""Faults of the medium (issue 10, points 9-10): a full disk while writing (a clear `No space left`, nothing
committed, the index intact), an error after the commit point (not reported as a failed change), searching
with no free space at all, and read-only media (searching works, changes fail with one clear line).

The real thing runs on a small tmpfs when this process may mount one (root, as in CI); the same paths are
also driven by an injected OSError at the write call, which needs no privileges."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from index_folders import build_index, copy_index, make_format_1, results
from jcolbert.errors import IndexReadOnlyError, NoSpaceError
from jcolbert.index import Index, storage
from test_index_data import make_docs

DIM = 32


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    index = build_index(root / "base")
    return root / "base", results(index)


@contextlib.contextmanager
def tmpfs(size: str):
    """A fresh tmpfs of `size` (skips when this process may not mount: the injected tests cover the logic)."""
    where = Path("/tmp") / f"jc-tmpfs-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:80]}); the injected-fault tests run")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(where: Path, leave: int = 0) -> None:
    """Use up the free bytes of the file system holding `where`, all but about `leave`."""
    if leave:
        st = os.statvfs(where)
        with open(where / "ballast", "wb") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
        return
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def state(index: Index) -> tuple:
    st = index.stats()
    return st["generation"], st["documents"], index.ids()


# ----------------------------------------------------------------------------------------------- a full disk, for real


def test_disk_full_on_a_real_tmpfs(base) -> None:
    with tmpfs("8m") as where:
        path = copy_index(base[0], where / "idx")
        index = Index.open(path)
        before = state(index)
        fill(where, leave=300_000)
        big = make_docs(3000, dim=DIM, seed=5, min_len=100, max_len=120)  # ~3 MB compressed
        with pytest.raises(NoSpaceError, match="No space left on the device holding index .* nothing was committed"):
            index.add_embeddings(None, big)
        assert state(index) == before and results(Index.open(path)) == base[1]
        fill(where)  # not one byte left: opening and searching must still work
        assert os.statvfs(where).f_bavail == 0
        fresh = Index.open(path)
        assert results(fresh) == base[1] and state(fresh) == before
        with pytest.raises(NoSpaceError):
            fresh.delete(["d1"])
        assert results(Index.open(path)) == base[1]
        (where / "filler").unlink()
        (where / "ballast").unlink()
        fresh.delete(["d1"])  # space again: the index takes changes again
        assert "d1" not in Index.open(path)


def test_read_only_media_on_a_real_mount(base) -> None:
    with tmpfs("20m") as where:
        path = copy_index(base[0], where / "idx")
        legacy = copy_index(base[0], where / "legacy")
        make_format_1(legacy)  # a store in WAL mode: reading it read-only needs the immutable open
        ro = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
        assert ro.returncode == 0, ro.stderr
        assert not os.access(path, os.W_OK)
        for readonly in (True, False):
            index = Index.open(path, readonly=readonly)
            assert results(index) == base[1] and len(index) == 108 and index.stats()["documents"] == 108
            with pytest.raises(IndexReadOnlyError) as err:
                index.add_embeddings(None, make_docs(1, dim=DIM))
            assert "\n" not in str(err.value)
        assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in base[0].iterdir())
        assert results(Index.open(legacy, readonly=True)) == base[1] == results(Index.open(legacy))


# ----------------------------------------------------------------------------------------------- injected faults


def test_disk_full_while_writing_a_segment_is_a_clear_error(base, tmp_path, monkeypatch) -> None:
    path = copy_index(base[0], tmp_path / "idx")
    index = Index.open(path)
    before = state(index)
    real = storage.NpyAppender.append
    calls = [0]

    def append(self, block):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real(self, block)

    monkeypatch.setattr(storage.NpyAppender, "append", append)
    with pytest.raises(NoSpaceError, match="No space left on the device .* while adding documents"):
        index.add_embeddings(None, make_docs(50, dim=DIM, seed=6))
    monkeypatch.undo()
    assert state(index) == before and results(index) == base[1]
    index.add_embeddings(None, make_docs(5, dim=DIM, seed=6))  # the next writer cleans up and commits
    assert index.stats()["leftovers"]["files"] == []


def test_an_error_after_the_commit_point_is_not_a_failed_add(base, tmp_path, monkeypatch) -> None:
    path = copy_index(base[0], tmp_path / "idx")
    index = Index.open(path)
    real_replace = os.replace

    def fsync_dir(p):
        raise OSError(errno.ENOSPC, "No space left on device")

    def replace(a, b):
        real_replace(a, b)
        if str(b).endswith("manifest.json"):
            monkeypatch.setattr(storage, "fsync_dir", fsync_dir)  # everything after the rename fails

    monkeypatch.setattr(storage.os, "replace", replace)
    ids = index.add_embeddings(["late"], make_docs(1, dim=DIM, seed=7))
    monkeypatch.undo()
    assert ids == ["late"] and "late" in Index.open(path) and len(Index.open(path)) == 109


def test_read_only_folder_and_readonly_flag(base, tmp_path, monkeypatch) -> None:
    path = copy_index(base[0], tmp_path / "idx")
    with pytest.raises(IndexReadOnlyError, match="readonly=True"):
        Index.open(path, readonly=True).delete(["d1"])

    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(path / "writer.lock"))

    index = Index.open(path)
    monkeypatch.setattr(storage.FileLock, "acquire", refuse)
    with pytest.raises(IndexReadOnlyError, match="cannot be changed: Read-only file system"):
        index.delete(["d1"])
    assert results(index) == base[1]
    shutil.rmtree(path)
