"""The int8 search kernels agree with plain float arithmetic (to the quantization error they claim)."""

from __future__ import annotations

import numpy as np

from jcolbert.index import kernels, plaid
from jcolbert.index.codec import Codec
from test_index_data import make_docs, query_from


def test_int8_matmul_is_exact_and_the_numpy_fallback_is_identical(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (300, 128)).astype(np.int8)
    b = rng.integers(-127, 128, (40, 128)).astype(np.int8)
    expected = a.astype(np.int64) @ b.T.astype(np.int64)
    assert np.array_equal(kernels.int8_matmul(a, b.T), expected)
    import torch

    monkeypatch.delattr(torch, "_int_mm")  # an older torch: the float32 fallback must give the same integers
    assert np.array_equal(kernels.int8_matmul(a, b.T), expected)


def test_prepared_centroid_scores_and_token_scores_match_float_math() -> None:
    x = np.concatenate(make_docs(300, dim=64, seed=1))
    codec = Codec.train(x, nbits=2, num_centroids=256, niter=4, seed=0)
    codes, residuals = codec.compress(x[:500])
    Q = query_from(x[:40], qlen=16, seed=2)
    prep = kernels.prepare(codec, Q[None])
    assert np.abs(prep.cs[:-1] - codec.centroids @ Q.T).max() < 0.01  # int8 query: ~0.001 typical
    assert prep.cs[-1].max() < -1e8  # the padding row
    exact = codec.decompress(codes, residuals) @ Q.T  # [n, nq]: the unit-length reconstruction
    R8 = codec.decode_residuals_int8(residuals)
    inv = kernels.inverse_norms(codec, codes.astype(np.intp), R8)
    raw = np.take(codec.centroids, codes, axis=0) + codec.decode_residuals(residuals)
    assert np.abs(inv - 1 / np.linalg.norm(raw, axis=1)).max() < 0.01
    assert np.abs(inv - 1).max() > 0.01  # reconstructions are not unit length: the normalisation does something
    got = kernels.padded_scores(prep, codes.astype(np.intp)[None, :], R8, inv)[0]
    assert np.abs(got - exact).max() < 0.02 and np.abs(got - exact).mean() < 0.003


def test_segment_memoises_inverse_norms_and_returns_the_same_values(monkeypatch) -> None:
    from jcolbert.index import segment
    from jcolbert.index.manifest import SegmentEntry
    from jcolbert.index.segment import Segment

    x = np.concatenate(make_docs(100, dim=32, seed=4))
    codec = Codec.train(x, nbits=2, num_centroids=64, niter=4, seed=0)
    codes, residuals = codec.compress(x)
    entry = SegmentEntry("seg-000001-abcdef", "plaid", 1, len(x), {})
    seg = Segment(entry=entry, doc_nums=np.zeros(0), doclens=np.zeros(0), offsets=np.zeros(1),
                  live=np.zeros(0, dtype=bool), codes=codes, residuals=residuals)
    rows = np.array([5, 7, 5, 0, 9])
    R8 = codec.decode_residuals_int8(residuals[rows])
    monkeypatch.setattr(segment, "EAGER_NORM_TOKENS", 0)  # row by row, as for a large segment
    first = seg.inverse_norms(rows, codes[rows].astype(np.intp), R8, codec)
    assert np.isnan(seg._inv_norms).sum() == len(x) - 4
    again = seg.inverse_norms(rows, codes[rows].astype(np.intp), np.zeros_like(R8), codec)  # memo, not R8
    assert np.array_equal(first, again)
    assert np.allclose(first, kernels.inverse_norms(codec, codes[rows].astype(np.intp), R8))
    monkeypatch.setattr(segment, "EAGER_NORM_TOKENS", len(x))  # small segment: all rows at the first call
    seg._inv_norms = None
    eager = seg.inverse_norms(rows, codes[rows].astype(np.intp), R8, codec)
    assert not np.isnan(seg._inv_norms).any() and np.allclose(eager, first)


def test_several_queries_prepared_together_equal_one_at_a_time() -> None:
    x = np.concatenate(make_docs(200, dim=32, seed=3))
    codec = Codec.train(x, nbits=2, num_centroids=64, niter=4, seed=0)
    Qs = np.stack([query_from(x[i:i + 30], seed=i) for i in range(0, 150, 30)])
    lengths = np.array([Qs.shape[1], 3, 1, 6, 2])  # each query's own rows; the rest is padding
    together = kernels.prepare_each(codec, Qs, lengths)
    for Q, n, part in zip(Qs, lengths, together, strict=True):
        alone = kernels.prepare(codec, Q[None, :n])
        assert part.nq == n and len(part.Q) == n  # one query of its own rows
        assert np.array_equal(part.cs, alone.cs) and np.array_equal(part.qr8, alone.qr8)
        assert np.array_equal(part.qr_scale, alone.qr_scale) and np.array_equal(part.Q, alone.Q)


def test_int8_tables_keep_order_and_mark_the_sentinel() -> None:
    cs = np.array([[0.9, -0.2], [0.1, 0.5], [-1.0, 1.0]], dtype=np.float32)
    table = plaid._int8_table(cs).view(np.int8).reshape(4, 2)
    assert table[:3].tolist() == [[114, -25], [13, 64], [-127, 127]] and table[3].tolist() == [-128, -128]
