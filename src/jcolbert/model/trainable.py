"""TrainableColBERT: a ColBERT encoder with a differentiable forward, for training (jcolbert.train builds on it).

The inference path (ColBERTModel: inference_mode, fused in-place kernels, bf16/int8) is not used here. This
module holds the same backbone and projection in float32 and runs the backbone's `train_forward`: autograd,
and dropout as in the reference models when in training mode (`.train()`, the nn.Module default). With dropout
off (`.eval()`, or `set_dropout(0.0)`) its vectors equal `ColBERTModel.embed`'s for the same tokens.

    model = TrainableColBERT.from_pretrained("minilm", dim=128, seed=12345)   # fresh seeded 384 -> 128 head
    Q, q_mask = model.forward_queries(model.tokenize_queries(queries))       # [n, query_maxlen, dim], [n, L]
    D, d_mask = model.forward_documents(model.tokenize_documents(passages))  # zero rows where d_mask is False
    loss(...).backward(); optimizer.step()                                   # model.parameters()
    model.save_pretrained("out/checkpoint")                                  # colbert-ai layout
    jcolbert.load_model("out/checkpoint")                                    # same vectors
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import InputError
from jcolbert.model.checkpoint import load_parts
from jcolbert.model.config import ColBERT_DEFAULTS, ModelConfig
from jcolbert.model.encoder import ColBERTModel, ModelParts, check_texts
from jcolbert.model.export import export_record, save_folder, write_colbert
from jcolbert.model.tokenization import ColBERTTokenizer, TokenBatch
from jcolbert.model.weights import new_projection

# Token settings of a model that gets a new ColBERT head on the offline `minilm` backbone: colbert-ai's rules
# (markers, [MASK] query augmentation), so that colbert-ai and PyLate encode the saved checkpoint the same way,
# and the lengths of the anchors' MiniLM benchmark checkpoint (../shared/anchors/make_minilm_checkpoint.py).
COLBERT_TOKEN_SETTINGS: dict[str, Any] = {
    "query_marker": ColBERT_DEFAULTS["query_token_id"],
    "doc_marker": ColBERT_DEFAULTS["doc_token_id"],
    "query_augmentation": True,
    "attend_to_mask_tokens": False,
    "query_maxlen": 32,
    "doc_maxlen": 300,
}


class TrainableColBERT(nn.Module):
    """Backbone + projection with a differentiable forward; `parameters()` are what an optimizer updates."""

    def __init__(self, parts: ModelParts) -> None:
        super().__init__()
        self.config = parts.config
        self.tokenizer = parts.tokenizer
        self.backbone = parts.backbone.to(torch.float32).train()
        self.projection = parts.projection.to(torch.float32).train()
        self.hf_config = parts.hf_config
        self.files = parts.files
        self.pooler = parts.pooler  # not trained, not a parameter: saved back as loaded

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        dim: int | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        **overrides: Any,
    ) -> TrainableColBERT:
        """Anything load_model takes (folder, hub id, "minilm"), on `device` (default CPU), in training mode.

        dim: a NEW projection head [dim, hidden] drawn from `seed` (weights.new_projection) replaces the checkpoint's
        when dim differs from its dim (or the checkpoint has none, like "minilm"); the model's settings then follow
        colbert-ai's token rules (COLBERT_TOKEN_SETTINGS) unless overridden. overrides: as load_model's.
        """
        parts = load_parts(name_or_path, {})
        if dim is not None and (dim != parts.config.dim or parts.config.projection != "linear"):
            parts = with_new_head(parts, dim, seed)
        if overrides:
            config = parts.config.with_overrides(**overrides)
            parts.config, parts.tokenizer = config, ColBERTTokenizer(parts.tokenizer.tokenizer, config)
        return cls(parts).to(torch.device(device or "cpu"))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def set_dropout(self, hidden: float, attention: float | None = None) -> None:
        """Dropout probabilities of the backbone in training mode (default: the checkpoint config's)."""
        for p in (hidden, attention if attention is not None else hidden):
            if not 0.0 <= p < 1.0:
                raise InputError(f"dropout must be in [0, 1), got {p}")
        self.backbone.hidden_dropout = hidden
        self.backbone.attention_dropout = attention if attention is not None else hidden

    # -- tokenisation (the encoder's rules: markers, [MASK] augmentation, punctuation skiplist) -------------------
    def tokenize_queries(self, texts: Sequence[str]) -> TokenBatch:
        return self.tokenizer.tokenize_queries(check_texts(texts, "queries"))

    def tokenize_documents(self, texts: Sequence[str], max_length: int | None = None) -> TokenBatch:
        """One padded batch, documents truncated to max_length (default doc_maxlen) tokens."""
        return self.tokenizer.tokenize_documents(check_texts(texts, "documents"), max_length)

    # -- the differentiable forward -------------------------------------------------------------------------------
    def forward(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(vectors [n, L, dim], mask [n, L] bool): unit vectors where mask is True (keep_mask), zeros elsewhere."""
        device = self.device
        hidden = self.backbone.train_forward(batch.input_ids.to(device), batch.attention_mask.to(device))
        mask = batch.keep_mask.to(device)
        vectors = self.projection(hidden) * mask.unsqueeze(-1)
        return F.normalize(vectors, p=2, dim=-1), mask

    def forward_queries(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Query vectors: every non-[PAD] position is kept ([MASK] rows included, as in colbert-ai)."""
        return self(batch)

    def forward_documents(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Document vectors: padding and punctuation positions are zero and masked out."""
        return self(batch)

    # -- leaving training -------------------------------------------------------------------------------------------
    def encoder(
        self, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
    ) -> ColBERTModel:
        """An inference ColBERTModel with a COPY of the current weights (training continues unaffected)."""
        backbone, projection = copy.deepcopy(self.backbone), copy.deepcopy(self.projection)
        return ColBERTModel(
            self.config, self.tokenizer, backbone, projection, device=device or self.device, dtype=dtype
        )

    def save_pretrained(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write a checkpoint in colbert-ai's layout (jcolbert.model.export) that load_model reloads to the same
        vectors. Refuses an existing folder unless overwrite; a failed save leaves the old folder intact."""
        record = export_record(self)
        return save_folder(folder, lambda tmp: write_colbert(record, tmp), overwrite=overwrite)


def with_new_head(parts: ModelParts, dim: int, seed: int) -> ModelParts:
    """`parts` with a fresh seeded projection [dim, hidden] and the settings of a colbert-ai checkpoint."""
    hidden = parts.config.hidden_size
    settings = dict(COLBERT_TOKEN_SETTINGS) if parts.config.checkpoint_format == "minilm" else {}
    config = ModelConfig.from_dict(
        {
            **parts.config.to_dict(),
            **settings,
            "dim": dim,
            "projection": "linear",
            "checkpoint_format": "colbert",
        }
    )
    tokenizer = ColBERTTokenizer(parts.tokenizer.tokenizer, config)
    projection = new_projection(hidden, dim, seed)
    return ModelParts(
        config, tokenizer, parts.backbone, projection, parts.hf_config, parts.files, parts.pooler
    )
