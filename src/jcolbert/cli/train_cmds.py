"""`jcolbert train` and `jcolbert mine` (jcolbert.train).

    jcolbert mine ../shared/data/scifact --depth 100 --out out/negatives.jsonl [--index INDEX] [--teacher MODEL]
    jcolbert train minilm ../shared/data/scifact --out out/run --dim 128 --steps 500 --negatives out/negatives.jsonl
    jcolbert train BASE triples.jsonl --queries queries.tsv --collection collection.tsv --out out/run
    torchrun --nproc-per-node 2 -m jcolbert.cli.main train ...      (data-parallel, gloo on CPU / nccl on GPU)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jcolbert.cli.common import JsonOption, Output, QuietOption, UsageError


def train(
    base: Annotated[str, typer.Argument(help="The model to start from: anything --model takes ('minilm', a folder, a hub id).", show_default=False)],
    data: Annotated[Path, typer.Argument(help="A BEIR folder (its qrels split), an n-way .jsonl (with --queries, --collection) or a triples .tsv.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for checkpoints, train_log.jsonl and the final model.")],
    dim: Annotated[int | None, typer.Option(help="A fresh seeded projection head of this size (e.g. 128 on minilm).")] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps.", min=1)] = 1000,
    batch_size: Annotated[int, typer.Option(help="Examples (queries) per optimizer step, over all processes.", min=1)] = 16,
    nway: Annotated[int, typer.Option(help="Passages per example: the positive and nway-1 negatives.", min=2)] = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 1e-5,
    seed: Annotated[int, typer.Option(help="Seed of the data order, negative sampling and dropout.")] = 12345,
    head_seed: Annotated[int, typer.Option(help="Seed of a new projection head (--dim).")] = 12345,
    queries: Annotated[Path | None, typer.Option(help="queries.tsv of an n-way JSONL.")] = None,
    collection: Annotated[Path | None, typer.Option(help="collection.tsv of an n-way JSONL.")] = None,
    negatives: Annotated[Path | None, typer.Option(help="BEIR folder: n-way JSONL of negatives (jcolbert mine); default: BM25, mined into OUT.")] = None,
    split: Annotated[str, typer.Option(help="BEIR folder: the qrels split to train on.")] = "train",
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.", min=1)] = 1,
    warmup: Annotated[int | None, typer.Option(help="Warm-up steps (default: 10% of --steps).")] = None,
    loss: Annotated[str, typer.Option(help="kl (teacher scores), ce (contrastive) or auto.")] = "auto",
    in_batch_negatives: Annotated[bool, typer.Option("--in-batch-negatives", help="Add in-batch negatives cross-entropy.")] = False,
    doc_maxlen: Annotated[int | None, typer.Option(help="Truncate training passages to this many tokens (default: the model's).")] = None,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the device has native bf16), fp32 or bf16.")] = "auto",
    max_grad_norm: Annotated[float, typer.Option(help="Gradient clipping norm.")] = 2.0,
    save_every: Annotated[int, typer.Option(help="Write a resumable checkpoint every N steps (0: only the final model).", min=0)] = 0,
    eval_every: Annotated[int, typer.Option(help="Dev NDCG@10 every N steps (needs --dev).", min=0)] = 0,
    dev: Annotated[Path | None, typer.Option(help="Dev dataset folder (BEIR / MS MARCO) for --eval-every.")] = None,
    dev_split: Annotated[str, typer.Option(help="Split of --dev.")] = "dev",
    dev_queries: Annotated[int, typer.Option(help="Dev queries evaluated (the first N).", min=1)] = 200,
    dev_depth: Annotated[int, typer.Option(help="BM25 candidates reranked per dev query.", min=10)] = 30,
    dropout: Annotated[float | None, typer.Option(help="Dropout of the backbone (default: the checkpoint's).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda (default: CUDA when present).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in OUT (same settings).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing training folder OUT.")] = False,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train a ColBERT model (ColBERTv2's recipe); the result loads with `--model OUT/checkpoint`."""
    from jcolbert.train import DataSpec, DevSpec, TrainConfig
    from jcolbert.train import train as run

    out = Output(quiet=quiet, json_mode=json_out)
    if eval_every and dev is None:
        raise UsageError("--eval-every needs --dev FOLDER")
    spec = DataSpec(str(data), str(queries) if queries else None, str(collection) if collection else None,
                    str(negatives) if negatives else None, split)  # fmt: skip
    config = TrainConfig(
        base=base, out=out_dir, data=spec, dim=dim, head_seed=head_seed, steps=steps, batch_size=batch_size,
        nway=nway, grad_accum=grad_accum, lr=lr, warmup_steps=warmup, max_grad_norm=max_grad_norm, loss=loss,
        in_batch_negatives=in_batch_negatives, doc_maxlen=doc_maxlen, precision=precision, seed=seed,
        dropout=dropout, device=device, save_every=save_every, eval_every=eval_every,
        dev=DevSpec(str(dev), dev_split, dev_queries, dev_depth) if dev else None,
        progress=not (quiet or json_out), overwrite=overwrite, resume=resume,
    )  # fmt: skip
    result = run(config, say=out.note)
    if result.checkpoint is None:  # a rank other than 0 under torchrun
        return
    summary = {"out": str(result.out), "steps": result.steps, "checkpoint": str(result.checkpoint),
               "pylate": str(result.pylate) if result.pylate else None, "last": result.last,
               "examples_per_s": result.examples_per_s}  # fmt: skip
    if json_out:
        out.json(summary)
    else:
        out.result(f"trained {result.steps} steps ({result.examples_per_s:.1f} examples/s); "
                   f"final loss {result.last.get('loss', float('nan')):.4f}")  # fmt: skip
        out.result(f"model: {result.checkpoint} (colbert-ai layout; jcolbert --model {result.checkpoint})")
        if result.pylate:
            out.result(f"PyLate layout: {result.pylate}")


def mine(
    data: Annotated[Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv.", show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The n-way JSONL to write.")],
    index: Annotated[Path | None, typer.Option(help="Search this jcolbert index of the corpus (default: BM25).")] = None,
    split: Annotated[str, typer.Option(help="The qrels split (its relevant judgments are the positives).")] = "train",
    depth: Annotated[int, typer.Option(help="Candidates retrieved per query.", min=1)] = 100,
    teacher: Annotated[str | None, typer.Option(help="Score each group with this model's exact MaxSim (teacher scores for KL distillation).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Mine hard negatives (not judged relevant) for a BEIR training split; optionally teacher-score them."""
    from jcolbert.cli.common import load_model
    from jcolbert.train.data import read_beir
    from jcolbert.train.mining import mine as run

    out = Output(quiet=quiet, json_mode=json_out)
    beir = read_beir(data, split)
    model = load_model(teacher) if teacher else None
    report = run(beir, out_file, depth=depth, index=index, teacher=model, overwrite=overwrite, say=out.note)
    if json_out:
        out.json({"out": str(out_file), **report})
    else:
        out.result(f"wrote {report['lines']} groups for {report['queries']} queries to {out_file}"
                   + (" (with teacher scores)" if report["teacher"] else ""))  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("mine")(mine)
