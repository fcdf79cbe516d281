"""The index manifest as typed, validated records: `Manifest`, `SegmentEntry`, `CodecEntry`, `FileEntry`, ...

`manifest.json` is the only mutable file of an index folder (storage.py has the layout and the commit
protocol). Everything else reads it through `Manifest`, never through string keys: `parse` checks the
whole document (required keys, types, ranges, folder and file names, duplicates, counts that must agree)
before any file it names is opened, so a crafted or damaged manifest is an `IndexFormatError` naming the
entry, never a path outside the folder, a huge allocation or a KeyError.

Format 3 has `checksum` (sha256 of the canonical JSON of everything else, so any edit or flipped byte is
detected) and `docstore` (the uid that keys the document store's row checks, docstore.py). Formats 1 and 2
(without them) are still read, and the next change rewrites them as format 3.

Format 4 is format 3 plus the exact tier (rerank.py): `settings.rerank` ("int8" or "fp16") and, in every
compressed segment, the rerank files. It is written only by indexes created with `rerank=`, so every other
index stays format 3 (readable by older versions); an older version refuses a format-4 folder by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jcolbert.errors import IndexFormatError

MANIFEST = "manifest.json"
FORMAT_NAME = "jcolbert-index"
FORMAT_VERSION = 4  # the newest format read; written: 4 with an exact tier (settings.rerank), else 3
MAX_COUNT = 1 << 48  # documents, tokens, numbers: far above any real index, far below float/int64 trouble
MAX_DIM = 1 << 16

SEG_DIR = re.compile(r"seg-\d{6,12}-[0-9a-f]{6}")
CODEC_DIR = re.compile(r"codec-\d{6,12}-[0-9a-f]{6}")
TOMBSTONE = re.compile(r"del-\d{6,12}\.npy")
UID = re.compile(r"[0-9a-f]{32}")
EXACT_FILES = ("doc_nums.npy", "doclens.npy", "vectors.npy")
PLAID_FILES = ("doc_nums.npy", "doclens.npy", "codes.npy", "residuals.npy", "ivf_docs.npy", "ivf_offsets.npy")
CODEC_FILES = ("centroids.npy", "centroid_scale.npy", "cutoffs.npy", "weights.npy")
RESIDUALS = ("pq", "quantile")
RERANK_KINDS = ("int8", "fp16")


def rerank_files(kind: str | None) -> dict[str, str]:
    """The files an exact tier adds to each compressed segment (rerank.py), with their dtypes."""
    if kind is None:
        return {}
    if kind == "int8":
        return {"rerank.npy": "|i1", "rerank_scale.npy": "<f4"}
    return {"rerank.npy": "<f2"}


def _fail(where: str, problem: str) -> IndexFormatError:
    return IndexFormatError(f"{MANIFEST}: {where}: {problem}")


def _dict(value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(where, f"missing key(s) {', '.join(map(repr, missing))}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(map(repr, unknown))}")
    return value


def _int(value: Any, where: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, f"expected an integer, got {value!r}"[:200])
    if not lo <= value <= hi:
        raise _fail(where, f"{value} is out of range [{lo}, {hi}]")
    return value


def _str(value: Any, where: str, allowed: tuple[str, ...] | None = None, pattern: re.Pattern | None = None) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {type(value).__name__}")
    if allowed is not None and value not in allowed:
        raise _fail(where, f"{value!r} is not one of {', '.join(map(repr, allowed))}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(where, f"{value!r} is not a valid name here (no paths: a plain name like {pattern.pattern!r})")
    return value


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FileEntry:
    """One .npy array file: its size, crc32, shape and dtype (numpy's dtype.str, e.g. '<i8')."""

    bytes: int
    crc32: int
    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def parse(cls, d: Any, where: str, extra: tuple[str, ...] = ()) -> FileEntry:
        d = _dict(d, where, ("bytes", "crc32", "shape", "dtype"), extra)
        shape = d["shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
            raise _fail(where, f"shape must be a list of 1 to 3 integers, got {shape!r}"[:200])
        dims = tuple(_int(s, f"{where}.shape") for s in shape)
        dtype = _str(d["dtype"], f"{where}.dtype", ("<i8", "<i4", "<f4", "<u2", "<u4", "|u1", "|i1", "<f2"))
        size = _int(d["bytes"], f"{where}.bytes", 0, MAX_COUNT)
        need = int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize
        if not need <= size <= need + 65536:  # the .npy header is at most a few hundred bytes
            raise _fail(where, f"{size} bytes cannot hold a {dtype}{list(dims)} array")
        return cls(size, _int(d["crc32"], f"{where}.crc32", 0, 2**32 - 1), dims, dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "crc32": self.crc32, "shape": list(self.shape), "dtype": self.dtype}

    def expect(self, where: str, shape: tuple[int, ...], dtypes: tuple[str, ...]) -> None:
        if self.shape != shape or self.dtype not in dtypes:
            raise _fail(where, f"records {self.dtype}{list(self.shape)}, expected {'|'.join(dtypes)}{list(shape)}")


@dataclass(frozen=True)
class Tombstones:
    """Positions of deleted documents of a segment: file del-<generation>.npy inside the segment folder."""

    file: str
    count: int
    meta: FileEntry

    @classmethod
    def parse(cls, d: Any, where: str, num_docs: int) -> Tombstones:
        meta = FileEntry.parse(d, where, ("file", "count"))
        d = _dict(d, where, ("file", "count", "bytes", "crc32", "shape", "dtype"))
        count = _int(d["count"], f"{where}.count", 1, num_docs)
        meta.expect(where, (count,), ("<i4",))
        return cls(_str(d["file"], f"{where}.file", pattern=TOMBSTONE), count, meta)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "count": self.count, **self.meta.to_dict()}


@dataclass(frozen=True)
class SegmentEntry:
    """One immutable segment folder (segment.py): kind 'exact' or 'plaid', its files, its tombstones."""

    dir: str
    kind: str
    num_docs: int
    num_tokens: int
    files: dict[str, FileEntry]
    deleted: Tombstones | None = None

    @property
    def num_live(self) -> int:
        return self.num_docs - (self.deleted.count if self.deleted else 0)

    @classmethod
    def parse(cls, d: Any, where: str, dim: int, nbits: int, codec: CodecEntry | None,
              rerank: str | None = None) -> SegmentEntry:
        d = _dict(d, where, ("dir", "kind", "num_docs", "num_tokens", "files"), ("deleted",))
        name = _str(d["dir"], f"{where}.dir", pattern=SEG_DIR)
        kind = _str(d["kind"], f"{where}.kind", ("exact", "plaid"))
        n = _int(d["num_docs"], f"{where}.num_docs", 1)
        t = _int(d["num_tokens"], f"{where}.num_tokens", n)  # every document has at least one token
        extra = rerank_files(rerank) if kind == "plaid" else {}
        names = EXACT_FILES if kind == "exact" else PLAID_FILES + tuple(extra)
        files = _dict(d["files"], f"{where}.files", names)
        files = {k: FileEntry.parse(v, f"{where}.files.{k}") for k, v in files.items()}
        files["doc_nums.npy"].expect(f"{where}.files.doc_nums.npy", (n,), ("<i8",))
        files["doclens.npy"].expect(f"{where}.files.doclens.npy", (n,), ("<i4",))
        if kind == "exact":
            if codec is not None:
                raise _fail(where, "an exact segment in an index with a codec")
            files["vectors.npy"].expect(f"{where}.files.vectors.npy", (t, dim), ("<f4",))
        else:
            if codec is None:
                raise _fail(where, "a compressed segment but no codec")
            c = codec.num_centroids
            files["codes.npy"].expect(f"{where}.files.codes.npy", (t,), ("<u2",) if c <= 65536 else ("<i4",))
            files["residuals.npy"].expect(f"{where}.files.residuals.npy", (t, dim * nbits // 8), ("|u1",))
            files["ivf_offsets.npy"].expect(f"{where}.files.ivf_offsets.npy", (c + 1,), ("<i8",))
            pairs = files["ivf_docs.npy"].shape
            files["ivf_docs.npy"].expect(f"{where}.files.ivf_docs.npy", pairs, ("<u2",) if n <= 65536 else ("<u4",))
            if len(pairs) != 1 or pairs[0] > t:
                raise _fail(f"{where}.files.ivf_docs.npy", f"shape {list(pairs)} for {t} tokens")
            for file, dtype in extra.items():
                files[file].expect(f"{where}.files.{file}", (t, dim) if file == "rerank.npy" else (t,), (dtype,))
        deleted = d.get("deleted")
        return cls(name, kind, n, t, files,
                   None if deleted is None else Tombstones.parse(deleted, f"{where}.deleted", n))

    def to_dict(self) -> dict[str, Any]:
        return {"dir": self.dir, "kind": self.kind, "num_docs": self.num_docs, "num_tokens": self.num_tokens,
                "files": {k: v.to_dict() for k, v in self.files.items()},
                "deleted": self.deleted.to_dict() if self.deleted else None}


@dataclass(frozen=True)
class CodecEntry:
    """The codec folder (codec.py): its array files and what it was trained with."""

    dir: str
    files: dict[str, FileEntry]
    num_centroids: int
    nbits: int
    residual: str
    trained_tokens: int
    info: dict[str, Any] = field(default_factory=dict)  # kmeans_niter, seed, sample_tokens, avg_residual

    INFO = ("kmeans_niter", "seed", "sample_tokens", "avg_residual")

    @classmethod
    def parse(cls, d: Any, where: str, dim: int, nbits: int) -> CodecEntry:
        d = _dict(d, where, ("dir", "files", "num_centroids", "nbits", "trained_tokens"), ("residual", *cls.INFO))
        name = _str(d["dir"], f"{where}.dir", pattern=CODEC_DIR)
        c = _int(d["num_centroids"], f"{where}.num_centroids", 1, 1 << 24)
        if _int(d["nbits"], f"{where}.nbits", 1, 4) != nbits:
            raise _fail(f"{where}.nbits", f"{d['nbits']} differs from the index's nbits {nbits}")
        residual = _str(d.get("residual", "quantile"), f"{where}.residual", RESIDUALS)
        names = CODEC_FILES + (("codebook.npy",) if residual == "pq" else ())
        files = _dict(d["files"], f"{where}.files", names)
        files = {k: FileEntry.parse(v, f"{where}.files.{k}") for k, v in files.items()}
        levels = 2 ** nbits
        files["centroids.npy"].expect(f"{where}.files.centroids.npy", (c, dim), ("|i1",))
        files["centroid_scale.npy"].expect(f"{where}.files.centroid_scale.npy", (1,), ("<f4",))
        files["cutoffs.npy"].expect(f"{where}.files.cutoffs.npy", (dim, levels - 1), ("<f4",))
        files["weights.npy"].expect(f"{where}.files.weights.npy", (dim, levels), ("<f4",))
        if residual == "pq":
            files["codebook.npy"].expect(f"{where}.files.codebook.npy", (dim * nbits // 8, 256, 8 // nbits), ("<f4",))
        info = {k: d[k] for k in cls.INFO if k in d}
        for k, v in info.items():
            if not isinstance(v, int | float) or isinstance(v, bool) or not np.isfinite(v):
                raise _fail(f"{where}.{k}", f"expected a number, got {v!r}"[:200])
        return cls(name, files, c, nbits, residual, _int(d["trained_tokens"], f"{where}.trained_tokens"), info)

    def to_dict(self) -> dict[str, Any]:
        return {"dir": self.dir, "files": {k: v.to_dict() for k, v in self.files.items()},
                "num_centroids": self.num_centroids, "nbits": self.nbits, "residual": self.residual,
                "trained_tokens": self.trained_tokens, **self.info}


@dataclass(frozen=True)
class DocStoreEntry:
    """What the document store must be: the uid its row checks are keyed with (also stored inside it)."""

    uid: str

    @classmethod
    def parse(cls, d: Any, where: str = "docstore") -> DocStoreEntry:
        d = _dict(d, where, ("uid",))
        return cls(_str(d["uid"], f"{where}.uid", pattern=UID))

    def to_dict(self) -> dict[str, Any]:
        return {"uid": self.uid}


@dataclass(frozen=True)
class Settings:
    """Build settings recorded at creation (Index.create documents them)."""

    exact_threshold: int
    chunk_size: int
    kmeans_niters: int
    seed: int
    residual: str = "pq"
    rerank: str | None = None  # the exact tier (rerank.py): "int8", "fp16" or None; format 4 only

    @classmethod
    def parse(cls, d: Any, where: str = "settings", version: int = FORMAT_VERSION) -> Settings:
        optional = ("residual", "rerank") if version >= 4 else ("residual",)
        d = _dict(d, where, ("exact_threshold", "chunk_size", "kmeans_niters", "seed"), optional)
        return cls(_int(d["exact_threshold"], f"{where}.exact_threshold"),
                   _int(d["chunk_size"], f"{where}.chunk_size", 1, 1 << 24),
                   _int(d["kmeans_niters"], f"{where}.kmeans_niters", 1, 1000),
                   _int(d["seed"], f"{where}.seed", -(2**63), 2**63 - 1),
                   _str(d.get("residual", "pq"), f"{where}.residual", RESIDUALS),
                   _str(d["rerank"], f"{where}.rerank", RERANK_KINDS) if "rerank" in d else None)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.rerank is None:  # absent, not null: an index without an exact tier stays format 3
            del out["rerank"]
        return out


@dataclass(frozen=True)
class Manifest:
    """Everything an index is, at one generation. Immutable: a change builds a new one (`replace`)."""

    generation: int
    dim: int
    nbits: int
    model: dict[str, Any] | None
    settings: Settings
    next_doc_num: int = 0
    next_auto_id: int = 0
    codec: CodecEntry | None = None
    segments: tuple[SegmentEntry, ...] = ()
    docstore: DocStoreEntry | None = None
    format_version: int = FORMAT_VERSION

    @property
    def num_live(self) -> int:
        return sum(s.num_live for s in self.segments)

    @property
    def num_tokens(self) -> int:
        return sum(s.num_tokens for s in self.segments)

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)

    def folders(self) -> set[str]:
        """The codec and segment folders this manifest keeps alive."""
        return {s.dir for s in self.segments} | ({self.codec.dir} if self.codec else set())

    @property
    def written_version(self) -> int:
        """The format this manifest is written as: 4 with an exact tier, else 3 (see the module docstring)."""
        return 4 if self.settings.rerank else 3

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "format_version": self.written_version, "generation": self.generation,
                "dim": self.dim, "nbits": self.nbits, "model": self.model, "settings": self.settings.to_dict(),
                "next_doc_num": self.next_doc_num, "next_auto_id": self.next_auto_id,
                "codec": self.codec.to_dict() if self.codec else None,
                "segments": [s.to_dict() for s in self.segments],
                "docstore": self.docstore.to_dict() if self.docstore else None}

    def dumps(self) -> bytes:
        """The file's bytes: canonical JSON with its checksum."""
        body = self.to_dict()
        return canonical_json({**body, "checksum": checksum(body)})

    @classmethod
    def parse(cls, d: Any) -> Manifest:
        """Validate a decoded manifest (see the module docstring); raises IndexFormatError naming the entry."""
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{MANIFEST} is not a jcolbert index manifest (field 'format' != {FORMAT_NAME!r})")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _fail("format_version", "missing or not a positive integer")
        if version > FORMAT_VERSION:
            raise IndexFormatError(f"{MANIFEST}: format_version {version} was written by a newer jcolbert (this one "
                                   f"reads up to {FORMAT_VERSION}); upgrade jcolbert to open it")
        keys = ("format", "format_version", "generation", "dim", "nbits", "model", "settings", "next_doc_num",
                "next_auto_id", "codec", "segments")
        d = _dict(d, "manifest", keys + (("checksum",) if version >= 2 else ()) + (("docstore",) if version >= 3 else ()))
        if version >= 2:
            body = {k: v for k, v in d.items() if k != "checksum"}
            if d["checksum"] != checksum(body):
                raise IndexFormatError(f"{MANIFEST} fails its checksum: the file was edited or corrupted; restore "
                                       "the folder from a copy or rebuild the index")
        dim = _int(d["dim"], "dim", 1, MAX_DIM)
        nbits = _int(d["nbits"], "nbits", 1, 4)
        if nbits not in (1, 2, 4) or dim % (8 // nbits):
            raise _fail("nbits", f"nbits {nbits} with dim {dim} (nbits must be 1, 2 or 4 and divide dim into bytes)")
        model = d["model"]
        if model is not None and (not isinstance(model, dict) or not isinstance(model.get("name_or_path"), str)):
            raise _fail("model", "expected null or an object with a 'name_or_path' string")
        if model is not None and model.get("dim") != dim:
            raise _fail("model.dim", f"{model.get('dim')!r} differs from the index's dim {dim}")
        codec = None if d["codec"] is None else CodecEntry.parse(d["codec"], "codec", dim, nbits)
        settings = Settings.parse(d["settings"], version=version)
        if version >= 4 and settings.rerank is None:
            raise _fail("settings.rerank", "missing (format 4 is written only for an index with an exact tier)")
        if not isinstance(d["segments"], list):
            raise _fail("segments", "expected a list")
        segments = tuple(SegmentEntry.parse(s, f"segments[{i}]", dim, nbits, codec, settings.rerank)
                         for i, s in enumerate(d["segments"]))
        seen: set[str] = set()
        for i, s in enumerate(segments):
            if s.dir in seen:
                raise _fail(f"segments[{i}].dir", f"{s.dir!r} is listed twice")
            seen.add(s.dir)
        next_num = _int(d["next_doc_num"], "next_doc_num")
        if sum(s.num_docs for s in segments) > next_num:
            raise _fail("next_doc_num", f"{next_num} is below the {sum(s.num_docs for s in segments)} documents stored")
        docstore = None if version < 3 or d["docstore"] is None else DocStoreEntry.parse(d["docstore"])
        if version >= 3 and docstore is None:
            raise _fail("docstore", "missing (format 3 keys the document store's row checks with it)")
        return cls(_int(d["generation"], "generation"), dim, nbits, model, settings,
                   next_num, _int(d["next_auto_id"], "next_auto_id"), codec, segments, docstore, version)

    @classmethod
    def loads(cls, data: bytes) -> Manifest:
        """Parse the bytes of manifest.json (strict UTF-8 JSON, no NaN, no duplicate keys) and validate them."""
        try:
            doc = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicate_keys, parse_constant=no_json_constant)
        except UnicodeDecodeError as exc:
            raise IndexFormatError(f"{MANIFEST} is not valid UTF-8 (byte {exc.start}): the file is corrupted") from None
        except (json.JSONDecodeError, ValueError) as exc:
            raise IndexFormatError(f"{MANIFEST} is not valid JSON ({exc})") from None
        except RecursionError:
            raise IndexFormatError(f"{MANIFEST} is nested too deeply to be a manifest") from None
        return cls.parse(doc)


def checksum(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False).encode("ascii")


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def no_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
