"""BERT backbones of ColBERT checkpoints (ColBERTv2's colbert-ir/colbertv2.0, PyLate BERT models) via transformers'
BertModel.

transformers owns the architecture: the module is a BertModel built from the checkpoint's config.json and
holding its weights. We own the loading: the checkpoint's keys are checked one by one against the model's, so a
missing or mis-shaped weight is named instead of being silently re-initialised, and the model is built on the
meta device and then given the checkpoint's tensors (no random initialisation thrown away, no copy).

Running it: for the standard configuration (absolute positions, erf GELU, post-LN, encoder only: see
leanbert.nonstandard) forward runs jcolbert.model.leanbert over this BertModel's own parameters (shared memory,
q/k/v fused into one matrix whose row blocks ARE the BertModel's query/key/value weights). That is the same math
as BertModel.forward in eval mode with fewer passes over memory, not another model; `reference_forward` runs
BertModel.forward for comparison. Any other configuration runs BertModel.forward.

A config that describes a JinaBERT model is refused here: it must go to jcolbert.model.jinabert (transformers
would otherwise build a plain BERT with random position tables, the failure mode of the reference loader).

transformers is imported only when a BERT checkpoint is loaded (importing it costs seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from jcolbert.errors import CheckpointError
from jcolbert.model.jinabert import check_keys
from jcolbert.model.leanbert import IGNORED, BertShape, LeanBert, nonstandard

if TYPE_CHECKING:
    from transformers import BertConfig, BertModel


def is_jinabert_config(hf: dict[str, Any]) -> bool:
    """True for any config.json that describes a JinaBERT (ALiBi / GLU feed-forward / jina-bert remote code)."""
    auto_map = hf.get("auto_map") or {}
    remote = " ".join(str(v) for v in auto_map.values()).lower()
    return (
        hf.get("position_embedding_type") == "alibi"
        or str(hf.get("feed_forward_type", "")).endswith("glu")
        or "jina-bert" in remote
        or "jinabert" in remote
        or hf.get("model_type") in ("jina_bert", "jinabert")
    )


class BertBackbone(nn.Module):
    """transformers BertModel without the pooler; forward returns last_hidden_state (see the module docstring)."""

    def __init__(self, bert: BertModel, lean: LeanBert | None) -> None:
        super().__init__()
        self.config = bert.config
        self.bert = bert
        self.lean = lean  # shares its parameters with self.bert; None for a non-standard configuration

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.lean is not None:
            return self.lean(input_ids, attention_mask)
        return self.reference_forward(input_ids, attention_mask)

    def reference_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """transformers' own BertModel.forward on the same parameters."""
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def bert_config(hf: dict[str, Any], source: str) -> BertConfig:
    from transformers import BertConfig

    if is_jinabert_config(hf):
        raise CheckpointError(f"{source}: describes a JinaBERT model; it must not be loaded as plain BERT")
    if hf.get("model_type", "bert") != "bert":
        raise CheckpointError(
            f"{source}: model_type {hf.get('model_type')!r} is not supported (bert, JinaBERT)"
        )
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(
            f"{source}: position_embedding_type {hf['position_embedding_type']!r} is not supported"
        )
    if hf.get("hidden_act", "gelu") != "gelu":
        raise CheckpointError(f"{source}: hidden_act {hf['hidden_act']!r} is not supported (gelu)")
    keep = {
        k: v
        for k, v in hf.items()
        if k not in ("architectures", "auto_map", "_name_or_path", "torch_dtype", "dtype")
    }
    cfg = BertConfig(**keep)
    cfg._attn_implementation = "sdpa"
    return cfg


def legacy_layernorm_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LayerNorm.gamma/beta -> LayerNorm.weight/bias, the renaming transformers applies when loading.

    Old TF-converted BERT checkpoints use gamma/beta, and transformers 5.x writes them back that way when it
    saves such a model (seen in PyLate folders saved with transformers 5.3).
    """
    renamed = {}
    for key, value in state.items():
        if key.endswith("LayerNorm.gamma"):
            key = key[: -len("gamma")] + "weight"
        elif key.endswith("LayerNorm.beta"):
            key = key[: -len("beta")] + "bias"
        renamed[key] = value
    return renamed


def materialise_buffers(model: BertModel, source: str) -> None:
    """BertModel's non-persistent buffers (not in any checkpoint) stay on the meta device after an assign-load;
    give them their values (position ids 0..P-1, token types 0), and refuse any tensor still without data."""
    emb = model.embeddings
    n = model.config.max_position_embeddings
    emb.position_ids = torch.arange(n).expand((1, -1))
    emb.token_type_ids = torch.zeros((1, n), dtype=torch.long)
    empty = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if empty:
        raise CheckpointError(f"{source}: transformers' BertModel has tensors the checkpoint does not fill: {empty}")


def from_checkpoint(
    state: dict[str, torch.Tensor], hf: dict[str, Any], source: str, prefix: str = "bert."
) -> BertBackbone:
    """A BertBackbone holding the checkpoint's backbone weights (prefix already stripped), every key checked."""
    from transformers import BertModel

    state = legacy_layernorm_names(state)
    config = bert_config(hf, source)
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_keys(state, expected, source, prefix, ignored=IGNORED)
    weights = {k: state[k].to(torch.float32) for k in expected}
    lean = None
    if not nonstandard(config.to_dict()):
        lean = LeanBert.from_bert_state(weights, BertShape.from_hf(config.to_dict(), source))
        weights = lean.bert_state()
    model.load_state_dict(weights, strict=True, assign=True)
    materialise_buffers(model, source)
    return BertBackbone(model, lean).eval()
