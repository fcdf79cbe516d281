"""Ctrl-C during `jcolbert index` leaves the index at its last commit, and running it again continues.

A real `jcolbert index` process gets SIGINT once a few batches are committed; the index must then open
with a whole number of batches, and the same command must finish the job, adding each document once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jcolbert import Index

N_DOCS = 1000
BATCH = 20


def _command(idx: Path, docs: Path, model: Path, batch: int = BATCH) -> list[str]:
    code = "from jcolbert.cli.main import app; app()"
    return [
        sys.executable,
        "-c",
        code,
        "index",
        str(idx),
        str(docs),
        "--model",
        str(model),
        "--batch-size",
        str(batch),
    ]


def _generation(idx: Path) -> int:
    try:
        return json.loads((idx / "manifest.json").read_text())["generation"]
    except (OSError, ValueError, KeyError):
        return -1


def test_sigint_keeps_the_last_commit_and_rerun_continues(tmp_path, tiny_jina_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"document number {i} about topic {i % 17}"}) + "\n"
            for i in range(N_DOCS)
        ),
        encoding="utf-8",
    )
    idx = tmp_path / "idx"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # a shell that started the test run in the background leaves SIGINT ignored, and children inherit that:
    # restore the default so the child's Python raises KeyboardInterrupt as it would under a terminal
    proc = subprocess.Popen(
        _command(idx, docs, tiny_jina_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while _generation(idx) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "indexing finished before it could be interrupted; raise N_DOCS"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout and "run the same command again to continue" in stdout
    assert "Traceback" not in stderr

    with Index.open(idx) as index:
        kept = len(index)
        assert 0 < kept < N_DOCS and kept % BATCH == 0
        ids = index.ids()
        assert ids == [f"d{i}" for i in range(kept)]  # the first batches, whole, in order

    # the same command (larger commits only to keep the test short)
    rerun = subprocess.run(
        _command(idx, docs, tiny_jina_dir, batch=500), capture_output=True, text=True, env=env, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{kept} of {N_DOCS} documents are already in the index" in rerun.stderr
    with Index.open(idx) as index:
        assert len(index) == N_DOCS
        assert sorted(index.ids()) == sorted(f"d{i}" for i in range(N_DOCS))
