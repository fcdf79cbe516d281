"""colbert-ai's ``Run().context(RunConfig(...))``: a stack of run configs, as a thin context manager.

This is the one place in jcolbert with ambient state, kept only so that colbert-ai code runs
unchanged. The stack lives in a `contextvars.ContextVar` (each thread / asyncio task sees its own,
nothing leaks between them) and holds immutable tuples; ``Run()`` itself is a stateless handle.
The rest of jcolbert takes every setting as an explicit argument instead.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
        token = _STACK.set((*_STACK.get(), runconfig))
        try:
            yield
        finally:
            _STACK.reset(token)

    def print(self, *args: Any) -> None:
        print(f"[{self.config.rank}]", "\t\t", *args)

    def print_main(self, *args: Any) -> None:
        if self.config.rank == 0:
            self.print(*args)
