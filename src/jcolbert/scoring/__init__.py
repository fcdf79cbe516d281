"""Scoring on vectors: colbert-ai's `colbert_score`, `maxsim` over variable-length documents, and `rerank`."""

from jcolbert.scoring.maxsim import colbert_score, maxsim
from jcolbert.scoring.rerank import rerank

__all__ = ["colbert_score", "maxsim", "rerank"]
