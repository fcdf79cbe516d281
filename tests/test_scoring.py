"""MaxSim scoring on vectors: colbert_score's reference semantics, maxsim over ragged documents, rerank."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import jcolbert
from jcolbert.errors import InputError


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def brute_force(Q: torch.Tensor, doc: torch.Tensor) -> float:
    return sum(max(float(q @ d) for d in doc) for q in Q)


def test_colbert_score_broadcast_and_mask() -> None:
    Q = unit(1, 4, 8)
    D = unit(3, 5, 8, seed=1)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    scores = jcolbert.colbert_score(Q, D, mask)
    expected = [brute_force(Q[0], D[i][mask[i].bool()]) for i in range(3)]
    assert torch.allclose(scores, torch.tensor(expected), atol=1e-5)


def test_colbert_score_pairwise_and_masked_value() -> None:
    Q = unit(2, 3, 8)
    D = unit(2, 4, 8, seed=2)
    mask = torch.ones(2, 4, dtype=torch.long)
    scores = jcolbert.colbert_score(Q, D, mask)
    assert torch.allclose(scores, torch.tensor([brute_force(Q[i], D[i]) for i in range(2)]), atol=1e-5)
    # A fully masked document scores -9999 per query token, as in colbert-ai.
    none = jcolbert.colbert_score(Q[:1], D[:1], torch.zeros(1, 4))
    assert none.item() == pytest.approx(-9999.0 * 3)


def test_colbert_score_shape_errors() -> None:
    with pytest.raises(InputError, match="shapes"):
        jcolbert.colbert_score(unit(1, 3, 8), unit(2, 4, 8), torch.ones(2, 5))
    with pytest.raises(InputError, match="expects"):
        jcolbert.colbert_score(unit(3, 8)[None, None], unit(2, 4, 8), torch.ones(2, 4))


@pytest.mark.parametrize("block", [1, 7, 1 << 18])
def test_maxsim_matches_brute_force(block: int) -> None:
    Q = unit(5, 16)
    docs = [unit(n, 16, seed=10 + n) for n in (1, 3, 9, 2, 6)]
    scores = jcolbert.maxsim(Q, docs, max_block_tokens=block)
    assert scores.dtype == torch.float32 and scores.shape == (5,)
    assert torch.allclose(scores, torch.tensor([brute_force(Q, d) for d in docs]), atol=1e-5)
    assert torch.allclose(jcolbert.maxsim(Q[None], docs), scores)


def test_maxsim_equals_colbert_score_on_padded_docs() -> None:
    Q = unit(4, 8)
    docs = [unit(n, 8, seed=n) for n in (2, 5, 3)]
    D = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(d)) for d in docs], batch_first=True)
    assert torch.allclose(jcolbert.maxsim(Q, docs), jcolbert.colbert_score(Q[None], D, mask), atol=1e-5)


def test_maxsim_rejects_bad_documents() -> None:
    Q = unit(4, 8)
    with pytest.raises(InputError, match=r"docs\[1\]"):
        jcolbert.maxsim(Q, [unit(2, 8), torch.empty(0, 8)])
    with pytest.raises(InputError, match=r"docs\[0\]"):
        jcolbert.maxsim(Q, [unit(2, 7)])
    with pytest.raises(InputError, match="one query"):
        jcolbert.maxsim(unit(2, 4, 8), [unit(2, 8)])
    assert jcolbert.maxsim(Q, []).shape == (0,)


class FakeModel:
    """Encodes a text as one-hot-ish vectors of its words, enough to check rerank's plumbing."""

    vocab = {w: i for i, w in enumerate(["apple", "banana", "cherry", "date"])}

    def _vec(self, text: str) -> torch.Tensor:
        rows = [F.one_hot(torch.tensor(self.vocab[w]), 4).float() for w in text.split()]
        return torch.stack(rows)

    def encode_queries(self, texts):
        return torch.stack([self._vec(t) for t in texts])

    def encode_documents(self, texts, batch_size=32):
        return [self._vec(t) for t in texts]


def test_rerank_orders_best_first_and_limits_k() -> None:
    model = FakeModel()
    docs = ["date", "apple banana", "apple", "banana", "apple banana"]
    ranked = jcolbert.rerank(model, "apple banana", docs)
    assert [i for i, _ in ranked] == [1, 4, 2, 3, 0]  # ties keep input order
    assert [s for _, s in ranked] == [2.0, 2.0, 1.0, 1.0, 0.0]
    assert jcolbert.rerank(model, "apple banana", docs, k=2) == ranked[:2]
    assert jcolbert.rerank(model, "apple", []) == []
    with pytest.raises(InputError, match="k must"):
        jcolbert.rerank(model, "apple", docs, k=0)
    with pytest.raises(InputError, match="query must"):
        jcolbert.rerank(model, ["apple"], docs)
