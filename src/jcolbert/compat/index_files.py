"""colbert-ai's ``metadata.json`` beside a jcolbert index: what `ColBERTConfig.load_from_index` reads.

An index folder made by `jcolbert.compat.Indexer` holds a jcolbert index (``manifest.json``,
``docs.sqlite``, segments) plus ``metadata.json`` in colbert-ai's layout::

    {"config": {every ColBERTConfig field, as the index was built},
     "num_chunks": segments, "num_partitions": centroids, "num_embeddings": tokens, "avg_doclen": ...,
     "jcolbert": {"next_pid": first pid never used yet, "nbits_requested": 8 (only when it was mapped)}}

Other top-level keys written by other tools (RAGatouille keeps its own there) are preserved when
jcolbert.compat rewrites the file. The write is atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jcolbert.compat.errors import IndexNotFoundError
from jcolbert.errors import IndexFormatError

METADATA = "metadata.json"
PLAN = "plan.json"  # colbert-ai writes it before metadata.json
LEGACY_CONFIG = "colbert_config.json"  # what jcolbert.compat wrote before it wrote metadata.json
MANIFEST = "manifest.json"  # a jcolbert index (jcolbert.index.storage.MANIFEST)


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexFormatError(f"{path}: cannot read it ({e})") from None
    if not isinstance(data, dict):
        raise IndexFormatError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def load_index_config(cls: type, index_path: str | os.PathLike) -> Any:
    """``cls`` (ColBERTConfig) with every setting the index at ``index_path`` records."""
    root = Path(index_path)
    for name in (METADATA, PLAN, LEGACY_CONFIG):
        if (root / name).is_file():
            data = read_json_object(root / name)
            settings = data["config"] if isinstance(data.get("config"), dict) else data
            config, _ = cls.from_deprecated_args(settings)
            return config
    if (root / MANIFEST).is_file():
        config, _ = cls.from_deprecated_args(settings_from_manifest(root))
        return config
    raise IndexNotFoundError(f"no index at {root} (neither {METADATA} nor {MANIFEST} is there)")


def recorded_model(root: Path) -> dict[str, Any] | None:
    """The encoder settings a jcolbert index recorded (`ModelConfig.to_dict()`), None for vectors-only."""
    from jcolbert.index.storage import read_manifest

    return read_manifest(root).model


def settings_from_manifest(root: Path) -> dict[str, Any]:
    """ColBERTConfig fields for an index made by `jcolbert.Index` (no metadata.json): its model and nbits."""
    from jcolbert.index.storage import read_manifest

    manifest = read_manifest(root)
    out: dict[str, Any] = {"nbits": manifest.nbits, "dim": manifest.dim, "index_path": str(root)}
    model = manifest.model or {}
    if model:
        out.update(model_settings(model))
    return {k: v for k, v in out.items() if v is not None}


def model_settings(model: dict[str, Any]) -> dict[str, Any]:
    """ColBERTConfig fields that describe a jcolbert encoder (`ModelConfig.to_dict()`); a marker that is
    None (no marker token) is left out, since a ColBERTConfig cannot say "none"."""
    out = {
        "checkpoint": model.get("name_or_path"),
        "dim": model.get("dim"),
        "query_maxlen": model.get("query_maxlen"),
        "doc_maxlen": model.get("doc_maxlen"),
        "attend_to_mask_tokens": model.get("attend_to_mask_tokens"),
        "mask_punctuation": model.get("mask_punctuation"),
        "query_token_id": model.get("query_marker"),
        "doc_token_id": model.get("doc_marker"),
    }
    return {k: v for k, v in out.items() if v is not None}


def read_metadata(root: Path) -> dict[str, Any]:
    return read_json_object(root / METADATA) if (root / METADATA).is_file() else {}


def write_metadata(root: Path, config: Any, index: Any, jcolbert: dict[str, Any]) -> None:
    """(Re)write ``metadata.json`` for the jcolbert ``index`` in ``root``, keeping foreign keys."""
    stats = index.stats()
    data = read_metadata(root)
    data["config"] = config.export_json()
    data.update(
        num_chunks=int(stats["segments"]),
        num_partitions=int(stats["centroids"]),
        num_embeddings=int(stats["tokens"]),
        avg_doclen=(stats["tokens"] / stats["documents"]) if stats["documents"] else 0.0,
    )
    data["jcolbert"] = {**data.get("jcolbert", {}), **jcolbert}
    tmp = root / f".{METADATA}.tmp"
    tmp.write_text(json.dumps(data, indent=4) + "\n", encoding="utf-8")
    os.replace(tmp, root / METADATA)


def next_pid(root: Path, live_ids: list[str]) -> int:
    """The first pid never used in this index: colbert-ai gives added passages fresh pids after every
    pid ever indexed, removed ones included."""
    recorded = int(read_metadata(root).get("jcolbert", {}).get("next_pid", 0))
    numeric = [int(x) for x in live_ids if x.isdigit()]
    return max(recorded, max(numeric, default=-1) + 1)
