"""ModelConfig: every setting that decides what vectors a model produces, in one flat dataclass.

An index stores `config.to_dict()` next to its vectors and later calls `load_model(stored_dict)` to get the
same encoder back; `incompatibilities()` names the fields that would make old and new vectors disagree.

Settings come from the checkpoint (`artifact.metadata` for colbert-ai checkpoints, or
`config_sentence_transformers.json` for PyLate ones), then from the caller's overrides. Keys that an old
colbert-ai metadata file lacks get colbert-ai's own defaults (`ColBERT_DEFAULTS`).
"""

from __future__ import annotations

import dataclasses
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jcolbert.errors import CheckpointError, InputError

# colbert-ai 0.2.22 defaults for the encoding-relevant keys (colbert/infra/config/settings.py).
ColBERT_DEFAULTS: dict[str, Any] = {
    "query_token_id": "[unused0]",
    "doc_token_id": "[unused1]",
    "query_maxlen": 32,
    "doc_maxlen": 180,
    "dim": 128,
    "attend_to_mask_tokens": False,
    "mask_punctuation": True,
    "similarity": "cosine",
    "interaction": "colbert",
}

# Fields a caller may override at load time (load_model(..., **overrides)). Everything else is a property of
# the checkpoint's weights and cannot be changed without changing the vectors' meaning.
OVERRIDABLE = (
    "query_maxlen",
    "doc_maxlen",
    "query_marker",
    "doc_marker",
    "query_augmentation",
    "attend_to_mask_tokens",
    "mask_punctuation",
    "skiplist_words",
)

# Fields that must agree between the model that wrote an index and the one that queries it.
COMPATIBILITY_FIELDS = (
    "backbone",
    "dim",
    "projection",
    "query_marker",
    "doc_marker",
    "mask_punctuation",
    "skiplist_words",
    "similarity",
    "interaction",
)


