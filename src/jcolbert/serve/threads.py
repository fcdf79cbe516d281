"""How many threads one search or one encoding uses inside the server (`ServeConfig.compute_threads`).

A server's parallelism comes from its requests: `search_threads` searches run at once, the batcher's encoder
runs beside them and each index's writer beside both. If every one of them also splits its own matrix products
over all cores, a 2-core machine runs six or more busy threads for two cores:

* numpy's OpenBLAS has one pool of threads per process, and callers from different threads take turns on it:
  two search threads with 2 BLAS threads each answered 27 queries/s in one process, with 1 BLAS thread each 38
  (1,000 SciFact documents, minilm; BENCHMARKS.md, "Serving");
* torch's OpenMP teams wake and sleep around every small operation of a query's encoder pass.

So by default each of the server's worker threads computes on one thread. `init_worker` runs first in each
worker thread (the thread pools' initializer, the writer's first step): torch's count is kept per thread (a
setting made in one thread is only the default for threads that start later). OpenBLAS's count is per process.
`limit_process` sets numpy's for the server's lifetime and, at shutdown, gives both back as they were.
"""

from __future__ import annotations

from collections.abc import Callable


def init_worker(n: int | None) -> None:
    """Make torch compute on n threads in the calling thread (None: leave it)."""
    if n is None:
        return
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def limit_process(n: int | None) -> Callable[[], None]:
    """Limit numpy's BLAS to n threads in this process; returns what restores it, and torch's default for new
    threads (which init_worker changes), to what they were."""
    if n is None:
        return lambda: None
    import torch
    from threadpoolctl import threadpool_limits

    torch_before = torch.get_num_threads()
    limits = threadpool_limits(limits=n, user_api="blas")

    def restore() -> None:
        limits.restore_original_limits()
        torch.set_num_threads(torch_before)

    return restore


__all__ = ["init_worker", "limit_process"]
