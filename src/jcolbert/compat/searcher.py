"""colbert-ai's `Searcher` over a jcolbert index.

``Searcher(index_name, config=...)`` finds the index where colbert-ai would
(``<root>/<experiment>/indexes/<index_name>`` of the `Run()` context, or ``index_root``), reads the
checkpoint from it, and ``search(query, k)`` returns colbert-ai's ``(pids, ranks, scores)``: three
lists, best first. Passage ids are the integers the collection was indexed with (list positions).

Search settings come from the config as in colbert-ai: ``query_maxlen`` for query encoding,
``ncells``, ``centroid_score_threshold``, ``ndocs`` for PLAID (unset: colbert-ai's defaults by k).
It also opens indexes made by `jcolbert.Index` / ``jcolbert index`` (the model recorded there is used;
their ids must be integers for the colbert-ai return shapes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from jcolbert.compat.infra.config import COMPAT_CONFIG_FILE, ColBERTConfig
from jcolbert.compat.infra.run import Run
from jcolbert.compat.modeling.checkpoint import encoder_overrides
from jcolbert.errors import IndexFormatError, InputError

_KNOBS = ("ncells", "centroid_score_threshold", "ndocs")


class Ranking:
    """colbert-ai's ``Ranking`` (what `Searcher.search_all` returns): ``data`` maps each query id to
    ``[(pid, rank, score), ...]``."""

    def __init__(self, data: dict[Any, list[tuple[int, int, float]]]) -> None:
        self.data = data

    def todict(self) -> dict[Any, list[tuple[int, int, float]]]:
        return dict(self.data)

    def tolist(self) -> list[tuple[Any, int, int, float]]:
        return [(qid, pid, rank, score) for qid, hits in self.data.items() for pid, rank, score in hits]

    def items(self):
        return self.data.items()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data.items())

    def __len__(self) -> int:
        return len(self.data)

    def save(self, new_path: str | os.PathLike) -> str:
        """Write ``qid<TAB>pid<TAB>rank<TAB>score`` lines (colbert-ai's ranking TSV); returns the path."""
        with open(new_path, "w", encoding="utf-8") as f:
            for qid, pid, rank, score in self.tolist():
                f.write(f"{qid}\t{pid}\t{rank}\t{score}\n")
        return str(new_path)


class _IndexCollection(Sequence):
    """``searcher.collection[pid]`` -> passage text, read from the index's document store."""

    def __init__(self, index: Any) -> None:
        self._index = index

    def __getitem__(self, pid: Any) -> str:  # type: ignore[override]
        return self._index.get(str(int(pid)))["text"]

    def __len__(self) -> int:
        return len(self._index)


def _queries(queries: Any) -> dict[Any, str]:
    """colbert-ai's ``Queries.cast``: a dict {qid: text}, a list (qids 0..n-1), or a TSV path (qid<TAB>text)."""
    if isinstance(queries, dict):
        return dict(queries)
    if isinstance(queries, str | os.PathLike):
        out: dict[Any, str] = {}
        with open(queries, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    qid, _, text = line.rstrip("\n\r").partition("\t")
                    out[int(qid) if qid.isdigit() else qid] = text
        return out
    if hasattr(queries, "data") and isinstance(queries.data, dict):
        return dict(queries.data)
    return dict(enumerate(queries))


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
        if not (Path(self.index) / "manifest.json").is_file():
            raise IndexFormatError(f"no index at {self.index} (looked in index_root {index_root})")
        has_compat_config = (Path(self.index) / COMPAT_CONFIG_FILE).is_file()
        self.index_config = (
            ColBERTConfig.load_from_index(self.index) if has_compat_config else ColBERTConfig()
        )
        self._index = Index.open(self.index, progress=False)
        recorded = self._index.stats().get("model")
        self.checkpoint = checkpoint or self.index_config.checkpoint or recorded
        if self.checkpoint is None:
            raise InputError(f"{self.index} records no model; pass checkpoint=...")
        self.checkpoint_config = ColBERTConfig.load_from_checkpoint(self.checkpoint)
        self.config = ColBERTConfig.from_existing(self.checkpoint_config, self.index_config, initial_config)
        self.collection = collection if collection is not None else _IndexCollection(self._index)
        self.configure(checkpoint=self.checkpoint)

        import jcolbert

        chosen = ColBERTConfig.from_existing(self.index_config, config)
        self.model = jcolbert.load_model(self.checkpoint, **encoder_overrides(chosen, self.checkpoint_config))

    def configure(self, **kw_args: Any) -> None:
        self.config.configure(**kw_args)

    def encode(self, text: str | list[str], full_length_search: bool = False):
        """Query vectors ``[n, query_maxlen, dim]`` for one query or a list."""
        if full_length_search:
            raise InputError("full_length_search=True is not supported by jcolbert.compat")
        queries = text if isinstance(text, list) else [text]
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"query {i} is empty")
        return self.model.encode_queries(queries, batch_size=128)

    def search(
        self,
        text: str,
        k: int = 10,
        filter_fn: Callable | None = None,
        full_length_search: bool = False,
        pids=None,
    ) -> tuple[list[int], list[int], list[float]]:
        """Top-k passages for one query: ``(pids, ranks, scores)``, best first."""
        Q = self.encode(text, full_length_search=full_length_search)
        return self.dense_search(Q, k, filter_fn=filter_fn, pids=pids)

    def search_all(
        self,
        queries: Any,
        k: int = 10,
        filter_fn: Callable | None = None,
        full_length_search: bool = False,
        qid_to_pids: dict | None = None,
    ) -> Ranking:
        """Top-k for many queries (a dict {qid: text}, a list, or a TSV path) as a `Ranking`."""
        queries = _queries(queries)
        Q = self.encode(list(queries.values()), full_length_search=full_length_search)
        data = {}
        for row, qid in enumerate(queries):
            pids = None if qid_to_pids is None else qid_to_pids.get(qid)
            found = self.dense_search(Q[row : row + 1], k, filter_fn=filter_fn, pids=pids)
            data[qid] = list(zip(*found, strict=True))
        return Ranking(data)

    def dense_search(self, Q, k: int = 10, filter_fn: Callable | None = None, pids=None):
        """Search with query vectors (``[1, query_maxlen, dim]``): ``(pids, ranks, scores)``."""
        knobs = {
            name: getattr(self.config, name) for name in _KNOBS if getattr(self.config, name) is not None
        }
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
