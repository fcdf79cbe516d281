"""The local backend: every shard opened in this process, operations fanned out over a thread pool.

The work of a shard (MaxSim GEMMs, PLAID kernels, compression) runs in numpy/torch, which release the GIL,
so shards are searched in parallel on the cores of one machine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jcolbert.distributed import shard_ops
from jcolbert.index.index import Index

Calls = dict[int, tuple[tuple, dict[str, Any]]]


class LocalBackend:
    kind = "local"

    def __init__(self, paths: list[Path], *, readonly: bool, lock_timeout: float, verify: bool,
                 threads: int | None = None):
        self.paths = paths
        self.indexes: list[Index] = []
        try:
            for p in paths:
                self.indexes.append(Index.open(p, readonly=readonly, lock_timeout=lock_timeout, verify=verify,
                                               progress=False))
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads or len(paths)), thread_name_prefix="jcolbert-shard")

    def call(self, op: str, calls: Calls, *, retry: bool = False) -> dict[int, Any]:
        """Run `op` on the shards named in `calls`, in parallel: shard -> result, or the exception it raised."""
        futures = {i: self._pool.submit(shard_ops.run, self.indexes[i], op, a, kw) for i, (a, kw) in calls.items()}
        out: dict[int, Any] = {}
        for i, fut in futures.items():
            try:
                out[i] = fut.result()
            except Exception as exc:  # returned, not raised: the caller decides (partial results, first error)
                out[i] = exc
        return out

    def close(self) -> None:
        for index in self.indexes:
            index.close()
        self.indexes = []
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
