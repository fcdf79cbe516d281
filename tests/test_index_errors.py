"""Bad input gets a clear jcolbert.errors exception and never damages what is stored."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jcolbert.errors import IndexFormatError, IndexLockedError, IndexReadOnlyError, InputError
from jcolbert.index import Index
from test_index_data import make_docs, query_from

DIM = 32


@pytest.fixture
def index(tmp_path) -> Index:
    idx = Index.create(tmp_path / "idx", dim=DIM, exact_threshold=1000)
    idx.add_embeddings([f"d{i}" for i in range(120)], make_docs(120, dim=DIM))
    assert idx.mode == "plaid"
    return idx


def state(index: Index) -> tuple:
    st = index.stats()
    return st["generation"], st["documents"], st["tokens"], index.ids()


def test_duplicate_ids_are_named_and_nothing_is_written(index) -> None:
    before = state(index)
    docs = make_docs(3, dim=DIM, seed=5)
    with pytest.raises(InputError, match=r"duplicate document ids in this batch: 'new'"):
        index.add_embeddings(["new", "other", "new"], docs)
    with pytest.raises(InputError, match=r"already in the index: 'd3', 'd7'"):
        index.add_embeddings(["d3", "fresh", "d7"], docs)
    assert state(index) == before
    assert "fresh" not in index


def test_empty_documents_wrong_dim_and_nan(index) -> None:
    before = state(index)
    good = make_docs(1, dim=DIM)[0]
    with pytest.raises(InputError, match=r"vectors\[1\] is empty"):
        index.add_embeddings(None, [good, np.zeros((0, DIM), np.float32)])
    with pytest.raises(InputError, match=r"vectors\[0\] must be a \[tokens, 32\] array, got shape \[5, 16\]"):
        index.add_embeddings(None, [np.ones((5, 16), np.float32)])
    bad = good.copy()
    bad[0, 3] = np.nan
    with pytest.raises(InputError, match=r"vectors\[0\] contains NaN"):
        index.add_embeddings(None, [bad])
    with pytest.raises(InputError, match="2 ids for 1 vector arrays"):
        index.add_embeddings(["a", "b"], [good])
    with pytest.raises(InputError, match="has empty text"):
        index.add(["fine text", "   "])
    with pytest.raises(InputError, match="metadata must be a dict"):
        index.add([{"id": "x", "text": "t", "metadata": [1]}])
    with pytest.raises(InputError, match="no model recorded"):
        index.add(["an embeddings-only index cannot encode text"])
    assert state(index) == before


def test_bad_queries_and_knobs(index) -> None:
    Q = query_from(make_docs(1, dim=DIM)[0])
    for k in (0, -3, 2.5, True):
        with pytest.raises(InputError, match="k must be a positive integer"):
            index.search_embeddings(Q, k=k)
    with pytest.raises(InputError, match="unknown search option 'nprobe'"):
        index.search_embeddings(Q, nprobe=3)
    with pytest.raises(InputError, match="mode must be"):
        index.search_embeddings(Q, mode="fast")
    with pytest.raises(InputError, match=r"got shape \[8, 16\]"):
        index.search_embeddings(Q[:, :16])
    with pytest.raises(InputError, match="NaN"):
        index.search_embeddings(np.full_like(Q, np.nan))
    with pytest.raises(InputError, match="single string"):
        index.search_embeddings(Q, filter="d1")
    assert len(index.search_embeddings(Q, k=500)) == 120  # k above the collection size: every document


def test_create_refuses_bad_settings_and_existing_folders(tmp_path, index) -> None:
    with pytest.raises(InputError, match="nbits must be 1, 2 or 4"):
        Index.create(tmp_path / "a", dim=DIM, nbits=3)
    with pytest.raises(InputError, match="needs a model, or dim="):
        Index.create(tmp_path / "b")
    with pytest.raises(InputError, match="multiple of 8"):
        Index.create(tmp_path / "c", dim=12, nbits=1)
    with pytest.raises(InputError, match="already exists"):
        Index.create(index.path, dim=DIM)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty folder or a jcolbert index"):
        Index.create(tmp_path / "notes", dim=DIM)
    with pytest.raises(IndexFormatError, match="does not exist"):
        Index.open(tmp_path / "missing")
    with pytest.raises(IndexFormatError, match="manifest.json is missing"):
        Index.open(tmp_path / "notes")
    fresh = Index.create(index.path, dim=DIM, overwrite=True)
    assert len(fresh) == 0


def test_newer_format_version_is_refused(index) -> None:
    path = index.path / "manifest.json"
    m = json.loads(path.read_text())
    m["format_version"] = 99
    path.write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="format_version 99 was written by a newer jcolbert"):
        Index.open(index.path)
    path.write_text("{not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        Index.open(index.path)


def test_truncated_and_corrupted_array_files_are_detected(index) -> None:
    seg_dir = next(index.path.glob("seg-*"))
    residuals = seg_dir / "residuals.npy"
    data = residuals.read_bytes()
    residuals.write_bytes(data[:-100])
    with pytest.raises(IndexFormatError, match=r"residuals.npy is \d+ bytes but the manifest recorded \d+: truncated"):
        Index.open(index.path)
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    residuals.write_bytes(bytes(corrupted))
    with pytest.raises(IndexFormatError, match="residuals.npy fails its checksum"):
        Index.open(index.path)
    Index.open(index.path, verify=False)  # sizes only: opens (the caller chose not to verify)
    residuals.write_bytes(data)
    assert len(Index.open(index.path)) == 120
    (next(index.path.glob("codec-*")) / "centroids.npy").unlink()
    with pytest.raises(IndexFormatError, match="centroids.npy is missing"):
        Index.open(index.path)


def test_delete_of_unknown_ids_and_readonly(index) -> None:
    before = state(index)
    with pytest.raises(InputError, match="no document with id 'zzz'"):
        index.delete(["d1", "zzz"])
    assert state(index) == before
    ro = Index.open(index.path, readonly=True)
    with pytest.raises(IndexReadOnlyError, match="readonly"):
        ro.delete(["d1"])
    assert len(ro.search_embeddings(query_from(make_docs(1, dim=DIM)[0]), k=3)) == 3


def test_second_writer_gets_index_locked_error(index) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from filelock import FileLock
        lock = FileLock({str(index.path / "writer.lock")!r}); lock.acquire()
        print("locked", flush=True); sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match="being changed by another process"):
            index.delete(["d1"])
        with pytest.raises(IndexLockedError):
            index.add_embeddings(None, make_docs(1, dim=DIM))
        # readers are not blocked by a writer
        assert len(index.search_embeddings(query_from(make_docs(1, dim=DIM)[0]), k=2)) == 2
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    assert index.delete(["d1"]) == 1
