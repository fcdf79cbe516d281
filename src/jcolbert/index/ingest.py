"""Getting documents in: what `Index.add` / `add_embeddings` accept, checked before anything is written.

One set of rules for every caller (Python, the CLI's file readers in documents.py, HTTP bodies):

* ids: non-empty strings without control characters (a newline or tab in an id would break TREC run files
  and line-based id lists): `check_id`;
* metadata: a JSON object (dict with string keys) whose values JSON can represent exactly: no NaN or
  Infinity (they would be stored as invalid JSON and break every later metadata filter), nothing that is
  not JSON-serialisable: `check_metadata`, which callers reading files call with their file and line;
* texts: non-empty strings; vectors: float [tokens, dim] arrays without NaN (`as_matrix`).

`batches` turns any iterable of documents into parsed batches lazily, so a generator of millions of
documents is never held in memory.
"""

from __future__ import annotations

import itertools
import json
import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jcolbert.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_BAD_ID_CHARS = ("Cc", "Zl", "Zp")  # control characters (newline, tab, NUL, ...), line/paragraph separators


@dataclass
class Batch:
    """Parsed documents: ids (None = assign one), texts (None for vectors without text), metadata."""

    start: int  # position of the first one in the caller's input (for error messages)
    ids: list[str | None]
    texts: list[str | None]
    metas: list[dict | None]

    def __len__(self) -> int:
        return len(self.ids)


def batches(documents: Iterable[Any], size: int, start: int = 0) -> Iterator[Batch]:
    """Parse `documents` (strings or {"id", "text", "metadata"} dicts) `size` at a time, lazily; `start`:
    the position of the first one in the caller's input (error messages count from there)."""
    it = iter(documents)
    while chunk := list(itertools.islice(it, size)):
        ids, texts, metas = parse_documents(chunk, start)
        yield Batch(start, ids, texts, metas)
        start += len(chunk)


def check_id(doc_id: Any, where: str) -> str:
    """A valid document id (non-empty string, no control characters) or InputError naming `where`."""
    if not isinstance(doc_id, str) or not doc_id:
        raise InputError(f"{where}: id must be a non-empty string, got {doc_id!r}")
    if not doc_id.isprintable():
        bad = next((c for c in doc_id if unicodedata.category(c) in _BAD_ID_CHARS), None)
        if bad is not None:
            raise InputError(f"{where}: id {doc_id!r} contains the control character {bad!r}; ids may not contain "
                             "newlines, tabs or other control characters")
    return doc_id


def check_metadata(meta: Any, where: str) -> dict | None:
    """Metadata as it will be stored: None or a dict with string keys holding exactly-representable JSON
    values (no NaN / Infinity, nothing json cannot serialise); InputError naming `where` and the key."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise InputError(f"{where}: metadata must be a dict (a JSON object), got {type(meta).__name__}")
    for key, value in meta.items():
        if not isinstance(key, str):
            raise InputError(f"{where}: metadata key {key!r} must be a string")
        _check_value(value, f"{where}: metadata {key!r}", 0)
    return meta


def _check_value(value: Any, where: str, depth: int) -> None:
    if depth > 64:
        raise InputError(f"{where} is nested more than 64 levels deep")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where} is {value}: JSON has no NaN or Infinity (store null, or a string)")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"{where}: nested key {k!r} must be a string")
            _check_value(v, f"{where}.{k}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, f"{where}[{i}]", depth + 1)
        return
    raise InputError(f"{where} is a {type(value).__name__}, which JSON cannot store (use a string, number, bool, "
                     "null, list or object)")


def metadata_json(meta: dict | None) -> str | None:
    """The stored form of checked metadata."""
    return None if meta is None else json.dumps(meta, ensure_ascii=False, sort_keys=True, allow_nan=False)


def names(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_shape(v: Any, dim: int, where: str) -> int:
    import numpy as np

    shape = getattr(v, "shape", None)
    if shape is None:
        shape = np.shape(v)
    if len(shape) != 2 or shape[1] != dim:
        raise InputError(f"{where} must be a [tokens, {dim}] array, got shape {list(shape)}")
    if shape[0] == 0:
        raise InputError(f"{where} is empty (a document needs at least one token vector)")
    return int(shape[0])


def as_matrix(v: Any, dim: int, where: str) -> np.ndarray:
    """A validated float32 [tokens, dim] array."""
    import numpy as np

    a = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
    check_shape(a, dim, where)
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"{where} must hold floats, got {a.dtype}")
    a = np.asarray(a, dtype=np.float32)
    # NaN/inf propagate into row sums: one pass over the data instead of an elementwise isfinite
    if not np.isfinite(a.sum(axis=1)).all() and not np.isfinite(a).all():
        raise InputError(f"{where} contains NaN or infinite values")
    return a


def parse_documents(documents: Iterable[Any], start: int = 0) -> tuple[list[str | None], list[str], list[dict | None]]:
    ids: list[str | None] = []
    texts: list[str] = []
    metas: list[dict | None] = []
    for i, doc in enumerate(documents, start):
        if isinstance(doc, str):
            doc_id, text, meta = None, doc, None
        elif isinstance(doc, dict):
            unknown = set(doc) - {"id", "text", "metadata"}
            if unknown:
                raise InputError(f"document {i}: unknown field(s) {sorted(unknown)}; expected id, text, metadata")
            doc_id, text, meta = doc.get("id"), doc.get("text"), doc.get("metadata")
            if doc_id is not None:
                check_id(doc_id, f"document {i}")
            check_metadata(meta, f"document {i}")
        else:
            raise InputError(f"document {i} must be a string or a dict with id/text/metadata, got {type(doc).__name__}")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"document {i}{f' (id {doc_id!r})' if doc_id else ''} has empty text")
        ids.append(doc_id)
        texts.append(text)
        metas.append(meta)
    return ids, texts, metas
