"""Answering a search on one snapshot: knob checks, filters, PLAID or exhaustive per query, hits.

Free functions over a snapshot's segments and the document store, so `Index` keeps the life cycle (open,
write, commit) and this module keeps the read path. Filters become per-segment document masks applied
before top-k, so a filtered search still returns k hits when k documents pass it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jcolbert.errors import InputError
from jcolbert.index import filters, kernels, plaid
from jcolbert.index.codec import Codec
from jcolbert.index.docstore import DocStore
from jcolbert.index.segment import Segment

KNOBS = ("ncells", "centroid_score_threshold", "ndocs", "mode")
_PREPARE_GROUP = 16  # queries whose centroid scores share one GEMM


@dataclass(slots=True)
class Hit:
    """One search result. `text` / `metadata` are filled only when asked for (return_text / return_metadata)."""

    id: str
    score: float
    rank: int
    text: str | None = None
    metadata: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the CLI's --json, HTTP responses): rank, id, score, plus text / metadata when they
        were asked for (a document stored without metadata gives {} when metadata was asked for)."""
        out: dict[str, Any] = {"rank": int(self.rank), "id": self.id, "score": float(self.score)}
        if self.text is not None:
            out["text"] = self.text
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def check_k(k: Any) -> None:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k <= 0:
        raise InputError(f"k must be a positive integer, got {k!r}")


def check_knobs(knobs: dict[str, Any]) -> str:
    """Reject unknown options; pop and return the mode ("auto", "plaid" or "exact")."""
    for name in knobs:
        if name not in KNOBS:
            raise InputError(f"unknown search option {name!r}; known: {', '.join(KNOBS)}")
    mode = knobs.pop("mode", "auto")
    if mode not in ("auto", "plaid", "exact"):
        raise InputError(f"mode must be 'auto', 'plaid' or 'exact', got {mode!r}")
    for name in ("ncells", "ndocs"):
        value = knobs.get(name)
        if value is not None and (not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1):
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    threshold = knobs.get("centroid_score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number)
                                  or not math.isfinite(float(threshold))):
        raise InputError(f"centroid_score_threshold must be a finite number, got {threshold!r}")
    return mode


def warm(segments: list[Segment], codec: Codec | None) -> None:
    """Fill what the first search would otherwise pay for: the codec's int8 and lookup tables (codec.py),
    each compressed segment's inverse norms (segment.py; not needed with an exact tier), torch's int8 GEMM
    import and kernel set-up (one prepared dummy query)."""
    if codec is None:
        return
    Q = np.zeros((1, 1, codec.dim), dtype=np.float32)
    Q[0, 0, 0] = 1.0
    kernels.prepare(codec, Q)
    codec.decode_residuals_int8(np.zeros((1, codec.residual_bytes), dtype=np.uint8))
    for seg in segments:
        if seg.kind == "plaid" and seg.rerank is None and seg.num_tokens:
            seg.inverse_norms(np.zeros(0, np.int64), np.zeros(0, np.intp), np.zeros((0, codec.dim), np.int8), codec)


def trim_padding(Q: np.ndarray) -> np.ndarray:
    """Q [n, query_tokens, dim] without the trailing token rows that are zero in every query (a query
    encoder without [MASK] augmentation pads with them). A zero row adds exactly 0 to every MaxSim, but
    PLAID would still probe a cell for it (the argmax of a zero column) and pay for it in every stage."""
    nonzero = np.flatnonzero(np.abs(Q).max(axis=(0, 2)) > 0)
    last = int(nonzero[-1]) + 1 if len(nonzero) else 1
    return Q if last == Q.shape[1] else Q[:, :last]


def run(segments: list[Segment], codec: Codec | None, Q: np.ndarray, k: int, allowed: list[np.ndarray] | None,
        mode: str, knobs: dict[str, Any]) -> list[plaid.Result]:
    """Top-k of each query of Q [n, query_tokens, dim]: exhaustive without a codec or in exact mode, else PLAID."""
    if not segments:
        return [plaid.Result.merge([], k) for _ in Q]
    if codec is None or mode == "exact":
        return plaid.exhaustive(Q, segments, codec, _per_segment(segments, allowed), k)
    if allowed is None:
        n_allowed = sum(s.num_live for s in segments)
    else:
        n_allowed = sum(int((a & s.live).sum()) for a, s in zip(allowed, segments, strict=True))
    lengths = query_lengths(Q)
    results = []
    for g in range(0, len(Q), _PREPARE_GROUP):
        preps = kernels.prepare_each(codec, Q[g:g + _PREPARE_GROUP], lengths[g:g + _PREPARE_GROUP])
        results += [_plaid_one(segments, codec, Q[g + j, :len(p.Q)], p, k, allowed, n_allowed, knobs)
                    for j, p in enumerate(preps)]
    return results


