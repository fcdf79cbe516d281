"""The PLAID index engine on disk: `Index` (create / open / add / search / delete / compact), `Hit`,
`Codec` (train / save / load: one codec can be shared by many indexes) and `Filter` (metadata/id filters).

Modules (one concern each): index (the life cycle), adding (the build loops), write (the write
transactions: the exact -> compressed switch, delete, compaction, codec installation), build (parts,
training sample, segment writing), ingest (input checks), query and plaid (the read path), filters,
snapshot (one checked view of the folder), manifest (the typed, checksummed manifest), storage (safe file
access, commits, the lock), folder (creation, leftovers, garbage), docstore (SQLite ids/texts/metadata),
models (the recorded model), verify (deep checks), segment, codec and kmeans (compression), kernels.

Names are resolved on first use, so importing a light module (`jcolbert.index.ingest`, `.filters`) does
not load the engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_LAZY = {"Index": "jcolbert.index.index", "Hit": "jcolbert.index.query", "Codec": "jcolbert.index.codec",
         "Filter": "jcolbert.index.filters"}
__all__ = ["Codec", "Filter", "Hit", "Index"]

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.index.codec import Codec
    from jcolbert.index.filters import Filter
    from jcolbert.index.index import Index
    from jcolbert.index.query import Hit


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jcolbert.index' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
