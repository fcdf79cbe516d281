"""What a sharded index asks of one shard: the same operations whichever backend runs them (a thread of
this process, or a Ray actor holding the shard open). Only the names in `OPS` can be called."""

from __future__ import annotations

import os
from typing import Any

from jcolbert.index import adding
from jcolbert.index.index import Index


def search(index: Index, Q: Any, k: int, filter: Any, return_text: bool, return_metadata: bool,
           knobs: dict[str, Any]) -> list[list[Any]]:
    return index.search_embeddings(Q, k, filter, return_text=return_text, return_metadata=return_metadata, **knobs)


def add_embeddings(index: Index, ids: list[str], vectors: list[Any], texts: list[str | None] | None,
                   metadata: list[dict | None] | None) -> dict[str, Any]:
    index.add_embeddings(ids, vectors, texts, metadata)
    return {"documents": len(index), **{f"last_{k}": v for k, v in index.last_add.items()}}


def contains(index: Index, ids: list[str]) -> list[bool]:
    return [doc_id in index for doc_id in ids]


def delete(index: Index, ids: list[str]) -> int:
    return index.delete(ids, missing_ok=True)


def compact(index: Index) -> dict[str, Any]:
    return index.compact(recluster=False)  # the sharded index re-clusters all shards with one codec


def adopt(index: Index, codec_folder: str) -> None:
    index.adopt_codec(codec_folder)


def sample(index: Index, budget: int, seed: int) -> Any:
    return adding.sample_vectors(index, budget, seed)


def count(index: Index) -> int:
    return len(index)


def stats(index: Index) -> dict[str, Any]:
    return index.stats()


def ids(index: Index) -> list[str]:
    return index.ids()


def get(index: Index, ids: list[str]) -> list[dict[str, Any]]:
    return index.get(list(ids))


def warm_up(index: Index) -> float:
    return index.warm_up(model=False)  # queries are encoded once, by the sharded index, not per shard


def pid(index: Index) -> int:
    return os.getpid()


OPS = {f.__name__: f for f in (search, add_embeddings, contains, delete, compact, adopt, sample, count, stats, ids,
                               get, warm_up, pid)}
READS = ("search", "contains", "sample", "count", "stats", "ids", "get", "warm_up", "pid")  # safe to retry once


def run(index: Index, op: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    if op not in OPS:
        raise ValueError(f"unknown shard operation {op!r}")
    return OPS[op](index, *args, **kwargs)
