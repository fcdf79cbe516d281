"""The Ray backend: one actor per shard, each holding its shard open (memory-mapped segments, document store).

Queries are fanned out to the actors and gathered; the sharded index merges the top-k. Failure rule:
an actor that dies is restarted by Ray (`max_restarts`) and a read is retried once; if the retry fails
too the shard is reported as a `ShardUnavailableError` naming it (the search raises it, unless partial
results were asked for). Changes are never retried: a shard's change either committed or did not (its
manifest says which), so the error tells the caller to reopen and look.

Ray is started here only when no Ray runtime is running in this process: `address=None` starts a local
one (a laptop), `address="auto"` or `"ray://..."` joins a cluster. The shard folders must be reachable
under the same path from every node (a shared file system).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from jcolbert.distributed import shard_ops
from jcolbert.errors import JColbertError, ShardUnavailableError, require_extra

Calls = dict[int, tuple[tuple, dict[str, Any]]]
DEFAULT_ACTOR_OPTIONS = {"num_cpus": 0, "max_restarts": 3, "max_task_retries": 0}


def _one_line(exc: BaseException, limit: int = 1200) -> str:
    """Ray's message on one line: its first line says what happened, the rest why (the worker's exit type and
    detail, such as a kill by the memory monitor), which an operator needs to see."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ShardActor:
    """A shard held open by a Ray actor (wrapped by `ray.remote` when the backend starts)."""

    def __init__(self, path: str, readonly: bool, lock_timeout: float, verify: bool):
        from jcolbert.index.index import Index

        self.index = Index.open(path, readonly=readonly, lock_timeout=lock_timeout, verify=verify, progress=False)

    def ready(self) -> int:
        return os.getpid()

    def call(self, op: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return shard_ops.run(self.index, op, args, kwargs)


class RayBackend:
    kind = "ray"

    def __init__(self, paths: list[Path], *, readonly: bool, lock_timeout: float, verify: bool,
                 address: str | None = None, actor_options: dict[str, Any] | None = None,
                 timeout_s: float = 300.0, init_options: dict[str, Any] | None = None):
        ray = require_extra("ray", "ray", "the Ray backend of a sharded index")
        self.ray = ray
        self.paths = paths
        self.names = [p.name for p in paths]
        self.timeout_s = timeout_s
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(address=address, **(init_options or {"log_to_driver": False}))
            self._owns_ray = True
        options = {**DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        remote = ray.remote(ShardActor)
        self.actors = [remote.options(**options).remote(str(p), readonly, lock_timeout, verify) for p in paths]
        self.pids: dict[int, int] = {}
        try:
            self._open_all()
        except BaseException:
            self.close()
            raise

    def _open_all(self) -> None:
        """Wait for every actor to hold its shard open. Opening is a read: an actor that died doing it is asked
        once more after Ray restarted it; a shard's own error (missing, damaged, locked) is raised as it is."""
        refs = {i: a.ready.remote() for i, a in enumerate(self.actors)}
        for i, ref in refs.items():
            result = self._get(i, ref)
            if isinstance(result, ShardUnavailableError):
                self._await_restart(i)
                if i not in self.pids:
                    raise ShardUnavailableError(f"{result} (after one retry)", self.names[i])
            elif isinstance(result, BaseException):
                raise result
            else:
                self.pids[i] = result

    def _get(self, i: int, ref: Any) -> Any:
        """The result of one actor call, or the exception: the shard's own error (JColbertError, ValueError),
        or ShardUnavailableError when the actor died, could not start or did not answer in time."""
        exc_mod = self.ray.exceptions
        try:
            return self.ray.get(ref, timeout=self.timeout_s)
        except exc_mod.RayTaskError as exc:  # the operation raised in the actor: hand back its own error
            cause = getattr(exc, "cause", None)
            return cause if isinstance(cause, Exception) else exc
        except (exc_mod.RayActorError, exc_mod.GetTimeoutError) as exc:
            cause = getattr(exc, "cause", None) or getattr(exc, "creation_task_error", None)
            inner = getattr(cause, "cause", cause)
            if isinstance(inner, JColbertError):  # the shard could not be opened (missing, damaged, locked)
                return inner
            return ShardUnavailableError(f"shard {self.names[i]} ({self.paths[i]}) did not answer: "
                                         f"{type(exc).__name__}: {_one_line(exc)}", self.names[i])

    def call(self, op: str, calls: Calls, *, retry: bool = False) -> dict[int, Any]:
        """Run `op` on the shards in `calls` in parallel; reads that hit a dead actor are sent once more
        (Ray has restarted it meanwhile, or says it is gone)."""
        refs = {i: self.actors[i].call.remote(op, a, kw) for i, (a, kw) in calls.items()}
        out = {i: self._get(i, ref) for i, ref in refs.items()}
        failed = [i for i, r in out.items() if isinstance(r, ShardUnavailableError)]
        if failed and retry and op in shard_ops.READS:
            for i in failed:
                self._await_restart(i)
            again = {i: self.actors[i].call.remote(op, *calls[i]) for i in failed}
            for i, ref in again.items():
                result = self._get(i, ref)
                if isinstance(result, ShardUnavailableError):
                    result = ShardUnavailableError(f"{result} (after one retry)", self.names[i])
                out[i] = result
        elif failed and op not in shard_ops.READS:
            for i in failed:
                out[i] = ShardUnavailableError(
                    f"{out[i]}; it was changing ({op}): its own manifest says whether the change committed "
                    "(reopen the sharded index to see)", self.names[i])
        return out

    def _await_restart(self, i: int) -> None:
        """Wait (up to timeout_s) while Ray restarts shard i's actor; return at once when it is gone for good."""
        exc_mod = self.ray.exceptions
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                self.pids[i] = self.ray.get(self.actors[i].ready.remote(), timeout=max(0.1, deadline - time.monotonic()))
                return
            except exc_mod.ActorUnavailableError:  # restarting: ask again shortly
                time.sleep(0.2)
            except (exc_mod.RayActorError, exc_mod.GetTimeoutError, exc_mod.RayTaskError):
                return

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            with contextlib.suppress(Exception):  # an actor already gone
                self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._owns_ray = False
