"""``colbert.indexing.collection_indexer.CollectionIndexer``, present so that code importing it runs.

colbert-ai's `CollectionIndexer` is the engine behind `Indexer` (sampling, k-means, compression,
IVF). jcolbert's engine is `jcolbert.Index`, so this class does no work: constructing it or calling
its k-means raises `UnsupportedError`. Code that replaces ``CollectionIndexer._train_kmeans`` (as
RAGatouille does, to swap faiss for a PyTorch k-means) runs, but jcolbert trains its own centroids:
`Indexer.index` says so with a warning.
"""

from __future__ import annotations

from typing import Any

from jcolbert.compat.errors import UnsupportedError


class CollectionIndexer:
    """Stands in for colbert-ai's indexing engine in imports; use `Indexer` (jcolbert.Index underneath)."""

    def __init__(self, config: Any, collection: Any, verbose: int = 2) -> None:
        raise UnsupportedError("CollectionIndexer is colbert-ai's engine; jcolbert.compat indexes with Indexer")

    def _train_kmeans(self, sample: Any, shared_lists: Any) -> Any:
        raise UnsupportedError("jcolbert trains its centroids inside jcolbert.Index; there is no _train_kmeans")


ORIGINAL_TRAIN_KMEANS = CollectionIndexer.__dict__["_train_kmeans"]


def kmeans_replaced() -> bool:
    """Whether someone assigned their own ``CollectionIndexer._train_kmeans`` (which jcolbert ignores)."""
    return CollectionIndexer.__dict__.get("_train_kmeans") is not ORIGINAL_TRAIN_KMEANS
