"""BERT backbones of ColBERT checkpoints (colbert-ir/colbertv2.0, PyLate BERT models, MiniLM) in plain PyTorch.

Every BERT encoder a ColBERT checkpoint uses is the standard one: absolute position table, token type 0,
post-LayerNorm, bidirectional attention, and a GELU (exact or tanh), ReLU or SiLU feed-forward. `BertShape.from_hf`
reads its sizes from config.json and refuses, by name, anything else (relative positions, decoders, remote code):
no transformers import, no fallback to another implementation. For those configs LeanBert computes the same
function as transformers' BertModel (without the pooler), with the same weights (tests/test_model_bert.py):

    x = LN(word[ids] + type[0] + pos[0:L])
    per layer:  q, k, v = split(x Wqkv^T + bqkv);  a = LN(x + SDPA(q, k, v, key mask) Wo^T + bo)
                x = LN(a + act(a Wu^T + bu) Wd^T + bd)

Two forwards over the same parameters:
  forward        inference, under torch.inference_mode. On CPU (MiniLM, batches of 32 x 300 tokens, 2 threads)
                 about a third of BertModel.forward's time is spent outside the GEMMs: three q/k/v GEMMs each
                 copying its bias into a fresh output, a fresh [tokens, intermediate] buffer per layer (~50 MB:
                 mmap'ed, page-faulted and zeroed by the kernel each time), residual adds as extra passes. Here:
                 one fused QKV GEMM into a buffer reused by every layer; SDPA reads q, k, v as strided views of it
                 and its CPU output is already laid out [B, L, H, d], so merging heads is a free view; the output
                 GEMMs accumulate onto the residual in place (beta = 1); the activation runs in place.
  train_forward  differentiable, out of place, with BERT's dropout (embeddings, attention probabilities, both
                 sub-layer outputs) when the module is in training mode; with dropout off it equals `forward`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import CheckpointError, InputError
from jcolbert.model.weights import IGNORED, Table, check_keys, legacy_layernorm_names

# hidden_act values of transformers' ACT2FN that LeanBert implements: name -> F.gelu's `approximate`, or the
# activation's own name. gelu_new / gelu_fast are the tanh approximation written out (equal to 1e-7).
ACTIVATIONS = {
    "gelu": "none",
    "gelu_new": "tanh",
    "gelu_fast": "tanh",
    "gelu_pytorch_tanh": "tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}


def activation(h: torch.Tensor, kind: str, inplace: bool) -> torch.Tensor:
    """The feed-forward activation of ACTIVATIONS[hidden_act] (`kind`), in place for inference."""
    if kind == "relu":
        return h.relu_() if inplace else F.relu(h)
    if kind == "silu":
        return F.silu(h, inplace=inplace)
    return torch.ops.aten.gelu_(h, approximate=kind) if inplace else F.gelu(h, approximate=kind)


def unsupported(hf: dict[str, Any]) -> list[str]:
    """Why a config.json dict is not a BERT encoder this module runs; [] when it is."""
    problems = []
    if hf.get("model_type", "bert") != "bert":
        problems.append(f"model_type={hf['model_type']!r}")
    if hf.get("auto_map"):
        problems.append("auto_map (remote model code)")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type={hf['position_embedding_type']!r}")
    if str(hf.get("feed_forward_type", "original")) != "original":
        problems.append(f"feed_forward_type={hf['feed_forward_type']!r}")
    if hf.get("hidden_act", "gelu") not in ACTIVATIONS:
        problems.append(f"hidden_act={hf['hidden_act']!r}")
    for flag in ("is_decoder", "add_cross_attention"):
        if hf.get(flag):
            problems.append(f"{flag}=true")
    hidden, heads = hf.get("hidden_size", 768), hf.get("num_attention_heads", 12)
    if hidden % heads:
        problems.append(f"hidden_size {hidden} not divisible by num_attention_heads {heads}")
    return problems


@dataclass(frozen=True)
class BertShape:
    """The sizes and settings of a standard BERT encoder (transformers' BertConfig defaults for absent keys)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1  # training only
    attention_probs_dropout_prob: float = 0.1  # training only

    @classmethod
    def from_hf(cls, hf: dict[str, Any], source: str = "config.json") -> BertShape:
        problems = unsupported(hf)
        if problems:
            raise CheckpointError(
                f"{source}: not a standard BERT encoder ({'; '.join(problems)}); jcolbert runs BERT with absolute "
                f"positions and a {'/'.join(ACTIVATIONS)} feed-forward, and JinaBERT"
            )
        return cls(**{k: hf[k] for k in cls.__dataclass_fields__ if k in hf})


def bert_names(shape: BertShape) -> dict[str, tuple[str, slice | None]]:
    """BertModel state_dict key -> (LeanBert key, rows of it). q/k/v are row blocks of the fused qkv tensors."""
    C = shape.hidden_size
    names: dict[str, tuple[str, slice | None]] = {
        f"embeddings.{e}.weight": (f"{e}.weight", None)
        for e in ("word_embeddings", "position_embeddings", "token_type_embeddings")
    }
    names["embeddings.LayerNorm.weight"] = ("emb_norm.weight", None)
    names["embeddings.LayerNorm.bias"] = ("emb_norm.bias", None)
    for n in range(shape.num_hidden_layers):
        src, dst = f"encoder.layer.{n}.", f"layers.{n}."
        for kind in ("weight", "bias"):
            for i, proj in enumerate(("query", "key", "value")):
                names[f"{src}attention.self.{proj}.{kind}"] = (f"{dst}qkv.{kind}", slice(i * C, (i + 1) * C))
            names[f"{src}attention.output.dense.{kind}"] = (f"{dst}attn_out.{kind}", None)
            names[f"{src}attention.output.LayerNorm.{kind}"] = (f"{dst}attn_norm.{kind}", None)
            names[f"{src}intermediate.dense.{kind}"] = (f"{dst}up.{kind}", None)
            names[f"{src}output.dense.{kind}"] = (f"{dst}down.{kind}", None)
            names[f"{src}output.LayerNorm.{kind}"] = (f"{dst}out_norm.{kind}", None)
    return names


def checkpoint_shapes(shape: BertShape) -> dict[str, tuple[int, ...]]:
    """Every BertModel key (no pooler) a checkpoint of this shape must hold, with its shape."""
    with torch.device("meta"):
        lean = LeanBert(shape)
    params = dict(lean.named_parameters())
    out = {}
    for key, (lean_key, rows) in bert_names(shape).items():
        p = params[lean_key]
        out[key] = tuple(p[rows].shape if rows is not None else p.shape)
    return out


class Layer(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        C, inner = s.hidden_size, s.intermediate_size
        self.n_head = s.num_attention_heads
        self.act = ACTIVATIONS[s.hidden_act]
        self.qkv = nn.Linear(C, 3 * C)
        self.attn_out = nn.Linear(C, C)
        self.attn_norm = nn.LayerNorm(C, eps=s.layer_norm_eps)
        self.up = nn.Linear(C, inner)
        self.down = nn.Linear(inner, C)
        self.out_norm = nn.LayerNorm(C, eps=s.layer_norm_eps)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, qkv: torch.Tensor, inner: torch.Tensor
    ) -> torch.Tensor:
        """x [B, L, C] (overwritten); qkv [B, L, 3C] and inner [B, L, I]: scratch buffers shared by all layers."""
        B, L, C = x.shape
        rows = x.view(B * L, C)
        torch.addmm(self.qkv.bias, rows, self.qkv.weight.t(), out=qkv.view(B * L, 3 * C))
        q, k, v = qkv.view(B, L, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4).unbind(0)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B * L, C)
        rows.addmm_(ctx, self.attn_out.weight.t()).add_(self.attn_out.bias)  # residual + attention output
        a = F.layer_norm(rows, (C,), self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps)
        h = inner.view(B * L, -1)
        torch.addmm(self.up.bias, a, self.up.weight.t(), out=h)
        activation(h, self.act, inplace=True)
        a.addmm_(h, self.down.weight.t()).add_(self.down.bias)
        out = F.layer_norm(a, (C,), self.out_norm.weight, self.out_norm.bias, self.out_norm.eps)
        return out.view(B, L, C)

    def train_forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, hidden_p: float, attention_p: float
    ) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4).unbind(0)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=attention_p)
        a = self.attn_norm(x + F.dropout(self.attn_out(ctx.transpose(1, 2).reshape(B, L, C)), hidden_p))
        h = activation(self.up(a), self.act, inplace=False)
        return self.out_norm(a + F.dropout(self.down(h), hidden_p))


