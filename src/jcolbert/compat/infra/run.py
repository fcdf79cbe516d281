"""colbert-ai's ``Run().context(RunConfig(...))``: a stack of run configs, as a thin context manager.

This is the one place in jcolbert with ambient state, kept only so that colbert-ai code runs
unchanged. The stack lives in a `contextvars.ContextVar` (each thread / asyncio task sees its own,
nothing leaks between them) and holds immutable tuples; ``Run()`` itself is a stateless handle.
The rest of jcolbert takes every setting as an explicit argument instead.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from jcolbert.compat.errors import CompatError
from jcolbert.compat.infra.config import RunConfig

_STACK: contextvars.ContextVar[tuple[RunConfig, ...]] = contextvars.ContextVar(
    "jcolbert_compat_run_stack", default=()
)


def _base_config() -> RunConfig:
    config = RunConfig()
    config.assign_defaults()
    return config


class Run:
    """Handle on the current run configuration (colbert-ai's singleton ``Run()``)."""

    @property
    def config(self) -> RunConfig:
        """The innermost config of the enclosing ``Run().context(...)`` blocks (defaults outside any)."""
        stack = _STACK.get()
        return stack[-1] if stack else _base_config()

    def __getattr__(self, name: str) -> Any:
        # Run().root, Run().experiment, Run().nranks, ... as in colbert-ai.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.config, name)

    @contextmanager
    def context(self, runconfig: RunConfig, inherit_config: bool = True) -> Iterator[None]:
        """Make ``runconfig`` (merged over the enclosing one unless ``inherit_config=False``) current."""
        if inherit_config:
            runconfig = RunConfig.from_existing(self.config, runconfig)
        _STACK.set((*_STACK.get(), runconfig))
        try:
            yield
        finally:
            # Remove this block's own entry (not "the top"): code that enters contexts by hand and leaves
            # them in another order (RAGatouille does, from __del__) then unwinds exactly what it entered.
            stack = _STACK.get()
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is runconfig:
                    _STACK.set(stack[:i] + stack[i + 1 :])
                    break

    def open(self, path: str | os.PathLike, mode: str = "r") -> IO[Any]:
        """Open ``path`` relative to the run's folder ``<root>/<experiment>/<script>/<name>/`` (an
        absolute path stays as it is). Writing refuses an existing file unless the run has ``overwrite``."""
        folder = self.config.path_
        full = os.path.join(folder, path)
        os.makedirs(folder, exist_ok=True)
        if ("w" in mode or "a" in mode) and not self.config.overwrite:
            if os.path.exists(full):
                raise CompatError(f"{full} already exists and the run does not have overwrite=True")
            os.makedirs(os.path.dirname(full), exist_ok=True)
        return open(full, mode=mode)

    def print(self, *args: Any) -> None:
        print(f"[{self.config.rank}]", "\t\t", *args)

    def print_main(self, *args: Any) -> None:
        if self.config.rank == 0:
            self.print(*args)
