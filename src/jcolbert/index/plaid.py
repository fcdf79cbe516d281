"""Search over segments: PLAID (spec §3.3) and exhaustive MaxSim.

PLAID answers a query in four vectorised stages, each on fewer documents than the last:

1. centroid scores ``cs = centroids @ Q.T`` (one GEMM, [C, query tokens]), shared by every segment;
2. candidates: documents in the IVF cells of each query token's top-``ncells`` centroids;
3. pruned approximate score: per candidate, sum over query tokens of the max of ``cs`` over the document's
   codes whose centroid scores >= ``centroid_score_threshold`` for some query token; keep ``ndocs``;
4. unpruned approximate score (all codes) on those, keep ``ndocs // 4``; then exact MaxSim on their
   decompressed vectors, top k.

Everything works on numpy arrays of token rows (no per-document Python loop): a document's tokens are a
contiguous row range of its segment, so "max over a document" is one ``np.maximum.reduceat``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jcolbert.index.codec import Codec
from jcolbert.index.segment import Segment

NEG = np.float32(-1e9)
_EXHAUSTIVE_BLOCK = 1 << 16  # tokens scored per GEMM in exhaustive search


@dataclass(frozen=True)
class Knobs:
    ncells: int
    centroid_score_threshold: float
    ndocs: int

    @classmethod
    def for_k(cls, k: int) -> Knobs:
        """The reference's defaults by k (spec §3.3)."""
        if k <= 10:
            return cls(1, 0.5, 256)
        if k <= 100:
            return cls(2, 0.45, 1024)
        return cls(4, 0.4, max(4 * k, 4096))


@dataclass
class Result:
    """Top documents of one query across segments: segment index, position in segment, score; best first."""

    seg: np.ndarray
    pos: np.ndarray
    score: np.ndarray

    @classmethod
    def merge(cls, parts: list[tuple[int, np.ndarray, np.ndarray]], k: int) -> Result:
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        seg = np.concatenate([np.full(len(p), s, dtype=np.int64) for s, p, _ in parts])
        pos = np.concatenate([p for _, p, _ in parts]).astype(np.int64)
        score = np.concatenate([sc for _, _, sc in parts]).astype(np.float32)
        keep = score > NEG / 2
        seg, pos, score = seg[keep], pos[keep], score[keep]
        top = topk(score, k)
        return cls(seg[top], pos[top], score[top])


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(scores.size), -scores))