class LeanBert(nn.Module):
    """Standard BERT encoder; forward(input_ids, attention_mask) returns last_hidden_state (see module docstring)."""

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        C = shape.hidden_size
        self.shape = shape
        self.word_embeddings = Table(shape.vocab_size, C)
        self.position_embeddings = Table(shape.max_position_embeddings, C)
        self.token_type_embeddings = Table(shape.type_vocab_size, C)
        self.emb_norm = nn.LayerNorm(C, eps=shape.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(shape) for _ in range(shape.num_hidden_layers))
        self.hidden_dropout = shape.hidden_dropout_prob  # used by train_forward in training mode only
        self.attention_dropout = shape.attention_probs_dropout_prob

    def _check_length(self, L: int) -> None:
        if self.shape.max_position_embeddings < L:
            raise InputError(f"{L} tokens exceed the {self.shape.max_position_embeddings} position embeddings")

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, L = input_ids.shape
        self._check_length(L)
        # Same order of additions as BertModel: (word + token type 0) + position.
        x = F.embedding(input_ids, self.word_embeddings.weight)
        x += self.token_type_embeddings.weight[0]
        x += self.position_embeddings.weight[:L]
        x = F.layer_norm(x, (self.shape.hidden_size,), self.emb_norm.weight, self.emb_norm.bias, self.emb_norm.eps)
        # Key-side padding mask (True = attend), any pattern; none at all when every position is real.
        mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]
        qkv = x.new_empty(B, L, 3 * self.shape.hidden_size)
        inner = x.new_empty(B, L, self.shape.intermediate_size)
        for layer in self.layers:
            x = layer(x, mask, qkv, inner)
        return x

    def train_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Differentiable `forward`, with BERT's dropout when the module is in training mode."""
        L = input_ids.shape[1]
        self._check_length(L)
        hidden_p = self.hidden_dropout if self.training else 0.0
        attention_p = self.attention_dropout if self.training else 0.0
        x = F.embedding(input_ids, self.word_embeddings.weight) + self.token_type_embeddings.weight[0]
        x = F.dropout(self.emb_norm(x + self.position_embeddings.weight[:L]), hidden_p)
        mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer.train_forward(x, mask, hidden_p, attention_p)
        return x

    @classmethod
    def from_bert_state(cls, state: dict[str, torch.Tensor], shape: BertShape) -> LeanBert:
        """Built on the meta device (no throw-away random init) and filled with BertModel-named weights, whose
        keys the caller has checked; q, k and v are fused into one [3C, C] matrix per layer."""
        with torch.device("meta"):
            model = cls(shape)
        parts: dict[str, list[torch.Tensor]] = {}
        for key, (lean_key, _) in bert_names(shape).items():
            parts.setdefault(lean_key, []).append(state[key].to(torch.float32))
        weights = {k: v[0] if len(v) == 1 else torch.cat(v) for k, v in parts.items()}
        model.load_state_dict(weights, strict=True, assign=True)
        return model.eval()

    def bert_state(self) -> dict[str, torch.Tensor]:
        """BertModel-named views of this model's parameters (q/k/v: row blocks of the fused qkv)."""
        params = dict(self.named_parameters())
        out = {}
        for key, (lean_key, rows) in bert_names(self.shape).items():
            p = params[lean_key]
            out[key] = p if rows is None else p.detach()[rows]
        return out

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """BertModel-named detached copies of the weights (no 'bert.' prefix), for saving."""
        return {k: v.detach().clone() for k, v in self.bert_state().items()}


def from_checkpoint(
    state: dict[str, torch.Tensor], hf: dict[str, Any], source: str, prefix: str = "bert."
) -> LeanBert:
    """A LeanBert holding a checkpoint's BertModel weights (prefix already stripped), every key checked."""
    state = legacy_layernorm_names(state)
    shape = BertShape.from_hf(hf, source)
    check_keys(state, checkpoint_shapes(shape), source, prefix, ignored=IGNORED)
    return LeanBert.from_bert_state(state, shape)
