"""An on-disk cache of a collection's document vectors, so a second evaluation skips encoding.

Why: encoding is by far the slowest stage on a CPU (SciFact with a small model: 10+ minutes), while the
things one iterates on -- PLAID knobs, nbits, rerank depth, metrics -- need the same vectors again. The
cache is keyed by everything that changes the vectors (model config, document length, long-document rule,
the exact list of document ids and a hash of their texts); a key mismatch means "encode again", never
"reuse stale vectors". Format: raw ``.npy`` arrays and a JSON key (no pickles), like the index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def cache_key(model_config: dict[str, Any] | None, maxlen: int | None, long_documents: str,
              window_overlap: int | None, ids: Sequence[str], texts: Sequence[str]) -> dict[str, Any]:  # fmt: skip
    digest = hashlib.sha256()
    for doc_id, text in zip(ids, texts, strict=True):
        digest.update(doc_id.encode("utf-8") + b"\x00" + text.encode("utf-8") + b"\x01")
    return {
        "format": 1,
        "model_config": model_config,
        "doc_maxlen": maxlen,
        "long_documents": long_documents,
        "window_overlap": window_overlap,
        "documents": len(ids),
        "content_sha256": digest.hexdigest(),
    }


def _stem(folder: Path, key: dict[str, Any]) -> Path:
    label = key["doc_maxlen"] if key["doc_maxlen"] is not None else "default"
    return folder / f"docvectors-{label}-{key['content_sha256'][:12]}"


def load(folder: str | Path, key: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, Any]] | None:
    """The cached vectors (one float32 array per document) and encoding info, or None on any mismatch."""
    stem = _stem(Path(folder), key)
    try:
        meta = json.loads((stem.with_suffix(".json")).read_text(encoding="utf-8"))
        if meta.get("key") != json.loads(json.dumps(key)):
            return None
        flat = np.load(stem.with_suffix(".vectors.npy"), mmap_mode="r")
        lens = np.load(stem.with_suffix(".doclens.npy"))
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if len(lens) != key["documents"] or int(lens.sum()) != flat.shape[0]:
        return None
    offsets = np.concatenate([[0], np.cumsum(lens)])
    return [np.asarray(flat[offsets[i] : offsets[i + 1]]) for i in range(len(lens))], meta.get("info", {})


def save(folder: str | Path, key: dict[str, Any], vectors: Sequence[Any], info: dict[str, Any]) -> Path:
    """Write vectors (+ doclens + key) atomically: temp files first, the JSON key last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(folder, key)
    arrays = [np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32) for v in vectors]
    lens = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    dim = arrays[0].shape[1] if arrays else 0
    tmp_vec = stem.with_suffix(".vectors.tmp.npy")
    mm = np.lib.format.open_memmap(tmp_vec, mode="w+", dtype=np.float32, shape=(int(lens.sum()), dim))
    pos = 0
    for a in arrays:
        mm[pos : pos + a.shape[0]] = a
        pos += a.shape[0]
    mm.flush()
    del mm
    tmp_lens = stem.with_suffix(".doclens.tmp.npy")
    np.save(tmp_lens, lens)
    os.replace(tmp_vec, stem.with_suffix(".vectors.npy"))
    os.replace(tmp_lens, stem.with_suffix(".doclens.npy"))
    tmp_meta = stem.with_suffix(".tmp.json")
    tmp_meta.write_text(json.dumps({"key": key, "info": info}, indent=1), encoding="utf-8")
    os.replace(tmp_meta, stem.with_suffix(".json"))
    return stem
