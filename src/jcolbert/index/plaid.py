"""Search over segments: PLAID (spec §3.3) and exhaustive MaxSim.

PLAID answers a query in stages, each on fewer documents than the last:

1. centroid scores ``cs = centroids @ Q.T`` (one GEMM, [C, query tokens]), shared by every segment;
2. candidates: documents in the IVF cells of each query token's top-``ncells`` centroids;
3. pruned approximate score: per candidate, sum over query tokens of the max of ``cs`` over the document's
   codes whose centroid scores >= ``centroid_score_threshold`` for some query token; only those few percent
   of the centroids are visited, through their IVF lists; keep ``ndocs``;
4. unpruned approximate score (all codes) on those, keep ``ndocs // 4`` (``ndocs // 2`` with an exact tier);
5. exact MaxSim on their decompressed vectors, top k (with an exact tier, rerank.py: on their stored
   rerank vectors, reading only their rows).

How it stays fast in numpy (no per-document Python loop, no compiled extension):

* stages 3-4 only rank documents, so they work on ``cs`` quantized to int8 (error 0.004 per entry). The
  codes of the documents are laid out as a padded [token position, document] matrix, padding and pruned
  codes pointing at a sentinel row of -128; one ``np.take`` of 32-byte rows gives [position, doc, query
  token] and the per-document max runs over the leading axis, i.e. over long contiguous vectors;
* the exact stage scores the candidates' tokens back to back ([tokens, query tokens]) and takes the
  per-document max with a ``reduceat``; decompression is a table lookup (codec.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from jcolbert.index import kernels
from jcolbert.index.codec import Codec
from jcolbert.index.segment import Segment

NEG = np.float32(-1e9)
SENTINEL = -128  # int8 score of padding / pruned codes: below any real score (>= -127)
_EXHAUSTIVE_BLOCK = 1 << 14  # tokens decompressed and scored per step of exhaustive search
_QUERY_GROUP = 16  # queries scored together in exhaustive search


@dataclass(frozen=True)
class Knobs:
    ncells: int
    centroid_score_threshold: float
    ndocs: int

    @classmethod
    def for_k(cls, k: int, exact_tier: bool = False) -> Knobs:
        """The reference's defaults by k (spec §3.3). With an exact tier (rerank.py) the final ranking is
        (near-)exact, so what is left of the gap to exact MaxSim is candidate generation: k <= 10 probes two
        cells per query token, as k <= 100 does (recall@10 against exact MaxSim on 400 SciFact documents with
        minilm: 0.97 with one cell, 0.997 with two; BENCHMARKS.md, "Exact tier")."""
        if k <= 10:
            return cls(2, 0.45, 256) if exact_tier else cls(1, 0.5, 256)
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
        score = np.concatenate([sc for _, _, sc in parts])
        keep = score > NEG / 2
        seg, pos, score = seg[keep], pos[keep], score[keep]
        top = topk(score, k)
        return cls(seg[top], pos[top], score[top].astype(np.float32))

    def of_segment(self, s: int) -> np.ndarray:
        return np.sort(self.pos[self.seg == s])


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(scores.size), -scores))


# ----------------------------------------------------------------------------------------------- exact MaxSim


def padded_rows(seg: Segment, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token rows of documents as a [position, doc] matrix (short documents padded with row 0) + pad mask."""
    lens = seg.doclens[docs]
    pos = np.arange(int(lens.max()), dtype=np.int64)[:, None]
    rows = seg.offsets[docs][None, :] + pos
    pad = pos >= lens[None, :]
    rows[pad] = 0
    return rows, pad


