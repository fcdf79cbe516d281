"""colbert-ai's `Indexer`, building a jcolbert index in colbert-ai's place for it.

``Indexer(checkpoint, config).index(name, collection)`` writes the index to
``<root>/<experiment>/indexes/<name>`` (the `Run()` context's ``root``/``experiment``, or
``index_root``), exactly where colbert-ai puts its own, and returns that path. Differences that
matter: any collection size works (7 documents included: small collections are stored exactly),
nothing is forked or compiled, and ``overwrite=True`` does not sleep 20 seconds first.

The folder holds a jcolbert index (see `jcolbert.Index`) plus ``colbert_config.json``: the
checkpoint and the settings the caller chose, so `Searcher(name)` needs no checkpoint argument.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jcolbert.compat.infra.config import COMPAT_CONFIG_FILE, ColBERTConfig
from jcolbert.compat.infra.run import Run
from jcolbert.compat.modeling.checkpoint import load_checkpoint_model
from jcolbert.errors import InputError

_OVERWRITE = (True, False, "reuse", "resume", "force_silent_overwrite")
_COMMIT_EVERY = 2048  # documents per commit: what an interrupted `resume` run can lose


def collection_texts(collection: Any) -> list[str]:
    """colbert-ai's ``Collection.cast``: a list of passages, or a TSV path (``pid<TAB>passage[<TAB>title]``,
    pids equal to line numbers from 0, an optional ``id`` header line; a title is prefixed as
    ``title | passage``)."""
    if isinstance(collection, str | os.PathLike):
        return _read_collection_tsv(Path(collection))
    if hasattr(collection, "data") and isinstance(collection.data, list):  # a colbert-ai-like Collection
        collection = collection.data
    if isinstance(collection, Sequence) and not isinstance(collection, str | bytes):
        texts = list(collection)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"collection[{i}] is {type(text).__name__}, expected a passage string")
        return texts
    raise InputError(
        f"collection must be a list of passages or a path to a TSV file, not {type(collection).__name__}"
    )


def _read_collection_tsv(path: Path) -> list[str]:
    texts: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            pid, _, rest = line.strip("\n\r ").partition("\t")
            if line_number == 1 and pid == "id":
                continue
            if not pid.isdigit() or int(pid) != len(texts):
                raise InputError(
                    f"{path} line {line_number}: pid {pid!r} should be {len(texts)} (pids count from 0)"
                )
            passage, _, title = rest.partition("\t")
            texts.append(f"{title.split(chr(9))[0]} | {passage}" if title else passage)
    return texts


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
        """Remove the index at ``index_path`` (colbert-ai waits 20 s first; we do not)."""
        if self.index_path is None:
            raise InputError("erase() before index(): no index path yet")
        folder = Path(self.index_path)
        removed = sorted(str(p) for p in folder.iterdir()) if folder.is_dir() else []
        for entry in folder.iterdir() if folder.is_dir() else []:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return removed

    def index(self, name: str, collection: Any, overwrite: bool | str = False) -> str:
        """Encode ``collection`` and write the index ``name``; returns its path.

        overwrite: False (refuse an existing index), True / "force_silent_overwrite" (rebuild),
        "reuse" (keep an existing index as it is), "resume" (add the passages it does not hold yet).
        """
        if overwrite not in _OVERWRITE:
            raise InputError(f"overwrite must be one of {_OVERWRITE}, not {overwrite!r}")
        self.configure(collection=collection if isinstance(collection, str) else None, index_name=name)
        self.configure(resume=overwrite == "resume")
        self.index_path = self.config.index_path_
        path = Path(self.index_path)
        exists = (path / "manifest.json").is_file()
        if exists and overwrite is False:
            raise InputError(
                f"an index already exists at {path}; pass overwrite=True to rebuild it, 'reuse' to keep it, "
                "or 'resume' to add what it lacks"
            )
        if exists and overwrite == "reuse":
            return self.index_path
        if exists and overwrite in (True, "force_silent_overwrite"):
            self.erase(force_silent=True)
            exists = False

        from jcolbert import Index

        texts = collection_texts(collection)
        if not texts:
            raise InputError("the collection is empty")
        model = load_checkpoint_model(self.checkpoint, self._user_config)
        progress = None if self.verbose > 1 else False
        if exists:
            index = Index.open(path, model=model, progress=progress)
        else:
            path.mkdir(parents=True, exist_ok=True)
            index = Index.create(path, model=model, nbits=int(self.config.nbits), progress=progress)
            self._save_config(path)
        present = set(index.ids())
        todo = [(str(pid), text) for pid, text in enumerate(texts) if str(pid) not in present]
        batch_size = int(self.config.index_bsize or 64)
        for start in range(0, len(todo), _COMMIT_EVERY):
            chunk = todo[start : start + _COMMIT_EVERY]
            index.add([{"id": pid, "text": text} for pid, text in chunk], batch_size=batch_size)
        index.close()
        return self.index_path

    def _save_config(self, path: Path) -> None:
        """What `Searcher` needs later: the checkpoint and the settings the caller chose (not the
        checkpoint's own, which it reads from the checkpoint again)."""
        user = self._user_config
        data = {k: getattr(user, k) for k in user.assigned if _jsonable(getattr(user, k))}
        data.update(
            checkpoint=self.checkpoint, index_name=self.config.index_name, nbits=int(self.config.nbits)
        )
        (path / COMPAT_CONFIG_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
