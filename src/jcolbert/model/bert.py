"""BERT backbones (ColBERTv2's colbert-ir/colbertv2.0, PyLate BERT models, MiniLM) via transformers' BertModel.

We let transformers own the architecture (absolute positions, GELU MLP, SDPA attention) and only own the
loading: the checkpoint's keys are checked one by one against the model's, so a missing or mis-shaped weight is
named instead of being silently re-initialised. A config that describes a JinaBERT model is refused here: it must
go to jcolbert.model.jinabert (transformers would otherwise build a plain BERT with random position tables, the
failure mode of the reference loader).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel

from jcolbert.errors import CheckpointError
from jcolbert.model.jinabert import check_keys

# Keys a BERT checkpoint may carry that the encoder does not use: the pooler, an MLM head, and the
# position_ids buffer saved by transformers < 4.31 (colbertv2.0 was saved with 4.10).
IGNORED = ("pooler.", "cls.", "embeddings.position_ids")


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
    """transformers BertModel without the pooler; forward returns last_hidden_state."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def bert_config(hf: dict[str, Any], source: str) -> BertConfig:
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


def from_checkpoint(
    state: dict[str, torch.Tensor], hf: dict[str, Any], source: str, prefix: str = "bert."
) -> BertBackbone:
    """A BertBackbone holding the checkpoint's backbone weights (prefix already stripped), every key checked."""
    state = legacy_layernorm_names(state)
    model = BertBackbone(bert_config(hf, source))
    expected = {k: tuple(v.shape) for k, v in model.bert.state_dict().items()}
    check_keys(state, expected, source, prefix, ignored=IGNORED)
    model.bert.load_state_dict({k: state[k].to(torch.float32) for k in expected}, strict=True)
    return model.eval()
