"""Reading and checking checkpoint files: the leaf every backbone and loader of jcolbert.model builds on.

Nothing here knows an architecture. A backbone module lists the keys and shapes it needs; `check_keys` compares
them with a file's tensors and names whatever is missing, mis-shaped or unexpected, exactly as the key is stored
(prefix included). This module imports nothing from jcolbert but its errors.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jcolbert.errors import CheckpointError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")

# Keys a backbone checkpoint may carry that ColBERT never uses: the pooler, a masked-LM head, and the
# position_ids buffer saved by transformers < 4.31 (colbertv2.0 was saved with 4.10).
IGNORED = ("pooler.", "cls.", "embeddings.position_ids")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_weights(folder: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """All tensors of a folder's weights file (safetensors, sharded safetensors, or pytorch_model.bin)."""
    from safetensors.torch import load_file

    single, index, pt = (folder / f for f in WEIGHT_FILES)
    try:
        if single.is_file():
            return load_file(str(single)), single
        if index.is_file():
            shards = sorted(set(read_json(index).get("weight_map", {}).values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(load_file(str(folder / shard)))
            return state, index
        if pt.is_file():
            return torch.load(str(pt), map_location="cpu", weights_only=True), pt
    except CheckpointError:
        raise
    except Exception as exc:  # corrupt / truncated files raise library-specific errors
        raise CheckpointError(f"{folder}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    raise CheckpointError(f"{folder}: no weights file (looked for {', '.join(WEIGHT_FILES)})")


def split_state(state: dict[str, torch.Tensor], head_keys: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    """Backbone weights with the HF_ColBERT 'bert.' prefix removed (if the file uses it), and that prefix."""
    body = {k: v for k, v in state.items() if k not in head_keys}
    prefix = "bert." if body and all(k.startswith("bert.") for k in body) else ""
    return {k[len(prefix) :]: v for k, v in body.items()}, prefix


def pooler_state(body: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone's pooler tensors (unused by ColBERT), kept so that a saved checkpoint still holds them."""
    return {k: v.to(torch.float32).contiguous() for k, v in body.items() if k.startswith("pooler.")}


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


def check_keys(
    state: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
    source: str,
    prefix: str = "",
    ignored: tuple[str, ...] = IGNORED,
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


class Table(nn.Module):
    """An embedding table (`.weight` [rows, width]) looked up with F.embedding or sliced.

    Not nn.Embedding: its constructor's normal_ initialisation on the meta device imports torch._dynamo
    (about a second), for weights that are replaced by the checkpoint's anyway.
    """

    def __init__(self, rows: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(rows, width))


def linear_projection(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Linear:
    """An nn.Linear holding a checkpoint's projection ([out, in] weight, optional bias), in float32."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight.to(torch.float32))
        if bias is not None:
            layer.bias.copy_(bias.to(torch.float32))
    return layer


def new_projection(hidden: int, dim: int, seed: int) -> nn.Linear:
    """A fresh ColBERT head `linear` [dim, hidden] without bias, reproducible from `seed`.

    weight = (U[0, 1) * 2 - 1) * (1 / sqrt(hidden)) drawn from torch.Generator().manual_seed(seed): the distribution of
    nn.Linear's default initialisation, and the recipe of the anchors' MiniLM benchmark checkpoint
    (../shared/anchors/make_minilm_checkpoint.py: hidden 384, dim 128, seed 12345 gives its exact tensor).
    """
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise CheckpointError(f"a new projection head needs a positive integer dim, got {dim!r}")
    generator = torch.Generator().manual_seed(int(seed))
    weight = (torch.rand(dim, hidden, generator=generator) * 2 - 1) * (1.0 / math.sqrt(hidden))
    return linear_projection(weight)
