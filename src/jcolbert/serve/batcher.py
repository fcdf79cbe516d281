"""The query micro-batcher: queries that arrive together are encoded together.

Encoding a query is one small transformer pass; a batch of 32 costs far less than 32 passes. Each request
hands its query texts to `QueryBatcher.encode` and awaits its vectors. One loop per model collects waiting
requests: it takes a batch once the oldest waiting request has waited `wait_ms` (or `max_batch` queries are
waiting), runs one `encode_queries` call for all of them on a worker thread, and hands each request its rows.
Requests that arrive while a batch is being encoded wait for the next one, so batches grow with load by
themselves. With wait_ms == 0 the batcher is off: each request encodes its own queries on a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class QueryBatcher:
    """Batches `encode(texts)` calls for one model. Create and use it inside one event loop."""

    def __init__(self, encode: Callable[[list[str]], Any], *, wait_ms: float = 2.0, max_batch: int = 64,
                 on_batch: Callable[[int], None] | None = None, thread_init: Callable[[], None] | None = None):
        self._encode = encode
        self.wait_s = wait_ms / 1000.0
        self.max_batch = max_batch
        self._on_batch = on_batch  # metrics hook: called with each batch's number of queries
        self._pending: deque[_Request] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jcolbert-encode", initializer=thread_init)

    @property
    def enabled(self) -> bool:
        return self.wait_s > 0

    @property
    def depth(self) -> int:
        """Queries waiting to be encoded."""
        return sum(len(r.texts) for r in self._pending)

    async def encode(self, texts: Sequence[str], run_direct: Callable[..., Any] | None = None) -> np.ndarray:
        """Vectors [len(texts), query_maxlen, dim] for texts, encoded in a batch with other requests' queries.

        run_direct(fn, *args) runs fn on a worker thread when the batcher is off (the caller's thread pool)."""
        texts = list(texts)
        if not self.enabled:
            if run_direct is None:
                return await asyncio.get_running_loop().run_in_executor(None, self._call, texts)
            return await run_direct(self._call, texts)
        loop = asyncio.get_running_loop()
        req = _Request(texts, loop.create_future())
        self._pending.append(req)
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run())
        self._wakeup.set()
        return await req.future

    def _call(self, texts: list[str]) -> np.ndarray:
        Q = self._encode(texts)
        if self._on_batch is not None:
            self._on_batch(len(texts))
        return np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=30.0)
                except asyncio.TimeoutError:
                    if not self._pending:
                        return  # idle: the next request starts a new loop
            due = self._pending[0].arrived + self.wait_s
            while self.depth < self.max_batch and (delay := due - time.perf_counter()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    break
            batch = self._take()
            if not batch:
                continue
            texts = [t for r in batch for t in r.texts]
            try:
                Q = await loop.run_in_executor(self._pool, self._call, texts)
            except Exception as exc:  # every request of the batch gets the error (e.g. one empty query)
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            start = 0
            for r in batch:
                if not r.future.done():  # a request that timed out meanwhile was cancelled
                    r.future.set_result(Q[start:start + len(r.texts)])
                start += len(r.texts)

    def _take(self) -> list[_Request]:
        """Waiting requests, oldest first, up to max_batch queries (at least one request)."""
        batch: list[_Request] = []
        n = 0
        while self._pending and (not batch or n + len(self._pending[0].texts) <= self.max_batch):
            r = self._pending.popleft()
            if r.future.done():
                continue
            batch.append(r)
            n += len(r.texts)
        return batch

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["QueryBatcher"]
