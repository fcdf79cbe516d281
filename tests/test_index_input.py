"""Odd input (issue 10, points 11-13): metadata JSON cannot hold exactly, ids that would break line-based
files, search knobs out of range, and a second writer on the command line (`--wait SECONDS`)."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from jcolbert.cli.main import app
from jcolbert.documents import ReadOptions, read_documents
from jcolbert.errors import InputError
from jcolbert.index import Index
from jcolbert.index.ingest import check_id, check_metadata
from test_index_data import make_docs, query_from

DIM = 32
runner = CliRunner()


@pytest.fixture
def index(tmp_path) -> Index:
    idx = Index.create(tmp_path / "idx", dim=DIM)
    idx.add_embeddings(["a", "b"], make_docs(2, dim=DIM), metadata=[{"k": 1}, None])
    return idx


@pytest.mark.parametrize(("meta", "message"), [
    ({"score": float("nan")}, r"metadata\[0\]: metadata 'score' is nan: JSON has no NaN"),
    ({"x": {"deep": [1, float("inf")]}}, r"metadata 'x'.deep\[1\] is inf"),
    ({"when": datetime.date(2024, 1, 1)}, "is a date, which JSON cannot store"),
    ({"tags": {1, 2}}, "is a set, which JSON cannot store"),
    ({1: "x"}, "metadata key 1 must be a string"),
])
def test_metadata_json_cannot_hold_is_rejected_at_input(index, meta, message) -> None:
    with pytest.raises(InputError, match=message):
        index.add_embeddings(None, make_docs(1, dim=DIM), metadata=[meta])
    assert len(index) == 2
    hits = index.search_embeddings(query_from(make_docs(2, dim=DIM)[0]), k=2, filter={"k": 1})
    assert [h.id for h in hits] == ["a"]  # filters keep working: nothing unrepresentable was stored


def test_jsonl_nan_and_bad_ids_name_the_line(tmp_path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "text": "fine", "score": 1.5}\n{"id": "x", "text": "t", "score": NaN}\n')
    with pytest.raises(InputError, match=r"docs.jsonl line 2: metadata 'score' is nan"):
        list(read_documents(path, ReadOptions()))
    path.write_text('{"id": "a\\tb", "text": "t"}\n')
    with pytest.raises(InputError, match=r"docs.jsonl line 1: id 'a\\tb' contains the control character"):
        list(read_documents(path, ReadOptions()))


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "nul\x00", "cr\r", "sep\u2028x"])
def test_ids_with_control_characters_are_rejected_everywhere(index, bad) -> None:
    with pytest.raises(InputError, match="control character"):
        index.add_embeddings([bad], make_docs(1, dim=DIM))
    with pytest.raises(InputError, match="control character"):
        check_id(bad, "here")
    assert check_id("a b/c.txt:3 é", "here") == "a b/c.txt:3 é"  # spaces, paths, non-ASCII are fine
    assert check_metadata({"k": [1, "x", None, {"n": 2.5}]}, "here")


@pytest.mark.parametrize(("knobs", "message"), [
    ({"ncells": -1}, "ncells must be a positive integer"),
    ({"ncells": 1.5}, "ncells must be a positive integer"),
    ({"ndocs": 0}, "ndocs must be a positive integer"),
    ({"ndocs": True}, "ndocs must be a positive integer"),
    ({"centroid_score_threshold": float("nan")}, "centroid_score_threshold must be a finite number"),
    ({"centroid_score_threshold": "0.5"}, "centroid_score_threshold must be a finite number"),
])
def test_search_knobs_out_of_range_are_rejected(index, knobs, message) -> None:
    with pytest.raises(InputError, match=message):
        index.search_embeddings(query_from(make_docs(1, dim=DIM)[0]), k=1, **knobs)


def test_cli_waits_for_the_writer_lock(tmp_path, index) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); time.sleep(float(sys.argv[2]))",
         str(index.path / "writer.lock"), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = runner.invoke(app, ["delete", str(index.path), "a", "--wait", "0.2"])
        assert busy.exit_code == 1 and "being changed by another process" in busy.output
        assert "--wait SECONDS" in busy.output
        started = time.monotonic()
        done = runner.invoke(app, ["delete", str(index.path), "a", "--wait", "60"])
        assert done.exit_code == 0, done.output
        assert time.monotonic() - started >= 0.5  # it waited for the other writer, then deleted
    finally:
        holder.kill()
        holder.wait()
    assert "a" not in Index.open(index.path) and len(Index.open(index.path)) == 1
