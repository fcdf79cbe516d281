"""``colbert.infra`` for jcolbert: `Run`, `RunConfig`, `ColBERTConfig`."""

from jcolbert.compat.infra.config import ColBERTConfig, RunConfig
from jcolbert.compat.infra.run import Run

__all__ = ["ColBERTConfig", "Run", "RunConfig"]
