"""`jcolbert mine` and `jcolbert train` from the command line, and DDP under torchrun (two CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from jcolbert.cli.main import app
from jcolbert.train import DataSpec, TrainConfig, train
from train_data import TRAIN, write_beir, write_nway

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow  # mining, a teacher and three CLI trainings: ~46 s on the loaded machine
def test_mine_with_a_teacher_then_train(tiny_bert_dir: Path, tiny_jina_dir: Path, tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "beir")
    negatives = tmp_path / "neg.jsonl"
    result = cli("mine", beir, "--out", negatives, "--depth", "6", "--teacher", tiny_jina_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = [json.loads(line) for line in negatives.read_text().splitlines()]
    assert len(rows) == report["lines"] and report["teacher"] is True
    # one line per (query, positive); BM25 finds no other document for some of these tiny queries
    assert report["queries"] + report["queries_without_negative"] == len(TRAIN) and report["queries"] >= 4
    for qid, *group in rows:
        pids = [p for p, _ in group]
        assert pids[0] in TRAIN[qid] and not set(pids[1:]) & set(TRAIN[qid])
        assert all(isinstance(s, float) for _, s in group)
    again = cli("mine", beir, "--out", negatives)
    assert again.exit_code == 1 and "already exists" in again.output

    out = tmp_path / "run"
    args = ["train", tiny_bert_dir, beir, "--out", out, "--negatives", negatives, "--steps", "2", "--batch-size",
            "2", "--nway", "2", "--doc-maxlen", "32", "--quiet"]  # fmt: skip
    result = cli(*args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all("loss" in r for r in rows)
    assert (out / "checkpoint" / "artifact.metadata").is_file() and (out / "pylate" / "modules.json").is_file()
    refused = cli(*args)
    assert refused.exit_code == 1 and "already exists; pass --overwrite" in refused.output
    bm25 = cli("train", tiny_bert_dir, beir, "--out", tmp_path / "bm25", "--steps", "1", "--batch-size", "2",
               "--nway", "2", "--doc-maxlen", "32", "--quiet")  # fmt: skip
    assert bm25.exit_code == 0, bm25.output  # no --negatives: BM25 negatives mined into OUT
    assert (tmp_path / "bm25" / "negatives.jsonl").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # torchrun + two processes importing torch: ~60 s on the loaded 2-core machine
def test_two_process_ddp_equals_one_process_on_the_combined_batch(tiny_bert_dir: Path, tmp_path: Path) -> None:
    paths = write_nway(tmp_path / "data")
    common = {"steps": 2, "batch_size": 4, "nway": 4, "lr": 1e-4, "warmup_steps": 0, "doc_maxlen": 32,
              "dropout": 0.0, "in_batch_negatives": False}  # fmt: skip
    single = train(TrainConfig(base=str(tiny_bert_dir), out=tmp_path / "one", progress=False, plot=False,
                               save_pylate=False, data=DataSpec(paths["data"], paths["queries"], paths["collection"]),
                               **common))  # fmt: skip
    names = {"warmup_steps": "warmup"}
    flags = [f"--{names.get(k, k).replace('_', '-')}={v}" for k, v in common.items() if k != "in_batch_negatives"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), "-m", "jcolbert.cli.main", "train", str(tiny_bert_dir), paths["data"],
           "--queries", paths["queries"], "--collection", paths["collection"], "--out", str(tmp_path / "two"),
           "--device", "cpu", "--quiet", *flags]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = load_file(str(tmp_path / "two" / "checkpoint" / "model.safetensors"))
    one = load_file(str(single.checkpoint / "model.safetensors"))
    start = load_file(str(tiny_bert_dir / "model.safetensors"))
    assert two.keys() == one.keys()
    moved = 0
    for key in one:
        if key.endswith("attention.self.key.bias"):
            # its exact gradient is 0 (softmax does not change when every score of a query shifts by q.b), so
            # AdamW turns float rounding noise into full-size steps: compared only for finiteness
            assert torch.isfinite(two[key]).all()
            continue
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=0), key
        moved += not torch.equal(one[key], start[key])
    assert moved > len(one) // 2  # the training did change the parameters it compares


@pytest.mark.slow  # builds an index (k-means) and starts the CLI twice: ~55 s on the loaded machine
def test_mine_from_a_jcolbert_index(tiny_bert_dir: Path, tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "beir")
    index = tmp_path / "index"
    assert cli("index", index, beir / "corpus.jsonl", "--model", tiny_bert_dir, "--quiet").exit_code == 0
    negatives = tmp_path / "neg.jsonl"
    result = cli("mine", beir, "--index", index, "--depth", "5", "--out", negatives, "--quiet")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in negatives.read_text().splitlines()]
    assert len(rows) == sum(len(v) for v in TRAIN.values())  # the index returns 5 documents for every query
    for qid, pos, *negs in rows:
        assert pos in TRAIN[qid] and len(negs) >= 3 and not set(negs) & set(TRAIN[qid])
