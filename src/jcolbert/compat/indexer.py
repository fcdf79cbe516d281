"""colbert-ai's `Indexer`, building a jcolbert index in colbert-ai's place for it.

``Indexer(checkpoint, config).index(name, collection)`` writes the index to
``<root>/<experiment>/indexes/<name>`` (the `Run()` context's ``root``/``experiment``, or
``index_root``), exactly where colbert-ai puts its own, and returns that path. Passage ``i`` of the
collection is pid ``i``. Differences that matter: any collection size works (7 documents included:
small collections are stored exactly), nothing is forked or compiled, ``overwrite=True`` does not
sleep 20 seconds first, and ``nbits=8`` (which jcolbert's codec does not have) builds a 4-bit
index, with a warning.

The folder holds a jcolbert index (see `jcolbert.Index`) plus colbert-ai's ``metadata.json`` (see
`index_files`): the settings it was built with, so `Searcher(name)` and
`ColBERTConfig.load_from_index` find them as they do in colbert-ai.
"""

from __future__ import annotations

import secrets
import shutil
import warnings
from pathlib import Path
from typing import Any

from jcolbert.compat import index_files
from jcolbert.compat.data.collection import Collection
from jcolbert.compat.errors import CompatError
from jcolbert.compat.indexing.collection_indexer import kmeans_replaced
from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.compat.infra.run import Run
from jcolbert.compat.modeling.checkpoint import Checkpoint

_OVERWRITE = (True, False, "reuse", "resume", "force_silent_overwrite")
_COMMIT_EVERY = 2048  # documents per commit: what an interrupted `resume` run can lose
_NBITS = (1, 2, 4)
# What erase() removes: colbert-ai's own index files, and jcolbert's. Anything else in the folder stays.
_JCOLBERT_FILES = ("manifest.json", "docs.sqlite", "docs.sqlite-wal", "docs.sqlite-shm", "writer.lock",
                   index_files.LEGACY_CONFIG, f".{index_files.METADATA}.tmp")
_JCOLBERT_DIRS = ("seg-", "codec-", "spool-", ".jcolbert-new-")


class NbitsWarning(UserWarning):
    """``nbits=8`` was asked for; jcolbert's codec stores 4 bits per dimension at most."""


def collection_texts(collection: Any) -> list[str]:
    """colbert-ai's ``Collection.cast`` (a path, a list, a `Collection`), plus any sequence of strings."""
    if isinstance(collection, tuple):
        collection = list(collection)
    texts = list(Collection.cast(collection))
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise CompatError(f"collection[{i}] is {type(text).__name__}, expected a passage string")
    return texts


def effective_nbits(nbits: Any) -> int:
    """1, 2 or 4 as given; 8 becomes 4 with a `NbitsWarning` (same result shapes, smaller index)."""
    if nbits == 8:
        warnings.warn(
            "nbits=8: jcolbert's codec stores at most 4 bits per dimension; building a 4-bit index instead",
            NbitsWarning,
            stacklevel=3,
        )
        return 4
    if nbits not in _NBITS:
        raise CompatError(f"nbits must be 1, 2, 4 or 8, not {nbits!r}")
    return int(nbits)


def is_erasable(entry: Path) -> bool:
    name = entry.name
    colbert_ai = name.endswith(".pt") or (
        name.endswith(".json") and any(word in name for word in ("metadata", "doclen", "plan"))
    )
    return colbert_ai or name in _JCOLBERT_FILES or (entry.is_dir() and name.startswith(_JCOLBERT_DIRS))


