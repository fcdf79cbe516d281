"""Synthetic token vectors for the index tests: clustered like real ColBERT vectors, and fast to make.

Each document draws its tokens around a few of `topics` random directions, so documents share centroids the
way real ones do and MaxSim has a clear best document for a query cut from a document."""

from __future__ import annotations

import numpy as np


def make_docs(n: int, *, dim: int = 32, topics: int = 64, min_len: int = 4, max_len: int = 40, seed: int = 0,
              noise: float = 0.7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).standard_normal((topics, dim)).astype(np.float32)
    docs = []
    for _ in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        mine = rng.choice(topics, 3, replace=False)
        v = centers[rng.choice(mine, length)] + noise * rng.standard_normal((length, dim)).astype(np.float32)
        docs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return docs


def query_from(doc: np.ndarray, *, qlen: int = 8, seed: int = 0, noise: float = 0.1) -> np.ndarray:
    """A query near a document: some of its tokens, perturbed."""
    rng = np.random.default_rng(seed)
    q = doc[rng.choice(len(doc), qlen)] + noise * rng.standard_normal((qlen, doc.shape[1])).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact_scores(docs: list[np.ndarray], Q: np.ndarray) -> np.ndarray:
    """Reference MaxSim of Q against every document."""
    return np.array([(d @ Q.T).max(axis=0).sum() for d in docs], dtype=np.float32)


def test_make_docs_is_deterministic_and_unit_length() -> None:
    a, b = make_docs(5, seed=3), make_docs(5, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.allclose(np.linalg.norm(np.concatenate(a), axis=1), 1, atol=1e-5)
