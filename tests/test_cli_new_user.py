"""What a new user hit, trying the project from a fresh clone (issue 9), each as a test that failed before.

The tiny random-weight Jina fixture keeps these fast; the help example runs with the offline `minilm`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from jcolbert.cli import common
from jcolbert.cli.main import app

runner = CliRunner()
VERBS = ("index", "search", "rerank", "encode", "info", "delete", "compact", "quickstart", "evaluate")


def jc(*args: str | Path, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def ok(*args: str | Path, **kwargs):
    result = jc(*args, **kwargs)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def lines_file(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_search_json_carries_metadata(tmp_path, tiny_jina_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "alpha beta", "lang": "en"}\n{"id": "b", "text": "gamma", "lang": "de"}\n')
    ok("index", tmp_path / "idx", docs, "--model", tiny_jina_dir, "-q")
    hits = json.loads(ok("search", tmp_path / "idx", "alpha", "--json", "--filter", "lang=en").stdout)["hits"]
    assert [(h["id"], h["metadata"]) for h in hits] == [("a", {"lang": "en"})]
    queries = lines_file(tmp_path / "q.tsv", "q1\talpha")
    by_query = json.loads(ok("search", tmp_path / "idx", "--queries", queries, "--json").stdout)
    assert {h["id"]: h["metadata"] for h in by_query["q1"]} == {"a": {"lang": "en"}, "b": {"lang": "de"}}


def test_two_text_files_indexed_one_after_the_other_are_both_kept(tmp_path, tiny_jina_dir):
    idx = tmp_path / "idx"
    a = lines_file(tmp_path / "a.txt", "alpha one", "alpha two")
    b = lines_file(tmp_path / "b.txt", "beta one", "beta two")
    ok("index", idx, a, "--model", tiny_jina_dir, "-q")
    second = json.loads(ok("index", idx, b, "--json", "-q").stdout)
    assert second["added"] == 2 and second["skipped_existing"] == 0 and second["stats"]["documents"] == 4
    again = json.loads(ok("index", idx, a, b, "--json", "-q").stdout)  # the same inputs again: a resume
    assert again["added"] == 0 and again["skipped_existing"] == 4


def test_an_id_that_now_names_another_text_stops_the_run(tmp_path, tiny_jina_dir):
    idx = tmp_path / "idx"
    notes = lines_file(tmp_path / "notes.txt", "first note", "second note")
    ok("index", idx, notes, "--model", tiny_jina_dir, "-q")
    lines_file(notes, "first note, edited", "second note", "third note")
    result = jc("index", idx, notes, "-q")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 1 document id(s) of this input are already in")
    assert "'notes.txt:1'" in result.stderr and "nothing was added" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(ok("info", idx, "--json").stdout)["documents"] == 2


def test_existing_index_notes_only_the_options_it_ignores(tmp_path, tiny_jina_dir):
    idx = tmp_path / "idx"
    ok("index", idx, lines_file(tmp_path / "a.txt", "alpha"), "--model", tiny_jina_dir)
    same = ok("index", idx, lines_file(tmp_path / "b.txt", "beta"), "--model", tiny_jina_dir)
    assert "ignored" not in same.stderr
    other = ok("index", idx, lines_file(tmp_path / "c.txt", "gamma"), "--doc-maxlen", "64")
    assert "(--doc-maxlen 64 ignored)" in other.stderr and "--model" not in other.stderr


def test_truncation_note_offers_only_what_the_model_can_take(tmp_path, tiny_jina_dir):
    from jcolbert.cli.index_cmds import truncation_note

    minilm_like = SimpleNamespace(doc_maxlen=512, max_positions=512)
    assert "--doc-maxlen" not in truncation_note(3, 10, minilm_like)
    assert "--long-documents split" in truncation_note(3, 10, minilm_like)
    jina_like = SimpleNamespace(doc_maxlen=512, max_positions=8192)
    assert "--doc-maxlen up to 8192" in truncation_note(3, 10, jina_like)
    long = lines_file(tmp_path / "long.txt", " ".join(["word"] * 200), "short")
    cut = ok("index", tmp_path / "cut", long, "--model", tiny_jina_dir, "--doc-maxlen", "32")
    assert "truncated 1 of 2 documents to 32 tokens" in cut.stderr
    whole = ok("index", tmp_path / "whole", long, "--model", tiny_jina_dir, "--doc-maxlen", "32",
               "--long-documents", "split")  # fmt: skip
    assert "truncated" not in whole.stderr
    tokens = {json.loads(ok("info", tmp_path / name, "--json").stdout)["tokens"] for name in ("cut", "whole")}
    assert len(tokens) == 2  # split kept every word's vector


@contextmanager
def recorded_progress(monkeypatch):
    calls: list[tuple[str, int | None, list[int]]] = []

    @contextmanager
    def progress(self, description, total, unit="docs"):
        advances: list[int] = []
        calls.append((description, total, advances))
        yield advances.append

    monkeypatch.setattr(common.Output, "progress", progress)
    yield calls


def test_progress_moves_per_encoded_batch_with_rate_and_eta(tmp_path, tiny_jina_dir, monkeypatch):
    docs = lines_file(tmp_path / "many.txt", *[f"document number {i} about topic {i % 7}" for i in range(300)])
    shown = ok("index", tmp_path / "shown", docs, "--model", tiny_jina_dir)  # rich's bar, as printed
    assert "docs/s" in shown.stderr and "ETA" in shown.stderr
    with recorded_progress(monkeypatch) as calls:
        ok("index", tmp_path / "idx", docs, "--model", tiny_jina_dir)  # one commit of 1,000 documents
    ((description, total, advances),) = calls
    assert total == 300 and sum(advances) == 300
    assert len(advances) >= 3 and max(advances) <= 128  # per encoder call (4 x 32), not per commit of 1,000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "--bogus"], "error: no such option: --bogus (see: jcolbert index --help)"),
        (["search"], "error: missing argument"),
        (["index", "i", "a.txt", "--nbits", "x"], "error: invalid value for '--nbits'"),
        (["nosuchverb"], "error: no such command"),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(args, message):
    result = jc(*args)
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "╭" not in result.stderr and "Usage:" not in result.stderr


def test_help_shows_no_bool_placeholders():
    for args in ([], *([verb] for verb in VERBS)):
        text = ok(*args, "--help").stdout
        assert "<bool>" not in text, args
    assert "--missing-ok" in ok("delete", "--help").stdout


def test_output_into_a_closed_pipe_says_nothing(tmp_path, tiny_jina_dir):
    """`jcolbert ... | head` used to end with 'error: Broken pipe' when the reader left first."""
    idx = tmp_path / "idx"
    ok("index", idx, lines_file(tmp_path / "d.txt", "alpha one", "beta two"), "--model", tiny_jina_dir, "-q")
    command = [sys.executable, "-c", "from jcolbert.cli.main import app; app()"]
    for args in (["--help"], ["index", "--help"], ["info", str(idx), "--json"], ["search", str(idx), "alpha", "--json"]):
        proc = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before the output is written
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
        assert err == "", (args, err)


def test_a_misspelt_offline_model_suggests_minilm(tmp_path):
    docs = lines_file(tmp_path / "d.txt", "alpha")
    for name in ("MiniLM", "all-MiniLM-L6-v2"):
        result = jc("index", tmp_path / "idx", docs, "--model", name, "-q")
        assert result.exit_code == 1 and "(did you mean --model minilm?)" in result.stderr, result.stderr


def test_top_level_help_examples_run_offline(tmp_path, monkeypatch, minilm_available):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "docs.jsonl").write_text('{"id": "d1", "text": "late interaction scores every token"}\n')
    help_text = " ".join(ok("--help").stdout.replace("│", " ").split())
    examples = [e for e in re.findall(r"`(jcolbert [^`]+)`", help_text) if e != "jcolbert quickstart"]
    assert [shlex.split(e)[1] for e in examples] == ["index", "search"]
    for example in examples:
        result = jc(*shlex.split(example)[1:])
        assert result.exit_code == 0, f"{example}\n{result.stderr}"


def test_quickstart_hints_are_commands_that_run_here(tmp_path, tiny_jina_dir):
    script = Path(sys.executable).parent / "jcolbert"
    if not script.exists():
        pytest.skip("jcolbert's console script is not installed next to this Python")  # pragma: no cover
    args = ["quickstart", "--dir", str(tmp_path / "qs"), "--model", str(tiny_jina_dir), "--limit", "10"]
    elsewhere = "/usr/bin:/bin"
    hinted = ok(*args, env={"PATH": elsewhere}).stdout
    shown = re.search(r"^  (\S+) index my_index", hinted, flags=re.M).group(1)  # absolute, or relative to here
    assert Path(shown).resolve() == script.resolve() and f"source {Path(shown).parent / 'activate'}" in hinted
    on_path = ok(*args, env={"PATH": f"{script.parent}{os.pathsep}{elsewhere}"}).stdout
    assert "\n  jcolbert index my_index" in on_path and "activate" not in on_path


@pytest.mark.slow
def test_a_build_in_one_command_needs_no_recluster(tmp_path, minilm_available):
    """Several commits in one `jcolbert index` run: the centroids must not be those of the first one only."""
    from jcolbert.cli.quickstart import stdlib_documents

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in stdlib_documents(900)), encoding="utf-8")
    ok("index", tmp_path / "idx", docs, "--model", "minilm", "--batch-size", "300", "-q")
    info = json.loads(ok("info", tmp_path / "idx", "--json").stdout)
    assert info["mode"] == "plaid" and info["documents"] == 900
    assert info["recluster_recommended"] is False, info["recluster_reason"]
