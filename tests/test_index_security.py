"""An index folder is a boundary (issue 10, points 1-4): nothing a manifest names can make the engine read,
write, delete, map or list anything outside it, hang on a special file, or allocate from a count it did not
check against the files themselves."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from index_folders import build_index, copy_index, edit_manifest, folder_state, make_outside, results
from jcolbert.errors import IndexFormatError, JColbertError
from jcolbert.index import Index
from jcolbert.index.manifest import SEG_DIR
from test_index_data import make_docs


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("sec")
    index = build_index(root / "base")
    return root / "base", results(index)


@pytest.fixture
def work(tmp_path, base):
    path = copy_index(base[0], tmp_path / "idx")
    outside = make_outside(tmp_path)
    return path, outside, folder_state(outside)


def seg_dirs(path):
    return sorted(p.name for p in path.iterdir() if SEG_DIR.fullmatch(p.name))


def must_refuse(path, match: str):
    with pytest.raises(IndexFormatError, match=match):
        Index.open(path)


@pytest.mark.parametrize("bad", ["../outside", "/tmp", "seg-000001-abcdef/../../outside", "", "seg-1-x"])
def test_segment_dirs_outside_the_folder_are_refused(work, bad) -> None:
    path, outside, before = work
    edit_manifest(path, lambda m: m["segments"][0].update(dir=bad))
    must_refuse(path, r"segments\[0\]\.dir: .* not a valid name here")
    assert folder_state(outside) == before


@pytest.mark.parametrize("bad", ["/etc/shadow", "../../etc/hostname", "../codes.npy", "sub/doclens.npy"])
def test_file_names_with_paths_are_refused_without_a_size_oracle(work, bad) -> None:
    path, outside, before = work

    def rename(m):
        seg = m["segments"][0]
        seg["files"][bad] = seg["files"].pop("doclens.npy")

    original = (path / "manifest.json").read_bytes()
    edit_manifest(path, rename)
    with pytest.raises(IndexFormatError) as err:
        Index.open(path)
    assert "bytes but the manifest recorded" not in str(err.value) and "key(s)" in str(err.value)
    (path / "manifest.json").write_bytes(original)
    edit_manifest(path, lambda m: next(s for s in m["segments"] if s["deleted"])["deleted"].update(file=bad))
    must_refuse(path, "not a valid name here")


def test_a_segment_folder_that_is_a_symlink_is_never_followed(work) -> None:
    path, outside, before = work
    seg = seg_dirs(path)[0]
    escaped = outside / "copied_segment"
    shutil.copytree(path / seg, escaped)  # a perfect copy elsewhere: reading it would even "work"
    shutil.rmtree(path / seg)
    (path / seg).symlink_to(escaped)
    before = folder_state(outside)
    must_refuse(path, "symlink or not a folder")
    # a writer must not write tombstones there nor clean it up
    with pytest.raises(IndexFormatError):
        Index.open(path, verify=False).delete(["d1"])
    assert folder_state(outside) == before


def test_array_files_that_are_symlinks_fifos_or_devices_are_refused(work, tmp_path) -> None:
    path, outside, before = work
    seg = path / seg_dirs(path)[0]
    target = seg / "codes.npy"
    real = target.read_bytes()
    (outside / "codes.npy").write_bytes(real)  # the same bytes outside: a followed link would pass every check
    before = folder_state(outside)
    target.unlink()
    target.symlink_to(outside / "codes.npy")
    must_refuse(path, "is a symlink")
    target.unlink()
    target.symlink_to("/dev/zero")
    must_refuse(path, "is a symlink")
    target.unlink()
    os.mkfifo(target)
    must_refuse(path, "not a regular file")  # never blocks: opened non-blocking, then refused
    assert folder_state(outside) == before


@pytest.mark.parametrize("name", ["docs.sqlite", "writer.lock"])
def test_docstore_and_lock_as_symlinks_are_refused(work, name) -> None:
    path, outside, before = work
    victim = outside / "keep.bin"
    if name == "docs.sqlite":
        shutil.copy(path / name, victim)
        before = folder_state(outside)
    (path / name).unlink(missing_ok=True)
    (path / name).symlink_to(victim)
    if name == "docs.sqlite":
        must_refuse(path, "document store .* is a symlink")
    else:
        index = Index.open(path)
        assert results(index)  # searching never touches the lock
        with pytest.raises(IndexFormatError, match="lock file .* is a symlink"):
            index.delete(["d1"])
    assert folder_state(outside) == before


@pytest.mark.parametrize(("where", "value", "match"), [
    ("num_tokens", 10**15, "num_tokens|records"),
    ("num_docs", 10**12, "records|num_tokens"),
    ("next_doc_num", 10**30, "out of range"),
    ("next_doc_num", 1e30, "expected an integer"),
    ("bytes", -1, "out of range"),
])
def test_huge_or_wrong_counts_are_refused_before_any_allocation(work, where, value, match) -> None:
    path, _, _ = work

    def change(m):
        if where == "next_doc_num":
            m["next_doc_num"] = value
        elif where == "bytes":
            m["segments"][0]["files"]["codes.npy"]["bytes"] = value
        else:
            m["segments"][0][where] = value

    edit_manifest(path, change)
    must_refuse(path, match)


def _write_array(path, arr) -> None:
    """Replace an array file and record its new size/crc in the manifest (a lie that passes its checksum)."""
    from jcolbert.index.storage import write_array

    path.unlink()
    entry = write_array(path, arr)
    seg_dir, name = path.parent.name, path.name

    def change(m):
        for seg in m["segments"]:
            if seg["dir"] == seg_dir:
                target = seg["deleted"] if name.startswith("del-") else seg["files"][name]
                target.update(bytes=entry.bytes, crc32=entry.crc32, shape=list(entry.shape), dtype=entry.dtype)

    edit_manifest(path.parent.parent, change)


@pytest.mark.parametrize(("name", "lie", "match"), [
    ("codes.npy", lambda a: np.where(np.arange(len(a)) == 3, 65535, a).astype(a.dtype), "centroid ids outside"),
    ("ivf_docs.npy", lambda a: np.where(np.arange(len(a)) == 0, 60000, a).astype(a.dtype), "document positions"),
    ("ivf_offsets.npy", lambda a: a[::-1].copy(), "non-decreasing"),
    ("doclens.npy", lambda a: np.where(np.arange(len(a)) == 0, -a[0], a).astype(a.dtype), "no tokens|sums to"),
    ("doclens.npy", lambda a: a.astype(np.float32), "<f4"),
    ("doclens.npy", lambda a: a.reshape(-1, 1), r"<i4\[\d+, 1\]"),
    ("doc_nums.npy", lambda a: a[::-1].copy(), "strictly increasing"),
    ("tombstones", lambda a: np.array([a[0], a[0]], dtype=a.dtype) if len(a) else a, "strictly increasing|records"),
])
def test_arrays_that_pass_their_checksum_but_lie(work, name, lie, match) -> None:
    path, _, _ = work
    for seg in seg_dirs(path):
        folder = path / seg
        target = next(folder.glob("del-*.npy"), None) if name == "tombstones" else folder / name
        if target is not None and target.exists():
            break
    arr = np.load(target)
    _write_array(target, lie(arr))
    with pytest.raises(IndexFormatError, match=match):
        Index.open(path)


def test_duplicated_segment_entries_and_overlapping_numbers(work) -> None:
    path, _, _ = work
    original = (path / "manifest.json").read_bytes()
    edit_manifest(path, lambda m: m["segments"].append(m["segments"][0]))
    must_refuse(path, "listed twice")
    (path / "manifest.json").write_bytes(original)
    edit_manifest(path, lambda m: m["segments"].reverse())
    must_refuse(path, "overlapping document numbers")


def test_opening_never_loads_downloads_or_lists_the_recorded_model(tmp_path, monkeypatch) -> None:
    import huggingface_hub

    def no_network(*a, **k):
        raise AssertionError("the index tried to download a model")

    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, no_network)
    index = Index.create(tmp_path / "idx", dim=32)
    index.add_embeddings(None, make_docs(5, dim=32))
    for recorded in ("/etc", "some-org/some-model"):
        def set_model(m, recorded=recorded):
            m["model"] = {"name_or_path": recorded, "dim": 32}

        edit_manifest(index.path, set_model)
        opened = Index.open(index.path)
        assert opened.stats()["model"] == recorded and len(opened.search_embeddings(make_docs(1, dim=32)[0])) == 5
    edit_manifest(index.path, lambda m: m.update(model={"name_or_path": "/etc", "dim": 32}))
    with pytest.raises(JColbertError) as err:
        Index.open(index.path).search("a query")
    assert "/etc" in str(err.value) and "passwd" not in str(err.value) and "hostname" not in str(err.value)
