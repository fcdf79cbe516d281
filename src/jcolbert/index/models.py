"""The model an index records: resolving what a caller passes, refusing one whose vectors would not live in
the index's space, and loading the recorded one only when text must be encoded (never by opening)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index.manifest import Manifest


def resolve(model: Any) -> Any:
    """A loaded model, or a name/path loaded now (jcolbert.model, imported lazily: `import jcolbert` stays light)."""
    if isinstance(model, str | os.PathLike):
        from jcolbert.model import load_model

        return load_model(str(model))
    if not hasattr(model, "config") or not hasattr(model.config, "to_dict"):
        raise InputError(f"model must be a ColBERTModel or a model name/path, got {type(model).__name__}")
    return model


def check(model: Any, manifest: Manifest, path: Path) -> Any:
    """Refuse a model whose vectors would not live in this index's space (dim, markers, backbone, ...)."""
    config = model.config
    dim = int(getattr(config, "dim", 0))
    if dim != manifest.dim:
        raise InputError(f"the model produces {dim}-dimensional vectors but index {path} holds {manifest.dim}")
    recorded = manifest.model
    if recorded is not None:
        if hasattr(config, "incompatibilities"):
            problems = config.incompatibilities(recorded)
        else:  # a duck-typed model: compare what we can
            mine = config.to_dict()
            problems = [f"{key}: {recorded.get(key)!r} != {mine.get(key)!r}"
                        for key in ("dim", "query_marker", "doc_marker", "backbone")
                        if key in recorded and recorded.get(key) != mine.get(key)]
        if problems:
            raise InputError(f"this model does not match the one index {path} was built with "
                             f"({recorded.get('name_or_path')!r}): {'; '.join(problems)}")
    return model


def load_recorded(config: dict[str, Any], path: Path) -> Any:
    """The model an index recorded. A recorded local path must still be a checkpoint folder: the error names
    the path and never lists what is there (a manifest from elsewhere may name any folder)."""
    name = str(config.get("name_or_path", ""))
    local = Path(name).expanduser()
    looks_local = local.is_absolute() or name.startswith((".", "~")) or local.is_dir()
    if looks_local and (not local.is_dir() or not any((local / f).is_file() for f in ("config.json", "modules.json"))):
        raise IndexFormatError(f"index {path} was built with the model at {name!r}, which is not a model "
                               "folder (no config.json); open the index with model=... to choose the model")
    from jcolbert.model import load_model

    return load_model(config)
