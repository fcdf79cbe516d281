"""Which shard holds a document: a stable hash of its id (BLAKE2b, 64 bits), modulo the shard count.

Stable across processes, machines and Python versions (never Python's `hash`, which is salted per
process), so every writer routes an id to the same shard and a document lives in exactly one shard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_of(doc_id: str, shards: int) -> int:
    digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def group(ids: Iterable[str], shards: int) -> dict[int, list[int]]:
    """Positions of `ids` by shard (shards with no id are left out), positions in input order."""
    out: dict[int, list[int]] = {}
    for pos, doc_id in enumerate(ids):
        out.setdefault(shard_of(doc_id, shards), []).append(pos)
    return out
