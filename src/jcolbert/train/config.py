"""TrainConfig: every setting of a training run, validated, recorded as JSON in the output folder.

Batch arithmetic: `batch_size` examples (queries, each with its group of `nway` passages) make one optimizer
step, across all processes and accumulation micro-steps: each process runs `grad_accum` micro-batches of
`batch_size / (world_size * grad_accum)` examples. A resumed run must use the same settings (`resume_key`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jcolbert.errors import InputError

LOSSES = ("auto", "kl", "ce")
PRECISIONS = ("auto", "fp32", "bf16")
# Settings that decide which examples each step sees and how they are scored: a resume must not change them.
RESUME_FIELDS = (
    "base", "dim", "seed", "steps", "batch_size", "nway", "grad_accum", "loss", "in_batch_negatives",
    "distillation_alpha", "doc_maxlen", "lr", "warmup_steps", "weight_decay", "max_grad_norm", "head_seed",
)  # fmt: skip


@dataclass
class DataSpec:
    """Where the examples come from (see jcolbert.train.data.open_examples)."""

    path: str  # a BEIR folder, an n-way JSONL file or a triples TSV file
    queries: str | None = None  # queries.tsv (n-way JSONL with ids)
    collection: str | None = None  # collection.tsv (n-way JSONL with ids)
    negatives: str | None = None  # BEIR folder: an n-way JSONL of mined negatives (jcolbert mine)
    split: str = "train"  # BEIR folder: the qrels split trained on

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DevSpec:
    """Dev evaluation: NDCG@10 of BM25's top `depth` reranked by the model (jcolbert.evaluate's `rerank`)."""

    path: str  # a BEIR / MS MARCO folder
    split: str = "dev"
    max_queries: int | None = 200  # the first N judged queries (None: all)
    depth: int = 30  # BM25 candidates reranked per query

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainConfig:
    base: str  # anything load_model takes ("minilm", a folder, a hub id)
    out: Path
    data: DataSpec
    dim: int | None = None  # a fresh projection head of this size (seeded by head_seed)
    head_seed: int = 12345
    steps: int = 1000
    batch_size: int = 16
    nway: int = 8  # passages per example: the positive and nway - 1 negatives
    grad_accum: int = 1
    lr: float = 1e-5
    warmup_steps: int | None = None  # default: 10% of steps
    weight_decay: float = 0.01
    max_grad_norm: float | None = 2.0  # colbert-ai clips at 2.0
    loss: str = "auto"  # kl (teacher scores needed), ce, auto: kl when the data has teacher scores
    in_batch_negatives: bool = False
    distillation_alpha: float = 1.0  # colbert-ai: teacher scores * alpha before their log-softmax
    doc_maxlen: int | None = None  # truncation of training passages (default: the model's doc_maxlen)
    dropout: float | None = None  # default: the checkpoint's
    precision: str = "auto"  # bf16 autocast where the device has native bf16 (model/precision.py)
    seed: int = 12345  # data order, negative sampling, dropout
    device: str | None = None  # default: the rank's GPU under torchrun with CUDA, else CPU
    save_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 2
    eval_every: int = 0  # 0: no dev evaluation during training
    dev: DevSpec | None = None
    save_pylate: bool = True
    plot: bool = True
    progress: bool = True
    overwrite: bool = False
    resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # recorded as given (e.g. the command line)
    # load_model overrides of the base's settings (query_maxlen, doc_maxlen, markers, ...): trained and saved with
    model_overrides: dict[str, Any] = field(default_factory=dict)
    schedule_steps: int | None = None  # the step where the linear decay reaches 0 (default: steps)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        positive = {"steps": self.steps, "batch_size": self.batch_size, "nway": self.nway,
                    "grad_accum": self.grad_accum, "keep_checkpoints": self.keep_checkpoints}  # fmt: skip
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if self.nway < 2:
            raise InputError(f"TrainConfig.nway must be at least 2 (a positive and a negative), got {self.nway}")
        for name in ("save_every", "eval_every"):
            if getattr(self, name) < 0:
                raise InputError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size % self.grad_accum:
            raise InputError(f"batch_size {self.batch_size} is not a multiple of grad_accum {self.grad_accum}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"TrainConfig.lr must be a positive number, got {self.lr}")
        if self.schedule_steps is not None and (isinstance(self.schedule_steps, bool) or
                                                not isinstance(self.schedule_steps, int) or self.schedule_steps < self.steps):  # fmt: skip
            raise InputError(f"schedule_steps must be an integer >= steps={self.steps}, got {self.schedule_steps!r}")
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.schedule_end:
            raise InputError(f"warmup_steps must be in [0, {self.schedule_end}], got {self.warmup_steps}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise InputError(f"max_grad_norm must be positive (or None), got {self.max_grad_norm}")
        if self.loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not (math.isfinite(self.distillation_alpha) and self.distillation_alpha > 0):
            raise InputError(f"distillation_alpha must be positive, got {self.distillation_alpha}")
        if self.doc_maxlen is not None and self.doc_maxlen < 8:
            raise InputError(f"doc_maxlen must be at least 8 tokens, got {self.doc_maxlen}")
        if self.eval_every and self.dev is None:
            raise InputError("eval_every needs a dev set (TrainConfig.dev / --dev)")
        if self.overwrite and self.resume:
            raise InputError("overwrite and resume exclude each other")

    @property
    def schedule_end(self) -> int:
        return self.steps if self.schedule_steps is None else self.schedule_steps

    @property
    def warmup(self) -> int:
        return self.steps // 10 if self.warmup_steps is None else self.warmup_steps

    def micro_batch(self, world_size: int) -> int:
        """Examples per process per micro-step."""
        per_step = self.batch_size // self.grad_accum
        if per_step % world_size:
            raise InputError(
                f"batch_size {self.batch_size} / grad_accum {self.grad_accum} = {per_step} examples per "
                f"micro-step cannot be split over {world_size} processes"
            )
        return per_step // world_size

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        return d

    def resume_key(self) -> dict[str, Any]:
        d = self.to_dict()
        # the later fields join the key only when set, so checkpoints written before them still resume
        later = {k: d[k] for k in ("model_overrides", "schedule_steps") if d[k]}
        return {k: d[k] for k in RESUME_FIELDS} | {"data": d["data"]} | later