@dataclass
class ModelConfig:
    """What a ColBERT encoder does with text. Marker fields hold token strings (None: no marker)."""

    name_or_path: str
    backbone: str  # "jinabert" | "bert"
    checkpoint_format: str = "colbert"  # "colbert" (HF_ColBERT folder) | "pylate" | "minilm"
    query_maxlen: int = 32
    doc_maxlen: int = 180
    dim: int = 128
    hidden_size: int = 768
    projection: str = "linear"  # "linear" (learned, no bias) | "identity" (raw hidden states)
    query_marker: str | None = "[unused0]"
    doc_marker: str | None = "[unused1]"
    query_augmentation: bool = True  # pad queries with [MASK] to query_maxlen
    attend_to_mask_tokens: bool = False
    mask_punctuation: bool = True
    skiplist_words: list[str] = field(default_factory=lambda: list(string.punctuation))
    similarity: str = "cosine"
    interaction: str = "colbert"
    max_positions: int = 512  # longest input the backbone accepts (BERT: position table; JinaBERT: 8192)
    # The precision the encoder ran at ("float32" | "bfloat16" | "float16" | "int8"): an index records what its
    # documents were encoded with. Not a compatibility field: queries may be encoded at any precision.
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject settings that cannot produce sensible vectors, naming the field."""
        if self.backbone not in ("jinabert", "bert"):
            raise CheckpointError(f"ModelConfig.backbone must be 'jinabert' or 'bert', got {self.backbone!r}")
        if self.projection not in ("linear", "identity"):
            raise CheckpointError(
                f"ModelConfig.projection must be 'linear' or 'identity', got {self.projection!r}"
            )
        for name in ("query_maxlen", "doc_maxlen", "dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        markers = (self.query_marker is not None) + (self.doc_marker is not None)
        if self.query_maxlen < 2 + (self.query_marker is not None) or self.doc_maxlen < 2 + markers:
            raise InputError(
                f"query_maxlen={self.query_maxlen} / doc_maxlen={self.doc_maxlen} leave no room for text "
                "after [CLS], the marker and [SEP]"
            )
        if self.doc_maxlen > self.max_positions:
            raise InputError(
                f"doc_maxlen={self.doc_maxlen} exceeds what the {self.backbone} backbone of "
                f"{self.name_or_path!r} accepts ({self.max_positions} positions)"
            )
        if self.query_maxlen > self.max_positions:
            raise InputError(
                f"query_maxlen={self.query_maxlen} exceeds the backbone's {self.max_positions} positions"
            )
        if self.dtype not in ("float32", "bfloat16", "float16", "int8"):
            raise InputError(f"ModelConfig.dtype must be float32, bfloat16, float16 or int8, got {self.dtype!r}")
        if self.similarity != "cosine":
            raise CheckpointError(f"similarity {self.similarity!r} is not supported (only 'cosine')")
        if self.interaction != "colbert":
            raise CheckpointError(f"interaction {self.interaction!r} is not supported (only 'colbert')")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (what an index records)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"unknown ModelConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def compatibility_key(self) -> dict[str, Any]:
        """The fields that decide whether two models' vectors live in the same space (see COMPATIBILITY_FIELDS).

        Lengths (query_maxlen, doc_maxlen) and attend_to_mask_tokens are deliberately absent: they change how
        much text is encoded, not what a vector means. The path is absent too: the same weights may sit in a
        hub cache or in a local folder.
        """
        return {name: getattr(self, name) for name in COMPATIBILITY_FIELDS}

    def incompatibilities(self, other: ModelConfig | dict[str, Any]) -> list[str]:
        """Human-readable list of compatibility fields that differ ([] when compatible)."""
        theirs = other.compatibility_key() if isinstance(other, ModelConfig) else other
        mine = self.compatibility_key()
        return [
            f"{name}: {theirs.get(name)!r} != {mine[name]!r}"
            for name in COMPATIBILITY_FIELDS
            if theirs.get(name) != mine[name]
        ]

    def with_overrides(self, **overrides: Any) -> ModelConfig:
        """A copy with caller overrides applied; unknown or fixed fields are refused by name.

        None means "not given" (keep the checkpoint's value), except for the two marker fields, where None
        means "no marker token".
        """
        bad = sorted(set(overrides) - set(OVERRIDABLE))
        if bad:
            raise InputError(f"cannot override {bad} at load time; overridable settings: {list(OVERRIDABLE)}")
        given = {k: v for k, v in overrides.items() if v is not None or k in ("query_marker", "doc_marker")}
        if "skiplist_words" in given:
            given["skiplist_words"] = list(given["skiplist_words"])
        return dataclasses.replace(self, **given)


def read_artifact_metadata(path: Path) -> dict[str, Any]:
    """colbert-ai's `artifact.metadata`: flat ColBERTConfig export, or nested {"config": {...}, "meta": ...}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read artifact.metadata ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: artifact.metadata is not a JSON object")
    if isinstance(data.get("config"), dict) and "dim" not in data and "query_maxlen" not in data:
        data = data["config"]
    return data


def colbert_settings(metadata: dict[str, Any]) -> dict[str, Any]:
    """Map a colbert-ai metadata dict onto ModelConfig fields, filling colbert-ai's defaults for absent keys."""
    merged = {**ColBERT_DEFAULTS, **{k: v for k, v in metadata.items() if k in ColBERT_DEFAULTS}}
    return {
        "query_maxlen": int(merged["query_maxlen"]),
        "doc_maxlen": int(merged["doc_maxlen"]),
        "dim": int(merged["dim"]),
        "query_marker": merged["query_token_id"],
        "doc_marker": merged["doc_token_id"],
        "attend_to_mask_tokens": bool(merged["attend_to_mask_tokens"]),
        "mask_punctuation": bool(merged["mask_punctuation"]),
        "similarity": merged["similarity"],
        "interaction": merged["interaction"],
    }
