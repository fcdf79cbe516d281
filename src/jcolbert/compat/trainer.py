"""``colbert.Trainer``: importable, so that code which imports it (RAGatouille does) runs; training
itself is not part of jcolbert.compat, and constructing a Trainer says so."""

from __future__ import annotations

from typing import Any

from jcolbert.compat.errors import UnsupportedError


class Trainer:
    """colbert-ai's training entry point. Not supported: raises `UnsupportedError` when constructed."""

    def __init__(self, triples: Any = None, queries: Any = None, collection: Any = None, config: Any = None) -> None:
        raise UnsupportedError("training is not supported by jcolbert.compat (colbert.Trainer); "
                               "train with colbert-ai or PyLate, then load the checkpoint here")
