"""The PLAID index engine on disk: `Index` (create / open / add / search / delete / compact), `Hit`,
`Codec` (train / save / load: one codec can be shared by many indexes) and `Filter` (metadata/id filters).

Modules (one concern each): index (the life cycle), write (the write transactions: add, the exact ->
compressed switch, delete, compaction, codec installation), build (parts, training sample, segment
writing), ingest (input checks), query and plaid (the read path), filters, snapshot (one checked view of
the folder), manifest (the typed, checksummed manifest), storage (safe file access, commits, the lock),
docstore (SQLite ids/texts/metadata), segment, codec and kmeans (compression), kernels (int8 arithmetic).
"""

from jcolbert.index.codec import Codec
from jcolbert.index.filters import Filter
from jcolbert.index.index import Hit, Index

__all__ = ["Codec", "Filter", "Hit", "Index"]
