"""colbert-ai's `IndexUpdater`: add passages to, and remove them from, an index a `Searcher` has open.

    updater = IndexUpdater(config, searcher, checkpoint)
    new_pids = updater.add(["a new passage", ...])   # pids after every pid the index ever held
    updater.remove([3, 7])                            # gone from the searcher's results at once
    updater.persist_to_disk()

Pids work as in colbert-ai: an added passage gets a fresh pid (one past the largest pid the index ever
held, removed ones included), and removing a pid never renumbers the others.

One difference: colbert-ai keeps added and removed passages in memory until ``persist_to_disk()``;
jcolbert's index commits each ``add`` / ``remove`` durably when it returns (`jcolbert.Index.add` /
`delete`), so there is nothing left to lose. ``persist_to_disk()`` then brings ``metadata.json`` up to
date. colbert-ai 0.2.22's own updater fails on small indexes (its issue #369); this one does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jcolbert.compat import index_files
from jcolbert.compat.errors import CompatError
from jcolbert.compat.indexer import collection_texts
from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.compat.modeling.checkpoint import Checkpoint
from jcolbert.errors import InputError


class IndexUpdater:
    """Adds and removes passages of ``searcher``'s index; ``checkpoint`` is needed only to ``add``."""

    def __init__(self, config: ColBERTConfig, searcher: Any, checkpoint: str | Checkpoint | None = None) -> None:
        self.config = config
        self.searcher = searcher
        self.index_path = searcher.index
        self.checkpoint = None
        if checkpoint is not None:
            self.checkpoint = checkpoint if isinstance(checkpoint, Checkpoint) else self._checkpoint(checkpoint)
        self.removed_pids: list[int] = []
        self.added_pids: list[int] = []

    def _checkpoint(self, name: str) -> Checkpoint:
        """The searcher's encoder (the one the index was built with), with this updater's config."""
        searcher_ckpt = self.searcher.checkpoint
        if str(name) == str(searcher_ckpt.name):
            return Checkpoint.from_model(name, searcher_ckpt.model, self.config)
        return Checkpoint(name, colbert_config=self.config)

    @property
    def _index(self) -> Any:
        return self.searcher._index

    def add(self, passages: Sequence[str]) -> list[int]:
        """Encode and add ``passages``; returns their new pids. Searches see them at once."""
        if self.checkpoint is None:
            raise CompatError("IndexUpdater(..., checkpoint=None) cannot add passages; pass the checkpoint")
        texts = collection_texts(list(passages))
        if not texts:
            return []
        index = self._index
        start = index_files.next_pid(Path(self.index_path), index.ids())
        pids = list(range(start, start + len(texts)))
        docs = [{"id": str(pid), "text": text} for pid, text in zip(pids, texts, strict=True)]
        index.add(docs, batch_size=int(self.config.index_bsize or 64),
                  max_length=int(self.checkpoint.doc_tokenizer.doc_maxlen))
        self.added_pids.extend(pids)
        self._write_metadata()  # next_pid recorded now: a later updater never reuses these pids
        return pids

    def remove(self, pids: Iterable[int]) -> None:
        """Remove passages by pid; searches stop returning them at once. Unknown pids are an error
        naming them, and then nothing is removed."""
        pids = [int(p) for p in pids]
        try:
            self._index.delete([str(p) for p in pids])
        except InputError as e:
            raise CompatError(f"cannot remove pids from {self.index_path}: {e}") from None
        self.removed_pids.extend(pids)

    def persist_to_disk(self) -> None:
        """Bring ``metadata.json`` up to date (the passages themselves are already on disk)."""
        self._write_metadata()
        self.removed_pids = []
        self.added_pids = []

    def _write_metadata(self) -> None:
        root = Path(self.index_path)
        config = ColBERTConfig.load_from_index(root)
        next_pid = index_files.next_pid(root, self._index.ids())
        if self.added_pids:
            next_pid = max(next_pid, max(self.added_pids) + 1)
        index_files.write_metadata(root, config, self._index, {"next_pid": next_pid})