def score_docs(seg: Segment, docs: np.ndarray, codec: Codec | None, Qs: np.ndarray,
               prep: kernels.Prepared | None) -> np.ndarray:
    """MaxSim of documents of one segment for g queries Qs [g, nq, dim] -> float32 [g, docs].

    Exact segments: float32 vectors as stored. Compressed segments with an exact tier: its rerank vectors
    (rerank.py). Other compressed segments: q.(c + r) / ||c + r|| in int8 (kernels.py)."""
    g, nq, dim = Qs.shape
    if len(docs) == 0:
        return np.zeros((g, 0), dtype=np.float32)
    if seg.kind == "exact" or seg.rerank is not None:
        rows, starts = seg.token_rows(docs)
        Q = Qs.reshape(-1, dim)
        S = Q @ np.take(seg.vectors, rows, axis=0).T if seg.rerank is None else seg.rerank.scores(Q, rows)
        M = np.maximum.reduceat(S, starts, axis=1)  # [g*nq, docs]
        return M.reshape(g, nq, -1).sum(axis=1, dtype=np.float32)
    # the documents' tokens back to back (no padding to the longest: 1.3-1.6x faster than a padded layout
    # for SciFact's lengths), one row of scores per token, the per-document max a reduceat over rows
    rows, starts = seg.token_rows(docs)
    codes = np.take(seg.codes, rows).astype(np.intp)
    R8 = codec.decode_residuals_int8(np.take(seg.residuals, rows, axis=0))
    inv = seg.inverse_norms(rows, codes, R8, codec)
    S = kernels.padded_scores(prep, codes[:, None], R8, inv)[:, 0]  # [tokens, g*nq]
    best = np.maximum.reduceat(S, starts, axis=0)  # [docs, g*nq]
    return best.reshape(len(docs), g, nq).sum(axis=2, dtype=np.float32).T


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

    Documents are visited in blocks of about _EXHAUSTIVE_BLOCK tokens and scored against groups of queries,
    so memory stays bounded however large the collection."""
    n = Qs.shape[0]
    group = _QUERY_GROUP
    preps = [kernels.prepare(codec, Qs[g:g + group]) if codec is not None else None for g in range(0, n, group)]
    parts: list[list] = [[] for _ in range(n)]
    for s, seg in enumerate(segments):
        mask = seg.live if allowed[s] is None else (seg.live & allowed[s])
        docs = np.flatnonzero(mask)
        if len(docs) == 0:
            continue
        scores = np.empty((n, len(docs)), dtype=np.float32)
        for lo, hi in doc_blocks(seg.doclens[docs], _EXHAUSTIVE_BLOCK):
            for gi, g in enumerate(range(0, n, group)):
                scores[g:g + group, lo:hi] = score_docs(seg, docs[lo:hi], codec, Qs[g:g + group], preps[gi])
        for q in range(n):
            top = topk(scores[q], k)
            parts[q].append((s, docs[top], scores[q, top]))
    return [Result.merge(p, k) for p in parts]


def score_subset(Q: np.ndarray, segments: list[Segment], codec: Codec | None, docs_per_seg: list[np.ndarray],
                 k: int) -> Result:
    """Exact MaxSim of given documents (per-segment positions) for one query Q [nq, dim]."""
    prep = kernels.prepare(codec, Q[None]) if codec is not None else None
    parts = [(s, docs, score_docs(seg, docs, codec, Q[None], prep)[0])
             for s, (seg, docs) in enumerate(zip(segments, docs_per_seg, strict=True)) if len(docs)]
    return Result.merge(parts, k)


# ----------------------------------------------------------------------------------------------- PLAID


def _ivf_docs(seg: Segment, cells: np.ndarray) -> np.ndarray:
    """Concatenated IVF lists of `cells` (document positions, with repeats)."""
    lo, hi = seg.ivf_offsets[cells], seg.ivf_offsets[cells + 1]
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(lo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return np.take(seg.ivf_docs, np.arange(total, dtype=np.int64) + shift)


def _int8_table(cs: np.ndarray) -> np.ndarray:
    """cs [C, nq] as int8 (x127) with a sentinel row C appended, each row one opaque item for np.take."""
    C, nq = cs.shape
    table = np.empty((C + 1, nq), dtype=np.int8)
    np.rint(np.clip(cs * 127.0, -127, 127), out=table[:C], casting="unsafe")
    table[C] = SENTINEL
    return table.view(np.dtype((np.void, nq))).ravel()


def _approx(seg: Segment, docs: np.ndarray, table: np.ndarray, nq: int) -> np.ndarray:
    """Sum over query tokens of the max over the document's codes of the int8 table: int32 [docs]."""
    rows, pad = padded_rows(seg, docs)
    codes = np.take(seg.codes, rows).astype(np.intp)
    codes[pad] = len(table) - 1  # the sentinel row
    G = np.take(table, codes).view(np.int8).reshape(rows.shape[0], len(docs), nq)
    return G.max(axis=0).sum(axis=1, dtype=np.int32)


