"""One writer per index: write requests wait their turn in a queue instead of failing on the index lock.

Each served index has an `IndexWriter`: a thread that owns the index's write handle and runs queued jobs
(add, delete, compact) one at a time. Readers never wait for it: the server searches through a separate
read handle, which picks up each commit at its next search. The queue is bounded (a full queue answers 429),
and a job carries a deadline: a job still waiting when its deadline passes is dropped without running (504,
nothing written), while a job that has started always runs to its commit or its error, and its caller gets that
result, however long it took.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jcolbert.errors import ServiceError


class IndexWriter:
    """A queue of write jobs for one index and the thread that runs them."""

    def __init__(self, name: str, open_handle: Callable[[], Any], *, max_pending: int = 64,
                 thread_init: Callable[[], None] | None = None):
        self.name = name
        self._open_handle = open_handle  # opens the write handle (an Index) in the writer thread, on first use
        self._handle: Any = None
        self._thread_init = thread_init  # run first in the writer thread (threads.init_worker)
        self._jobs: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name=f"jcolbert-writer-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Write requests waiting (not counting the one running)."""
        return self._jobs.qsize()

    def submit(self, job: Callable[[Any], Any], deadline: float) -> Future:
        """Queue job(index) to run before `deadline` (time.monotonic()); 429 when the queue is full."""
        fut: Future = Future()
        try:
            self._jobs.put_nowait((job, fut, deadline))
        except queue.Full:
            raise ServiceError(429, "too_many_writes",
                               f"index {self.name!r} has {self._jobs.maxsize} writes waiting; retry later") from None
        return fut

    async def run(self, job: Callable[[Any], Any], timeout_s: float) -> Any:
        """Queue job and await its result. 504 if it could not start within timeout_s (nothing was written)."""
        fut = self.submit(job, time.monotonic() + timeout_s)
        wrapped = asyncio.wrap_future(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), timeout=timeout_s)
        except asyncio.TimeoutError:
            if fut.cancel():
                raise ServiceError(504, "timeout", f"the write waited {timeout_s:g} s for its turn on index "
                                   f"{self.name!r} and was dropped; nothing was written") from None
            return await wrapped  # it is running: a started commit finishes, and its caller hears how it went

    def _run(self) -> None:
        if self._thread_init is not None:
            self._thread_init()
        while True:
            item = self._jobs.get()
            if item is None:
                break
            job, fut, deadline = item
            if time.monotonic() > deadline:
                fut.cancel()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                if self._handle is None:
                    self._handle = self._open_handle()
                fut.set_result(job(self._handle))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                fut.set_exception(exc)
        if self._handle is not None:
            self._handle.close()

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs, then stop the thread and close the write handle."""
        self._jobs.put(None)
        self._thread.join(timeout)


__all__ = ["IndexWriter"]