class Indexer:
    """Build an index from a checkpoint and a collection (colbert-ai's ``colbert.Indexer``)."""

    def __init__(self, checkpoint: str, config: ColBERTConfig | None = None, verbose: int = 3) -> None:
        self.index_path: str | None = None
        self.verbose = verbose
        self.checkpoint = checkpoint
        self.checkpoint_config = ColBERTConfig.load_from_checkpoint(checkpoint)
        self.config = ColBERTConfig.from_existing(self.checkpoint_config, config, Run().config)
        self._user_config = ColBERTConfig.from_existing(config)
        self.configure(checkpoint=checkpoint)

    def configure(self, **kw_args: Any) -> None:
        self.config.configure(**kw_args)

    def get_index(self) -> str | None:
        return self.index_path

    def erase(self, force_silent: bool = False) -> list[str]:
        """Remove the index files at ``index_path`` (colbert-ai's and jcolbert's; other files stay);
        returns what was removed. colbert-ai waits 20 s first unless ``force_silent``; this does not."""
        if self.index_path is None:
            raise CompatError("erase() before index(): no index path yet")
        folder = Path(self.index_path)
        removed = sorted(str(p) for p in folder.iterdir() if is_erasable(p)) if folder.is_dir() else []
        for name in removed:
            entry = Path(name)
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return removed

    def index(self, name: str, collection: Any, overwrite: bool | str = False) -> str:
        """Encode ``collection`` and write the index ``name``; returns its path.

        overwrite: False (refuse an existing index), True / "force_silent_overwrite" (rebuild),
        "reuse" (keep an existing index as it is), "resume" (add the passages it does not hold yet).
        """
        if overwrite not in _OVERWRITE:
            raise CompatError(f"overwrite must be one of {_OVERWRITE}, not {overwrite!r}")
        self.configure(collection=collection, index_name=name, resume=overwrite == "resume")
        self.configure(bsize=64)  # colbert-ai sets it here too (index_bsize is the batch size used)
        self.index_path = self.config.index_path_
        path = Path(self.index_path)
        ours = (path / index_files.MANIFEST).is_file()
        theirs = not ours and (path / index_files.METADATA).is_file()
        if (ours or theirs) and overwrite is False:
            raise CompatError(
                f"an index already exists at {path}; pass overwrite=True to rebuild it, 'reuse' to keep it, "
                "or 'resume' to add what it lacks"
            )
        if theirs and overwrite in ("reuse", "resume"):
            raise CompatError(f"{path} holds a colbert-ai index, which jcolbert cannot {overwrite}; pass overwrite=True")
        if ours and overwrite == "reuse":
            return self.index_path
        if overwrite in (True, "force_silent_overwrite"):
            self.erase(force_silent=True)
            ours = False
        self._build(path, collection_texts(collection), resume=ours)
        return self.index_path

    def _build(self, path: Path, texts: list[str], resume: bool) -> None:
        from jcolbert import Index

        if not texts:
            raise CompatError("the collection is empty")
        if kmeans_replaced():
            warnings.warn("CollectionIndexer._train_kmeans was replaced; jcolbert.compat ignores it "
                          "(jcolbert.Index trains its own centroids)", UserWarning, stacklevel=3)
        requested = self.config.nbits
        nbits = effective_nbits(requested)
        ckpt = Checkpoint(self.checkpoint, colbert_config=self._user_config, verbose=self.verbose)
        progress = None if self.verbose > 1 else False
        if not resume:
            create_index(path, ckpt.model, nbits)
        index = Index.open(path, model=ckpt.model, progress=progress)
        try:
            present = set(index.ids())
            todo = [{"id": str(pid), "text": text} for pid, text in enumerate(texts) if str(pid) not in present]
            if todo:  # one call: the codec is trained on the whole collection; commits along the way
                index.add(todo, batch_size=int(self.config.index_bsize or 64),
                          max_length=ckpt.doc_tokenizer.doc_maxlen, commit_every=_COMMIT_EVERY)
            recorded = self._recorded_config(ckpt, index.nbits)
            extra: dict[str, Any] = {"next_pid": index_files.next_pid(path, index.ids())}
            if requested != index.nbits:
                extra["nbits_requested"] = requested
            index_files.write_metadata(path, recorded, index, extra)
        finally:
            index.close()

    def _recorded_config(self, ckpt: Checkpoint, nbits: int) -> ColBERTConfig:
        """This indexer's config with what was really used: the encoder's settings and lengths, nbits."""
        config = ColBERTConfig.from_existing(self.config)
        config.configure(**index_files.model_settings(ckpt.model.config.to_dict()))
        config.configure(checkpoint=self.checkpoint, nbits=nbits, doc_maxlen=int(ckpt.doc_tokenizer.doc_maxlen),
                         query_maxlen=int(ckpt.query_tokenizer.query_maxlen))
        return config


def create_index(path: Path, model: Any, nbits: int) -> None:
    """A new, empty jcolbert index in ``path``, which may hold files of other tools (kept as they are)."""
    from jcolbert import Index

    path.mkdir(parents=True, exist_ok=True)
    if not any(path.iterdir()):
        Index.create(path, model=model, nbits=nbits).close()
        return
    staging = path / f".jcolbert-new-{secrets.token_hex(4)}"  # jcolbert.Index wants an empty folder
    Index.create(staging, model=model, nbits=nbits).close()
    for entry in sorted(staging.iterdir(), key=lambda e: e.name == index_files.MANIFEST):  # manifest last
        entry.rename(path / entry.name)
    staging.rmdir()
