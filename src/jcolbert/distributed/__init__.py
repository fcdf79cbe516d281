"""jcolbert past one machine: a sharded index (`ShardedIndex`), searched by threads or by Ray actors, and
Ray pipelines that encode a collection and build the shards in parallel (the `ray` extra).

Importing this package imports neither torch nor Ray: the Ray backend, `encoding` and `build` import
Ray when they are used (`jcolbert.errors.require_extra` names the extra when it is missing).

    from jcolbert.distributed import ShardedIndex, open_index
    index = ShardedIndex.create("big", model="minilm", shards=4)      # backend="ray": an actor per shard
    open_index("folder")     # an Index or a ShardedIndex, whichever the folder holds
"""

from __future__ import annotations

import os
from typing import Any

from jcolbert.distributed.manifest import SHARDS_MANIFEST


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether `path` holds a sharded index (shards.json)."""
    from jcolbert.distributed import manifest

    return manifest.exists(path)


def exists(path: str | os.PathLike) -> bool:
    """Whether `path` holds an index, sharded or not."""
    from jcolbert.index import Index

    return Index.exists(path) or is_sharded(path)


def open_index(path: str | os.PathLike, model: Any = None, **options: Any) -> Any:
    """`ShardedIndex.open` for a sharded folder, else `Index.open` (same options: readonly, lock_timeout,
    progress, verify; `backend` and Ray's options only for a sharded one)."""
    if is_sharded(path):
        from jcolbert.distributed.sharded import ShardedIndex

        options.pop("progress", None)
        warm = options.pop("warm", False)
        index = ShardedIndex.open(path, model=model, **options)
        if warm:
            index.warm_up()
        return index
    from jcolbert.index import Index

    options.pop("backend", None)
    return Index.open(path, model=model, **options)


def recorded_model(path: str | os.PathLike) -> dict[str, Any] | None:
    """The model settings an index (sharded or not) recorded, read from its manifest without opening it."""
    from pathlib import Path

    if is_sharded(path):
        from jcolbert.distributed import manifest

        return manifest.read(Path(path)).model
    from jcolbert.index import storage

    return storage.read_manifest(Path(path)).model


def __getattr__(name: str) -> Any:
    if name in ("ShardedIndex", "PartialHits"):
        from jcolbert.distributed import results, sharded

        return getattr(sharded if name == "ShardedIndex" else results, name)
    raise AttributeError(f"module 'jcolbert.distributed' has no attribute {name!r}")


__all__ = ["SHARDS_MANIFEST", "PartialHits", "ShardedIndex", "exists", "is_sharded", "open_index", "recorded_model"]
