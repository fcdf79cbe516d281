"""The arithmetic of search on compressed vectors, in int8 where it is exact enough to not matter.

A compressed token is centroid c (stored int8, one scale per centroid) plus residual r (nbits per dimension,
decoded by table lookup). Its score against a query token q is

    q.(c + r) = q.c + q.r

* q.c for every centroid is one GEMM per query ("centroid scores", cs [C, nq]); PLAID needs it anyway;
* q.r for the tokens of the final candidates is a second GEMM on the decoded residuals.

Both GEMMs run on int8 operands with int32 accumulation (``torch._int_mm``: oneDNN's VNNI kernels, ~5-8x
faster than float32 on one core). Centroids are stored int8 (one scale), so only the query is quantized (per token,
scale max|q|/127: ~0.001 error in a score); residual values take a handful of distinct values per dimension
and are stored in an int8 table with one scale per dimension, which is folded into the query. On CPUs without
int8 dot-product units (no VNNI / AMX: plain AVX2), torch's int8 GEMM is 10-20x *slower* than float32
(BENCHMARKS.md, "One-query latency"), so there, and wherever ``torch._int_mm`` is missing or refuses, the same
int8 products are summed in float32 by numpy, which is bit-identical (|sums| < 2^24).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def native_int8() -> bool:
    """Whether this CPU has int8 dot-product units (VNNI / AMX), where torch._int_mm beats float32."""
    from jcolbert.model.precision import cpu_flags

    return any(flag in cpu_flags() for flag in INT8_CPU_FLAGS)


def int8_matmul(a: np.ndarray, b: np.ndarray, a_f32: np.ndarray | None = None) -> np.ndarray:
    """int8 [m, k] @ int8 [k, n] -> int32 [m, n] (b may be a transposed view). a_f32: a float32 copy of `a`
    (a cached operand) for the float32 path, which gives the same integers."""
    if native_int8():
        try:
            import torch

            return torch._int_mm(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(b)).numpy()
        except (ImportError, AttributeError, RuntimeError, TypeError):
            pass
    A = a_f32 if a_f32 is not None else a.astype(np.float32)
    return (A @ b.astype(np.float32)).astype(np.int32)


def quantize_int8(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one scale per slice along `axis` (x ~= q * scale)."""
    scale = np.maximum(np.abs(x).max(axis=axis, keepdims=True), 1e-12) / 127.0
    return np.rint(x / scale).astype(np.int8), scale.astype(np.float32)


def quantize_rows_int8(x: np.ndarray, block: int = 65536) -> np.ndarray:
    """Per-row int8 quantization of a large [n, d] array, block by block (no full-size float temporaries)."""
    out = np.empty(x.shape, dtype=np.int8)
    for i in range(0, len(x), block):
        out[i:i + block] = quantize_int8(np.asarray(x[i:i + block], dtype=np.float32))[0]
    return out


@dataclass
class Prepared:
    """What the compressed-score stages need from a group of queries (each nq tokens, stacked as columns)."""

    Q: np.ndarray  # float32 [g*nq, dim]
    cs: np.ndarray  # float32 [C + 1, g*nq]: q.c for every centroid, and a last row of -1e9 (padding)
    qr8: np.ndarray  # int8 [g*nq, dim]: the queries scaled by the residual table's per-dimension scales
    qr_scale: np.ndarray  # float32 [g*nq]
    nq: int

    def rows(self, start: int, n: int) -> Prepared:
        """Token rows start..start+n as one query of n tokens."""
        if start == 0 and n == len(self.Q):
            return self
        sl = slice(start, start + n)
        return Prepared(self.Q[sl], np.ascontiguousarray(self.cs[:, sl]), self.qr8[sl], self.qr_scale[sl], n)


def prepare(codec, Qs: np.ndarray) -> Prepared:
    """Centroid scores of queries Qs [g, nq, dim] in one int8 GEMM, plus their int8 residual operand."""
    g, nq, dim = Qs.shape
    Q = np.ascontiguousarray(Qs.reshape(-1, dim), dtype=np.float32)
    q8, qs = quantize_int8(Q)
    C = codec.num_centroids
    cs = np.empty((C + 1, len(Q)), dtype=np.float32)
    cs[:C] = int8_matmul(codec.centroids_i8, q8.T, None if native_int8() else codec.centroids_i8_f32)
    cs[:C] *= (qs[:, 0] * codec.centroid_scale)[None, :]
    cs[C] = PAD_SCORE
    qr8, qrs = quantize_int8(Q * codec.residual_scale[None, :])
    return Prepared(Q, cs, qr8, qrs[:, 0], nq)


PAD_SCORE = np.float32(-1e9)


def prepare_each(codec, Qs: np.ndarray, lengths: np.ndarray) -> list[Prepared]:
    """Each query of Qs [g, nq, dim] on its own first lengths[i] rows (its padding dropped), all prepared with
    one GEMM. Every row is quantized on its own, so each query gets exactly what preparing it alone gives."""
    rows = np.concatenate([Qs[i, :n] for i, n in enumerate(lengths)])
    whole = prepare(codec, rows[None])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [whole.rows(int(s), int(n)) for s, n in zip(starts, lengths, strict=True)]


def padded_scores(prep: Prepared, codes: np.ndarray, R8: np.ndarray, inv_norms: np.ndarray) -> np.ndarray:
    """q.(c + r) / ||c + r|| for tokens in a padded [positions, docs] layout -> float32 [positions, docs, g*nq].

    codes [P, D] (padding = C, the -1e9 row of prep.cs); R8 [P*D, dim] their decoded int8 residuals;
    inv_norms [P*D] (inverse_norms, cached per segment)."""
    P, D = codes.shape
    S = int8_matmul(R8, prep.qr8.T).astype(np.float32)  # [P*D, g*nq]
    S *= prep.qr_scale[None, :]
    S += np.take(prep.cs, codes.ravel(), axis=0)
    S *= inv_norms[:, None]
    return S.reshape(P, D, -1)


def inverse_norms(codec, codes: np.ndarray, R8: np.ndarray) -> np.ndarray:
    """1 / ||c + r|| per token: scores are taken against the unit-length reconstruction, as decompress() gives.

    The stored vectors were unit length; their reconstruction is not, and its length error is part of the
    quantization error. Normalising it costs no bytes and lifts recall@10 against exact MaxSim on SciFact by
    ~0.03 (0.847 -> 0.873 for exhaustive scoring of PQ-compressed vectors: benchmarks/codec_fidelity.py).
    It costs ~0.15 us per token, as much as the rest of the exact stage, so segments cache it (segment.py)."""
    Rf = R8.astype(np.float32)
    Rf *= codec.residual_scale[None, :]
    Cf = np.take(codec.centroids, codes, axis=0)
    Cf *= 2.0
    Cf += Rf
    n2 = np.einsum("ij,ij->i", Cf, Rf)
    n2 += np.take(codec.centroid_norms2, codes)
    return 1.0 / np.sqrt(np.maximum(n2, 1e-12))
