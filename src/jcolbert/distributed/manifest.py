"""`shards.json`: the manifest of a sharded index, as typed, validated, checksummed records.

A sharded index is a folder::

    shards.json        this manifest (the only file a sharded change rewrites; atomic replace + fsync)
    writer.lock        held by the one process changing the sharded index
    codec-<gen>-<rand>/  the codec all shards share, saved once (`Codec.save`), when the index has one
    shard-0000/ ...    ordinary jcolbert index folders, one per shard (`jcolbert.Index` opens each)

The same trust rules as an index manifest (index/manifest.py): every name is a plain name matched by a
pattern (no paths, no `..`), the whole document is checked before any folder it names is opened, and a
SHA-256 checksum over the canonical JSON detects edits and flipped bytes. Document counts are what the
shards held at the last sharded commit (informative: each shard's own manifest is the truth).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jcolbert.errors import IndexFormatError
from jcolbert.index import storage
from jcolbert.index.manifest import (
    CODEC_DIR,
    MAX_COUNT,
    MAX_DIM,
    CodecEntry,
    canonical_json,
    checksum,
    no_duplicate_keys,
    no_json_constant,
)

SHARDS_MANIFEST = "shards.json"
FORMAT_NAME = "jcolbert-sharded-index"
FORMAT_VERSION = 1
SHARD_DIR = re.compile(r"shard-\d{4,6}")
FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
ROUTING = ("blake2b-64",)
MAX_SHARDS = 4096
MAX_BYTES = 16 << 20


def _fail(where: str, problem: str) -> IndexFormatError:
    return IndexFormatError(f"{SHARDS_MANIFEST}: {where}: {problem}")


def _keys(d: Any, where: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _fail(where, f"expected an object, got {type(d).__name__}")
    missing = [k for k in required if k not in d]
    unknown = sorted(set(d) - set(required))
    if missing or unknown:
        raise _fail(where, f"missing key(s) {missing}" if missing else f"unknown key(s) {unknown}")
    return d


def _int(value: Any, where: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _fail(where, f"expected an integer in [{lo}, {hi}], got {value!r}"[:200])
    return value


def _name(value: Any, where: str, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(where, f"{value!r} is not a valid name here (a plain name like {pattern.pattern!r})"[:300])
    return value


def codec_fingerprint(entry: CodecEntry) -> str:
    """What identifies a codec across folders: its arrays' crc32s, shapes and dtypes, and its settings."""
    body = {"num_centroids": entry.num_centroids, "nbits": entry.nbits, "residual": entry.residual,
            "files": {k: [f.crc32, list(f.shape), f.dtype] for k, f in sorted(entry.files.items())}}
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ShardEntry:
    """One shard: its folder (inside the sharded folder) and how many live documents it held."""

    dir: str
    documents: int

    @classmethod
    def parse(cls, d: Any, where: str) -> ShardEntry:
        d = _keys(d, where, ("dir", "documents"))
        return cls(_name(d["dir"], f"{where}.dir", SHARD_DIR), _int(d["documents"], f"{where}.documents"))


@dataclass(frozen=True)
class CodecRef:
    """The shared codec: its folder (saved by `Codec.save`) and the fingerprint every shard's codec must have."""

    dir: str
    fingerprint: str
    num_centroids: int
    trained_tokens: int

    @classmethod
    def parse(cls, d: Any, where: str = "codec") -> CodecRef:
        d = _keys(d, where, ("dir", "fingerprint", "num_centroids", "trained_tokens"))
        return cls(_name(d["dir"], f"{where}.dir", CODEC_DIR), _name(d["fingerprint"], f"{where}.fingerprint", FINGERPRINT),
                   _int(d["num_centroids"], f"{where}.num_centroids", 1, 1 << 24),
                   _int(d["trained_tokens"], f"{where}.trained_tokens"))


