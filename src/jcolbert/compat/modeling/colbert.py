"""``colbert.modeling.colbert.colbert_score`` for jcolbert."""

from __future__ import annotations

from jcolbert.compat.infra.config import ColBERTConfig


def colbert_score(Q, D_padded, D_mask, config: ColBERTConfig | None = None):  # noqa: N803 - colbert-ai's names
    """colbert-ai's ``colbert_score``: ``Q`` ``[1 | n, q, dim]`` against ``D_padded`` ``[n, d, dim]``
    with ``D_mask`` ``[n, d]``; returns ``[n]`` scores (sum over query tokens of the best unmasked match).

    ``config`` is accepted for compatibility (only the ``colbert`` interaction exists in jcolbert).
    """
    import jcolbert

    return jcolbert.colbert_score(Q, D_padded, D_mask)
