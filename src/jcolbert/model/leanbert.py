"""A lean inference forward for standard BERT encoders, over BertModel-format weights, without transformers.

"Standard" means what ColBERTv2, PyLate BERT models and MiniLM use: an absolute position table, token type 0,
exact (erf) GELU, post-LayerNorm, bidirectional attention (see `nonstandard`). For those, LeanBert computes the
same function as transformers' BertModel in eval mode (without the pooler), with the same weights:

    x = LN(word[ids] + type[0] + pos[0:L])
    per layer:  q, k, v = split(x Wqkv^T + bqkv);  a = LN(x + SDPA(q, k, v, key mask) Wo^T + bo)
                x = LN(a + GELU(a Wu^T + bu) Wd^T + bd)

Why not BertModel.forward: on CPU (MiniLM, batches of 32 x 300 tokens, 2 threads) about a third of its time is
spent outside the GEMMs: three q/k/v GEMMs, each copying its bias into a fresh output; a fresh
[tokens, intermediate] buffer for every layer (~50 MB at that batch, so it is mmap'ed, page-faulted and zeroed
by the kernel each time: allocating and filling one costs ~10x filling a reused one); residual adds as extra
passes; masks built per call. Here: one fused QKV GEMM into a buffer reused by every layer; SDPA reads q, k, v as
strided views of it and its CPU output is already laid out [B, L, H, d], so merging heads is a free view; the
output GEMMs accumulate onto the residual in place (beta = 1); GELU runs in place in one reused buffer. Fewer
kernel launches also matter on a shared machine, where each multi-threaded op can wait on a descheduled thread.

Inference only: forward runs under torch.inference_mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import CheckpointError, InputError

# Keys a BERT checkpoint may carry that the encoder does not use: the pooler, an MLM head, and the
# position_ids buffer saved by transformers < 4.31 (colbertv2.0 was saved with 4.10).
IGNORED = ("pooler.", "cls.", "embeddings.position_ids")


def nonstandard(hf: dict[str, Any]) -> list[str]:
    """Why a BERT config (config.json dict) is not the standard encoder LeanBert implements; [] when it is."""
    problems = []
    if hf.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type={hf['position_embedding_type']!r}")
    if hf.get("hidden_act", "gelu") != "gelu":
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
    """The sizes of a standard BERT encoder (transformers' BertConfig defaults for absent keys)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_hf(cls, hf: dict[str, Any], source: str = "config.json") -> BertShape:
        problems = nonstandard(hf)
        if problems:
            raise CheckpointError(f"{source}: not a standard BERT encoder ({'; '.join(problems)})")
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


class Table(nn.Module):
    """An embedding table (`.weight` [rows, width]) for inference: looked up with F.embedding or sliced.

    Not nn.Embedding: its constructor's normal_ initialisation on the meta device imports torch._dynamo
    (about a second), for weights that are replaced by the checkpoint's anyway.
    """

    def __init__(self, rows: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(rows, width))


class Layer(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        C, inner = s.hidden_size, s.intermediate_size
        self.n_head = s.num_attention_heads
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
        torch.ops.aten.gelu_(h)  # exact erf GELU, in place
        a.addmm_(h, self.down.weight.t()).add_(self.down.bias)
        out = F.layer_norm(a, (C,), self.out_norm.weight, self.out_norm.bias, self.out_norm.eps)
        return out.view(B, L, C)


class LeanBert(nn.Module):
    """Standard BERT encoder for inference; forward(input_ids, attention_mask) returns last_hidden_state."""

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        C = shape.hidden_size
        self.shape = shape
        self.word_embeddings = Table(shape.vocab_size, C)
        self.position_embeddings = Table(shape.max_position_embeddings, C)
        self.token_type_embeddings = Table(shape.type_vocab_size, C)
        self.emb_norm = nn.LayerNorm(C, eps=shape.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(shape) for _ in range(shape.num_hidden_layers))

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, L = input_ids.shape
        if self.shape.max_position_embeddings < L:
            raise InputError(f"{L} tokens exceed the {self.shape.max_position_embeddings} position embeddings")
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
        """BertModel-named views of this model's parameters (q/k/v: row blocks of the fused qkv), to load a
        BertModel with `assign=True` so that both modules share the same memory."""
        params = dict(self.named_parameters())
        out = {}
        for key, (lean_key, rows) in bert_names(self.shape).items():
            p = params[lean_key]
            out[key] = p if rows is None else p.detach()[rows]
        return out
