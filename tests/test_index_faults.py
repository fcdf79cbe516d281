"""Fault injection: hypothesis damages a valid index folder and asserts that the only outcomes are a correct
search or a `JColbertError` with a message: never another exception, a hang, a different result, or a read,
write or deletion outside the folder.

Two families of damage: to the files as they lie on disk (flip a bit, truncate, delete, rename, duplicate,
swap in a symlink to a file outside or inside, a FIFO, a folder) and to the manifest's content, re-signed
with a valid checksum as a crafted folder from elsewhere would be (any value at any key, deleted and renamed
keys, duplicated entries). Each example runs under a timeout. An audit hook watches every file the process
opens while an example runs; a snapshot of a folder beside the index proves nothing there was touched.
A bounded number of examples runs by default; `-m slow` runs many more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index_folders import build_index, edit_manifest, folder_state, make_outside, results
from jcolbert.errors import JColbertError
from jcolbert.index import Index

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SLOW = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
TIMEOUT_S = 20

# ----------------------------------------------------------------------------------------------- the watch

_WATCH: dict[str, Any] = {}


def _audit(event: str, args: tuple) -> None:
    if not _WATCH or event not in ("open", "sqlite3.connect", "os.remove", "os.rmdir", "shutil.rmtree", "os.rename"):
        return
    target = args[0]
    if isinstance(target, bytes):
        target = target.decode(errors="replace")
    if not isinstance(target, str | os.PathLike):
        return
    target = str(target)
    if target.startswith("file:"):
        target = target[5:].split("?")[0]
    flags = args[2] if event == "open" and len(args) > 2 and isinstance(args[2], int) else 0
    if not os.path.isabs(target) or (flags & getattr(os, "O_NOFOLLOW", 0)):
        return  # a plain name under a folder descriptor, or a final component that is never followed
    real = os.path.realpath(target) + os.sep
    if real.startswith(_WATCH["sandbox"]) and not real.startswith(_WATCH["index"]):
        _WATCH["escapes"].append(f"{event} {target} -> {real}")


sys.addaudithook(_audit)


@contextlib.contextmanager
def watched(sandbox: Path, index: Path):
    _WATCH.update(sandbox=str(sandbox.resolve()) + os.sep, index=str(index.resolve()) + os.sep, escapes=[])

    def hang(signum, frame):
        raise TimeoutError(f"no answer within {TIMEOUT_S} s: the index hung")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(TIMEOUT_S)
    try:
        yield _WATCH["escapes"]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        escapes = list(_WATCH["escapes"])
        _WATCH.clear()
        assert not escapes, f"the index reached outside its folder: {escapes[:3]}"


# ----------------------------------------------------------------------------------------------- the folder


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    index = build_index(root / "base")
    entries = sorted(str(p.relative_to(root / "base")) for p in (root / "base").rglob("*"))
    return root / "base", results(index), entries


def fresh(base, tmp_path: Path) -> tuple[Path, Path, Path]:
    sandbox = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
    sandbox.mkdir()
    path = sandbox / "idx"
    shutil.copytree(base[0], path)
    outside = make_outside(sandbox)
    return sandbox, path, outside


def outcome(path: Path, expected: list, write: bool) -> str:
    """Open, search (and perhaps change): a correct answer or a JColbertError, nothing else."""
    try:
        index = Index.open(path)
        got = results(index)
        n = len(index)
    except JColbertError as exc:
        assert str(exc).strip(), "an error without a message"
        return "error"
    assert got == expected and n == 108, "a damaged index answered differently without an error"
    if write:
        with contextlib.suppress(JColbertError):
            index.delete(["d7"])
            assert "d7" not in index
    return "correct"


# ----------------------------------------------------------------------------------------------- damage to files

OPS = ("flip", "truncate", "delete", "rename", "duplicate", "link_out", "link_in", "fifo", "folder")


def damage_file(path: Path, outside: Path, target: str, op: str, other: str, pos: int) -> None:
    p, o = path / target, path / other
    if not (p.exists() or p.is_symlink()):
        return
    if op == "flip" and p.is_file() and p.stat().st_size:
        data = bytearray(p.read_bytes())
        data[pos % len(data)] ^= 1 << (pos % 8)
        p.write_bytes(bytes(data))
    elif op == "truncate" and p.is_file():
        size = p.stat().st_size
        os.truncate(p, pos % size if size else 0)
    elif op == "delete":
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    elif op == "rename":
        p.rename(p.with_name(p.name + ".x" if pos % 2 else "seg-000077-aaaaaa"))
    elif op == "duplicate" and o.exists() and o != p:
        if o.is_dir():
            shutil.copytree(o, path / f"seg-{pos % 999999:06d}-bbbbbb")
        elif p.is_file():
            shutil.copyfile(o, p)
    elif op in ("link_out", "link_in", "fifo", "folder"):
        if p.is_dir() and not p.is_symlink():
            if op == "link_out":
                shutil.copytree(p, outside / p.name)
            shutil.rmtree(p)
        else:
            if op == "link_out":
                shutil.copyfile(p, outside / p.name) if p.is_file() else None
            p.unlink()
        if op == "link_out":
            p.symlink_to(outside / p.name if (outside / p.name).exists() else outside / "secret.txt")
        elif op == "link_in":
            p.symlink_to(o)
        elif op == "fifo":
            os.mkfifo(p)
        else:
            p.mkdir()


@st.composite
def file_damage(draw, entries: list[str]):
    return (draw(st.sampled_from(entries)), draw(st.sampled_from(OPS)), draw(st.sampled_from(entries)),
            draw(st.integers(0, 2**31)))


def _run_file_damage(base, tmp_path, damage) -> None:
    sandbox, path, outside = fresh(base, tmp_path)
    damage_file(path, outside, *damage)
    before = folder_state(outside)
    with watched(sandbox, path):
        outcome(path, base[1], write=True)
    assert folder_state(outside) == before, "files outside the index changed"
    shutil.rmtree(sandbox)


def test_damaged_files(base, tmp_path) -> None:
    @FAST
    @given(file_damage(base[2]))
    def run(damage):
        _run_file_damage(base, tmp_path, damage)

    run()


@pytest.mark.slow
def test_damaged_files_many(base, tmp_path) -> None:
    @SLOW
    @given(file_damage(base[2]))
    def run(damage):
        _run_file_damage(base, tmp_path, damage)

    run()


# ----------------------------------------------------------------------------------------------- crafted manifests

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, -1, 2**31, 2**63, 10**15]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e30, 0.5, -0.0]),
    st.sampled_from(["", "../outside", "/etc/hostname", "../../outside/secret.txt", "seg-000001-abcdef",
                     "codes.npy", "del-000001.npy", "<i8", "|u1", "<f4", "pq", "exact", "plaid", "/dev/zero"]),
    st.text(max_size=8), st.lists(st.integers(-5, 10**6), max_size=3), st.just({}),
)
# edits that describe another *valid* index (fewer documents, no tombstones, other settings): allowed to differ
_FREE = ("deleted",)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _parent(doc: Any, where: tuple) -> Any:
    for k in where[:-1]:
        doc = doc[k]
    return doc


def craft(doc: dict, where: tuple, op: str, value: Any) -> None:
    parent, key = _parent(doc, where), where[-1]
    if op == "set":
        parent[key] = value
    elif op == "delete" and isinstance(parent, dict):
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        parent[str(key) + "_"] = parent.pop(key)
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(parent[key])


@st.composite
def manifest_damage(draw, paths: list[tuple]):
    where = draw(st.sampled_from(paths))
    op = draw(st.sampled_from(("set", "set", "delete", "rename", "duplicate")))
    return where, op, draw(VALUES)


def _run_manifest_damage(base, tmp_path, damage) -> None:
    where, op, value = damage
    if where[:1] == ("checksum",) or where[-1] in _FREE or (where[:1] == ("segments",) and op == "delete"
                                                            and len(where) == 2):
        return  # the checksum is recomputed anyway; the others describe another valid index
    sandbox, path, outside = fresh(base, tmp_path)
    edit_manifest(path, lambda m: craft(m, where, op, value))
    before = folder_state(outside)
    with watched(sandbox, path):
        outcome(path, base[1], write=True)
    assert folder_state(outside) == before, "files outside the index changed"
    shutil.rmtree(sandbox)


@pytest.fixture(scope="module")
def manifest_paths(base) -> list[tuple]:
    import json

    return _paths(json.loads((base[0] / "manifest.json").read_text()))


def test_crafted_manifests(base, tmp_path, manifest_paths) -> None:
    @FAST
    @given(manifest_damage(manifest_paths))
    def run(damage):
        _run_manifest_damage(base, tmp_path, damage)

    run()


@pytest.mark.slow
def test_crafted_manifests_many(base, tmp_path, manifest_paths) -> None:
    @SLOW
    @given(manifest_damage(manifest_paths))
    def run(damage):
        _run_manifest_damage(base, tmp_path, damage)

    run()


def test_the_watch_sees_an_escape(tmp_path) -> None:
    """The audit hook is not a test that cannot fail: opening a file outside the index is reported."""
    sandbox, index = tmp_path, tmp_path / "idx"
    index.mkdir()
    (tmp_path / "secret").write_text("x")
    with pytest.raises(AssertionError, match="reached outside its folder"), watched(sandbox, index):
        (tmp_path / "secret").read_text()