def query_lengths(Q: np.ndarray) -> np.ndarray:
    """Per query of Q [n, query_tokens, dim]: its rows up to its last nonzero one (at least 1). Queries of one
    call are padded to the longest; PLAID would pay for a shorter query's zero rows in every stage."""
    nonzero = np.abs(Q).max(axis=2) > 0  # [n, query_tokens]
    last = Q.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 1).astype(np.int64)


def _per_segment(segments: list[Segment], allowed: list[np.ndarray] | None) -> list[np.ndarray | None]:
    return allowed if allowed is not None else [None] * len(segments)


def _plaid_one(segments: list[Segment], codec: Codec, Q: np.ndarray, prep: kernels.Prepared, k: int,
               allowed: list[np.ndarray] | None, n_allowed: int, knobs: dict[str, Any]) -> plaid.Result:
    """PLAID for one query, with the fallbacks that keep results exact in count. n_allowed: live documents
    the filter admits (all live documents without one), the same for every query of a call."""
    allowed_per_seg = _per_segment(segments, allowed)
    k_eff = min(k, n_allowed)
    if k_eff == 0:
        return plaid.Result.merge([], k)
    defaults = plaid.Knobs.for_k(k, exact_tier=any(s.rerank is not None for s in segments))
    kn = plaid.Knobs(int(knobs.get("ncells", defaults.ncells)),
                     float(knobs.get("centroid_score_threshold", defaults.centroid_score_threshold)),
                     int(knobs.get("ndocs", defaults.ndocs)))
    if allowed is not None and n_allowed <= kn.ndocs:  # a narrow filter: score the allowed documents directly
        docs = [np.flatnonzero(a & s.live) for a, s in zip(allowed, segments, strict=True)]
        return plaid.score_subset(Q, segments, codec, docs, k_eff)
    res = plaid.plaid(prep, segments, codec, allowed_per_seg, k_eff, kn)
    if len(res.pos) < k_eff:  # candidate generation found too few documents: fall back to exhaustive search
        return plaid.exhaustive(Q[None], segments, codec, allowed_per_seg, k_eff)[0]
    return res


def allowed_masks(segments: list[Segment], docs: DocStore, filter: Any) -> list[np.ndarray] | None:
    """Per-segment masks of the documents a filter admits (None: no filter). filter: see filters.coerce."""
    flt = filters.coerce(filter)
    if flt is None:
        return None
    nums = docs.match_predicate(flt) if callable(flt) else docs.match(flt)
    masks = []
    for seg in segments:
        mask = np.zeros(seg.num_docs, dtype=bool)
        _, pos = seg.positions_of(nums)
        mask[pos] = True
        masks.append(mask)
    return masks


def to_hits(segments: list[Segment], docs: DocStore, results: list[plaid.Result], text: bool,
            metadata: bool) -> list[list[Hit]]:
    """Results (segment, position, score) -> Hits with ids (and text/metadata) from the document store.

    segments must be those the results were computed on (the same snapshot)."""
    nums_per = [np.array([segments[s].doc_nums[p] for s, p in zip(r.seg, r.pos, strict=True)], dtype=np.int64)
                for r in results]
    all_nums = np.unique(np.concatenate(nums_per)) if nums_per else np.zeros(0, np.int64)
    fields = "id" + (",text" if text else "") + (",metadata" if metadata else "")
    rows = docs.rows(all_nums, fields) if all_nums.size else {}
    out = []
    for r, nums in zip(results, nums_per, strict=True):
        hits = []
        for rank, (num, score) in enumerate(zip(nums, r.score, strict=True), 1):
            row = rows[int(num)]
            hits.append(Hit(row[0], float(score), rank, row[1] if text else None,
                            (row[-1] or {}) if metadata else None))
        out.append(hits)
    return out
