"""colbert-ai's `Trainer`, training with `jcolbert.train` (ColBERTv2's recipe, one process, CPU or GPU).

    with Run().context(RunConfig(nranks=1, experiment="exp", root="experiments")):
        config = ColBERTConfig(bsize=32, lr=5e-6, warmup=100, maxsteps=1000, nway=2, use_ib_negatives=True)
        trainer = Trainer(triples="triples.jsonl", queries="queries.tsv", collection="collection.tsv", config=config)
        path = trainer.train(checkpoint="colbert-ir/colbertv2.0")   # also trainer.best_checkpoint_path()

The trained model lands where colbert-ai 0.2.22 puts it, ``<root>/<experiment>/<script>/<name>/checkpoints/colbert``
(``<script>`` is "none" in a notebook, ``<name>`` the run's, a timestamp by default): a checkpoint in colbert-ai's
layout that `jcolbert.load_model`, `Checkpoint`, `Indexer` and `Searcher` load. Beside it, ``<run>/train`` holds
jcolbert's training folder: ``train_config.json`` (with the ColBERTConfig it came from), ``train_log.jsonl`` (a
JSON object per step: loss, lr, ...) and, with ``save_every``, resumable ``checkpoints/step-N`` folders.

How the settings are honoured (colbert-ai's name -> jcolbert's `TrainConfig`):
  bsize, accumsteps, lr, nway   batch_size, grad_accum, lr, nway (``bsize`` examples per optimizer step)
  maxsteps                      steps, capped as colbert-ai caps them: one pass over the triples at most
                                (``len(triples) // bsize`` steps); the learning rate decays towards 0 at maxsteps
  warmup                        warmup_steps (None: jcolbert's default, 10% of the steps; colbert-ai keeps the
                                learning rate constant then)
  use_ib_negatives, ignore_scores, distillation_alpha
                                in_batch_negatives; loss "ce" instead of KL distillation; distillation_alpha
  dim                           a new seeded projection head when the base's dim differs (or it has none)
  doc_maxlen                    the training passages' truncation; with query_maxlen, attend_to_mask_tokens,
                                mask_punctuation and the marker tokens, the saved model's settings when assigned
  save_every, resume, amp       resumable checkpoints every N steps; resume from <run>/train; bf16/fp32
Refused (`UnsupportedError` naming the setting): nranks > 1 (use ``torchrun ... jcolbert train``), reranker,
relu, warmup_bert, a similarity other than cosine, an interaction other than colbert. Also different: examples are
read in a seeded order (colbert-ai: file order), a line with more than nway passages gives a seeded sample of them
(colbert-ai: the first nway), no ``colbert-N`` snapshots at fixed step counts, and `train()` returns the checkpoint
path (colbert-ai returns None; both have `best_checkpoint_path()`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from jcolbert.compat.errors import CompatError, UnsupportedError
from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.compat.infra.run import Run
from jcolbert.errors import TrainingDataError

TRAIN_FOLDER = "train"  # jcolbert's training folder, inside the run's folder
DATA_FOLDER = "train-data"  # in-memory queries / collection / triples written out for the trainer
SEED = 12345  # colbert-ai seeds every run with 12345


class Trainer:
    """colbert-ai's ``colbert.Trainer``: ``Trainer(triples, queries, collection, config).train(checkpoint)``."""

    def __init__(self, triples: Any, queries: Any, collection: Any, config: ColBERTConfig | None = None) -> None:
        self.config = ColBERTConfig.from_existing(config, Run().config)
        self.triples = triples
        self.queries = queries
        self.collection = collection
        self._best_checkpoint_path: str | None = None

    def configure(self, **kw_args: Any) -> None:
        self.config.configure(**kw_args)

    def train(self, checkpoint: str | os.PathLike = "bert-base-uncased") -> str:
        """Fine-tune `checkpoint` (a model name or folder; ``config.checkpoint`` is ignored, as in colbert-ai) on
        the triples; returns the trained checkpoint's path, ``<run>/checkpoints/colbert``."""
        checkpoint = os.fspath(checkpoint)
        self.configure(triples=_describe(self.triples), queries=_describe(self.queries),
                       collection=_describe(self.collection), checkpoint=checkpoint)  # fmt: skip
        check_supported(self.config)
        run = Path(self.config.path_)
        data = training_inputs(self.triples, self.queries, self.collection, run / DATA_FOLDER)
        settings = train_config(self.config, checkpoint, data, run / TRAIN_FOLDER)

        from jcolbert.train import train

        print(f"#> jcolbert.compat Trainer: {settings.steps} steps of {settings.batch_size} examples "
              f"from {checkpoint} -> {run / 'checkpoints' / 'colbert'}")  # fmt: skip
        result = train(settings, say=print)
        final = os.path.join(self.config.path_, "checkpoints", "colbert")
        put_in_place(Path(result.checkpoint), Path(final))
        self._best_checkpoint_path = final
        return final

    def best_checkpoint_path(self) -> str:
        if self._best_checkpoint_path is None:
            raise CompatError("best_checkpoint_path() before train(): nothing has been trained yet")
        return self._best_checkpoint_path


