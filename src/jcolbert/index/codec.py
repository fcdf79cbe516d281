"""Residual compression of token vectors (ColBERTv2, spec §3.2): centroid code + nbits per dimension.

A vector x is stored as the id of its nearest centroid c (uint16 while there are <= 65,536 centroids) and
its residual x - c in dim * nbits / 8 bytes. Two residual quantizers, same bytes, same decoding:

* "pq" (the default): product quantization. Each residual byte covers 8/nbits dimensions and indexes a
  256-entry codebook learned by k-means on held-out residuals. On SciFact (MiniLM benchmark checkpoint,
  nbits=2) exhaustive search over the decoded vectors reaches recall@10 0.84 against exact MaxSim;
* "quantile": ColBERTv2's scheme, 2^nbits buckets per dimension with cutoffs at residual quantiles, here
  per dimension and decoded to each bucket's mean (ColBERTv2: pooled, mid-quantiles): 0.78 / 0.77.

The bucket grid is one particular 256-entry codebook per byte, so "pq" can only fit the data better.
Decompression is a table lookup either way: a [bytes, 256, 8/nbits] table turns residual bytes into values
in one np.take (an int8 copy of it feeds the int8 search kernels, kernels.py).

Training is fast because it is hierarchical: with many centroids we first cluster into ~sqrt(C) coarse
groups, then split each group with its share of the centroids (spherical k-means at both levels), which
costs O(N * sqrt(C)) instead of O(N * C) per iteration. Assigning every vector to its centroid at build
time probes a few coarse groups for the same reason (`Assigner`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.index import storage

MIN_POINTS_PER_CENTROID = 8  # never more centroids than the data supports
TWO_LEVEL_FROM = 2048  # centroid counts at or above this are trained with two-level k-means
_ASSIGN_BLOCK = 65536


def num_centroids_for(num_tokens: int) -> int:
    """ColBERTv2's rule, 2^floor(log2(16 * sqrt(tokens))), capped at tokens / MIN_POINTS_PER_CENTROID."""
    if num_tokens <= 0:
        return 0
    rule = 2 ** int(math.floor(math.log2(16 * math.sqrt(num_tokens))))
    cap = 2 ** int(math.floor(math.log2(max(1, num_tokens // MIN_POINTS_PER_CENTROID))))
    return max(1, min(rule, cap))


def code_dtype(num_centroids: int) -> np.dtype:
    return np.dtype(np.uint16) if num_centroids <= 65536 else np.dtype(np.int32)


# ----------------------------------------------------------------------------------------------- k-means


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


def _bucket_means(resid: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """[dim, B]: the mean residual value inside each bucket (Lloyd's reconstruction point), per dimension.

    ColBERTv2 decodes a bucket to its mid-quantile; the conditional mean has lower error, and on SciFact
    vectors it raises exhaustive recall@10 against exact MaxSim by ~0.03 at nbits=2. Empty buckets fall back
    to the midpoint of their cutoffs."""
    dim, levels = cutoffs.shape[0], cutoffs.shape[1] + 1
    buckets = np.zeros(resid.shape, dtype=np.int64)
    for level in range(levels - 1):
        buckets += resid > cutoffs[:, level]
    flat = buckets + (np.arange(dim) * levels)[None, :]
    counts = np.bincount(flat.ravel(), minlength=dim * levels).reshape(dim, levels)
    sums = np.bincount(flat.ravel(), weights=resid.ravel(), minlength=dim * levels).reshape(dim, levels)
    edges = np.concatenate([cutoffs[:, :1], cutoffs, cutoffs[:, -1:]], axis=1)
    fallback = 0.5 * (edges[:, :-1] + edges[:, 1:])
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback).astype(np.float32)


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


# ----------------------------------------------------------------------------------------------- the codec


@dataclass(frozen=True)
class Codec:
    """Centroids plus per-dimension residual buckets; immutable, shared by every compressed segment."""

    centroids: np.ndarray  # [C, dim] float32, ~unit rows; stored as int8 times one scale, and residuals are
    #                        taken against exactly these dequantized values, so the int8 storage costs nothing
    cutoffs: np.ndarray  # [dim, 2^nbits - 1] float32, ascending per row
    weights: np.ndarray  # [dim, 2^nbits] float32, the value each bucket decodes to
    nbits: int
    info: dict[str, Any] = field(default_factory=dict)
    codebook: np.ndarray | None = None  # residual="pq": [bytes, 256, 8/nbits] float32, what each byte decodes to

    @property
    def residual(self) -> str:
        """'quantile' (ColBERTv2 buckets per dimension) or 'pq' (a learned 256-entry codebook per byte)."""
        return "pq" if self.codebook is not None else "quantile"

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def num_centroids(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def residual_bytes(self) -> int:
        return self.dim * self.nbits // 8

    # --------------------------------------------------------------------------------------- training

    @classmethod
    def train(cls, sample: np.ndarray, *, nbits: int, num_centroids: int, niter: int = 8, seed: int = 123,
              total_tokens: int | None = None, residual: str = "pq") -> Codec:
        """Fit centroids on 95% of `sample` and the residual quantizer on the held-out 5% (<= 50,000 vectors).

        residual="quantile": ColBERTv2's buckets (cutoffs at quantiles 1/B..(B-1)/B), taken per dimension,
        decoded to each bucket's mean value (ColBERTv2 uses the mid-quantile; see _bucket_means). residual="pq": each residual byte indexes a 256-entry codebook
        of 8/nbits-dimensional pieces learned by k-means (product quantization): same bytes, same table
        lookup to decode, lower reconstruction error (the fixed bucket grid is one particular codebook)."""
        if residual not in ("quantile", "pq"):
            raise ValueError(f"residual must be 'quantile' or 'pq', got {residual!r}")
        rng = np.random.default_rng(seed)
        sample = np.asarray(sample, dtype=np.float32)
        rng.shuffle(sample)  # in place: the sample is the largest array of a build
        heldout_n = int(min(0.05 * len(sample), 50_000)) if len(sample) >= 200 else len(sample)
        train = sample[heldout_n:] if heldout_n < len(sample) else sample
        heldout = sample[:heldout_n]
        k = max(1, min(num_centroids, len(train)))
        c = dequantize_rows(*quantize_rows(_normalize(kmeans(train, k, niter=niter, seed=seed))))  # what is stored is what residuals are taken against
        codes = Assigner(c).assign(heldout)
        resid = heldout - c[codes]
        levels = 2 ** nbits
        cutoffs = np.quantile(resid, np.arange(1, levels) / levels, axis=0).T.astype(np.float32)  # [dim, B-1]
        weights = _bucket_means(resid, cutoffs)
        info = {"num_centroids": int(c.shape[0]), "nbits": nbits, "kmeans_niter": niter, "seed": seed,
                "sample_tokens": int(len(sample)), "trained_tokens": int(total_tokens or len(sample)),
                "avg_residual": float(np.abs(resid).mean()), "residual": residual}
        codebook = None
        if residual == "pq":
            per = 8 // nbits
            pieces = resid.reshape(len(resid), -1, per)
            codebook = np.stack([l2_kmeans(pieces[:, b], 256, niter=10, seed=seed + b) for b in range(pieces.shape[1])])
        return cls(c, np.ascontiguousarray(cutoffs), np.ascontiguousarray(weights), nbits, info, codebook)

    # --------------------------------------------------------------------------------------- encode / decode

    def assigner(self) -> Assigner:
        return Assigner(self.centroids)

    def compress(self, x: np.ndarray, assigner: Assigner | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float32 [n, dim] -> (codes [n], residual bytes uint8 [n, dim*nbits/8])."""
        x = np.asarray(x, dtype=np.float32)
        codes = (assigner or self.assigner()).assign(x)
        resid = x - np.take(self.centroids, codes, axis=0)
        if self.codebook is not None:
            return codes.astype(code_dtype(self.num_centroids)), self._pq_encode(resid)
        buckets = np.zeros(resid.shape, dtype=np.uint8)  # [n, dim] in 0..B-1: how many cutoffs lie below
        for level in range(self.cutoffs.shape[1]):
            buckets += resid > self.cutoffs[:, level]
        return codes.astype(code_dtype(self.num_centroids)), pack_bits(buckets, self.nbits)

    def _pq_encode(self, resid: np.ndarray) -> np.ndarray:
        """Nearest codeword per byte position (brute force over the 256: ~35 ns per token and byte)."""
        nbytes, _, per = self.codebook.shape
        pieces = resid.reshape(len(resid), nbytes, per)
        out = np.empty((len(resid), nbytes), dtype=np.uint8)
        for b in range(nbytes):
            out[:, b] = _nearest_l2(np.ascontiguousarray(pieces[:, b]), self.codebook[b])
        return out

    @property
    def lut(self) -> np.ndarray:
        """[bytes, 256, 8/nbits] float32: the residual values one byte value decodes to, per byte position."""
        cached = self.__dict__.get("_lut")
        if cached is None and self.codebook is not None:
            cached = np.ascontiguousarray(self.codebook, dtype=np.float32)
            object.__setattr__(self, "_lut", cached)
        if cached is None:
            per = 8 // self.nbits
            values = np.arange(256)
            shifts = 8 - self.nbits * (np.arange(per) + 1)
            idx = (values[:, None] >> shifts[None, :]) & (2 ** self.nbits - 1)  # [256, per]
            w = self.weights.reshape(self.residual_bytes, per, -1)  # [bytes, per, B]
            cached = np.ascontiguousarray(w[:, np.arange(per)[None, :], idx], dtype=np.float32)  # [bytes, 256, per]
            object.__setattr__(self, "_lut", cached)
        return cached

    @property
    def _lut_items(self) -> np.ndarray:
        """The LUT with each [8/nbits] float row viewed as one opaque item, indexed by position*256 + byte:
        `np.take` of whole items is several times faster than numpy's 2-D fancy indexing."""
        cached = self.__dict__.get("_lut_items_cache")
        if cached is None:
            per = 8 // self.nbits
            cached = np.ascontiguousarray(self.lut.reshape(-1, per)).view(np.dtype((np.void, 4 * per))).ravel()
            object.__setattr__(self, "_lut_items_cache", cached)
        return cached

    def _cached(self, name: str, make):
        value = self.__dict__.get(name)
        if value is None:
            value = make()
            object.__setattr__(self, name, value)
        return value

    @property
    def centroids_i8(self) -> np.ndarray:
        """The centroids as stored: int8 [C, dim] (times centroid_scale gives `centroids` exactly)."""
        return self._cached("_c8", lambda: quantize_rows(self.centroids)[0])

    @property
    def centroid_norms2(self) -> np.ndarray:
        """float32 [C]: squared lengths of the centroids."""
        return self._cached("_cn2", lambda: np.einsum("ij,ij->i", self.centroids, self.centroids))

    @property
    def centroid_scale(self) -> np.float32:
        return self._cached("_c8s", lambda: quantize_rows(self.centroids)[1][0])

    @property
    def residual_scale(self) -> np.ndarray:
        """float32 [dim]: per-dimension scale of the int8 residual table (max |value| / 127)."""
        return self._cached("_rs", lambda: np.maximum(
            np.abs(self.lut).max(axis=1).reshape(-1), 1e-12).astype(np.float32) / 127.0)

    @property
    def _lut_i8_items(self) -> np.ndarray:
        """The residual table in int8 (one scale per dimension), each byte's values one opaque item."""
        def make() -> np.ndarray:
            per = 8 // self.nbits
            scale = self.residual_scale.reshape(self.residual_bytes, 1, per)
            q = np.rint(self.lut / scale).astype(np.int8)  # [bytes, 256, per]
            return np.ascontiguousarray(q.reshape(-1, per)).view(np.dtype((np.void, per))).ravel()
        return self._cached("_lut8", make)

    def decode_residuals_int8(self, residuals: np.ndarray) -> np.ndarray:
        """uint8 [n, bytes] -> int8 [n, dim]; times residual_scale gives decode_residuals (to 0.4%)."""
        n, nbytes = residuals.shape
        idx = residuals.astype(np.intp)
        idx += (np.arange(nbytes, dtype=np.intp) * 256)[None, :]
        return np.take(self._lut_i8_items, idx).view(np.int8).reshape(n, self.dim)

    def decode_residuals(self, residuals: np.ndarray) -> np.ndarray:
        """uint8 [n, bytes] -> float32 [n, dim] residual vectors (without the centroid)."""
        n, nbytes = residuals.shape
        idx = residuals.astype(np.intp)
        idx += (np.arange(nbytes, dtype=np.intp) * 256)[None, :]
        return np.take(self._lut_items, idx).view(np.float32).reshape(n, self.dim)

    def decompress(self, codes: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """Codes + residual bytes -> unit float32 vectors (the approximation search scores against)."""
        v = np.take(self.centroids, codes, axis=0)
        v += self.decode_residuals(residuals)
        v /= np.sqrt(np.maximum(np.einsum("ij,ij->i", v, v), 1e-24))[:, None]
        return v

    # --------------------------------------------------------------------------------------- on disk

    def save(self, folder: Path) -> dict[str, Any]:
        files = {
            "centroids.npy": storage.write_array(folder / "centroids.npy", self.centroids_i8),
            "centroid_scale.npy": storage.write_array(folder / "centroid_scale.npy", np.array([self.centroid_scale])),
            "cutoffs.npy": storage.write_array(folder / "cutoffs.npy", self.cutoffs),
            "weights.npy": storage.write_array(folder / "weights.npy", self.weights),
        }
        if self.codebook is not None:
            files["codebook.npy"] = storage.write_array(folder / "codebook.npy", self.codebook)
        return {"dir": folder.name, "files": files, **self.info}

    @classmethod
    def load(cls, root: Path, entry: dict[str, Any], *, verify: bool) -> Codec:
        folder = root / entry["dir"]
        arrays = {name: storage.open_array(folder / name, e, verify=verify, mmap=False)
                  for name, e in entry["files"].items()}
        info = {k: v for k, v in entry.items() if k not in ("dir", "files")}
        centroids = dequantize_rows(arrays["centroids.npy"], arrays["centroid_scale.npy"])
        return cls(centroids, arrays["cutoffs.npy"].astype(np.float32),
                   arrays["weights.npy"].astype(np.float32), int(entry["nbits"]), info,
                   None if "codebook.npy" not in arrays else np.ascontiguousarray(arrays["codebook.npy"], dtype=np.float32))


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, d] -> (int8 [n, d], float32 scale [1]) with x ~= q * scale: one scale for all rows, so
    int8 dot products against different rows compare directly (argmax on the int32 GEMM output)."""
    scale = np.float32(max(float(np.abs(x).max()), 1e-12) / 127.0)
    return np.rint(x / scale).astype(np.int8), np.array([scale], dtype=np.float32)


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(q.astype(np.float32) * np.float32(scale.reshape(-1)[0]))


def pack_bits(buckets: np.ndarray, nbits: int) -> np.ndarray:
    """uint8 [n, dim] bucket indices -> uint8 [n, dim*nbits/8]; the first dimension sits in the high bits."""
    n, dim = buckets.shape
    per = 8 // nbits
    shifts = (8 - nbits * (np.arange(per) + 1)).astype(np.uint8)
    grouped = buckets.reshape(n, dim // per, per) << shifts[None, None, :]
    return np.bitwise_or.reduce(grouped, axis=2).astype(np.uint8)
