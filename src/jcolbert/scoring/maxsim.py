"""MaxSim: for every query vector, its best dot product with a document's vectors; summed over the query.

Two entry points:
  colbert_score(Q, D_padded, D_mask)  colbert-ai's reference semantics on padded document batches.
  maxsim(Q, docs)                     one query against a list of variable-length documents (kept vectors only),
                                      the form encode_documents returns; no padding row ever takes part.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from jcolbert.errors import InputError

MASKED = -9999.0  # what colbert-ai writes at masked document positions before the max


def colbert_score(Q: torch.Tensor, D_padded: torch.Tensor, D_mask: torch.Tensor) -> torch.Tensor:
    """colbert-ai's colbert_score: Q [1 or nd, nq, dim], D_padded [nd, L, dim], D_mask [nd, L] -> [nd].

    Q with batch 1 is scored against every document, otherwise pairwise. Q is cast to D's dtype; positions where
    D_mask is 0 score -9999 before the max. Note what this means for the model card's snippet, which passes an
    all-ones D_mask: zero vectors at punctuation/padding slots then take part with similarity 0, flooring every
    per-query-token max at 0.
    """
    if Q.dim() == 2:
        Q = Q.unsqueeze(0)
    if Q.dim() != 3 or D_padded.dim() != 3 or D_mask.dim() != 2:
        raise InputError(
            f"colbert_score expects Q [b, nq, dim], D [nd, L, dim], D_mask [nd, L]; got "
            f"{list(Q.shape)}, {list(D_padded.shape)}, {list(D_mask.shape)}"
        )
    if (
        Q.shape[0] not in (1, D_padded.shape[0])
        or D_mask.shape != D_padded.shape[:2]
        or Q.shape[2] != D_padded.shape[2]
    ):
        raise InputError(
            f"colbert_score: shapes do not line up: Q {list(Q.shape)}, D {list(D_padded.shape)}, D_mask {list(D_mask.shape)}"
        )
    scores = D_padded @ Q.to(D_padded.dtype).transpose(1, 2)  # [nd, L, nq]
    scores = scores.masked_fill(~D_mask.bool().unsqueeze(-1), MASKED)
    return scores.max(dim=1).values.sum(dim=-1)


def maxsim(Q: torch.Tensor, docs: Sequence[torch.Tensor], *, max_block_tokens: int = 1 << 18) -> torch.Tensor:
    """Scores [len(docs)] (float32) of one query Q [nq, dim] (or [1, nq, dim]) against docs, each [n_i, dim].

    Every document vector takes part and nothing else (no padding rows, unlike `colbert_score` with an all-ones
    mask). Documents are scored in blocks of about `max_block_tokens` vectors so a large
    candidate list never builds one giant similarity matrix. A document with no vectors is an error.
    """
    if Q.dim() == 3 and Q.shape[0] == 1:
        Q = Q[0]
    if Q.dim() != 2:
        raise InputError(f"maxsim expects one query [nq, dim], got shape {list(Q.shape)}")
    dtype = torch.float32 if Q.dtype not in (torch.float64,) else Q.dtype
    Qt = Q.to(dtype).T  # [dim, nq]
    out = torch.empty(len(docs), dtype=dtype)
    start = 0
    while start < len(docs):
        end, tokens = start, 0
        while end < len(docs) and (end == start or tokens + len(docs[end]) <= max_block_tokens):
            tokens += len(docs[end])
            end += 1
        block = docs[start:end]
        for i, d in enumerate(block, start):
            if d.dim() != 2 or d.shape[0] == 0 or d.shape[1] != Q.shape[1]:
                raise InputError(
                    f"maxsim: docs[{i}] has shape {list(d.shape)}, expected [n > 0, {Q.shape[1]}]"
                )
        lengths = torch.tensor([len(d) for d in block])
        sims = torch.cat([d.to(dtype) for d in block]) @ Qt  # [tokens, nq]
        if len(block) == 1:
            out[start] = sims.max(dim=0).values.sum()
        else:
            seg = torch.repeat_interleave(torch.arange(len(block)), lengths)
            best = torch.full((len(block), sims.shape[1]), float("-inf"), dtype=dtype)
            best.scatter_reduce_(0, seg.unsqueeze(1).expand_as(sims), sims, reduce="amax")
            out[start:end] = best.sum(dim=1)
        start = end
    return out