def check_supported(config: ColBERTConfig) -> None:
    """`UnsupportedError` naming the first setting jcolbert's trainer cannot honour."""
    refused = [
        ("nranks", config.nranks not in (None, 1), "jcolbert.compat trains in one process; for data-parallel "
         "training run `torchrun --nproc-per-node N -m jcolbert.cli.main train ...`, or use nranks=1"),
        ("reranker", bool(config.reranker), "jcolbert trains ColBERT models, not cross-encoder rerankers"),
        ("relu", bool(config.relu), "jcolbert's projection head has no ReLU"),
        ("warmup_bert", config.warmup_bert is not None, "jcolbert does not freeze the backbone for a warm-up"),
        ("similarity", config.similarity != "cosine", "jcolbert trains with cosine MaxSim only"),
        ("interaction", config.interaction != "colbert", "jcolbert has only the colbert interaction"),
    ]  # fmt: skip
    for name, bad, why in refused:
        if bad:
            raise UnsupportedError(f"ColBERTConfig.{name}={getattr(config, name)!r} is not supported by "
                                   f"jcolbert.compat's Trainer: {why}")  # fmt: skip
    for name in ("bsize", "accumsteps", "maxsteps", "nway"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CompatError(f"ColBERTConfig.{name} must be a positive integer, got {value!r}")
    if config.bsize % config.accumsteps:
        raise CompatError(f"ColBERTConfig.bsize={config.bsize} is not a multiple of accumsteps={config.accumsteps}")
    if config.nway < 2:
        raise CompatError(f"ColBERTConfig.nway must be at least 2 (a positive and a negative), got {config.nway}")
    if config.warmup is not None and not 0 <= config.warmup <= config.maxsteps:
        raise UnsupportedError(f"ColBERTConfig.warmup={config.warmup} is not in [0, maxsteps={config.maxsteps}]: "
                               "jcolbert's schedule finishes its warm-up within the run")  # fmt: skip


def count_examples(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def train_config(config: ColBERTConfig, checkpoint: str, data: dict[str, str], out: Path):
    """The `jcolbert.train.TrainConfig` for a checked ColBERTConfig (module docstring)."""
    from jcolbert.compat.modeling.checkpoint import encoder_overrides
    from jcolbert.train import DataSpec, TrainConfig

    n = count_examples(Path(data["triples"]))
    if n < config.bsize:
        raise TrainingDataError(f"{data['triples']}: {n} examples, fewer than one batch (bsize={config.bsize})")
    base = ColBERTConfig.load_from_checkpoint(checkpoint)
    model = ColBERTConfig.from_existing(base, config)  # what colbert-ai's ColBERT(checkpoint, config) is built with
    record = config.export_json()
    return TrainConfig(
        base=checkpoint,
        out=out,
        data=DataSpec(data["triples"], data["queries"], data["collection"]),
        dim=int(model.dim),
        head_seed=SEED,
        steps=min(config.maxsteps, n // config.bsize),
        schedule_steps=config.maxsteps,
        batch_size=config.bsize,
        nway=config.nway,
        grad_accum=config.accumsteps,
        lr=float(config.lr),
        warmup_steps=config.warmup,
        weight_decay=0.0,  # transformers' AdamW as colbert-ai builds it
        max_grad_norm=2.0,
        loss="ce" if config.ignore_scores else "auto",
        in_batch_negatives=bool(config.use_ib_negatives),
        distillation_alpha=float(config.distillation_alpha),
        doc_maxlen=int(config.doc_maxlen),  # colbert-ai's DocTokenizer(config) during training
        precision="auto" if config.amp else "fp32",
        seed=SEED,
        save_every=int(config.save_every or 0),
        save_pylate=False,
        plot=False,
        overwrite=not config.resume,  # colbert-ai replaces the run's checkpoint
        resume=bool(config.resume),
        model_overrides=encoder_overrides(config, base),
        extra={"source": "jcolbert.compat.Trainer", "colbert_config": record},
    )


def training_inputs(triples: Any, queries: Any, collection: Any, folder: Path) -> dict[str, str]:
    """Paths of the three inputs: files as given (checked to exist), in-memory ones written under `folder`."""
    out = {}
    for what, value in (("triples", triples), ("queries", queries), ("collection", collection)):
        if isinstance(value, str | os.PathLike):
            path = Path(value)
            if not path.is_file():
                raise TrainingDataError(f"Trainer({what}=...): {path}: no such file")
            if what == "triples" and path.suffix not in (".jsonl", ".json"):
                raise CompatError(f"Trainer(triples=...): {path}: jcolbert reads colbert-ai's JSON-lines triples "
                                  "from a .jsonl or .json file; rename it")  # fmt: skip
            out[what] = str(path)
        else:
            out[what] = str(_write_input(what, value, folder))
    return out


def _write_input(what: str, value: Any, folder: Path) -> Path:
    """colbert-ai also takes a list of examples, a `Queries` / dict, a `Collection` / list of passages."""
    folder.mkdir(parents=True, exist_ok=True)
    if what == "triples":
        if not isinstance(value, list):
            raise CompatError(f"Trainer(triples=...) is a path or a list of examples, not {type(value).__name__}")
        path = folder / "triples.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in value), encoding="utf-8")
        return path
    if what == "queries":
        items = getattr(value, "data", value)
        items = dict(enumerate(items)) if isinstance(items, list) else items
        if not isinstance(items, dict):
            raise CompatError(f"Trainer(queries=...) is a path, a Queries or a dict, not {type(value).__name__}")
    else:
        items = getattr(value, "data", value)
        if not isinstance(items, list | tuple):
            raise CompatError(f"Trainer(collection=...) is a path, a Collection or a list, not {type(value).__name__}")
        items = dict(enumerate(items))
    path = folder / f"{what}.tsv"
    with open(path, "w", encoding="utf-8") as f:
        for key, text in items.items():
            if not isinstance(text, str):
                raise CompatError(f"Trainer({what}=...): item {key!r} is {type(text).__name__}, not a string")
            f.write(f"{key}\t{' '.join(text.split())}\n")
    return path


def put_in_place(source: Path, target: Path) -> None:
    """Move the trained checkpoint to colbert-ai's place, replacing an earlier one of the same run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    shutil.move(str(source), str(target))
    shutil.rmtree(old, ignore_errors=True)


def _describe(value: Any) -> Any:
    """What the config records for an input: a path as a string, an in-memory input by its type."""
    if isinstance(value, str | os.PathLike):
        return os.fspath(value)
    return value if hasattr(value, "provenance") else f"<{type(value).__name__}>"
