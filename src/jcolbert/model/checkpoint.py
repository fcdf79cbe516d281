"""From a name or folder to a ColBERTModel: find the files, decide the format, load, and say so when it fails.

Formats, decided from the folder's contents (never by trying one loader after another):
  colbert  colbert-ai HF_ColBERT folder: config.json + weights with `linear.weight` (+ artifact.metadata).
           The backbone is JinaBERT when config.json describes one (ALiBi / GLU / jina-bert auto_map), else BERT.
  pylate   sentence-transformers folder whose modules.json lists a Dense projection after the Transformer.
  minilm   the built-in offline model (jcolbert.model.minilm).
Anything else raises CheckpointError naming what was found.
"""

from __future__ import annotations

import json
import logging
import os
import string
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jcolbert.errors import CheckpointError, HubUnavailableError
from jcolbert.model import bert, jinabert
from jcolbert.model.config import OVERRIDABLE, ModelConfig, colbert_settings, read_artifact_metadata
from jcolbert.model.encoder import ColBERTModel, ModelParts
from jcolbert.model.minilm import load_minilm_parts
from jcolbert.model.tokenization import ColBERTTokenizer, load_wordpiece
from jcolbert.model.weights import (
    WEIGHT_FILES,
    linear_projection,
    pooler_state,
    read_json,
    read_weights,
    split_state,
)

logger = logging.getLogger("jcolbert.model")

# Files worth downloading from the hub (never both weight formats when safetensors exists).
HUB_PATTERNS = [
    "config.json",
    "artifact.metadata",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "*Dense/*",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
]


# -- locating a checkpoint ----------------------------------------------------------------------------------
def resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    """(folder, name to record): a local folder and its absolute path, or a hub repo id (downloaded with
    huggingface_hub) and the id as given.

    A local folder is recorded by its resolved absolute path because an index stores the name and reloads the
    model from it later, maybe from another working directory; a hub id is recorded as is (the cache path is
    machine-specific, the id is not).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        folder = path.resolve()
        return folder, str(folder)
    name = str(name_or_path)
    if path.exists():
        raise CheckpointError(f"{name}: is a file, expected a checkpoint folder")
    looks_local = name.startswith((".", "/", "~")) or name.count("/") != 1 or os.sep != "/" and os.sep in name
    if looks_local:
        raise CheckpointError(f"{name}: no such checkpoint folder (and not a hub repo id like 'org/name')")
    return download(name), name


def download(repo_id: str) -> Path:
    """Fetch a hub repo's checkpoint files (safetensors preferred); one clear line when the hub is unreachable."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise HubUnavailableError(f"huggingface_hub is not installed, cannot fetch {repo_id!r}") from exc
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
        if not any((folder / f).exists() for f in WEIGHT_FILES):
            folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS + ["pytorch_model.bin"]))
    except RepositoryNotFoundError as exc:
        raise CheckpointError(f"{repo_id}: no such model on the Hugging Face hub (or it is private)") from exc
    except Exception as exc:  # connection errors, offline mode, timeouts: all mean "hub not reachable"
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise HubUnavailableError(
            f"cannot fetch {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {reason}); offline, pass a "
            "local checkpoint folder or use the built-in offline model: load_model('minilm')"
        ) from exc
    return folder


def _listing(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:15]) + (" ..." if len(names) > 15 else "") if names else "nothing"


# -- building the parts -----------------------------------------------------------------------------------
def build_backbone(
    hf: dict[str, Any], state: dict[str, torch.Tensor], source: str, prefix: str
) -> tuple[nn.Module, str, int, int]:
    """(module, kind, hidden_size, max_positions). A JinaBERT config always goes to our JinaBERT code."""
    if jinabert.is_jinabert_config(hf):
        cfg = jinabert.JinaBertConfig.from_hf(hf, source)
        return (
            jinabert.from_checkpoint(state, cfg, source, prefix),
            "jinabert",
            cfg.hidden_size,
            cfg.max_position_embeddings,
        )
    module = bert.from_checkpoint(state, hf, source, prefix)
    return module, "bert", module.shape.hidden_size, module.shape.max_position_embeddings


