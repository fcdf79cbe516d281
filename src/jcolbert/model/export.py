"""Saving a model as a checkpoint folder other tools load: colbert-ai's HF_ColBERT layout.

    config.json        the backbone's config.json as loaded, architectures = ["HF_ColBERT"]
    model.safetensors  float32; the backbone under "bert." with the reference's key names (BertModel's for BERT,
                       JinaBERT's for JinaBERT: q/k/v split again), and the projection as "linear.weight" [dim, hidden]
    tokenizer files    tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json as loaded
    artifact.metadata  colbert-ai's flat ColBERTConfig export of the encoding settings (+ "meta")

That is the layout of colbert-ir/colbertv2.0 and jinaai/jina-colbert-v1-en (../shared/design/jina-colbert-spec.md
section 2) and of the parity fixtures: colbert-ai's Checkpoint and jcolbert.load_model read it back. A layout is
two steps: `export_record()` gathers what any layout needs (tensors, configs, settings), a writer lays it out in a
folder; another layout (PyLate's) is another writer of the same record.

A folder is written whole or not at all: files go to a temporary sibling folder that replaces the target only
once complete, so a failure (a full disk) leaves any previous checkpoint there untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jcolbert.errors import CheckpointError
from jcolbert.model.config import ModelConfig
from jcolbert.model.tokenization import ColBERTTokenizer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@dataclass
class ExportRecord:
    """Everything a checkpoint layout needs, detached from the live modules."""

    config: ModelConfig
    backbone_state: dict[str, torch.Tensor]  # reference key names, no prefix, float32 contiguous
    projection: torch.Tensor  # [dim, hidden], float32
    hf_config: dict[str, Any]
    tokenizer: ColBERTTokenizer
    files: Path | None  # folder with the original tokenizer files


def projection_matrix(projection: nn.Module, config: ModelConfig) -> torch.Tensor:
    """The head as one [dim, hidden] matrix without bias (identity -> the identity matrix)."""
    if isinstance(projection, nn.Identity):
        return torch.eye(config.hidden_size)
    if isinstance(projection, nn.Linear) and projection.bias is None:
        return projection.weight.detach().to(torch.float32).contiguous().clone()
    raise CheckpointError(
        f"{config.name_or_path}: the projection {type(projection).__name__} is not one linear map without bias, "
        "which colbert-ai's layout ('linear.weight') requires"
    )


def export_record(model: Any) -> ExportRecord:
    """The record of a model with config, tokenizer, backbone (with checkpoint_state()), projection, hf_config,
    files and pooler attributes (TrainableColBERT); the pooler, if the source had one, is saved back unchanged."""
    state = {k: v.to(torch.float32).contiguous() for k, v in model.backbone.checkpoint_state().items()}
    state.update(model.pooler)
    projection = projection_matrix(model.projection, model.config)
    return ExportRecord(model.config, state, projection, model.hf_config, model.tokenizer, model.files)


def colbert_metadata(config: ModelConfig) -> dict[str, Any]:
    """artifact.metadata for colbert-ai, refusing settings its ColBERTConfig cannot express (naming the field)."""
    if config.query_marker is None or config.doc_marker is None:
        field = "query_marker" if config.query_marker is None else "doc_marker"
        raise CheckpointError(
            f"ModelConfig.{field} is None: colbert-ai always inserts a marker token; set query_marker and "
            "doc_marker (e.g. '[unused0]' / '[unused1]') before saving in colbert-ai's layout"
        )
    if not config.query_augmentation:
        raise CheckpointError(
            "ModelConfig.query_augmentation is False: colbert-ai always pads queries with [MASK]; "
            "enable it before saving in colbert-ai's layout"
        )
    if config.mask_punctuation and sorted(config.skiplist_words) != sorted(string.punctuation):
        raise CheckpointError(
            "ModelConfig.skiplist_words differs from colbert-ai's fixed skiplist (string.punctuation)"
        )
    try:
        from importlib.metadata import version

        jcolbert_version = version("jcolbert")
    except Exception:  # not installed as a distribution (source checkout on sys.path)
        jcolbert_version = "unknown"
    return {
        "query_token_id": config.query_marker,
        "doc_token_id": config.doc_marker,
        "query_token": "[Q]",
        "doc_token": "[D]",
        "query_maxlen": config.query_maxlen,
        "doc_maxlen": config.doc_maxlen,
        "dim": config.dim,
        "similarity": config.similarity,
        "interaction": config.interaction,
        "attend_to_mask_tokens": config.attend_to_mask_tokens,
        "mask_punctuation": config.mask_punctuation,
        "model_name": None,
        "checkpoint": None,
        "meta": {"saved_by": f"jcolbert {jcolbert_version}", "base": config.name_or_path},
    }


def write_colbert(record: ExportRecord, folder: Path) -> None:
    """colbert-ai's HF_ColBERT layout (module docstring) into an existing empty folder."""
    from safetensors.torch import save_file

    metadata = colbert_metadata(record.config)
    hf = {k: v for k, v in record.hf_config.items() if k != "_name_or_path"}
    hf["architectures"] = ["HF_ColBERT"]
    hf["torch_dtype"] = "float32"
    tensors = {f"bert.{k}": v for k, v in record.backbone_state.items()}
    tensors["linear.weight"] = record.projection
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_json(folder / "config.json", hf)
    write_json(folder / "artifact.metadata", metadata)
    copy_tokenizer(record, folder)


def copy_tokenizer(record: ExportRecord, folder: Path) -> None:
    copied = []
    for name in TOKENIZER_FILES:
        if record.files is not None and (record.files / name).is_file():
            shutil.copyfile(record.files / name, folder / name)
            copied.append(name)
    if "tokenizer.json" not in copied:
        record.tokenizer.tokenizer.save(str(folder / "tokenizer.json"))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def save_folder(folder: str | os.PathLike, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Run `write(tmp)` on a fresh temporary sibling of `folder`, then put it in place (module docstring)."""
    target = Path(folder).expanduser().resolve()
    if target.exists() and not overwrite:
        raise CheckpointError(f"{target}: already exists; pass overwrite=True to replace it")
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{target}: exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.saving-{os.getpid()}"
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        write(tmp)
        for path in tmp.rglob("*"):  # layouts with subfolders (PyLate's 1_Dense/) included
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CheckpointError(
                f"{target}: cannot save the checkpoint ({exc}); nothing was changed"
            ) from exc
        raise
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