@dataclass(frozen=True)
class ShardsManifest:
    generation: int
    dim: int
    nbits: int
    model: dict[str, Any] | None
    exact_threshold: int
    shards: tuple[ShardEntry, ...]
    codec: CodecRef | None = None
    next_auto_id: int = 0
    routing: str = "blake2b-64"

    def replace(self, **changes: Any) -> ShardsManifest:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "generation": self.generation,
                "dim": self.dim, "nbits": self.nbits, "model": self.model, "exact_threshold": self.exact_threshold,
                "routing": self.routing, "next_auto_id": self.next_auto_id,
                "shards": [dataclasses.asdict(s) for s in self.shards],
                "codec": dataclasses.asdict(self.codec) if self.codec else None}

    def dumps(self) -> bytes:
        body = self.to_dict()
        return canonical_json({**body, "checksum": checksum(body)})

    @classmethod
    def parse(cls, d: Any) -> ShardsManifest:
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{SHARDS_MANIFEST} is not a sharded jcolbert index manifest "
                                   f"(field 'format' != {FORMAT_NAME!r})")
        if d.get("format_version") != FORMAT_VERSION:
            raise _fail("format_version", f"{d.get('format_version')!r}: this jcolbert reads version {FORMAT_VERSION}")
        keys = ("format", "format_version", "generation", "dim", "nbits", "model", "exact_threshold", "routing",
                "next_auto_id", "shards", "codec", "checksum")
        d = _keys(d, "manifest", keys)
        if d["checksum"] != checksum({k: v for k, v in d.items() if k != "checksum"}):
            raise IndexFormatError(f"{SHARDS_MANIFEST} fails its checksum: the file was edited or corrupted")
        dim = _int(d["dim"], "dim", 1, MAX_DIM)
        nbits = _int(d["nbits"], "nbits", 1, 4)
        if nbits not in (1, 2, 4) or dim % (8 // nbits):
            raise _fail("nbits", f"nbits {nbits} with dim {dim}")
        model = d["model"]
        if model is not None and (not isinstance(model, dict) or model.get("dim") != dim
                                  or not isinstance(model.get("name_or_path"), str)):
            raise _fail("model", "expected null or an object with 'name_or_path' and the index's dim")
        if d["routing"] not in ROUTING:
            raise _fail("routing", f"{d['routing']!r} is not one of {ROUTING}")
        if not isinstance(d["shards"], list) or not 1 <= len(d["shards"]) <= MAX_SHARDS:
            raise _fail("shards", f"expected a list of 1 to {MAX_SHARDS} shards")
        shards = tuple(ShardEntry.parse(s, f"shards[{i}]") for i, s in enumerate(d["shards"]))
        for i, s in enumerate(shards):
            if s.dir != shard_dir(i):
                raise _fail(f"shards[{i}].dir", f"{s.dir!r}: shard {i} must be {shard_dir(i)!r} (routing depends on the order)")
        codec = None if d["codec"] is None else CodecRef.parse(d["codec"])
        return cls(_int(d["generation"], "generation"), dim, nbits, model, _int(d["exact_threshold"], "exact_threshold"),
                   shards, codec, _int(d["next_auto_id"], "next_auto_id"), d["routing"])


def shard_dir(i: int) -> str:
    return f"shard-{i:04d}"


def exists(root: str | os.PathLike) -> bool:
    return os.path.isfile(Path(root) / SHARDS_MANIFEST)


def read(root: Path) -> ShardsManifest:
    """Load and validate shards.json (no symlink, a regular file, bounded size, strict JSON)."""
    if not root.is_dir():
        raise IndexFormatError(f"no sharded index at {root}: the folder does not exist")
    if not exists(root):
        raise IndexFormatError(f"no sharded index at {root}: {SHARDS_MANIFEST} is missing")
    data = storage.read_small(root, SHARDS_MANIFEST, MAX_BYTES)
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicate_keys,
                         parse_constant=no_json_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IndexFormatError(f"{root / SHARDS_MANIFEST} is not valid JSON ({exc})") from None
    try:
        return ShardsManifest.parse(doc)
    except IndexFormatError as exc:
        raise IndexFormatError(f"{root}: {exc}") from None


def write(root: Path, manifest: ShardsManifest) -> None:
    """The sharded commit point: temporary file, fsync, rename over shards.json, fsync the folder."""
    storage.replace_file(root, SHARDS_MANIFEST, SHARDS_MANIFEST + ".tmp", manifest.dumps())