def maxsim_rows(V: np.ndarray, starts: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Sum over query tokens of the max over each document's rows: V [rows, dim] split at `starts`."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.float32)
    S = V @ Q.T  # [rows, nq]
    return np.maximum.reduceat(S, starts, axis=0).sum(axis=1, dtype=np.float32)


def score_docs(seg: Segment, docs: np.ndarray, Q: np.ndarray, codec: Codec | None) -> np.ndarray:
    """Exact MaxSim of documents of one segment (decompressed vectors for plaid segments)."""
    if len(docs) == 0:
        return np.zeros(0, dtype=np.float32)
    V, starts = seg.vectors_of(docs, codec)
    return maxsim_rows(V, starts, Q)


# ----------------------------------------------------------------------------------------------- exhaustive


def doc_blocks(doclens: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive document ranges of about `budget` tokens each (at least one document per range)."""
    cum = np.cumsum(doclens, dtype=np.int64)
    out, lo, base = [], 0, 0
    while lo < len(cum):
        hi = max(int(np.searchsorted(cum, base + budget, side="right")), lo + 1)
        out.append((lo, hi))
        base, lo = int(cum[hi - 1]), hi
    return out


def exhaustive(Qs: np.ndarray, segments: list[Segment], codec: Codec | None, allowed: list[np.ndarray | None],
               k: int) -> list[Result]:
    """MaxSim of every live (and allowed) document for each query of Qs [n, nq, dim].

    Documents are visited in blocks of about _EXHAUSTIVE_BLOCK tokens, each decompressed once and scored
    against all queries (in groups, so the score matrix stays small)."""
    n, nq, _ = Qs.shape
    group = max(1, 512 // nq)
    parts: list[list] = [[] for _ in range(n)]
    for s, seg in enumerate(segments):
        mask = seg.live if allowed[s] is None else (seg.live & allowed[s])
        docs = np.flatnonzero(mask)
        if len(docs) == 0:
            continue
        scores = np.empty((n, len(docs)), dtype=np.float32)
        for lo, hi in doc_blocks(seg.doclens[docs], _EXHAUSTIVE_BLOCK):
            V, starts = seg.vectors_of(docs[lo:hi], codec)
            for g in range(0, n, group):
                Qg = Qs[g:g + group]
                S = np.maximum.reduceat(V @ Qg.reshape(-1, Qg.shape[-1]).T, starts, axis=0)  # [docs, g*nq]
                scores[g:g + group, lo:hi] = S.reshape(len(starts), len(Qg), nq).sum(axis=2, dtype=np.float32).T
        for q in range(n):
            top = topk(scores[q], k)
            parts[q].append((s, docs[top], scores[q, top]))
    return [Result.merge(p, k) for p in parts]


def score_subset(Q: np.ndarray, segments: list[Segment], codec: Codec | None, docs_per_seg: list[np.ndarray],
                 k: int) -> Result:
    """Exact MaxSim of given documents (per segment positions)."""
    parts = []
    for s, seg in enumerate(segments):
        docs = docs_per_seg[s]
        if len(docs):
            parts.append((s, docs, score_docs(seg, docs, Q, codec)))
    return Result.merge(parts, k)


# ----------------------------------------------------------------------------------------------- PLAID


def centroid_scores(codec: Codec, Q: np.ndarray) -> np.ndarray:
    """[C, nq] float32, one GEMM."""
    return codec.centroids @ Q.T


def _ivf_docs(seg: Segment, cells: np.ndarray) -> np.ndarray:
    """Concatenated IVF lists of `cells` (document positions, with repeats)."""
    lo, hi = seg.ivf_offsets[cells], seg.ivf_offsets[cells + 1]
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(lo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return seg.ivf_docs[np.arange(total, dtype=np.int64) + shift]


def _approx(seg: Segment, docs: np.ndarray, cs: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Sum over query tokens of max_{doc codes (kept only, if `keep`)} cs[code]; NEG when nothing kept."""
    rows, starts = seg.token_rows(docs)
    codes = np.asarray(seg.codes[rows])
    if keep is None:
        return np.maximum.reduceat(cs[codes], starts, axis=0).sum(axis=1, dtype=np.float32)
    k_mask = keep[codes]
    doc_of = np.repeat(np.arange(len(docs)), seg.doclens[docs])
    kept_doc = doc_of[k_mask]
    out = np.full(len(docs), NEG, dtype=np.float32)
    if kept_doc.size == 0:
        return out
    first = np.flatnonzero(np.r_[True, kept_doc[1:] != kept_doc[:-1]])
    out[kept_doc[first]] = np.maximum.reduceat(cs[codes[k_mask]], first, axis=0).sum(axis=1, dtype=np.float32)
    return out


def plaid(Q: np.ndarray, cs: np.ndarray, segments: list[Segment], codec: Codec, allowed: list[np.ndarray | None],
          k: int, knobs: Knobs) -> Result:
    """The PLAID pipeline for one query Q [nq, dim] with its centroid scores cs [C, nq]."""
    ncells = max(1, min(knobs.ncells, cs.shape[0]))
    if ncells == 1:
        cells = np.unique(cs.argmax(axis=0))
    else:
        cells = np.unique(np.argpartition(-cs, ncells - 1, axis=0)[:ncells].ravel())
    keep = cs.max(axis=1) >= knobs.centroid_score_threshold
    keep[cells] = True  # the probed cells always count, so every candidate has a pruned score
    ndocs = max(knobs.ndocs, k)
    # stages 2-3 per segment, then a global cut to ndocs
    stage: list[tuple[int, np.ndarray, np.ndarray]] = []
    for s, seg in enumerate(segments):
        mask = np.zeros(seg.num_docs, dtype=bool)
        mask[_ivf_docs(seg, cells)] = True
        mask &= seg.live
        if allowed[s] is not None:
            mask &= allowed[s]
        cand = np.flatnonzero(mask)
        if len(cand):
            sc = _approx(seg, cand, cs, keep)
            stage.append((s, cand, sc))
    first = Result.merge(stage, ndocs)
    # stage 4: unpruned approximate scores, keep ndocs // 4, then exact
    second = []
    for s, seg in enumerate(segments):
        docs = np.sort(first.pos[first.seg == s])
        if len(docs):
            second.append((s, docs, _approx(seg, docs, cs, None)))
    survivors = Result.merge(second, max(ndocs // 4, k))
    final = []
    for s, seg in enumerate(segments):
        docs = np.sort(survivors.pos[survivors.seg == s])
        if len(docs):
            final.append((s, docs, score_docs(seg, docs, Q, codec)))
    return Result.merge(final, k)
