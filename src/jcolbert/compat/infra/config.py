"""colbert-ai's `RunConfig` and `ColBERTConfig`, field for field (colbert-ai 0.2.22 defaults).

Like colbert-ai, a config remembers which fields the caller *assigned* (`assigned`), and
`from_existing(a, b, c)` merges only assigned fields, later sources winning. That is what lets
`Indexer(checkpoint, config)` combine the checkpoint's `artifact.metadata`, the user's config and the
`Run()` context exactly as colbert-ai does. Fields that jcolbert does not use (training, GPUs) are
accepted and kept so that existing code runs unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from jcolbert.compat.errors import CompatError
from jcolbert.errors import CheckpointError


class _Unset:
    """Marks a field the caller did not pass (colbert-ai's `DefaultVal`)."""

    def __repr__(self) -> str:
        return "<default>"


UNSET: Any = _Unset()


_STARTED = datetime.datetime.now().strftime("%Y-%m/%d/%H.%M.%S")


def _timestamp() -> str:
    """The run's default ``name``: when this process started using jcolbert.compat (fixed, as in
    colbert-ai), so every file `Run().open` writes without a context lands in one folder."""
    return _STARTED


def _default_root() -> str:
    return os.path.join(os.getcwd(), "experiments")


# Defaults, by field; callables are evaluated when a config is made (colbert-ai evaluates `root` at
# import time, which pins it to the import-time working directory; here it follows the current one).
_DEFAULTS: dict[str, Any] = {
    # RunSettings
    "overwrite": False,
    "root": _default_root,
    "experiment": "default",
    "index_root": None,
    "name": _timestamp,
    "rank": 0,
    "nranks": 1,
    "amp": True,
    "gpus": 0,
    "avoid_fork_if_possible": False,
    # TokenizerSettings
    "query_token_id": "[unused0]",
    "doc_token_id": "[unused1]",
    "query_token": "[Q]",
    "doc_token": "[D]",
    # ResourceSettings
    "checkpoint": None,
    "triples": None,
    "collection": None,
    "queries": None,
    "index_name": None,
    # DocSettings
    "dim": 128,
    "doc_maxlen": 220,
    "mask_punctuation": True,
    # QuerySettings
    "query_maxlen": 32,
    "attend_to_mask_tokens": False,
    "interaction": "colbert",
    # TrainingSettings
    "similarity": "cosine",
    "bsize": 32,
    "accumsteps": 1,
    "lr": 3e-06,
    "maxsteps": 500_000,
    "save_every": None,
    "resume": False,
    "warmup": None,
    "warmup_bert": None,
    "relu": False,
    "nway": 2,
    "use_ib_negatives": False,
    "reranker": False,
    "distillation_alpha": 1.0,
    "ignore_scores": False,
    "model_name": None,
    # IndexingSettings
    "index_path": None,
    "index_bsize": 64,
    "nbits": 1,
    "kmeans_niters": 4,
    "pool_factor": 1,
    "clustering_mode": "hierarchical",
    "protected_tokens": 0,
    # SearchSettings
    "ncells": None,
    "centroid_score_threshold": None,
    "ndocs": None,
    "load_index_with_mmap": False,
}


@dataclass
class _CoreConfig:
    """Assigned-field bookkeeping shared by RunConfig and ColBERTConfig."""

    def __post_init__(self) -> None:
        self.assigned: dict[str, bool] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is UNSET or value is None:
                default = _DEFAULTS[f.name]
                setattr(self, f.name, default() if callable(default) else default)
            if value is not UNSET:
                self.assigned[f.name] = True

    @classmethod
    def from_existing(cls, *sources: _CoreConfig | None):
        """A new config from the *assigned* fields of ``sources``; later sources win."""
        kw: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for source in sources:
            if source is None:
                continue
            kw.update({k: getattr(source, k) for k in source.assigned if k in names})
        return cls(**kw)

    @classmethod
    def from_deprecated_args(cls, args: dict[str, Any]):
        obj = cls()
        ignored = obj.configure(ignore_unrecognized=True, **args)
        return obj, ignored

    @classmethod
    def from_path(cls, name: str | os.PathLike):
        """Read a colbert-ai JSON config (an `artifact.metadata`, `metadata.json` or `plan.json`)."""
        with open(name, encoding="utf-8") as f:
            args = json.load(f)
        if "config" in args:
            args = args["config"]
        return cls.from_deprecated_args(args)

    def assign_defaults(self) -> None:
        for f in fields(self):
            default = _DEFAULTS[f.name]
            setattr(self, f.name, default() if callable(default) else default)
            self.assigned[f.name] = True

    def configure(self, ignore_unrecognized: bool = True, **kw_args: Any) -> set[str]:
        ignored = set()
        for key, value in kw_args.items():
            if not self.set(key, value, ignore_unrecognized):
                ignored.add(key)
        return ignored

    def set(self, key: str, value: Any, ignore_unrecognized: bool = False) -> bool:
        if key in {f.name for f in fields(self)}:
            setattr(self, key, value)
            self.assigned[key] = True
            return True
        if not ignore_unrecognized:
            raise KeyError(f"Unrecognized key `{key}` for {type(self).__name__}")
        return False

    def export(self) -> dict[str, Any]:
        """Every field, as colbert-ai exports it: objects with ``provenance()`` (a `Collection`) as that,
        lists and dicts over 100 items as a short description."""
        return {f.name: _export_value(getattr(self, f.name)) for f in fields(self)}

    def help(self) -> None:
        print(json.dumps(self.export(), indent=4))

    # --- colbert-ai's derived paths ---------------------------------------------------------

    @property
    def total_visible_gpus(self) -> int:
        import torch

        return torch.cuda.device_count()

    @property
    def index_root_(self) -> str:
        return self.index_root or os.path.join(self.root, self.experiment, "indexes/")

    @property
    def script_name_(self) -> str:
        """The running script's path below the working directory, dotted, without ``.py`` ("none" when
        there is no script file, e.g. in a notebook)."""
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if not main_file or not main_file.endswith(".py"):
            return "none"
        cwd, script = os.path.abspath(os.getcwd()), os.path.abspath(main_file)
        if script.startswith(cwd):
            script = script[len(cwd) :]
        else:
            common = os.path.commonpath([script, os.path.abspath(self.root)])
            script = script[len(common) :] if common != os.sep else script
        return script.replace(os.sep, ".").strip(".")[: -len(".py")] or "none"

    @property
    def path_(self) -> str:
        """The run's own folder, where `Run().open` puts files: ``<root>/<experiment>/<script>/<name>``."""
        return os.path.join(self.root, self.experiment, self.script_name_, self.name)


_F = dataclasses.field


def _f() -> Any:
    return _F(default=UNSET)


@dataclass(kw_only=True)
class RunConfig(_CoreConfig):
    """Where and how a run works: ``root``/``experiment`` decide the index folder
    (``<root>/<experiment>/indexes/<index_name>``); ``nranks``/``gpus`` are accepted and ignored
    (jcolbert picks CUDA when present, else the CPU, in one process)."""

    overwrite: bool = _f()
    root: str = _f()
    experiment: str = _f()
    index_root: str | None = _f()
    name: str = _f()
    rank: int = _f()
    nranks: int = _f()
    amp: bool = _f()
    gpus: int = _f()
    avoid_fork_if_possible: bool = _f()


@dataclass(kw_only=True)
class ColBERTConfig(RunConfig):
    """Every colbert-ai setting. jcolbert uses: ``query_maxlen``, ``doc_maxlen``,
    ``attend_to_mask_tokens``, ``mask_punctuation`` (encoder overrides), ``nbits`` (index
    compression), ``ncells``, ``centroid_score_threshold``, ``ndocs`` (search knobs), ``index_bsize``
    (encoding batch size) and the path fields. The rest is accepted and kept for compatibility."""

    query_token_id: str = _f()
    doc_token_id: str = _f()
    query_token: str = _f()
    doc_token: str = _f()
    checkpoint: str | None = _f()
    triples: str | None = _f()
    collection: Any = _f()
    queries: Any = _f()
    index_name: str | None = _f()
    dim: int = _f()
    doc_maxlen: int = _f()
    mask_punctuation: bool = _f()
    query_maxlen: int = _f()
    attend_to_mask_tokens: bool = _f()
    interaction: str = _f()
    similarity: str = _f()
    bsize: int = _f()
    accumsteps: int = _f()
    lr: float = _f()
    maxsteps: int = _f()
    save_every: int | None = _f()
    resume: bool = _f()
    warmup: int | None = _f()
    warmup_bert: int | None = _f()
    relu: bool = _f()
    nway: int = _f()
    use_ib_negatives: bool = _f()
    reranker: bool = _f()
    distillation_alpha: float = _f()
    ignore_scores: bool = _f()
    model_name: str | None = _f()
    index_path: str | None = _f()
    index_bsize: int = _f()
    nbits: int = _f()
    kmeans_niters: int = _f()
    pool_factor: int = _f()
    clustering_mode: str = _f()
    protected_tokens: int = _f()
    ncells: int | None = _f()
    centroid_score_threshold: float | None = _f()
    ndocs: int | None = _f()
    load_index_with_mmap: bool = _f()

    @property
    def index_path_(self) -> str:
        return self.index_path or os.path.join(self.index_root_, self.index_name or "")

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str) -> ColBERTConfig | None:
        """The checkpoint's `artifact.metadata` as a config, or None when it has none (as colbert-ai).

        Local folders are read directly; hub names are looked up in the local hub cache only, because
        the encoder itself downloads (and reports hub errors) when the model is loaded.
        """
        folder = _local_checkpoint_folder(checkpoint_path)
        if folder is None or not (folder / "artifact.metadata").is_file():
            return None
        try:
            config, _ = cls.from_path(folder / "artifact.metadata")
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{folder / 'artifact.metadata'}: cannot read it ({e})") from None
        config.set("checkpoint", checkpoint_path)
        return config

    @classmethod
    def load_from_index(cls, index_path: str | os.PathLike) -> ColBERTConfig:
        """The settings the index at ``index_path`` was built with: the ``config`` of its
        ``metadata.json`` (as colbert-ai writes it, and `Indexer` here), or, for an index made by
        `jcolbert.Index`, its recorded model settings. `IndexNotFoundError` when there is no index."""
        from jcolbert.compat.index_files import load_index_config

        return load_index_config(cls, index_path)

    def export_json(self) -> dict[str, Any]:
        """`export()` without the values JSON cannot hold (what metadata files and training records keep)."""
        return {k: v for k, v in self.export().items() if _jsonable(v)}

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        if not overwrite and os.path.exists(path):
            raise CompatError(f"{path} already exists; pass overwrite=True to replace it")
        data = self.export_json()
        data["meta"] = {"version": "colbert-v0.4", "written_by": "jcolbert.compat"}
        Path(path).write_text(json.dumps(data, indent=4) + "\n", encoding="utf-8")


def _export_value(value: Any) -> Any:
    value = value.provenance() if hasattr(value, "provenance") else value
    if isinstance(value, list) and len(value) > 100:
        return (f"list with {len(value)} elements starting with...", value[:3])
    if isinstance(value, dict) and len(value) > 100:
        return (f"dict with {len(value)} keys starting with...", list(value)[:3])
    return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _local_checkpoint_folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name.count("/") != 1 or path.exists():
        return None
    try:  # a hub name: only what is already in the local cache, never a download here
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception:  # not cached (or not a valid repo id): the encoder reports it when loading
        return None
