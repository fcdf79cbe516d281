"""The `jcolbert` verbs end to end on JSONL, CSV and a folder, with the tiny Jina-ColBERT checkpoint
(random weights: fast, and fine for checking plumbing; retrieval quality is tested with `minilm`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jcolbert.cli.main import app

runner = CliRunner()


def jc(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str | Path):
    result = jc(*args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


DOCS = [
    {"id": "colbert", "text": "ColBERT is an efficient and effective passage retrieval model.", "lang": "en"},
    {"id": "jina", "text": "Jina-ColBERT supports 8k context length.", "lang": "en"},
    {"id": "alibi", "text": "JinaBERT uses the symmetric bidirectional variant of ALiBi.", "lang": "de"},
    {"id": "search", "text": "You can build neural search systems with ease.", "lang": "en"},
]


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    csv = tmp_path / "docs.csv"
    csv.write_text(
        "doc_id,body,year\n" + "".join(f'{d["id"]},"{d["text"]}",2024\n' for d in DOCS), encoding="utf-8"
    )
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Late interaction\nColBERT scores with MaxSim.", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("PLAID prunes candidates with centroids.", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    return {"jsonl": jsonl, "csv": csv, "folder": folder}


def test_help_lists_every_verb():
    result = ok("--help")
    for verb in (
        "index",
        "search",
        "rerank",
        "encode",
        "info",
        "delete",
        "compact",
        "quickstart",
        "evaluate",
    ):
        assert verb in result.stdout


def test_help_does_not_import_torch():
    """`jcolbert --help` must stay fast: no torch (or the index engine) at start-up."""
    code = "import sys, jcolbert.cli.main; print(sorted(m for m in ('torch', 'jcolbert.index', 'pyarrow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version():
    assert ok("--version").stdout.startswith("jcolbert ")


def test_jsonl_index_search_info_delete_compact(tmp_path, corpus, tiny_jina_dir):
    idx = tmp_path / "idx"
    result = ok("index", idx, corpus["jsonl"], "--model", tiny_jina_dir, "--quiet")
    assert "added 4 documents" in result.stdout

    hits = json.loads(ok("search", idx, "what is ColBERT?", "-k", "3", "--json").stdout)
    assert hits["query"] == "what is ColBERT?"
    assert [h["rank"] for h in hits["hits"]] == [1, 2, 3]
    assert {h["id"] for h in hits["hits"]} <= {d["id"] for d in DOCS}
    assert all(h["text"] for h in hits["hits"])

    table = ok("search", idx, "what is ColBERT?", "-k", "2").stdout
    assert "rank" in table and "score" in table

    filtered = json.loads(ok("search", idx, "ColBERT", "--filter", "lang=de", "--json").stdout)
    assert [h["id"] for h in filtered["hits"]] == ["alibi"]
    by_id = json.loads(ok("search", idx, "ColBERT", "--filter", "id=jina,search", "--json").stdout)
    assert {h["id"] for h in by_id["hits"]} == {"jina", "search"}

    info = json.loads(ok("info", idx, "--json").stdout)
    assert info["documents"] == 4 and info["tokens"] > 0
    assert "documents" in ok("info", idx).stdout

    refused = jc("delete", idx, "jina", "nope")  # as Index.delete: an unknown id deletes nothing
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ") and "'nope'" in refused.stderr
    assert "--missing-ok" in refused.stderr and json.loads(ok("info", idx, "--json").stdout)["documents"] == 4
    deleted = json.loads(ok("delete", idx, "jina", "nope", "--missing-ok", "--json").stdout)
    assert deleted["deleted"] == 1 and deleted["not_found"] == ["nope"] and deleted["documents"] == 3
    after = json.loads(ok("search", idx, "ColBERT", "--json").stdout)
    assert "jina" not in {h["id"] for h in after["hits"]}

    compacted = json.loads(ok("compact", idx, "--json").stdout)
    assert compacted["after"]["documents"] == 3 and compacted["after"]["deleted_pending_compaction"] == 0


def test_appending_skips_ids_already_present(tmp_path, corpus, tiny_jina_dir):
    idx = tmp_path / "idx"
    first = tmp_path / "first.jsonl"
    first.write_text("".join(json.dumps(d) + "\n" for d in DOCS[:2]), encoding="utf-8")
    ok("index", idx, first, "--model", tiny_jina_dir, "-q")
    summary = json.loads(ok("index", idx, corpus["jsonl"], "--json", "-q").stdout)
    assert summary["added"] == 2 and summary["skipped_existing"] == 2 and summary["stats"]["documents"] == 4


def test_csv_with_id_and_text_fields(tmp_path, corpus, tiny_jina_dir):
    idx = tmp_path / "idx"
    ok(
        "index",
        idx,
        corpus["csv"],
        "--model",
        tiny_jina_dir,
        "--id-field",
        "doc_id",
        "--text-field",
        "body",
        "-q",
    )
    hits = json.loads(ok("search", idx, "ALiBi", "-k", "4", "--json", "--filter", "year=2024").stdout)["hits"]
    assert {h["id"] for h in hits} == {d["id"] for d in DOCS}
    assert hits[0]["metadata"] is None or "year" in hits[0]["metadata"]


def test_parquet_and_relative_model_path(tmp_path, monkeypatch, tiny_jina_dir):
    import shutil

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    shutil.copytree(tiny_jina_dir, tmp_path / "ckpt")
    pq.write_table(
        pa.table({"id": ["p1", "p2"], "text": ["first passage", "second passage"]}), tmp_path / "d.parquet"
    )
    monkeypatch.chdir(tmp_path)
    ok("index", "idx", "d.parquet", "--model", "ckpt", "-q")
    monkeypatch.chdir(tmp_path.parent)  # the index finds its model from another working directory
    hits = json.loads(ok("search", tmp_path / "idx", "passage", "--json").stdout)["hits"]
    assert {h["id"] for h in hits} == {"p1", "p2"}


def test_folder_skips_binary_files_with_a_count(tmp_path, corpus, tiny_jina_dir):
    idx = tmp_path / "idx"
    result = ok("index", idx, corpus["folder"], "--model", tiny_jina_dir)
    assert "skipped 1 binary file(s)" in result.stderr
    hits = json.loads(ok("search", idx, "centroids", "--json").stdout)["hits"]
    assert {h["id"] for h in hits} == {"notes/a.md", "notes/sub/b.txt"}


def test_queries_file_writes_a_trec_run(tmp_path, corpus, tiny_jina_dir):
    idx = tmp_path / "idx"
    ok("index", idx, corpus["jsonl"], "--model", tiny_jina_dir, "-q")
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\twhat is ColBERT\nq2\tlong context\n", encoding="utf-8")
    run = tmp_path / "run.trec"
    result = ok("search", idx, "--queries", queries, "-k", "3", "--output", run, "--tag", "test")
    assert "2 queries" in result.stdout
    lines = [line.split() for line in run.read_text().splitlines()]
    assert len(lines) == 6
    assert {line[0] for line in lines} == {"q1", "q2"}
    assert all(line[1] == "Q0" and line[5] == "test" for line in lines)
    assert [int(line[3]) for line in lines if line[0] == "q1"] == [1, 2, 3]
    as_json = json.loads(ok("search", idx, "--queries", queries, "-k", "2", "--json").stdout)
    assert set(as_json) == {"q1", "q2"} and [h["rank"] for h in as_json["q1"]] == [1, 2]
    # without --output the run goes to stdout
    stdout_run = ok("search", idx, "--queries", queries, "-k", "1", "-q").stdout.splitlines()
    assert len(stdout_run) == 2 and stdout_run[0].startswith("q1 Q0 ")


def test_rerank_jsonl(tmp_path, corpus, tiny_jina_dir):
    result = json.loads(
        ok(
            "rerank", "what is ColBERT?", corpus["jsonl"], "--model", tiny_jina_dir, "--json", "-k", "2"
        ).stdout
    )
    assert [h["rank"] for h in result["hits"]] == [1, 2]
    assert result["hits"][0]["score"] >= result["hits"][1]["score"]
    assert (
        "rank"
        in ok(
            "rerank",
            "ColBERT",
            corpus["csv"],
            "--model",
            tiny_jina_dir,
            "--id-field",
            "doc_id",
            "--text-field",
            "body",
        ).stdout
    )


def test_encode_documents_and_queries_to_safetensors(tmp_path, corpus, tiny_jina_dir):
    from safetensors import safe_open

    out = tmp_path / "vectors.safetensors"
    summary = json.loads(
        ok("encode", corpus["jsonl"], "--out", out, "--model", tiny_jina_dir, "--json").stdout
    )
    assert summary["count"] == 4
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        vectors, doclens = f.get_tensor("vectors"), f.get_tensor("doclens")
    assert json.loads(meta["ids"]) == [d["id"] for d in DOCS] and meta["kind"] == "documents"
    assert vectors.shape == (int(doclens.sum()), 128) and doclens.shape == (4,)

    queries = tmp_path / "q.txt"
    queries.write_text("first query\nsecond query\n", encoding="utf-8")
    qout = tmp_path / "queries.safetensors"
    ok("encode", queries, "--queries", "--out", qout, "--model", tiny_jina_dir, "-q")
    with safe_open(str(qout), "pt") as f:
        assert f.get_tensor("vectors").shape == (2, 32, 128)
        assert f.metadata()["kind"] == "queries"
