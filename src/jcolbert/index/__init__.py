"""The PLAID index engine on disk: `Index` (create / open / add / search / delete / compact) and `Hit`.

Modules: storage (manifest, atomic commits, lock), docstore (SQLite ids/texts/metadata), codec (k-means +
residual compression), segment (immutable on-disk units), ingest (the write path), query (the read
path), plaid (the search stages), kernels (int8 arithmetic), index (the public class).
"""

from jcolbert.index.index import Hit, Index

__all__ = ["Hit", "Index"]
