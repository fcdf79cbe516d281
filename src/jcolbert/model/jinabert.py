"""JinaBERT v2 (the backbone of jinaai/jina-colbert-v1-en) in plain PyTorch.

A post-LayerNorm BERT without absolute positions: symmetric ALiBi biases (-slope_h * |i - j|) in every
attention layer, and a GEGLU feed-forward (one fused up+gate matrix, exact-erf GELU on the FIRST half, times
the second half). See ../shared/design/jina-colbert-spec.md section 1 for the source of every detail.

Long inputs: the reference builds a [heads, L, L] fp32 bias (3.2 GB at L = 8192). We never do: the bias is a
strided view of a [heads, 2L - 1] table (see AlibiBias), read in place by torch's fused SDPA kernel, which
itself works in tiles; an 8192-token document needs tens of MB for attention, not GB.

The checkpoint loader is explicit: `checkpoint_shapes()` lists every key the model needs with its shape, and
`load_checkpoint()` names any key that is missing, mis-shaped or unexpected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import CheckpointError
from jcolbert.model.leanbert import Table


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


def alibi_slopes(n_heads: int) -> list[float]:
    """Per-head ALiBi slopes (Press et al.), for any head count.

    Power of two n: start = 2^(-8/n), slopes start^1 .. start^n. Otherwise take the slopes of the largest
    power of two P < n, then every other slope of 2P (indices 0, 2, 4, ...) until n heads are covered.
    """

    def power_of_two(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_two(n_heads)
    p = 2 ** math.floor(math.log2(n_heads))
    return power_of_two(p) + alibi_slopes(2 * p)[0::2][: n_heads - p]


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


class AlibiBias:
    """The additive attention bias of one forward pass, shared by all layers, never materialised as [H, L, L].

    bias[h, i, j] = -slope_h * |i - j| depends only on i - j, so every row is a slice of one small table
    T[h, t] = -slope_h * |t - (L - 1)|, t in [0, 2L - 1). With the keys in REVERSED order (j' = n - 1 - j) the
    bias of query i and key j' sits at T[h, i + j' + L - n]: both indices advance with stride 1, so the whole
    [H, L, n] bias is an `as_strided` view of T that SDPA reads in place. Reversing keys and values together
    changes nothing mathematically (attention sums over keys in any order).

    Padding: rows are grouped by their number of real keys n (right padding, the only kind ColBERT produces),
    and each group attends to its first n keys only, which is the key-side mask. A row whose mask is not of the
    form 1..1 0..0 gets an explicit bias built from its key positions, in blocks of query rows.
    """

    def __init__(self, slopes: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype) -> None:
        batch, self.length = attention_mask.shape
        L = self.length
        self.slopes = slopes.to(attention_mask.device, torch.float32)
        offsets = torch.arange(2 * L - 1, device=attention_mask.device, dtype=torch.float32) - (L - 1)
        self.table = (-self.slopes[:, None] * offsets.abs()[None, :]).to(dtype).contiguous()
        self.materialise = attention_mask.device.type != "cpu"  # see reversed_keys_view
        self.dtype = dtype
        mask = attention_mask.bool()
        n_keys = mask.sum(1)
        prefix = mask == (torch.arange(L, device=mask.device)[None, :] < n_keys[:, None])
        self.groups: list[tuple[int, torch.Tensor | slice]] = []  # (n_keys, rows) for right-padded rows
        self.irregular: list[tuple[int, torch.Tensor]] = []  # (row, key positions) for any other mask
        rows_ok = prefix.all(1)
        for n in torch.unique(n_keys[rows_ok]).tolist():
            rows = torch.nonzero(rows_ok & (n_keys == n)).flatten()
            self.groups.append((int(n), slice(None) if len(rows) == batch else rows))
        for row in torch.nonzero(~rows_ok).flatten().tolist():
            self.irregular.append((row, torch.nonzero(mask[row]).flatten()))

    def reversed_keys_view(self, n_keys: int) -> torch.Tensor:
        """[1, H, L, n_keys] bias for all query rows against the first n_keys keys taken in reverse order."""
        H, L = self.table.shape[0], self.length
        view = self.table.as_strided((1, H, L, n_keys), (0, 2 * L - 1, 1, 1), storage_offset=L - n_keys)
        # torch's CPU flash kernel reads this overlapping view in place (verified: no [H, L, L] copy). GPU kernels
        # were not verified here (no GPU on the development machine), so they get a plain contiguous mask.
        return view.contiguous() if self.materialise else view

    def explicit_block(self, start: int, end: int, key_pos: torch.Tensor) -> torch.Tensor:
        """[1, H, end - start, len(key_pos)] bias for query rows start..end-1 against keys at key_pos."""
        rows = torch.arange(start, end, device=key_pos.device, dtype=torch.float32)
        dist = (rows[:, None] - key_pos[None, :].to(torch.float32)).abs()
        return (-self.slopes[None, :, None, None] * dist).to(self.dtype)


def alibi_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: AlibiBias, block_elements: int = 1 << 24
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + ALiBi + key padding) v for q, k, v [B, H, L, d]."""
    if len(bias.groups) == 1 and not bias.irregular:
        n, _ = bias.groups[0]
        return F.scaled_dot_product_attention(
            q, k[:, :, :n].flip(2), v[:, :, :n].flip(2), attn_mask=bias.reversed_keys_view(n)
        )
    out = torch.empty_like(q)
    for n, rows in bias.groups:
        out[rows] = F.scaled_dot_product_attention(
            q[rows], k[rows, :, :n].flip(2), v[rows, :, :n].flip(2), attn_mask=bias.reversed_keys_view(n)
        )
    for row, key_pos in bias.irregular:  # rare: masks that are not right padding
        kk, vv = k[row : row + 1, :, key_pos], v[row : row + 1, :, key_pos]
        step = max(1, block_elements // (q.shape[1] * max(1, len(key_pos))))
        for start in range(0, bias.length, step):
            end = min(start + step, bias.length)
            out[row : row + 1, :, start:end] = F.scaled_dot_product_attention(
                q[row : row + 1, :, start:end], kk, vv, attn_mask=bias.explicit_block(start, end, key_pos)
            )
    return out


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

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        slopes = torch.tensor(self.slopes, dtype=torch.float32, device=x.device)
        bias = AlibiBias(slopes, attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        return x


# -- checkpoint loading ---------------------------------------------------------------------------------

# Keys the reference model stores but ColBERT never uses: the pooler, the masked-LM head of
# JinaBertForMaskedLM checkpoints, a stray position_ids buffer.
IGNORED = ("pooler.", "cls.", "embeddings.position_ids")


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


def check_keys(
    state: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
    source: str,
    prefix: str = "",
    ignored: tuple[str, ...] = (),
) -> None:
    """Raise CheckpointError naming missing, mis-shaped or unexpected keys.

    `state` holds the backbone's keys with the checkpoint's prefix (e.g. 'bert.') already removed; messages
    put it back so they name the key exactly as stored in the file. Keys starting with an `ignored` entry
    are known-unused (pooler, MLM head, old position_ids buffer).
    """
    missing = [prefix + k for k in expected if k not in state]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise CheckpointError(f"{source}: missing weight(s) {missing[:5]}{more}")
    for key, shape in expected.items():
        got = tuple(state[key].shape)
        if got != shape:
            raise CheckpointError(
                f"{source}: weight {prefix + key!r} has shape {list(got)}, expected {list(shape)}"
            )
    unexpected = sorted(prefix + k for k in state if k not in expected and not k.startswith(ignored))
    if unexpected:
        raise CheckpointError(f"{source}: unexpected weight(s) {unexpected[:5]} for this backbone")


def convert_checkpoint(
    state: dict[str, torch.Tensor], cfg: JinaBertConfig, source: str, prefix: str = "bert."
) -> dict[str, torch.Tensor]:
    """Map reference-layout backbone weights (prefix already stripped) onto this module's names, fusing q/k/v.

    An unexpected key is an error: an absolute position table, for instance, means this is not an ALiBi model.
    """
    check_keys(state, checkpoint_shapes(cfg), source, prefix, ignored=IGNORED)

    def get(key: str) -> torch.Tensor:
        return state[key].to(torch.float32)

    out = {
        "embeddings.word_embeddings.weight": get("embeddings.word_embeddings.weight"),
        "embeddings.token_type_embeddings.weight": get("embeddings.token_type_embeddings.weight"),
        "embeddings.LayerNorm.weight": get("embeddings.LayerNorm.weight"),
        "embeddings.LayerNorm.bias": get("embeddings.LayerNorm.bias"),
    }
    for n in range(cfg.num_hidden_layers):
        src, dst = f"encoder.layer.{n}.", f"layers.{n}."
        for kind in ("weight", "bias"):
            out[f"{dst}attention.qkv.{kind}"] = torch.cat(
                [get(f"{src}attention.self.{x}.{kind}") for x in ("query", "key", "value")]
            )
            out[f"{dst}attention.dense.{kind}"] = get(f"{src}attention.output.dense.{kind}")
            out[f"{dst}attention.LayerNorm.{kind}"] = get(f"{src}attention.output.LayerNorm.{kind}")
            out[f"{dst}mlp.wo.{kind}"] = get(f"{src}mlp.wo.{kind}")
            out[f"{dst}mlp.layernorm.{kind}"] = get(f"{src}mlp.layernorm.{kind}")
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
