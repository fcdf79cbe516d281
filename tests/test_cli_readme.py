"""Every command and code block of README.md runs, verbatim.

* The two fresh-machine commands: the install half is what CI's `.ci/run` runs (`bash install.sh`), the
  quickstart half is `test_cli_quickstart.py::test_default_quickstart_offline_uses_minilm_and_finds_the_answers`
  (slow), and the test command must be the one `.ci/run` runs.
* The command-line block, the Python block and the colbert-ai block run here against small local files.
  They name the hub model `jinaai/jina-colbert-v1-en`; the hub client's download is pointed at the tiny
  Jina-ColBERT fixture (same file layout), so the real hub-name code path runs, offline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO_ROOT
from jcolbert.cli.main import app

README = REPO_ROOT / "README.md"
HUB_NAME = "jinaai/jina-colbert-v1-en"


def blocks(section: str, language: str) -> list[str]:
    """Fenced code blocks of one README section (## heading)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"README has no section {section!r}"
    return re.findall(rf"^```{language}\n(.*?)^```", match.group(1), flags=re.S | re.M)


@pytest.fixture
def hub_points_to_tiny_jina(monkeypatch, tiny_jina_dir):
    """`snapshot_download("jinaai/jina-colbert-v1-en")` returns the tiny fixture folder."""
    import huggingface_hub

    real = huggingface_hub.snapshot_download

    def snapshot_download(repo_id, *args, **kwargs):
        return str(tiny_jina_dir) if repo_id == HUB_NAME else real(repo_id, *args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_two_commands_match_ci():
    commands = [b.strip() for b in blocks("Two commands", "bash")]
    assert commands == ["bash install.sh && .venv/bin/jcolbert quickstart", ".venv/bin/python -m pytest"]
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "bash install.sh" in ci
    assert commands[1] in ci


def _write_inputs(folder: Path) -> None:
    (folder / "docs.jsonl").write_text(
        '{"id": "doc-1", "text": "Late interaction compares every query token with every document token.", "lang": "en"}\n'
        '{"id": "doc-2", "text": "Spät-Interaktion vergleicht jedes Token.", "lang": "de"}\n'
        '{"id": "doc-3", "text": "PLAID prunes candidates with centroids.", "lang": "en"}\n',
        encoding="utf-8",
    )
    (folder / "notes").mkdir()
    (folder / "notes" / "colbert.md").write_text("# ColBERT\nMaxSim sums the best matches.", encoding="utf-8")
    (folder / "notes" / "todo.txt").write_text("Index the papers folder.", encoding="utf-8")
    (folder / "papers.csv").write_text(
        "doc_id,title,abstract\np1,ColBERT,Contextualized late interaction over BERT.\n"
        "p2,ColBERTv2,Residual compression of token vectors.\n",
        encoding="utf-8",
    )
    (folder / "queries.tsv").write_text("q1\tlate interaction\nq2\tcompression\n", encoding="utf-8")
    (folder / "candidates.jsonl").write_text(
        '{"id": "a", "text": "Late interaction keeps one vector per token."}\n{"id": "b", "text": "BM25 counts words."}\n',
        encoding="utf-8",
    )


def test_command_line_examples_run(tmp_path, monkeypatch, hub_points_to_tiny_jina):
    monkeypatch.chdir(tmp_path)
    _write_inputs(tmp_path)
    runner = CliRunner()
    (block,) = blocks("Command line", "bash")
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) >= 10
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "jcolbert", line
        result = runner.invoke(app, argv[1:])
        assert result.exit_code == 0, f"{line}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    # my_index held 5 documents (3 JSONL lines + 2 notes) when the 2 queries ran with k=10
    assert (tmp_path / "run.trec").read_text().count(" Q0 ") == 2 * 5
    assert (tmp_path / "vectors.safetensors").is_file()
    from jcolbert import Index

    with Index.open(tmp_path / "my_index") as index:  # after `delete my_index doc-2` and `compact`
        assert sorted(index.ids()) == ["doc-1", "doc-3", "notes/colbert.md", "notes/todo.txt"]
    with Index.open(tmp_path / "papers") as papers:
        assert papers.get("p2")["text"] == "ColBERTv2\nResidual compression of token vectors."


def _write_beir(folder: Path) -> None:
    """A tiny collection in BEIR's layout: 8 documents, 2 judged queries."""
    import json

    (folder / "qrels").mkdir(parents=True)
    topics = ["late interaction", "residual compression", "inverted file", "query augmentation"]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(8):
            topic = topics[i % 4]
            f.write(
                json.dumps(
                    {"_id": f"d{i}", "title": topic, "text": f"Document {i} explains {topic} in ColBERT."}
                )
                + "\n"
            )
    (folder / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "what is late interaction?"}\n{"_id": "q2", "text": "how are residuals compressed?"}\n',
        encoding="utf-8",
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td0\t1\nq1\td4\t1\nq2\td1\t1\n", encoding="utf-8"
    )


@pytest.mark.slow
def test_evaluation_example_runs(tmp_path, monkeypatch, minilm_available):
    monkeypatch.chdir(tmp_path)
    _write_beir(tmp_path / "path" / "to" / "scifact")
    (block,) = blocks("Evaluation", "bash")
    argv = shlex.split(block.strip())
    assert argv[:2] == ["jcolbert", "evaluate"]
    result = CliRunner().invoke(app, argv[1:])
    assert result.exit_code == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    assert (tmp_path / "out" / "scifact" / "results.json").is_file()


def _run_python(code: str, cwd: Path, monkeypatch) -> dict:
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<README>", "exec"), namespace)
    return namespace


def test_python_example_runs(tmp_path, monkeypatch, hub_points_to_tiny_jina, capsys):
    (code,) = blocks("Python", "python")
    ns = _run_python(code, tmp_path, monkeypatch)
    assert len(ns["index"]) == 2
    assert ns["Q"].shape[0] == 1 and len(ns["D"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("1 ") and printed[1].startswith("2 ")


def test_compat_example_runs(tmp_path, monkeypatch, hub_points_to_tiny_jina, capsys):
    (code,) = blocks("colbert-ai code, unchanged", "python")
    ns = _run_python(code, tmp_path, monkeypatch)
    assert (tmp_path / "experiments" / "demo" / "indexes" / "card" / "manifest.json").is_file()
    assert len(ns["pids"]) == 2 and ns["ranks"] == [1, 2]
    assert capsys.readouterr().out.startswith("[")