def _approx_kept(seg: Segment, cand: np.ndarray, keep_idx: np.ndarray, table: np.ndarray,
                 nq: int) -> tuple[np.ndarray, np.ndarray]:
    """The pruned score of every candidate, walked from the IVF side: the lists of the kept centroids (a few
    percent of them) give the (document, kept centroid) pairs directly, ~6x fewer than the candidates' tokens.
    cand: bool mask over the segment's documents. Returns (documents with a kept centroid, int32 scores)."""
    lo = seg.ivf_offsets[keep_idx]
    lens = seg.ivf_offsets[keep_idx + 1] - lo
    pos = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(lo - (np.cumsum(lens) - lens), lens)
    docs = np.take(seg.ivf_docs, pos)
    cents = np.repeat(keep_idx, lens)
    inside = np.take(cand, docs)
    docs, cents = docs[inside], cents[inside]
    order = np.argsort(docs, kind="stable")  # radix sort for uint16 positions
    docs, cents = docs[order], cents[order]
    first = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
    G = np.take(table, cents).view(np.int8).reshape(len(cents), nq)
    return docs[first].astype(np.int64), np.maximum.reduceat(G, first, axis=0).sum(axis=1, dtype=np.int32)


def plaid(prep: kernels.Prepared, segments: list[Segment], codec: Codec, allowed: list[np.ndarray | None],
          k: int, knobs: Knobs, timings: dict[str, float] | None = None) -> Result:
    """The PLAID pipeline for one prepared query (kernels.prepare: its centroid scores are computed there).

    timings: if given, seconds per stage are added to it (candidates, pruned, unpruned, exact)."""
    clock = _Clock(timings)
    nq = prep.nq
    cs = prep.cs[:-1]  # without the padding row
    ncells = max(1, min(knobs.ncells, cs.shape[0]))
    csT = np.ascontiguousarray(cs.T)  # [nq, C]: per-token reductions run along contiguous rows
    if ncells == 1:
        cells = np.unique(csT.argmax(axis=1))
    else:
        cells = np.unique(np.argpartition(-csT, ncells - 1, axis=1)[:, :ncells].ravel())
    keep = csT.max(axis=0) >= knobs.centroid_score_threshold
    keep[cells] = True  # the probed cells always count, so every candidate has a pruned score
    ndocs = max(knobs.ndocs, k)
    table = _int8_table(cs)
    cands = []
    for s, seg in enumerate(segments):
        mask = np.zeros(seg.num_docs, dtype=bool)
        mask[_ivf_docs(seg, cells)] = True
        mask &= seg.live
        if allowed[s] is not None:
            mask &= allowed[s]
        cands.append(mask)
    clock("candidates")
    keep_idx = np.flatnonzero(keep)
    first = Result.merge([(s, *_approx_kept(seg, c, keep_idx, table, nq))
                          for s, (seg, c) in enumerate(zip(segments, cands, strict=True)) if c.any()], ndocs)
    clock("pruned")
    second = [(s, docs, _approx(seg, docs, table, nq)) for s, seg in enumerate(segments)
              if len(docs := first.of_segment(s))]
    tier = any(seg.rerank is not None for seg in segments)
    survivors = Result.merge(second, max(ndocs // (2 if tier else 4), k))
    clock("unpruned")
    Q = prep.Q[None]
    final = [(s, docs, score_docs(seg, docs, codec, Q, prep)[0]) for s, seg in enumerate(segments)
             if len(docs := survivors.of_segment(s))]
    out = Result.merge(final, k)
    clock("exact")
    if timings is not None:
        timings["candidates_n"] = timings.get("candidates_n", 0) + sum(int(c.sum()) for c in cands)
    return out


class _Clock:
    """Adds the seconds since the previous call to timings[stage] (does nothing without a dict)."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings = timings
        self.t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now
