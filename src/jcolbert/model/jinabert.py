"""JinaBERT v2 (the backbone of jinaai/jina-colbert-v1-en) in plain PyTorch.

A post-LayerNorm BERT without absolute positions: symmetric ALiBi biases (-slope_h * |i - j|) in every
attention layer, and a GEGLU feed-forward (one fused up+gate matrix, exact-erf GELU on the FIRST half, times
the second half). See ../shared/design/jina-colbert-spec.md section 1 for the source of every detail.

Long inputs: the attention never materialises a [heads, L, L] bias (jcolbert.model.attention).

Two forwards over the same parameters: `forward` for inference (in-place ops, run under inference_mode by the
encoder), and `train_forward`, differentiable, with the reference's dropout (embeddings, attention probabilities,
attention output, GEGLU product) when the module is in training mode; with dropout off both compute the same.

The checkpoint loader is explicit: `checkpoint_shapes()` lists every key the model needs with its shape, and
`from_checkpoint()` names any key that is missing, mis-shaped or unexpected; `JinaBert.checkpoint_state()` is its
inverse (the reference's key names, q/k/v split again), used to save a trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import CheckpointError
from jcolbert.model.attention import AlibiBias, alibi_attention, alibi_slopes
from jcolbert.model.weights import IGNORED, Table, check_keys


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


@dataclass
class JinaBertConfig:
    vocab_size: int = 30528
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    max_position_embeddings: int = 8192
    feed_forward_type: str = "geglu"  # "geglu" (GELU on the gate) | "reglu" (ReLU on the gate)
    pad_token_id: int = 0
    hidden_dropout_prob: float = 0.1  # training only
    attention_probs_dropout_prob: float = 0.1  # training only

    @classmethod
    def from_hf(cls, hf: dict[str, Any], source: str = "config.json") -> JinaBertConfig:
        """Build from a jina-bert `config.json` dict, refusing variants this code does not implement."""
        if hf.get("position_embedding_type") != "alibi":
            raise CheckpointError(
                f"{source}: position_embedding_type is {hf.get('position_embedding_type')!r}; "
                "the JinaBERT backbone needs 'alibi'"
            )
        ff = hf.get("feed_forward_type", "original")
        if ff not in ("geglu", "reglu"):
            raise CheckpointError(f"{source}: feed_forward_type {ff!r} is not supported (geglu, reglu)")
        for unsupported in ("layer_norm_q", "layer_norm_k"):  # the qk-post-norm code-model variant
            if hf.get(unsupported):
                raise CheckpointError(f"{source}: {unsupported}=true (qk post-norm variant) is not supported")
        names = {f.name for f in fields(cls)} - {"feed_forward_type"}
        cfg = cls(feed_forward_type=ff, **{k: hf[k] for k in names if k in hf})
        if cfg.hidden_size % cfg.num_attention_heads:
            raise CheckpointError(
                f"{source}: hidden_size {cfg.hidden_size} is not divisible by num_attention_heads"
            )
        return cfg


class Embeddings(nn.Module):
    """Word + token-type(0) embeddings, LayerNorm. No position table: positions live in ALiBi."""

    def __init__(self, cfg: JinaBertConfig) -> None:
        super().__init__()
        self.word_embeddings = Table(cfg.vocab_size, cfg.hidden_size)
        self.token_type_embeddings = Table(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # ColBERT never passes token types, so every token gets row 0.
        words = F.embedding(input_ids, self.word_embeddings.weight)
        return self.LayerNorm(words + self.token_type_embeddings.weight[0])


class SelfAttention(nn.Module):
    """Fused-QKV multi-head attention with the ALiBi bias, then out-projection, residual, LayerNorm."""

    def __init__(self, cfg: JinaBertConfig) -> None:
        super().__init__()
        self.n_head = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: AlibiBias) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        ctx = alibi_attention(q, k, v, bias).transpose(1, 2).reshape(B, L, C)
        return self.LayerNorm(self.dense(ctx) + x)


class GLUMLP(nn.Module):
    """GEGLU feed-forward: act(first half) * second half of one fused projection, then wo, residual, LN."""

    def __init__(self, cfg: JinaBertConfig) -> None:
        super().__init__()
        self.intermediate = cfg.intermediate_size
        self.gated_layers = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.act = nn.GELU() if cfg.feed_forward_type == "geglu" else nn.ReLU()  # exact erf GELU
        self.wo = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.gated_layers(x)
        gated, linear = u[..., : self.intermediate], u[..., self.intermediate :]
        return self.layernorm(self.wo(self.act(gated).mul_(linear)) + x)


class Layer(nn.Module):
    def __init__(self, cfg: JinaBertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.mlp = GLUMLP(cfg)

    def forward(self, x: torch.Tensor, bias: AlibiBias) -> torch.Tensor:
        return self.mlp(self.attention(x, bias))


class JinaBert(nn.Module):
    """The encoder stack; forward returns last_hidden_state [B, L, hidden] (no pooler, no final norm)."""

    def __init__(self, cfg: JinaBertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        # A plain attribute, not a buffer: module.to(bfloat16) must not round the slopes.
        self.slopes = alibi_slopes(cfg.num_attention_heads)
        self.hidden_dropout = cfg.hidden_dropout_prob  # used by train_forward in training mode only
        self.attention_dropout = cfg.attention_probs_dropout_prob

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        slopes = torch.tensor(self.slopes, dtype=torch.float32, device=x.device)
        bias = AlibiBias(slopes, attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        return x


    def train_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Differentiable `forward`, with the reference's dropout when the module is in training mode."""
        hidden_p = self.hidden_dropout if self.training else 0.0
        attention_p = self.attention_dropout if self.training else 0.0
        emb = self.embeddings
        x = F.embedding(input_ids, emb.word_embeddings.weight) + emb.token_type_embeddings.weight[0]
        x = F.dropout(emb.LayerNorm(x), hidden_p)
        slopes = torch.tensor(self.slopes, dtype=torch.float32, device=x.device)
        bias = AlibiBias(slopes, attention_mask, x.dtype)
        B, L, C = x.shape
        for layer in self.layers:
            att, mlp = layer.attention, layer.mlp
            q, k, v = att.qkv(x).view(B, L, 3, att.n_head, att.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            ctx = alibi_attention(q, k, v, bias, dropout_p=attention_p).transpose(1, 2).reshape(B, L, C)
            x = att.LayerNorm(F.dropout(att.dense(ctx), hidden_p) + x)
            u = mlp.gated_layers(x)
            h = F.dropout(mlp.act(u[..., : mlp.intermediate]) * u[..., mlp.intermediate :], hidden_p)
            x = mlp.layernorm(mlp.wo(h) + x)
        return x

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """This model's weights under the reference's key names (no 'bert.' prefix), q/k/v split: the inverse of
        convert_checkpoint, for saving. Tensors are detached copies."""
        params = {k: v.detach() for k, v in self.named_parameters()}
        C = self.config.hidden_size
        out = {f"embeddings.{k}": params[f"embeddings.{k}"].clone() for k in EMBEDDING_KEYS}
        for n in range(self.config.num_hidden_layers):
            src, dst = f"layers.{n}.", f"encoder.layer.{n}."
            for kind in ("weight", "bias"):
                fused = params[f"{src}attention.qkv.{kind}"]
                for i, x in enumerate(("query", "key", "value")):
                    out[f"{dst}attention.self.{x}.{kind}"] = fused[i * C : (i + 1) * C].clone()
                for ours, theirs in LAYER_KEYS:
                    out[f"{dst}{theirs}.{kind}"] = params[f"{src}{ours}.{kind}"].clone()
            out[f"{dst}mlp.gated_layers.weight"] = params[f"{src}mlp.gated_layers.weight"].clone()
        return out


EMBEDDING_KEYS = (
    "word_embeddings.weight",
    "token_type_embeddings.weight",
    "LayerNorm.weight",
    "LayerNorm.bias",
)
# (this module's name, the reference's name) of each per-layer weight+bias pair other than q/k/v.
LAYER_KEYS = (
    ("attention.dense", "attention.output.dense"),
    ("attention.LayerNorm", "attention.output.LayerNorm"),
    ("mlp.wo", "mlp.wo"),
    ("mlp.layernorm", "mlp.layernorm"),
)


# -- checkpoint loading ---------------------------------------------------------------------------------

def checkpoint_shapes(cfg: JinaBertConfig) -> dict[str, tuple[int, ...]]:
    """Every backbone key (without the 'bert.' prefix) a JinaBERT checkpoint must hold, with its shape."""
    H, inner = cfg.hidden_size, cfg.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (cfg.vocab_size, H),
        "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, H),
        "embeddings.LayerNorm.weight": (H,),
        "embeddings.LayerNorm.bias": (H,),
    }
    for n in range(cfg.num_hidden_layers):
        p = f"encoder.layer.{n}."
        for proj in ("query", "key", "value"):
            shapes[f"{p}attention.self.{proj}.weight"] = (H, H)
            shapes[f"{p}attention.self.{proj}.bias"] = (H,)
        shapes[f"{p}attention.output.dense.weight"] = (H, H)
        shapes[f"{p}attention.output.dense.bias"] = (H,)
        shapes[f"{p}attention.output.LayerNorm.weight"] = (H,)
        shapes[f"{p}attention.output.LayerNorm.bias"] = (H,)
        shapes[f"{p}mlp.gated_layers.weight"] = (2 * inner, H)
        shapes[f"{p}mlp.wo.weight"] = (H, inner)
        shapes[f"{p}mlp.wo.bias"] = (H,)
        shapes[f"{p}mlp.layernorm.weight"] = (H,)
        shapes[f"{p}mlp.layernorm.bias"] = (H,)
    return shapes


