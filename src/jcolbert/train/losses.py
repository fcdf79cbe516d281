"""ColBERTv2's training losses over MaxSim scores (colbert-ai's colbert/training/training.py and
colbert/modeling/colbert.py).

Scores: `group_scores(Q, D, d_mask, nway)` is MaxSim of each query against its own nway passages, [B, nway], with
the encoding's masks: query rows are every non-pad position ([MASK] augmentation included, as `forward_queries`
returns them), document positions outside `d_mask` (padding, punctuation skiplist) never win a max.

    kl_distillation   KL(teacher || student) over each group: log_softmax(alpha * teacher) as target,
                      log_softmax(student) as input, reduction "batchmean" (colbert-ai's KLDivLoss(log_target=True);
                      alpha is its distillation_alpha, a temperature on the teacher's scores, 1.0 by default).
    contrastive_ce    cross-entropy with the positive (index 0) as label, when there is no teacher.
    in_batch_ce       colbert-ai's use_ib_negatives: each query against every passage of the batch except its
                      own negatives; label its own positive. Added to either loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASKED = -9999.0  # colbert-ai's value for masked document positions


def maxsim_matrix(Q: torch.Tensor, D: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """Every query against every passage: Q [B, Lq, dim], D [N, Ld, dim], d_mask [N, Ld] -> [B, N]."""
    sim = torch.einsum("bqd,ntd->bnqt", Q, D)
    sim = sim.masked_fill(~d_mask[None, :, None, :], MASKED)
    return sim.amax(-1).sum(-1)


def group_scores(Q: torch.Tensor, D: torch.Tensor, d_mask: torch.Tensor, nway: int) -> torch.Tensor:
    """Each query against its own group (rows i * nway .. i * nway + nway - 1 of D) -> [B, nway]."""
    B = Q.shape[0]
    D = D.view(B, nway, *D.shape[1:])
    mask = d_mask.view(B, nway, -1)
    sim = torch.einsum("bqd,bntd->bnqt", Q, D)
    sim = sim.masked_fill(~mask[:, :, None, :], MASKED)
    return sim.amax(-1).sum(-1)


def kl_distillation(scores: torch.Tensor, teacher: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    target = F.log_softmax(teacher.to(scores.dtype) * alpha, dim=-1)
    return F.kl_div(F.log_softmax(scores, dim=-1), target, reduction="batchmean", log_target=True)


def contrastive_ce(scores: torch.Tensor) -> torch.Tensor:
    labels = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores, labels)


def in_batch_ce(Q: torch.Tensor, D: torch.Tensor, d_mask: torch.Tensor, nway: int) -> torch.Tensor:
    B = Q.shape[0]
    scores = maxsim_matrix(Q, D, d_mask)  # [B, B * nway]
    own = torch.zeros_like(scores, dtype=torch.bool)
    for i in range(B):  # a query's own negatives are not in-batch negatives
        own[i, i * nway + 1 : (i + 1) * nway] = True
    scores = scores[~own].view(B, -1)  # each row: B positives' groups minus its own nway - 1 negatives
    labels = torch.arange(B, device=scores.device) * nway
    return F.cross_entropy(scores, labels)


def training_loss(
    Q: torch.Tensor,
    D: torch.Tensor,
    d_mask: torch.Tensor,
    nway: int,
    teacher: torch.Tensor | None,
    *,
    kind: str,
    alpha: float = 1.0,
    in_batch: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, group scores [B, nway]) of one batch: kind "kl" (needs teacher) or "ce"."""
    scores = group_scores(Q, D, d_mask, nway).float()
    if kind == "kl":
        if teacher is None:
            raise ValueError("kl distillation needs teacher scores")
        loss = kl_distillation(scores, teacher.to(scores.device), alpha)
    else:
        loss = contrastive_ce(scores)
    if in_batch:
        loss = loss + in_batch_ce(Q, D, d_mask, nway).float()
    return loss, scores