def detect_format(folder: Path) -> str:
    """'colbert' or 'pylate' from what the folder holds, or CheckpointError listing what it does hold."""
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{modules}: cannot read ({exc})") from exc
        if any(str(e.get("type", "")).endswith("Dense") for e in entries if isinstance(e, dict)):
            return "pylate"
    if (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES):
        if (folder / "artifact.metadata").is_file():
            return "colbert"
        # An HF_ColBERT folder saved without metadata still has the projection in its weights.
        arch = read_json(folder / "config.json").get("architectures") or []
        if "HF_ColBERT" in arch:
            return "colbert"
        raise CheckpointError(
            f"{folder}: a transformers model but not a ColBERT checkpoint (no artifact.metadata, no HF_ColBERT "
            f"architecture, no Dense projection in modules.json); found: {_listing(folder)}"
        )
    raise CheckpointError(
        f"{folder}: not a ColBERT checkpoint folder (need config.json + model.safetensors/pytorch_model.bin "
        f"[+ artifact.metadata], or a PyLate folder with modules.json); found: {_listing(folder)}"
    )


def load_colbert_folder(folder: Path, name: str, overrides: dict[str, Any]) -> ModelParts:
    """colbert-ai HF_ColBERT layout: backbone under 'bert.', projection `linear.weight` [dim, hidden]."""
    hf = read_json(folder / "config.json")
    state, weights_file = read_weights(folder)
    source = str(weights_file)
    if "linear.weight" not in state:
        raise CheckpointError(f"{source}: missing weight 'linear.weight' (the ColBERT projection)")
    body, prefix = split_state(state, {"linear.weight"})
    backbone, kind, hidden, max_pos = build_backbone(hf, body, source, prefix)
    linear = state["linear.weight"]
    if linear.ndim != 2 or linear.shape[1] != hidden:
        raise CheckpointError(
            f"{source}: weight 'linear.weight' has shape {list(linear.shape)}, expected [dim, {hidden}]"
        )
    meta_path = folder / "artifact.metadata"
    if meta_path.is_file():
        settings = colbert_settings(read_artifact_metadata(meta_path))
    else:
        logger.info("%s: no artifact.metadata, using colbert-ai's defaults", folder)
        settings = colbert_settings({})
        settings["dim"] = linear.shape[0]
    if settings["dim"] != linear.shape[0]:
        raise CheckpointError(
            f"{meta_path}: dim={settings['dim']} but 'linear.weight' projects to {linear.shape[0]} dimensions"
        )
    config = ModelConfig(
        name_or_path=name,
        backbone=kind,
        checkpoint_format="colbert",
        hidden_size=hidden,
        max_positions=max_pos,
        **settings,
    ).with_overrides(**overrides)
    tokenizer = ColBERTTokenizer(load_wordpiece(folder), config)
    return ModelParts(config, tokenizer, backbone, linear_projection(linear), hf_config=hf, files=folder, pooler=pooler_state(body))


def load_pylate_folder(folder: Path, name: str, overrides: dict[str, Any]) -> ModelParts:
    """PyLate (sentence-transformers) layout: Transformer at the root, then one or more Dense projections."""
    entries = sorted(
        json.loads((folder / "modules.json").read_text(encoding="utf-8")), key=lambda e: e.get("idx", 0)
    )
    kinds = [str(e.get("type", "")).rsplit(".", 1)[-1] for e in entries]
    if not kinds or kinds[0] != "Transformer" or any(k != "Dense" for k in kinds[1:]):
        raise CheckpointError(
            f"{folder / 'modules.json'}: expected Transformer then Dense module(s), found {kinds}"
        )
    root = folder / entries[0].get("path", "")
    hf = read_json(root / "config.json")
    state, weights_file = read_weights(root)
    body, prefix = split_state(state, set())
    backbone, kind, hidden, max_pos = build_backbone(hf, body, str(weights_file), prefix)
    layers: list[nn.Module] = []
    width = hidden
    for entry in entries[1:]:
        dense_dir = folder / entry.get("path", "")
        dcfg = read_json(dense_dir / "config.json")
        act = str(dcfg.get("activation_function", "torch.nn.modules.linear.Identity"))
        if not act.endswith("Identity"):
            raise CheckpointError(
                f"{dense_dir / 'config.json'}: activation {act!r} is not supported (Identity)"
            )
        if dcfg.get("use_residual"):
            raise CheckpointError(f"{dense_dir / 'config.json'}: use_residual=true is not supported")
        dstate, dfile = read_weights(dense_dir)
        if "linear.weight" not in dstate:
            raise CheckpointError(f"{dfile}: missing weight 'linear.weight'")
        weight = dstate["linear.weight"]
        if weight.ndim != 2 or weight.shape[1] != width:
            raise CheckpointError(
                f"{dfile}: weight 'linear.weight' has shape {list(weight.shape)}, expected [out, {width}]"
            )
        layers.append(linear_projection(weight, dstate.get("linear.bias")))
        width = weight.shape[0]
    st_path = folder / "config_sentence_transformers.json"
    st = read_json(st_path) if st_path.is_file() else {}
    query_marker = st.get("query_prefix", "[Q] ") or None
    doc_marker = st.get("document_prefix", "[D] ") or None
    config = ModelConfig(
        name_or_path=name,
        backbone=kind,
        checkpoint_format="pylate",
        query_maxlen=int(st.get("query_length") or 32),
        doc_maxlen=int(st.get("document_length") or 180),
        dim=width,
        hidden_size=hidden,
        query_marker=query_marker,
        doc_marker=doc_marker,
        query_augmentation=bool(st.get("do_query_expansion", True)),
        attend_to_mask_tokens=bool(st.get("attend_to_expansion_tokens", False)),
        skiplist_words=list(st.get("skiplist_words") or string.punctuation),
        max_positions=max_pos,
    ).with_overrides(**overrides)
    tokenizer = ColBERTTokenizer(load_wordpiece(root), config)
    projection = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    return ModelParts(config, tokenizer, backbone, projection, hf_config=hf, files=root, pooler=pooler_state(body))


