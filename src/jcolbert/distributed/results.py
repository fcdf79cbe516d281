"""Gathering shard answers: merging per-shard top-k lists into one, and partial results."""

from __future__ import annotations

import heapq
from typing import Any

from jcolbert.index.query import Hit


class PartialHits(list):
    """The hits of a search that was allowed to leave out shards (partial=True): a list of Hit, plus
    `answered` (the shards whose documents were searched), `failed` (shard -> why it did not answer) and
    `complete` (every shard answered)."""

    def __init__(self, hits: list[Hit], answered: list[str], failed: dict[str, str]):
        super().__init__(hits)
        self.answered = tuple(answered)
        self.failed = dict(failed)

    @property
    def complete(self) -> bool:
        return not self.failed


def merge_hits(lists: list[list[Hit]], k: int) -> list[Hit]:
    """The k best hits of several shards' top-k lists (each sorted best first), ranked 1..k. Ties keep the
    shards' order, then each shard's own order, so merging is deterministic."""
    keyed = ((-float(h.score), s, h.rank, h) for s, hits in enumerate(lists) for h in hits)
    best = heapq.nsmallest(k, keyed, key=lambda t: t[:3])
    return [Hit(h.id, h.score, rank, h.text, h.metadata) for rank, (_, _, _, h) in enumerate(best, start=1)]


def raise_first(results: dict[int, Any]) -> None:
    """Raise the first shard's exception, in shard order (the caller decides what is tolerated before)."""
    for i in sorted(results):
        if isinstance(results[i], BaseException):
            raise results[i]
