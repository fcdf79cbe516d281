"""Every bad-input case of the CLI: exit code 1 and exactly ONE line on stderr, naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jcolbert.cli.main import app

runner = CliRunner()


def fails(*args: str | Path, match: str) -> str:
    """Run the CLI, expect exit code 1 and the error as ONE stderr line containing ``match``.

    Progress notes may precede it (``loading model ...``); with --quiet the error line is all there is.
    """
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert match in errors[0], errors[0]
    quiet = runner.invoke(app, [str(a) for a in args] + ["--quiet"])
    assert quiet.exit_code == 1 and quiet.stderr.strip() == errors[0], quiet.stderr
    return errors[0]


@pytest.fixture
def small_index(tmp_path, tiny_jina_dir) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        '{"id": "a", "text": "alpha beta"}\n{"id": "b", "text": "gamma delta"}\n', encoding="utf-8"
    )
    idx = tmp_path / "idx"
    assert (
        runner.invoke(app, ["index", str(idx), str(docs), "--model", str(tiny_jina_dir), "-q"]).exit_code == 0
    )
    return idx


def test_malformed_jsonl_names_file_and_line_and_indexes_nothing(tmp_path, tiny_jina_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": "broken\n', encoding="utf-8")
    idx = tmp_path / "idx"
    fails("index", idx, bad, "--model", tiny_jina_dir, match="bad.jsonl line 3: invalid JSON")
    assert not idx.exists()  # validated before anything was created or encoded


def test_malformed_jsonl_leaves_an_existing_index_untouched(tmp_path, small_index):
    bad = tmp_path / "more.jsonl"
    bad.write_text('{"id": "c", "text": "ok"}\nnot json\n', encoding="utf-8")
    fails("index", small_index, bad, match="more.jsonl line 2: invalid JSON")
    info = json.loads(runner.invoke(app, ["info", str(small_index), "--json"]).stdout)
    assert info["documents"] == 2


def test_csv_without_the_named_column(tmp_path, tiny_jina_dir):
    csv = tmp_path / "docs.csv"
    csv.write_text("id,body\n1,hello\n", encoding="utf-8")
    fails(
        "index",
        tmp_path / "idx",
        csv,
        "--model",
        tiny_jina_dir,
        match="docs.csv: no column 'text' (columns: id, body)",
    )


def test_non_utf8_text_is_a_clear_error(tmp_path, tiny_jina_dir):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    fails(
        "index",
        tmp_path / "idx",
        folder,
        "--model",
        tiny_jina_dir,
        match="latin1.txt: not valid UTF-8 (byte 0xe9 at offset 3)",
    )
    ok = runner.invoke(
        app,
        [
            "index",
            str(tmp_path / "idx"),
            str(folder),
            "--model",
            str(tiny_jina_dir),
            "--encoding-errors",
            "replace",
            "-q",
        ],
    )
    assert ok.exit_code == 0, ok.stderr


def test_empty_query(small_index, tmp_path, tiny_jina_dir):
    fails("search", small_index, "   ", match="the query is empty")
    docs = tmp_path / "d.txt"
    docs.write_text("one\n", encoding="utf-8")
    fails("rerank", "", docs, "--model", tiny_jina_dir, match="the query is empty")


def test_index_path_that_is_a_file(tmp_path, tiny_jina_dir):
    docs = tmp_path / "docs.txt"
    docs.write_text("one\n", encoding="utf-8")
    not_an_index = tmp_path / "file.txt"
    not_an_index.write_text("x", encoding="utf-8")
    fails("index", not_an_index, docs, "--model", tiny_jina_dir, match="is a file; an index is a folder")
    fails("search", not_an_index, "query", match="is a file; an index is a folder")
    fails("info", tmp_path / "missing", match="no such index folder")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    fails(
        "index",
        other,
        docs,
        "--model",
        tiny_jina_dir,
        match="is a folder with other files in it, not an index",
    )
    fails("info", other, match="is not a jcolbert index")


def test_model_that_does_not_exist(tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("one\n", encoding="utf-8")
    fails(
        "index",
        tmp_path / "idx",
        docs,
        "--model",
        tmp_path / "no-such-model",
        match="no such checkpoint folder",
    )
    fails("rerank", "q", docs, "--model", "./no-such-model", match="no such checkpoint folder")
    # a hub name that does not exist: "no such model" online, "cannot fetch" offline (CI runs offline)
    line = fails(
        "rerank", "q", docs, "--model", "jcolbert-tests/no-such-model", match="jcolbert-tests/no-such-model"
    )
    assert "no such model on the Hugging Face hub" in line or "cannot fetch" in line


def test_unreachable_hub_names_the_offline_model(tmp_path, monkeypatch):
    import jcolbert
    from jcolbert.errors import HubUnavailableError

    def offline(name, **kw):
        raise HubUnavailableError(
            f"cannot fetch {name!r} from the Hugging Face hub (ConnectError: no network)"
        )

    monkeypatch.setattr(jcolbert, "load_model", offline)
    docs = tmp_path / "docs.txt"
    docs.write_text("one\n", encoding="utf-8")
    line = fails("index", tmp_path / "idx", docs, match="cannot fetch 'jinaai/jina-colbert-v1-en'")
    assert "--model minilm" in line


def test_duplicate_ids_and_unsupported_inputs(tmp_path, tiny_jina_dir):
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', encoding="utf-8")
    fails("index", tmp_path / "idx", dup, "--model", tiny_jina_dir, match="duplicate document id 'x'")
    docx = tmp_path / "report.docx"
    docx.write_bytes(b"PK\x03\x04")
    fails("index", tmp_path / "idx", docx, "--model", tiny_jina_dir, match="unsupported input type '.docx'")
    fails("index", tmp_path / "idx", tmp_path / "missing.jsonl", match="no such file or folder")


def test_bad_flags(tmp_path, small_index):
    fails("search", small_index, "q", "--filter", "nonsense", match="expected KEY=VALUE")
    fails("search", small_index, match="give either a QUERY or --queries FILE")
    fails("delete", small_index, match="no ids given")
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": "x"}\n', encoding="utf-8")
    fails("encode", docs, "--out", tmp_path / "v.npy", match="must end in .safetensors")
