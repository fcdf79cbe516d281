"""From examples to tensors: which examples a process reads at a step, and their token batches.

Step s of a run reads global positions [s * batch_size, (s + 1) * batch_size); micro-step m of process r reads the
slice m * (batch_size / grad_accum) + r * micro .. + micro of it. So the union over processes of one step is exactly
the batch one process would read with world_size 1: what makes DDP equal to one process on the combined batch, and
a resumed run read the same batches as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jcolbert.errors import TrainingDataError
from jcolbert.model.tokenization import TokenBatch
from jcolbert.train.data import Example, Examples, at_position


@dataclass
class Batch:
    examples: list[Example]
    queries: TokenBatch  # [B, query_maxlen]
    documents: TokenBatch  # [B * nway, L], example-major: the positive of example i is row i * nway
    teacher: torch.Tensor | None  # [B, nway] float32

    @property
    def size(self) -> int:
        return len(self.examples)


def positions(step: int, micro: int, rank: int, batch_size: int, grad_accum: int, micro_size: int) -> range:
    start = step * batch_size + micro * (batch_size // grad_accum) + rank * micro_size
    return range(start, start + micro_size)


def read_examples(examples: Examples, where: range, seed: int, cache: dict) -> list[Example]:
    return [at_position(examples, p, seed, cache) for p in where]


def collate(model, examples: list[Example], nway: int, doc_maxlen: int | None) -> Batch:
    """Token batches of `examples` with the model's rules (markers, [MASK] augmentation, skiplist)."""
    for ex in examples:
        if len(ex.passages) != nway:
            raise TrainingDataError(f"{ex.where}: {len(ex.passages)} passages where nway={nway}")
        empty = [pid for pid, text in zip(ex.pids, ex.passages, strict=True) if not text.strip()]
        if empty or not ex.query.strip():
            what = f"passage {empty[0]!r}" if empty else f"query {ex.qid!r}"
            raise TrainingDataError(f"{ex.where}: {what} has an empty text")
    queries = model.tokenize_queries([ex.query for ex in examples])
    documents = model.tokenize_documents([t for ex in examples for t in ex.passages], doc_maxlen)
    teacher = None
    if all(ex.scores is not None for ex in examples):
        teacher = torch.tensor([ex.scores for ex in examples], dtype=torch.float32)
    return Batch(examples, queries, documents, teacher)