def load_parts(name_or_path: str | os.PathLike, overrides: dict[str, Any]) -> ModelParts:
    """Config, tokenizer, backbone and projection of a folder, hub repo id or "minilm", on CPU in float32."""
    if str(name_or_path) == "minilm" and not Path("minilm").exists():
        return load_minilm_parts(overrides)
    folder, name = resolve(name_or_path)
    loader = load_pylate_folder if detect_format(folder) == "pylate" else load_colbert_folder
    return loader(folder, name, overrides)


def stored_settings(stored: ModelConfig | dict[str, Any]) -> tuple[ModelConfig, dict[str, Any]]:
    """(the stored ModelConfig, its overridable settings) for reloading the model an index recorded."""
    config = stored if isinstance(stored, ModelConfig) else ModelConfig.from_dict(stored)
    return config, {k: getattr(config, k) for k in OVERRIDABLE}


def check_still_matches(model_config: ModelConfig, stored: ModelConfig) -> None:
    problems = model_config.incompatibilities(stored)
    if problems:
        raise CheckpointError(
            f"{stored.name_or_path}: checkpoint no longer matches the stored config: {'; '.join(problems)}"
        )


def load_model(
    name_or_path: str | os.PathLike | ModelConfig | dict[str, Any],
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = "auto",
    **overrides: Any,
) -> ColBERTModel:
    """Load a ColBERT encoder from a local folder, a hub repo id, "minilm" (offline), or a stored ModelConfig.

    overrides: query_maxlen, doc_maxlen, query_marker, doc_marker, query_augmentation, attend_to_mask_tokens,
    mask_punctuation, skiplist_words (anything else is refused by name).
    device: default CUDA when available, else CPU.
    dtype: "auto" (default: bfloat16 on CPUs with AMX / AVX-512 BF16 and on CUDA GPUs with bf16, else float32),
    torch.float32 (exactly the reference's vectors), torch.bfloat16, torch.float16, or "int8" (jcolbert.model.precision).
    Returned vectors are float32 CPU tensors whatever the precision; config.dtype records the one used.

    Given a ModelConfig (or its to_dict()), the model is reloaded from its name_or_path with its settings, and
    CheckpointError is raised if the checkpoint found there no longer matches (dim, markers, backbone, ...). The
    stored dtype is not reused: `dtype` applies (queries may be encoded at any precision).
    """
    if isinstance(name_or_path, (ModelConfig, dict)):
        stored, settings = stored_settings(name_or_path)
        model = load_model(stored.name_or_path, device=device, dtype=dtype, **{**settings, **overrides})
        check_still_matches(model.config, stored)
        return model
    parts = load_parts(name_or_path, overrides)
    return ColBERTModel(parts.config, parts.tokenizer, parts.backbone, parts.projection, device=device, dtype=dtype)
