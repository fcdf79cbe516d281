"""``checkpoint.bert`` for backbones without a Hugging Face config (jcolbert's lean BERT)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from torch import nn


class BackboneWithConfig(nn.Module):
    """The backbone (same parameters), plus the ``config`` fields colbert-ai code reads from
    ``checkpoint.bert.config``: ``max_position_embeddings`` and ``hidden_size``."""

    def __init__(self, backbone: nn.Module, config: Any) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = SimpleNamespace(max_position_embeddings=config.max_positions, hidden_size=config.hidden_size)

    def forward(self, input_ids, attention_mask):
        return self.backbone(input_ids, attention_mask)
