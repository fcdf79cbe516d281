"""Why a document matched: the MaxSim score taken apart, token by token.

A ColBERT score is a sum over query tokens of each one's best dot product with the document's token vectors,
so it explains itself exactly: query token i contributes max_j q_i . d_j, won by document token argmax_j.
`maxsim_argmax` is that arithmetic on vectors; `explain` re-encodes a document's text (the same tokens and
vectors `encode_documents` gives it, with each token's character span from the tokenizer) and returns, for every
query token, the document token that won it, where that token sits in the text, and its contribution. The
contributions sum to the explanation's `score`: exact MaxSim over full-precision vectors, equal to an exact-mode
index's score and within compression error of a compressed index's score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jcolbert.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.model import ColBERTModel


@dataclass(frozen=True)
class TokenMatch:
    """One query token's part of the score: the document token that won its maximum and the value of it.

    Spans are [start, end) character offsets into the query / document text; None for tokens the text does not
    contain ([CLS], markers, [SEP], [MASK])."""

    query_position: int
    query_token: str
    query_span: tuple[int, int] | None
    doc_position: int
    doc_token: str
    doc_span: tuple[int, int] | None
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A MaxSim score taken apart: `score == sum(m.contribution for m in matches)` (up to float rounding)."""

    score: float
    matches: list[TokenMatch]
    doc_tokens: int  # document token vectors scored (kept tokens of the encoded text)
    truncated: bool  # the text was longer than the encoder's limit; only its first part was scored

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for m in out["matches"]:
            m["query_span"] = list(m["query_span"]) if m["query_span"] else None
            m["doc_span"] = list(m["doc_span"]) if m["doc_span"] else None
        return out


def maxsim_argmax(Q: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query vector (rows of Q [nq, dim]): the index of its best document vector in D [nd, dim] and
    that dot product. `values.sum()` is the MaxSim score of Q against D."""
    Q = np.asarray(Q, dtype=np.float32)
    D = np.asarray(D, dtype=np.float32)
    if Q.ndim != 2 or D.ndim != 2 or Q.shape[1] != D.shape[1] or D.shape[0] == 0:
        raise InputError(f"maxsim_argmax expects Q [nq, dim] and D [nd > 0, dim], got {list(Q.shape)} and {list(D.shape)}")
    sims = Q @ D.T  # [nq, nd]
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(Q)), best]


def explain(model: ColBERTModel, query: str | None, text: str, *, Q: Any = None,
            max_length: int | None = None) -> Explanation:
    """Explain the MaxSim score of a query against one document text.

    query: the query text (labels the query tokens; encoded here unless Q is given). Q: the query's vectors
    [query_tokens, dim] as the search used them (e.g. from a batched encoder call); with Q and no query text the
    query tokens are labelled q0, q1, ... max_length: the document token limit the index used (default the
    model's doc_maxlen). Query rows that are exactly zero (past [SEP] without [MASK] augmentation) add nothing
    to MaxSim and are left out.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("explain: the document text is empty")
    if query is None and Q is None:
        raise InputError("explain needs the query text or its vectors")
    if Q is None:
        Q = model.encode_queries([query])[0]
    Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
    q_labels = _query_tokens(model, query, len(Q)) if query is not None else [(f"q{i}", None) for i in range(len(Q))]
    D, d_labels, truncated = document_tokens(model, text, max_length=max_length)
    best, values = maxsim_argmax(Q, D)
    matches = [
        TokenMatch(i, q_labels[i][0], q_labels[i][1], int(best[i]), d_labels[best[i]][0], d_labels[best[i]][1],
                   float(values[i]))
        for i in range(len(Q)) if np.any(Q[i])
    ]
    return Explanation(float(sum(m.contribution for m in matches)), matches, len(D), truncated)


def document_tokens(model: ColBERTModel, text: str, *, max_length: int | None = None
                    ) -> tuple[np.ndarray, list[tuple[str, tuple[int, int] | None]], bool]:
    """A document's kept token vectors [n, dim] (exactly what encode_documents returns for it, truncated to
    max_length tokens), each token's (string, character span or None), and whether the text was truncated."""
    tok = model.tokenizer
    enc = tok.tokenizer.encode(text, add_special_tokens=False)
    room = tok.doc_room(max_length or model.config.doc_maxlen)
    pieces = list(enc.ids[:room])
    batch = tok.documents_from_pieces([pieces])
    vectors = model.embed(batch)[0]
    keep = batch.keep_mask[0].nonzero().flatten().tolist()
    prefix = len(tok.doc_prefix)
    ids = batch.input_ids[0].tolist()
    labels = []
    for p in keep:
        j = p - prefix
        span = tuple(enc.offsets[j]) if 0 <= j < len(pieces) else None
        labels.append((tok.tokenizer.id_to_token(ids[p]), span))
    return vectors[keep].numpy().astype(np.float32, copy=False), labels, len(enc.ids) > room


def _query_tokens(model: ColBERTModel, query: str, n: int) -> list[tuple[str, tuple[int, int] | None]]:
    """(token string, character span in the query or None) for each of the n query positions."""
    tok = model.tokenizer
    enc = tok.tokenizer.encode(query, add_special_tokens=False)
    ids = model.tokenize_queries([query]).input_ids[0].tolist()
    prefix = len(tok.query_prefix)
    n_pieces = min(len(enc.ids), n - prefix - 1)
    out = []
    for p in range(n):
        j = p - prefix
        span = tuple(enc.offsets[j]) if 0 <= j < n_pieces else None
        out.append((tok.tokenizer.id_to_token(ids[p]) if p < len(ids) else "[PAD]", span))
    return out


__all__ = ["Explanation", "TokenMatch", "document_tokens", "explain", "maxsim_argmax"]