def convert_checkpoint(
    state: dict[str, torch.Tensor], cfg: JinaBertConfig, source: str, prefix: str = "bert."
) -> dict[str, torch.Tensor]:
    """Map reference-layout backbone weights (prefix already stripped) onto this module's names, fusing q/k/v.

    An unexpected key is an error: an absolute position table, for instance, means this is not an ALiBi model.
    """
    check_keys(state, checkpoint_shapes(cfg), source, prefix, ignored=IGNORED)

    def get(key: str) -> torch.Tensor:
        return state[key].to(torch.float32)

    out = {f"embeddings.{k}": get(f"embeddings.{k}") for k in EMBEDDING_KEYS}
    for n in range(cfg.num_hidden_layers):
        src, dst = f"encoder.layer.{n}.", f"layers.{n}."
        for kind in ("weight", "bias"):
            out[f"{dst}attention.qkv.{kind}"] = torch.cat(
                [get(f"{src}attention.self.{x}.{kind}") for x in ("query", "key", "value")]
            )
            for ours, theirs in LAYER_KEYS:
                out[f"{dst}{ours}.{kind}"] = get(f"{src}{theirs}.{kind}")
        out[f"{dst}mlp.gated_layers.weight"] = get(f"{src}mlp.gated_layers.weight")
    return out


def from_checkpoint(
    state: dict[str, torch.Tensor], cfg: JinaBertConfig, source: str, prefix: str = "bert."
) -> JinaBert:
    """A JinaBert holding the checkpoint's weights (built on the meta device: no throw-away random init)."""
    weights = convert_checkpoint(state, cfg, source, prefix)
    with torch.device("meta"):
        model = JinaBert(cfg)
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval()
