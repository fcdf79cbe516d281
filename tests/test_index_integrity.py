"""The manifest and the document store are data too (issue 10, points 5-8): a schema and a checksum for the
manifest, a document store whose loss or alteration is detected, atomic creation, leftovers reported and
cleaned, and `jcolbert verify` that checks everything deeply."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from index_folders import build_index, copy_index, edit_manifest, make_format_1, results
from jcolbert.cli.main import app
from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index import Index
from jcolbert.index.verify import verify
from test_index_data import make_docs

runner = CliRunner()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    index = build_index(root / "base")
    return root / "base", results(index)


@pytest.fixture
def work(tmp_path, base):
    return copy_index(base[0], tmp_path / "idx")


# ----------------------------------------------------------------------------------------------- the manifest


def test_manifest_edits_and_flipped_bytes_are_caught(work) -> None:
    raw = (work / "manifest.json").read_bytes()
    (work / "manifest.json").write_bytes(raw.replace(b'"num_docs": 1', b'"num_docs": 2', 1))
    with pytest.raises(IndexFormatError, match="fails its checksum"):
        Index.open(work)
    (work / "manifest.json").write_bytes(raw[:40] + b"\xff" + raw[41:])
    with pytest.raises(IndexFormatError, match="not valid UTF-8"):
        Index.open(work)
    for pos in range(0, len(raw), max(1, len(raw) // 97)):  # one flipped bit anywhere
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << (pos % 8)
        (work / "manifest.json").write_bytes(bytes(flipped))
        with pytest.raises(IndexFormatError):
            Index.open(work)
    (work / "manifest.json").write_bytes(raw)
    assert len(Index.open(work)) == 108


def test_manifest_schema_names_renamed_keys_and_wrong_types(work) -> None:
    original = (work / "manifest.json").read_bytes()
    cases = [
        (lambda m: m["segments"][0]["files"]["codes.npy"].update(size=m["segments"][0]["files"]["codes.npy"].pop("bytes")),
         r"segments\[0\]\.files\.codes\.npy: missing key\(s\) 'bytes'"),
        (lambda m: m.update(dim="32"), "dim: expected an integer"),
        (lambda m: m.update(segments={}), "segments: expected a list"),
        (lambda m: m["settings"].update(chunk_size=True), "chunk_size: expected an integer"),
        (lambda m: m.update(extra=1), "unknown key"),
    ]
    for change, message in cases:
        (work / "manifest.json").write_bytes(original)
        edit_manifest(work, change)
        with pytest.raises(IndexFormatError, match=message):
            Index.open(work)
    (work / "manifest.json").write_bytes(original.replace(b"{", b'{"dim": 1, ', 1))
    with pytest.raises(IndexFormatError, match="appears twice"):
        Index.open(work)


# ----------------------------------------------------------------------------------------------- the document store


def test_a_deleted_or_emptied_document_store_is_detected_at_open(work) -> None:
    copy = work.parent / "copy"
    shutil.copytree(work, copy)
    (work / "docs.sqlite").unlink()
    with pytest.raises(IndexFormatError, match="document store .* is missing"):
        Index.open(work)
    assert not (work / "docs.sqlite").exists()  # never silently re-created
    con = sqlite3.connect(copy / "docs.sqlite")
    con.execute("DELETE FROM docs")
    con.commit()
    con.close()
    with pytest.raises(IndexFormatError, match="holds 0 of the 108 documents"):
        Index.open(copy)


def test_a_document_store_from_another_index_is_detected_at_open(work, tmp_path) -> None:
    other = build_index(tmp_path / "other").path
    shutil.copy(other / "docs.sqlite", work / "docs.sqlite")
    with pytest.raises(IndexFormatError, match="belongs to another index"):
        Index.open(work)


def test_an_altered_row_is_detected_when_read(work, base) -> None:
    con = sqlite3.connect(work / "docs.sqlite")
    con.execute("UPDATE docs SET text = 'text 4O' WHERE id = 'd40'")  # one character changed
    con.execute("UPDATE docs SET id = 'd99x' WHERE id = 'd99'")
    con.commit()
    con.close()
    index = Index.open(work)
    assert len(index) == 108
    with pytest.raises(IndexFormatError, match=r"document 40 .* fails its check"):
        index.get("d40")
    with pytest.raises(IndexFormatError, match="fails its check"):
        results(index)  # query 2 returns d40 with its text
    with pytest.raises(IndexFormatError, match="fails its check"):
        index.ids()
    report = verify(work)
    assert not report["ok"] and any("document 40" in p for p in report["problems"])


def test_a_corrupted_database_file_is_an_index_error(work) -> None:
    data = bytearray((work / "docs.sqlite").read_bytes())
    data[100:4096] = b"\x55" * (4096 - 100)  # the first page's b-tree: the schema
    (work / "docs.sqlite").write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="document store"):
        results(Index.open(work))


# ----------------------------------------------------------------------------------------------- creation, leftovers


def test_create_on_a_file_and_on_foreign_folders(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        Index.create(tmp_path / "file", dim=32)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty folder or a jcolbert index"):
        Index.create(tmp_path / "foreign", dim=32, overwrite=True)
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


def test_the_remains_of_an_interrupted_create_are_reused(tmp_path) -> None:
    path = tmp_path / "idx"
    Index.create(path, dim=32)
    (path / "manifest.json").unlink()  # what a create killed before its commit point leaves
    with pytest.raises(IndexFormatError, match="remains of an interrupted Index.create"):
        Index.open(path)
    index = Index.create(path, dim=32)
    index.add_embeddings(None, make_docs(3, dim=32))
    assert len(Index.open(path)) == 3


def test_leftovers_are_reported_and_cleaned(work, base) -> None:
    (work / "seg-000099-abcdef").mkdir()
    (work / "seg-000099-abcdef" / "codes.npy").write_bytes(b"x" * 1000)
    (work / "manifest.json.tmp").write_bytes(b"{}")
    seg = next(p for p in work.iterdir() if p.name.startswith("seg-"))
    (seg / "del-000099.npy").write_bytes(b"y" * 10)
    con = sqlite3.connect(work / "docs.sqlite")
    con.execute("INSERT INTO docs(num, id, text, metadata, idcheck, rowcheck) VALUES (9999, 'orphan', 't', NULL, 0, 0)")
    con.commit()
    con.close()
    index = Index.open(work)
    left = index.stats()["leftovers"]
    assert left["files"] == sorted(["seg-000099-abcdef", "manifest.json.tmp", f"{seg.name}/del-000099.npy"])
    assert left["bytes"] == 1012 and left["orphan_rows"] == 1
    assert results(index) == base[1]  # leftovers never change what is found
    fixed = copy_index(work, work.parent / "fixed")
    index.compact(recluster=False)
    assert index.stats()["leftovers"] == {"files": [], "bytes": 0, "orphan_rows": 0}
    report = verify(fixed, repair=True)
    assert report["ok"] and len(report["repaired"]) == 4
    assert Index.open(fixed).stats()["leftovers"] == {"files": [], "bytes": 0, "orphan_rows": 0}


def test_verify_checks_everything_and_the_cli_reports_it(work, base) -> None:
    report = verify(work)
    assert report["ok"] and report["problems"] == [] and report["documents"] == 108
    result = runner.invoke(app, ["verify", str(work), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
    seg = next(p for p in work.iterdir() if p.name.startswith("seg-") and (p / "ivf_docs.npy").exists())
    data = bytearray((seg / "residuals.npy").read_bytes())
    data[-1] ^= 0xFF
    (seg / "residuals.npy").write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(work)])
    assert result.exit_code == 1 and "residuals.npy fails its checksum" in result.output


# ----------------------------------------------------------------------------------------------- older folders


def test_an_index_of_format_1_is_read_and_upgraded_by_its_next_writer(work, base) -> None:
    make_format_1(work)
    index = Index.open(work)
    assert index.stats()["format_version"] == 1 and results(index) == base[1]
    report = verify(work)
    assert not report["ok"] and report["problems"] == [] and "no row checks" in report["repairable"][0]
    index.delete(["d1"])  # the first change gives the store its checks and the manifest its checksum
    again = Index.open(work)
    assert again.stats()["format_version"] == 3 and verify(work)["ok"] and "d1" not in again
    con = sqlite3.connect(work / "docs.sqlite")
    con.execute("UPDATE docs SET text = 'changed' WHERE id = 'd40'")
    con.commit()
    con.close()
    with pytest.raises(IndexFormatError, match="fails its check"):
        Index.open(work).get("d40")


def test_a_missing_row_of_a_live_document_is_an_error_not_a_keyerror(work) -> None:
    con = sqlite3.connect(work / "docs.sqlite")
    con.execute("DELETE FROM docs WHERE id = 'd40'")
    con.commit()  # the rows of the two deleted documents keep the count above the live ones: reads must tell
    con.close()
    index = Index.open(work)
    with pytest.raises(IndexFormatError, match="has no row for document 40"):
        results(index)
    with pytest.raises(IndexFormatError, match="has no row for document 40"):
        index.ids()
    assert any("live documents have no row" in p for p in verify(work)["problems"])
