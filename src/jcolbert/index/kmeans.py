"""Clustering for the codec: spherical k-means (two-level for many centroids), Euclidean k-means for the
product-quantization codebooks, and `Assigner` (nearest centroid for many vectors, in int8).

Training is fast because it is hierarchical: with many centroids we first cluster into ~sqrt(C) coarse
groups, then split each group with its share of the centroids (spherical k-means at both levels), which
costs O(N * sqrt(C)) instead of O(N * C) per iteration. Assigning every vector to its centroid at build
time probes a few coarse groups for the same reason (`Assigner`).
"""

from __future__ import annotations

import math

import numpy as np

TWO_LEVEL_FROM = 2048  # centroid counts at or above this are trained with two-level k-means
_ASSIGN_BLOCK = 65536


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, d] -> (int8 [n, d], float32 scale [1]) with x ~= q * scale: one scale for all rows, so
    int8 dot products against different rows compare directly (argmax on the int32 GEMM output)."""
    scale = np.float32(max(float(np.abs(x).max()), 1e-12) / 127.0)
    return np.rint(x / scale).astype(np.int8), np.array([scale], dtype=np.float32)



def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _argmax_ip(x: np.ndarray, c: np.ndarray, block: int = _ASSIGN_BLOCK) -> np.ndarray:
    """Index of the max inner product centroid for each row of x (exact, blocked float GEMM)."""
    out = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), block):
        out[i:i + block] = (x[i:i + block] @ c.T).argmax(axis=1)
    return out


def _argmax_ip8(x8: np.ndarray, c: np.ndarray, block: int = 8192) -> np.ndarray:
    """Same on int8 operands (x8 quantized per row, c with one scale: both argmax-neutral)."""
    from jcolbert.index.kernels import int8_matmul

    c8 = quantize_rows(c)[0]
    out = np.empty(len(x8), dtype=np.int64)
    for i in range(0, len(x8), block):
        out[i:i + block] = int8_matmul(x8[i:i + block], c8.T).argmax(axis=1)
    return out


def spherical_kmeans(x: np.ndarray, k: int, *, niter: int, seed: int) -> np.ndarray:
    """Lloyd's iterations with unit centroids and inner-product assignment (our vectors are unit length).

    Plain numpy on purpose: the many small problems of two-level clustering run faster single-threaded than
    through an OpenMP library whose threads spin when the machine is busy. Empty clusters are re-seeded with
    random points."""
    from jcolbert.index.kernels import quantize_rows_int8

    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if k >= len(x):
        return _normalize(x[:k].copy())
    x8 = quantize_rows_int8(x)  # assignments in int8 (kernels.py): 5-8x faster GEMMs, same argmax to ~1e-3
    c = _normalize(x[rng.choice(len(x), k, replace=False)].copy())
    for _ in range(niter):
        a = _argmax_ip8(x8, c)
        order = np.argsort(a, kind="stable")
        counts = np.bincount(a, minlength=k)
        nonempty = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
        sums = np.add.reduceat(x[order], starts, axis=0)
        c[nonempty] = _normalize(sums)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            c[empty] = x[rng.choice(len(x), empty.size, replace=False)]
    return c


def kmeans(x: np.ndarray, k: int, *, niter: int = 8, seed: int = 123) -> np.ndarray:
    """k unit centroids of x (float32 [n, dim]); two-level when k is large (see module docstring)."""
    n = x.shape[0]
    if k >= n:
        return _normalize(np.ascontiguousarray(x[:k], dtype=np.float32))
    if k < TWO_LEVEL_FROM:
        return spherical_kmeans(x, k, niter=niter, seed=seed)
    k1 = 2 ** int(round(math.log2(math.sqrt(k))))
    rng = np.random.default_rng(seed)
    coarse_sample = x[rng.choice(n, min(n, 256 * k1), replace=False)]
    coarse = spherical_kmeans(coarse_sample, k1, niter=max(niter, 10), seed=seed)
    from jcolbert.index.kernels import quantize_rows_int8

    assign = _argmax_ip8(quantize_rows_int8(x), coarse)
    sizes = np.bincount(assign, minlength=k1)
    share = _shares(sizes, k)
    order = np.argsort(assign, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = [spherical_kmeans(x[order[bounds[g]:bounds[g + 1]]], int(share[g]), niter=niter, seed=seed + g)
             for g in range(k1) if share[g] > 0]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def l2_kmeans(x: np.ndarray, k: int, *, niter: int, seed: int) -> np.ndarray:
    """Plain (Euclidean) k-means, for the small residual pieces of product quantization."""
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if n <= k:
        return np.concatenate([x, np.zeros((k - n, d), np.float32)])
    c = x[rng.choice(n, k, replace=False)].copy()
    for _ in range(niter):
        a = _nearest_l2(x, c)
        counts = np.bincount(a, minlength=k)
        filled = counts > 0
        for j in range(d):  # per-dimension bincount: much faster than np.add.at on rows
            c[filled, j] = (np.bincount(a, weights=x[:, j], minlength=k)[filled] / counts[filled]).astype(np.float32)
    return c


def _nearest_l2(x: np.ndarray, c: np.ndarray, block: int = 1024) -> np.ndarray:
    """argmin_j |x - c_j|^2 = argmax_j (x.c_j - |c_j|^2 / 2), in blocks small enough for the L2 cache.

    The products are tiny ([1024, 4] x [4, 256] for PQ), so they go through numpy's own einsum loop, never
    through a threaded BLAS: on a busy machine, thousands of 2-thread BLAS calls of this size cost 30x more."""
    half = 0.5 * np.einsum("kd,kd->k", c, c)
    cT = np.ascontiguousarray(c.T)
    out = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), block):
        s = np.einsum("ij,jk->ik", x[i:i + block], cT)
        s -= half
        out[i:i + block] = s.argmax(axis=1)
    return out


def _shares(sizes: np.ndarray, k: int) -> np.ndarray:
    """Split k centroids over groups in proportion to their sizes (largest remainders), none above its size."""
    n = int(sizes.sum())
    exact = sizes / n * k
    share = np.minimum(np.floor(exact).astype(np.int64), sizes)
    rest = k - int(share.sum())
    order = np.argsort(-(exact - share), kind="stable")
    while rest > 0:
        room = np.flatnonzero(share[order] < sizes[order])
        if room.size == 0:
            break
        take = order[room[:rest]]
        share[take] += 1
        rest -= len(take)
    return share


class Assigner:
    """Nearest centroid (max inner product) for many vectors, in int8 (kernels.int8_matmul).

    Below 4096 centroids an exact blocked GEMM. Above, two levels: the centroids are grouped under ~sqrt(C)
    coarse centroids, and a vector is compared with the centroids of its `nprobe` (8) best groups only, which
    is what makes compressing a million vectors take seconds. On SciFact vectors this agrees with the exact
    float argmax for ~98% of vectors; where it differs, the chosen centroid is nearly as close."""

    def __init__(self, centroids: np.ndarray, nprobe: int | None = None, seed: int = 0):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        k = len(self.centroids)
        self.c8 = quantize_rows(self.centroids)[0]  # one scale for all: argmax on int32 dot products
        self.coarse8 = None
        if k >= 4096:
            k1 = 2 ** int(round(math.log2(math.sqrt(k))))
            coarse = spherical_kmeans(self.centroids, k1, niter=10, seed=seed)
            self.coarse8 = quantize_rows(coarse)[0]
            group = _argmax_ip(self.centroids, coarse)
            self.order = np.argsort(group, kind="stable")
            self.bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k1))])
            self.members = [np.ascontiguousarray(self.c8[self.order[a:b]])
                            for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]
            self.nprobe = min(k1, nprobe or 8)

    def assign(self, x: np.ndarray) -> np.ndarray:
        from jcolbert.index.kernels import int8_matmul, quantize_int8

        out = np.empty(len(x), dtype=np.int64)
        for i in range(0, len(x), _ASSIGN_BLOCK):
            x8, _ = quantize_int8(np.asarray(x[i:i + _ASSIGN_BLOCK], dtype=np.float32))  # row scale: argmax-neutral
            if self.coarse8 is None:
                for j in range(0, len(x8), 4096):
                    s = int8_matmul(x8[j:j + 4096], self.c8.T)
                    out[i + j:i + j + len(s)] = s.argmax(axis=1)
            else:
                out[i:i + len(x8)] = self._assign_block(x8, int8_matmul)
        return out

    def _assign_block(self, x8: np.ndarray, int8_matmul) -> np.ndarray:
        cs = int8_matmul(x8, self.coarse8.T)
        n = len(x8)
        rows_n = np.arange(n)
        probes = np.empty((n, self.nprobe), dtype=np.int64)
        low = np.iinfo(np.int32).min
        for p in range(self.nprobe):  # top-nprobe groups by repeated argmax (cheaper than argpartition here)
            probes[:, p] = cs.argmax(axis=1)
            cs[rows_n, probes[:, p]] = low
        best = np.full(n, low, dtype=np.int32)
        best_id = np.zeros(n, dtype=np.int64)
        flat_rows = np.repeat(rows_n, self.nprobe)
        flat_groups = probes.ravel()
        order = np.argsort(flat_groups, kind="stable")
        counts = np.bincount(flat_groups, minlength=len(self.members))
        start = 0
        for g, cnt in enumerate(counts):
            if cnt == 0:
                continue
            rows = flat_rows[order[start:start + cnt]]
            start += cnt
            if len(self.members[g]) == 0:
                continue
            s = int8_matmul(np.take(x8, rows, axis=0), self.members[g].T)
            j = s.argmax(axis=1)
            v = s[np.arange(len(rows)), j]
            better = v > best[rows]
            best[rows[better]] = v[better]
            best_id[rows[better]] = self.order[self.bounds[g] + j[better]]
        return best_id


