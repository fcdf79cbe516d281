"""Searches that wait together run together: one `search_embeddings` call for the queries of several requests.

The query batcher hands a whole encoder batch its vectors at once, and under load more requests queue for a
search thread than there are threads. Requests to one index that ask the same thing (k, filter, the fields
returned, the PLAID knobs) are then answered by one library call on all their queries: PLAID scores every
query's centroids in one matrix product and reads the snapshot and the document store once (BENCHMARKS.md,
"Serving": a batch of 4 minilm queries cost 3-10% less per query than 4 calls). Results are exactly those of
separate calls: PLAID searches each query on its own rows.

At most `parallel` calls per index run at once (the server's search threads); a request that arrives while
they are all busy waits, and the next free one takes every waiting request with the same settings as the
oldest (up to `max_queries` queries: 4, where the saving per query stops growing, and a larger group would hold
a search thread longer while the encoder waits for answers; at 32 clients, groups of up to 16 answered 36
queries/s and groups of up to 4 answered 43-47). A lone request runs at once, as before. If a combined call
fails, each of its requests is retried alone, so one request's bad input never fails another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jcolbert.serve.arrays import stack_queries


@dataclass
class _Waiting:
    key: Hashable
    Q: np.ndarray  # [n, query_tokens, dim]
    search: Callable[[np.ndarray], list[list[Any]]]  # the same for every request of one key
    future: asyncio.Future


class SearchBatcher:
    """Groups concurrent searches of one index. Create it anywhere; use it inside one event loop."""

    def __init__(self, run: Callable[..., Awaitable[Any]], parallel: int, *, max_queries: int = 4,
                 on_call: Callable[[int], None] | None = None):
        self._run = run  # run(fn, *args): fn on a worker thread
        self.parallel = parallel
        self.max_queries = max_queries
        self._on_call = on_call  # told the number of queries of every search call it makes (for /metrics)
        self._waiting: list[_Waiting] = []
        self._running = 0

    async def search(self, Q: np.ndarray, key: Hashable,
                     search: Callable[[np.ndarray], list[list[Any]]]) -> list[list[Any]]:
        """search(Q) for Q [n, query_tokens, dim], possibly together with other requests' queries of the same key
        (key: everything search depends on besides Q). Returns one list of hits per query of Q."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(key, Q, search, loop.create_future())
        self._waiting.append(waiting)
        # dispatch after the requests resumed in this same loop pass (one encoder batch) have queued too
        loop.call_soon(self._dispatch)
        return await waiting.future

    def _dispatch(self) -> None:
        while self._waiting and self._running < self.parallel:
            group = self._take()
            if group:
                self._running += 1
                asyncio.ensure_future(self._answer(group))

    def _take(self) -> list[_Waiting]:
        """The oldest live request and every later one with its key, up to max_queries queries."""
        self._waiting = [w for w in self._waiting if not w.future.done()]  # timed out: dropped
        if not self._waiting:
            return []
        key, n, group, rest = self._waiting[0].key, 0, [], []
        for w in self._waiting:
            if w.key == key and (not group or n + len(w.Q) <= self.max_queries):
                group.append(w)
                n += len(w.Q)
            else:
                rest.append(w)
        self._waiting = rest
        return group

    async def _answer(self, group: list[_Waiting]) -> None:
        try:
            await self._run_group(group)
        finally:
            self._running -= 1
            self._dispatch()

    async def _run_group(self, group: list[_Waiting]) -> None:
        """One call for the group; each request gets its rows, or its error."""
        Q = _stack([w.Q for w in group])
        if self._on_call is not None:
            self._on_call(len(Q))
        try:
            results = await self._run(group[0].search, Q)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            if len(group) == 1:
                if not group[0].future.done():
                    group[0].future.set_exception(exc)
                return
            for w in group:  # one request's bad input must not fail the others: each alone
                await self._run_group([w])
            return
        start = 0
        for w in group:
            if not w.future.done():
                w.future.set_result(results[start:start + len(w.Q)])
            start += len(w.Q)


def _stack(mats: list[np.ndarray]) -> np.ndarray:
    """Queries of several requests as one [n, longest, dim] array, shorter ones padded with zero rows (which add
    nothing to a MaxSim, and which PLAID drops per query)."""
    return mats[0] if len(mats) == 1 else stack_queries([q for m in mats for q in m])


__all__ = ["SearchBatcher"]
