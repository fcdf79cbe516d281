"""rerank: the model card's reranking use case in one call (encode, MaxSim, sort)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jcolbert.errors import InputError
from jcolbert.scoring.maxsim import maxsim

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.model import ColBERTModel


def rerank(
    model: ColBERTModel, query: str, documents: Sequence[str], k: int | None = None, *, batch_size: int = 32
) -> list[tuple[int, float]]:
    """[(index into documents, score), ...] best first, at most k of them (all when k is None).

    Scores are exact MaxSim over each document's kept vectors (no padding rows, no zero vectors): equal to the
    model card's colbert_score snippet whenever every per-query-token best match is positive. Ties keep input
    order.
    """
    if not isinstance(query, str):
        raise InputError(f"query must be a str, got {type(query).__name__}")
    if k is not None and (not isinstance(k, int) or k < 1):
        raise InputError(f"k must be a positive integer or None, got {k!r}")
    if len(documents) == 0:
        return []
    Q = model.encode_queries([query])[0]
    D = model.encode_documents(documents, batch_size=batch_size)
    scores = maxsim(Q, D).tolist()
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [(i, scores[i]) for i in order[:k]]
