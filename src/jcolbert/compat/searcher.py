"""colbert-ai's `Searcher` over a jcolbert index.

``Searcher(index_name, config=...)`` finds the index where colbert-ai would
(``<root>/<experiment>/indexes/<index_name>`` of the `Run()` context, or ``index_root``), reads the
settings it was built with (`ColBERTConfig.load_from_index`), loads the encoder exactly as the index
recorded it, and ``search(query, k)`` returns colbert-ai's ``(pids, ranks, scores)``: three lists,
best first. Passage ids are the integers the collection was indexed with (list positions).

As in colbert-ai: ``searcher.checkpoint`` is a `Checkpoint`; the settings live in ``searcher.config``
and are read at each call, so ``searcher.config.query_maxlen = 47`` encodes the next query with 47
tokens, and ``ncells``, ``centroid_score_threshold``, ``ndocs`` steer PLAID (unset: colbert-ai's
defaults by k). It also opens indexes made by `jcolbert.Index` / ``jcolbert index`` (their ids must be
integers for the colbert-ai return shapes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jcolbert.compat import index_files
from jcolbert.compat.data.collection import Collection
from jcolbert.compat.data.queries import Queries
from jcolbert.compat.data.ranking import Ranking
from jcolbert.compat.errors import CompatError, UnsupportedError
from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.compat.infra.provenance import Provenance
from jcolbert.compat.infra.run import Run
from jcolbert.compat.modeling.checkpoint import Checkpoint, load_checkpoint_model
from jcolbert.errors import IndexFormatError, InputError

_KNOBS = ("ncells", "centroid_score_threshold", "ndocs")

__all__ = ["Ranking", "Searcher"]


class IndexCollection:
    """``searcher.collection[pid]`` -> passage text, read from the index's document store."""

    def __init__(self, index: Any) -> None:
        self._index = index

    def __getitem__(self, pid: Any) -> str:
        return self._index.get(str(int(pid)))["text"]

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self):
        return (self[pid] for pid in sorted(int(x) for x in self._index.ids()))

    def provenance(self) -> str:
        return str(self._index.path)


class Searcher:
    """Search an index built by `Indexer` (colbert-ai's ``colbert.Searcher``)."""

    def __init__(
        self,
        index: str,
        checkpoint: str | None = None,
        collection: Any = None,
        config: ColBERTConfig | None = None,
        index_root: str | None = None,
        verbose: int = 3,
    ) -> None:
        from jcolbert import Index

        self.verbose = verbose
        initial_config = ColBERTConfig.from_existing(config, Run().config)
        index_root = index_root or initial_config.index_root_
        self.index = os.path.join(index_root, index)
        root = Path(self.index)
        self.index_config = ColBERTConfig.load_from_index(root)
        if not (root / index_files.MANIFEST).is_file():
            raise IndexFormatError(
                f"{root} holds a colbert-ai index; jcolbert.compat searches the indexes its Indexer builds "
                "(rebuild it with jcolbert.compat.Indexer)"
            )
        recorded = index_files.recorded_model(root)
        name = checkpoint or self.index_config.checkpoint or (recorded or {}).get("name_or_path")
        if name is None:
            raise CompatError(f"{root} records no model; pass checkpoint=...")
        self.checkpoint_config = ColBERTConfig.load_from_checkpoint(name)
        self.config = ColBERTConfig.from_existing(self.checkpoint_config, self.index_config, initial_config)

        from jcolbert.model.config import OVERRIDABLE

        settings = {k: recorded[k] for k in OVERRIDABLE if k in recorded} if recorded else {}
        model = load_checkpoint_model(name, config, **settings)  # as indexed, then the caller's changes
        self._index = Index.open(root, model=model, progress=False)  # refuses an incompatible encoder
        self.collection = Collection.cast(collection) if collection is not None else IndexCollection(self._index)
        self.configure(checkpoint=name, collection=self.collection)
        self.checkpoint = Checkpoint.from_model(name, model, self.config, verbose=verbose)

    def configure(self, **kw_args: Any) -> None:
        self.config.configure(**kw_args)

    def encode(self, text: str | list[str], full_length_search: bool = False):
        """Query vectors ``[n, config.query_maxlen, dim]`` for one query or a list."""
        if full_length_search:
            raise UnsupportedError("full_length_search=True is not supported by jcolbert.compat")
        queries = text if isinstance(text, list) else [text]
        self.checkpoint.query_tokenizer.query_maxlen = self.config.query_maxlen
        return self.checkpoint.queryFromText(queries, bsize=128 if len(queries) > 128 else None)

    def search(self, text: str, k: int = 10, filter_fn: Callable | None = None,
               full_length_search: bool = False, pids=None) -> tuple[list[int], list[int], list[float]]:
        """Top-k passages for one query: ``(pids, ranks, scores)``, best first."""
        Q = self.encode(text, full_length_search=full_length_search)
        return self.dense_search(Q, k, filter_fn=filter_fn, pids=pids)

    def search_all(self, queries: Any, k: int = 10, filter_fn: Callable | None = None,
                   full_length_search: bool = False, qid_to_pids: dict | None = None) -> Ranking:
        """Top-k for many queries (a dict {qid: text}, a list, a TSV path or `Queries`) as a `Ranking`."""
        queries = Queries.cast(queries)
        Q = self.encode(list(queries.values()), full_length_search=full_length_search)
        data = {}
        for row, qid in enumerate(queries.keys()):
            pids = None if qid_to_pids is None else qid_to_pids.get(qid)
            found = self.dense_search(Q[row : row + 1], k, filter_fn=filter_fn, pids=pids)
            data[qid] = list(zip(*found, strict=True))
        provenance = Provenance()
        provenance.source = "Searcher::search_all"
        provenance.queries = queries.provenance()
        provenance.config = self.config.export()
        provenance.k = k
        return Ranking(data=data, provenance=provenance)

    def dense_search(self, Q, k: int = 10, filter_fn: Callable | None = None, pids=None):
        """Search with query vectors (``[1, query_maxlen, dim]``): ``(pids, ranks, scores)``."""
        knobs = {name: getattr(self.config, name) for name in _KNOBS if getattr(self.config, name) is not None}
        allowed = self._allowed(filter_fn, pids)
        if allowed is not None and not allowed:
            return [], [], []
        q = Q[0] if getattr(Q, "ndim", 2) == 3 else Q
        hits = self._index.search_embeddings(q, k=k, filter=allowed, **knobs)
        return [_pid(h.id) for h in hits], [h.rank for h in hits], [float(h.score) for h in hits]

    def _allowed(self, filter_fn: Callable | None, pids) -> list[str] | None:
        """colbert-ai's ``pids`` (restrict to these) and ``filter_fn(pids) -> kept pids`` as an id filter,
        applied before top-k so that k results come back whenever k passages qualify."""
        if filter_fn is None and pids is None:
            return None
        import torch

        candidates = [int(p) for p in pids] if pids is not None else [_pid(x) for x in self._index.ids()]
        if filter_fn is not None:
            kept = filter_fn(torch.tensor(candidates, dtype=torch.long))
            candidates = [int(p) for p in (kept.tolist() if hasattr(kept, "tolist") else kept)]
        return [str(p) for p in candidates]


def _pid(doc_id: str) -> int:
    try:
        return int(doc_id)
    except ValueError:
        raise InputError(
            f"document id {doc_id!r} is not an integer passage id; use jcolbert.Index for indexes with text ids"
        ) from None
