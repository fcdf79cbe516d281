"""`jcolbert quickstart`: the standard-library collection, the model choice, the hits, the next steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from jcolbert.cli.main import app
from jcolbert.cli.quickstart import EXAMPLE_QUERIES, stdlib_documents

runner = CliRunner()


def test_collection_is_deterministic_and_holds_the_answers():
    docs = stdlib_documents(500)
    assert len(docs) == 500
    assert docs == stdlib_documents(500)
    ids = {d["id"] for d in docs}
    assert {"json.loads", "subprocess.check_output", "math.gcd", "gzip.compress"} <= ids
    assert len(ids) == len(docs)
    assert all(d["text"].startswith(d["id"]) and d["metadata"]["module"] for d in docs)
    assert len(stdlib_documents(20)) == 20 and stdlib_documents(20) == docs[:20]
    # the same in another process, with other modules loaded: no object addresses or run-time state in the text
    code = "import json; from jcolbert.cli.quickstart import stdlib_documents; print(json.dumps(stdlib_documents(500)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    import logging.handlers  # noqa: F401  (adds handlers to logging's state in this process only)

    assert json.loads(other.stdout) == stdlib_documents(500)
    assert not any(" at 0x" in d["text"] for d in docs)


def test_quickstart_runs_and_shows_the_next_commands(tmp_path, tiny_jina_dir):
    args = [
        "quickstart",
        "--dir",
        str(tmp_path / "qs"),
        "--model",
        str(tiny_jina_dir),
        "--limit",
        "40",
        "-k",
        "2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "collection: 40 docstrings" in result.stderr
    for query in EXAMPLE_QUERIES:
        assert query in result.stdout
    assert (
        "jcolbert index my_index" in result.stdout
        and 'jcolbert search my_index "your question"' in result.stdout
    )

    again = json.loads(runner.invoke(app, [*args, "--json"]).stdout)  # a second run reuses the index
    assert again["reused"] is True and again["documents"] == 40
    assert [len(q["hits"]) for q in again["queries"]] == [2] * len(EXAMPLE_QUERIES)
    assert set(again["timings_s"]) == {"collect", "model_load", "encode", "index", "search"}


def test_default_model_is_used_when_the_hub_has_it(tmp_path, tiny_jina_dir):
    """With the hub reachable (here: its cache, offline, holding the tiny fixture under the real name),
    the quickstart uses jinaai/jina-colbert-v1-en and says so."""
    from test_compat_model_card import HUB_NAME, fake_hub_cache, offline_env

    hub = fake_hub_cache(tmp_path / "hub", HUB_NAME, tiny_jina_dir)
    code = "from jcolbert.cli.main import app; app()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "quickstart", "--json", "--limit", "30"],
        cwd=tmp_path,
        env=offline_env(hub),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == HUB_NAME and "from the Hugging Face hub" in report["model_note"]
    assert (tmp_path / "jcolbert-quickstart" / "index-jina-colbert-v1-en" / "manifest.json").is_file()


@pytest.mark.slow
def test_default_quickstart_offline_uses_minilm_and_finds_the_answers(tmp_path, minilm_available):
    """The README's command, as a user runs it on a machine without the hub (CI sets HF_HUB_OFFLINE=1)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = "from jcolbert.cli.main import app; app()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "quickstart", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "minilm" and "hub is unreachable" in report["model_note"]
    top = {q["query"]: [h["id"] for h in q["hits"]] for q in report["queries"]}
    assert top["how do I parse a JSON string into a Python object?"][0] in ("json.loads", "json.load")
    assert top["find the greatest common divisor of two integers"][0] == "math.gcd"
    assert top["compress data in gzip format"][0] == "gzip.compress"
    assert "subprocess.check_output" in top["run a shell command and capture its output"]
    assert (tmp_path / "jcolbert-quickstart" / "index-minilm" / "manifest.json").is_file()
