"""Residual compression of token vectors (ColBERTv2, spec §3.2): centroid code + nbits per dimension.

A vector x is stored as the id of its nearest centroid c (uint16 while there are <= 65,536 centroids) and
its residual x - c in dim * nbits / 8 bytes. Two residual quantizers, same bytes, same decoding:

* "pq" (the default): product quantization. Each residual byte covers 8/nbits dimensions and indexes a
  256-entry codebook learned by k-means on held-out residuals. On SciFact (MiniLM benchmark checkpoint,
  nbits=2) exhaustive search over the decoded vectors reaches recall@10 0.84 against exact MaxSim;
* "quantile": ColBERTv2's scheme, 2^nbits buckets per dimension with cutoffs at residual quantiles, here
  per dimension and decoded to each bucket's mean (ColBERTv2: pooled, mid-quantiles): 0.78 / 0.77.

The bucket grid is one particular 256-entry codebook per byte, so "pq" can only fit the data better.
Decompression is a table lookup either way: a [bytes, 256, 8/nbits] table turns residual bytes into values
in one np.take (an int8 copy of it feeds the int8 search kernels, kernels.py).

Training (kmeans.py) is an explicit step that needs no index, so one codec can serve many indexes (shards
of one collection)::

    codec = Codec.train(sample, nbits=2, total_tokens=collection_tokens)   # sample: float32 [n, dim]
    codec.save("shared_codec")                 # a folder: arrays + codec.json (checksummed manifest)
    codec = Codec.load("shared_codec")         # or Codec.load("some_index"): that index's codec
    Index.create("shard-0", model=..., codec=codec)   # or codec="shared_codec"

An index records its codec in its own manifest (a codec-*/ folder of the same arrays); `Index.codec` gives it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index import storage
from jcolbert.index.kmeans import Assigner, _nearest_l2, _normalize, kmeans, l2_kmeans, quantize_rows
from jcolbert.index.manifest import MANIFEST, CodecEntry, checksum

MIN_POINTS_PER_CENTROID = 8  # never more centroids than the data supports
CODEC_MANIFEST = "codec.json"
CODEC_FORMAT = "jcolbert-codec"


def num_centroids_for(num_tokens: int) -> int:
    """ColBERTv2's rule, 2^floor(log2(16 * sqrt(tokens))), capped at tokens / MIN_POINTS_PER_CENTROID."""
    if num_tokens <= 0:
        return 0
    rule = 2 ** int(math.floor(math.log2(16 * math.sqrt(num_tokens))))
    cap = 2 ** int(math.floor(math.log2(max(1, num_tokens // MIN_POINTS_PER_CENTROID))))
    return max(1, min(rule, cap))


def code_dtype(num_centroids: int) -> np.dtype:
    return np.dtype(np.uint16) if num_centroids <= 65536 else np.dtype(np.int32)


def _bucket_means(resid: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """[dim, B]: the mean residual value inside each bucket (Lloyd's reconstruction point), per dimension.

    ColBERTv2 decodes a bucket to its mid-quantile; the conditional mean has lower error, and on SciFact
    vectors it raises exhaustive recall@10 against exact MaxSim by ~0.03 at nbits=2. Empty buckets fall back
    to the midpoint of their cutoffs."""
    dim, levels = cutoffs.shape[0], cutoffs.shape[1] + 1
    buckets = np.zeros(resid.shape, dtype=np.int64)
    for level in range(levels - 1):
        buckets += resid > cutoffs[:, level]
    flat = buckets + (np.arange(dim) * levels)[None, :]
    counts = np.bincount(flat.ravel(), minlength=dim * levels).reshape(dim, levels)
    sums = np.bincount(flat.ravel(), weights=resid.ravel(), minlength=dim * levels).reshape(dim, levels)
    edges = np.concatenate([cutoffs[:, :1], cutoffs, cutoffs[:, -1:]], axis=1)
    fallback = 0.5 * (edges[:, :-1] + edges[:, 1:])
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback).astype(np.float32)



# ----------------------------------------------------------------------------------------------- the codec


@dataclass(frozen=True)
class Codec:
    """Centroids plus per-dimension residual buckets; immutable, shared by every compressed segment."""

    centroids: np.ndarray  # [C, dim] float32, ~unit rows; stored as int8 times one scale, and residuals are
    #                        taken against exactly these dequantized values, so the int8 storage costs nothing
    cutoffs: np.ndarray  # [dim, 2^nbits - 1] float32, ascending per row
    weights: np.ndarray  # [dim, 2^nbits] float32, the value each bucket decodes to
    nbits: int
    info: dict[str, Any] = field(default_factory=dict)
    codebook: np.ndarray | None = None  # residual="pq": [bytes, 256, 8/nbits] float32, what each byte decodes to

    @property
    def residual(self) -> str:
        """'quantile' (ColBERTv2 buckets per dimension) or 'pq' (a learned 256-entry codebook per byte)."""
        return "pq" if self.codebook is not None else "quantile"

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def num_centroids(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def residual_bytes(self) -> int:
        return self.dim * self.nbits // 8

    # --------------------------------------------------------------------------------------- training

    @classmethod
    def train(cls, sample: Any, *, nbits: int = 2, num_centroids: int | None = None, niter: int = 8,
              seed: int = 123, total_tokens: int | None = None, residual: str = "pq") -> Codec:
        """Train a codec on sample token vectors: float32 [n, dim] (or a list of [tokens_i, dim] arrays).

        num_centroids: default ColBERTv2's rule for `total_tokens` (the size of the whole collection the codec
        will compress; default the sample's size). The sample is not modified. See `fit` for the method."""
        if isinstance(sample, list | tuple):
            sample = np.concatenate([np.asarray(v, dtype=np.float32) for v in sample]) if sample else np.zeros((0, 0))
        x = np.array(sample, dtype=np.float32)  # a copy: fit shuffles it in place
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise InputError(f"a codec's training sample must be a non-empty [n, dim] array, got shape {list(x.shape)}")
        if nbits not in (1, 2, 4) or x.shape[1] % (8 // nbits):
            raise InputError(f"nbits must be 1, 2 or 4 and divide dim {x.shape[1]} into bytes, got {nbits!r}")
        if residual not in ("quantile", "pq"):
            raise InputError(f"residual must be 'quantile' or 'pq', got {residual!r}")
        if not np.isfinite(x).all():
            raise InputError("the codec's training sample contains NaN or infinite values")
        total = int(total_tokens) if total_tokens is not None else len(x)
        k = num_centroids if num_centroids is not None else num_centroids_for(total)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1 << 24:
            raise InputError(f"num_centroids must be a positive integer, got {k!r}")
        return cls.fit(x, nbits=nbits, num_centroids=k, niter=niter, seed=seed, total_tokens=total, residual=residual)

    @classmethod
    def fit(cls, sample: np.ndarray, *, nbits: int, num_centroids: int, niter: int = 8, seed: int = 123,
            total_tokens: int | None = None, residual: str = "pq") -> Codec:
        """Fit centroids on 95% of `sample` and the residual quantizer on the held-out 5% (<= 50,000 vectors).
        Shuffles `sample` (float32) in place: the sample is the largest array of a build (`train` copies).

        residual="quantile": ColBERTv2's buckets (cutoffs at quantiles 1/B..(B-1)/B), taken per dimension,
        decoded to each bucket's mean value (ColBERTv2 uses the mid-quantile; see _bucket_means).
        residual="pq": each residual byte indexes a 256-entry codebook of 8/nbits-dimensional pieces learned
        by k-means (product quantization): same bytes, same table lookup to decode, lower reconstruction
        error (the fixed bucket grid is one particular codebook)."""
        if residual not in ("quantile", "pq"):
            raise ValueError(f"residual must be 'quantile' or 'pq', got {residual!r}")
        rng = np.random.default_rng(seed)
        sample = np.asarray(sample, dtype=np.float32)
        rng.shuffle(sample)
        heldout_n = int(min(0.05 * len(sample), 50_000)) if len(sample) >= 200 else len(sample)
        train = sample[heldout_n:] if heldout_n < len(sample) else sample
        heldout = sample[:heldout_n]
        k = max(1, min(num_centroids, len(train)))
        c = dequantize_rows(*quantize_rows(_normalize(kmeans(train, k, niter=niter, seed=seed))))  # what is stored is what residuals are taken against
        codes = Assigner(c).assign(heldout)
        resid = heldout - c[codes]
        levels = 2 ** nbits
        cutoffs = np.quantile(resid, np.arange(1, levels) / levels, axis=0).T.astype(np.float32)  # [dim, B-1]
        weights = _bucket_means(resid, cutoffs)
        info = {"num_centroids": int(c.shape[0]), "nbits": nbits, "kmeans_niter": niter, "seed": seed,
                "sample_tokens": int(len(sample)), "trained_tokens": int(total_tokens or len(sample)),
                "avg_residual": float(np.abs(resid).mean()), "residual": residual}
        codebook = None
        if residual == "pq":
            per = 8 // nbits
            pieces = resid.reshape(len(resid), -1, per)
            codebook = np.stack([l2_kmeans(pieces[:, b], 256, niter=10, seed=seed + b) for b in range(pieces.shape[1])])
        return cls(c, np.ascontiguousarray(cutoffs), np.ascontiguousarray(weights), nbits, info, codebook)

    # --------------------------------------------------------------------------------------- encode / decode

    def assigner(self) -> Assigner:
        """The nearest-centroid search structure, built on first use and kept with the codec (which is immutable
        and shared by the snapshots of an open index): above 4,096 centroids it clusters the centroids (~0.6 s
        at 16k), which an add of one document must not pay again."""
        return self._assigner

    @functools.cached_property
    def _assigner(self) -> Assigner:
        return Assigner(self.centroids)

    def compress(self, x: np.ndarray, assigner: Assigner | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float32 [n, dim] -> (codes [n], residual bytes uint8 [n, dim*nbits/8])."""
        x = np.asarray(x, dtype=np.float32)
        codes = (assigner or self.assigner()).assign(x)
        resid = x - np.take(self.centroids, codes, axis=0)
        if self.codebook is not None:
            return codes.astype(code_dtype(self.num_centroids)), self._pq_encode(resid)
        buckets = np.zeros(resid.shape, dtype=np.uint8)  # [n, dim] in 0..B-1: how many cutoffs lie below
        for level in range(self.cutoffs.shape[1]):
            buckets += resid > self.cutoffs[:, level]
        return codes.astype(code_dtype(self.num_centroids)), pack_bits(buckets, self.nbits)

    def _pq_encode(self, resid: np.ndarray) -> np.ndarray:
        """Nearest codeword per byte position (brute force over the 256: ~35 ns per token and byte)."""
        nbytes, _, per = self.codebook.shape
        pieces = resid.reshape(len(resid), nbytes, per)
        out = np.empty((len(resid), nbytes), dtype=np.uint8)
        for b in range(nbytes):
            out[:, b] = _nearest_l2(np.ascontiguousarray(pieces[:, b]), self.codebook[b])
        return out

    @property
    def lut(self) -> np.ndarray:
        """[bytes, 256, 8/nbits] float32: the residual values one byte value decodes to, per byte position."""
        cached = self.__dict__.get("_lut")
        if cached is None and self.codebook is not None:
            cached = np.ascontiguousarray(self.codebook, dtype=np.float32)
            object.__setattr__(self, "_lut", cached)
        if cached is None:
            per = 8 // self.nbits
            values = np.arange(256)
            shifts = 8 - self.nbits * (np.arange(per) + 1)
            idx = (values[:, None] >> shifts[None, :]) & (2 ** self.nbits - 1)  # [256, per]
            w = self.weights.reshape(self.residual_bytes, per, -1)  # [bytes, per, B]
            cached = np.ascontiguousarray(w[:, np.arange(per)[None, :], idx], dtype=np.float32)  # [bytes, 256, per]
            object.__setattr__(self, "_lut", cached)
        return cached

    @property
    def _lut_items(self) -> np.ndarray:
        """The LUT with each [8/nbits] float row viewed as one opaque item, indexed by position*256 + byte:
        `np.take` of whole items is several times faster than numpy's 2-D fancy indexing."""
        cached = self.__dict__.get("_lut_items_cache")
        if cached is None:
            per = 8 // self.nbits
            cached = np.ascontiguousarray(self.lut.reshape(-1, per)).view(np.dtype((np.void, 4 * per))).ravel()
            object.__setattr__(self, "_lut_items_cache", cached)
        return cached

    def _cached(self, name: str, make):
        value = self.__dict__.get(name)
        if value is None:
            value = make()
            object.__setattr__(self, name, value)
        return value

    @property
    def centroids_i8(self) -> np.ndarray:
        """The centroids as stored: int8 [C, dim] (times centroid_scale gives `centroids` exactly)."""
        return self._cached("_c8", lambda: quantize_rows(self.centroids)[0])

    @property
    def centroids_i8_f32(self) -> np.ndarray:
        """centroids_i8 as float32 (the operand of the centroid scores where int8 GEMMs are slow, kernels.py)."""
        return self._cached("_c8f", lambda: self.centroids_i8.astype(np.float32))

    @property
    def centroid_norms2(self) -> np.ndarray:
        """float32 [C]: squared lengths of the centroids."""
        return self._cached("_cn2", lambda: np.einsum("ij,ij->i", self.centroids, self.centroids))

    @property
    def centroid_scale(self) -> np.float32:
        return self._cached("_c8s", lambda: quantize_rows(self.centroids)[1][0])

    @property
    def residual_scale(self) -> np.ndarray:
        """float32 [dim]: per-dimension scale of the int8 residual table (max |value| / 127)."""
        return self._cached("_rs", lambda: np.maximum(
            np.abs(self.lut).max(axis=1).reshape(-1), 1e-12).astype(np.float32) / 127.0)

    @property
    def _lut_i8_items(self) -> np.ndarray:
        """The residual table in int8 (one scale per dimension), each byte's values one opaque item."""
        def make() -> np.ndarray:
            per = 8 // self.nbits
            scale = self.residual_scale.reshape(self.residual_bytes, 1, per)
            q = np.rint(self.lut / scale).astype(np.int8)  # [bytes, 256, per]
            return np.ascontiguousarray(q.reshape(-1, per)).view(np.dtype((np.void, per))).ravel()
        return self._cached("_lut8", make)

    def decode_residuals_int8(self, residuals: np.ndarray) -> np.ndarray:
        """uint8 [n, bytes] -> int8 [n, dim]; times residual_scale gives decode_residuals (to 0.4%)."""
        n, nbytes = residuals.shape
        idx = residuals.astype(np.intp)
        idx += (np.arange(nbytes, dtype=np.intp) * 256)[None, :]
        return np.take(self._lut_i8_items, idx).view(np.int8).reshape(n, self.dim)

    def decode_residuals(self, residuals: np.ndarray) -> np.ndarray:
        """uint8 [n, bytes] -> float32 [n, dim] residual vectors (without the centroid)."""
        n, nbytes = residuals.shape
        idx = residuals.astype(np.intp)
        idx += (np.arange(nbytes, dtype=np.intp) * 256)[None, :]
        return np.take(self._lut_items, idx).view(np.float32).reshape(n, self.dim)

    def decompress(self, codes: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """Codes + residual bytes -> unit float32 vectors (the approximation search scores against)."""
        v = np.take(self.centroids, codes, axis=0)
        v += self.decode_residuals(residuals)
        v /= np.sqrt(np.maximum(np.einsum("ij,ij->i", v, v), 1e-24))[:, None]
        return v

    # --------------------------------------------------------------------------------------- on disk

    def write(self, folder: Path) -> CodecEntry:
        """Write the arrays into an (empty) folder, fsynced; returns the entry an index manifest records."""
        files = {
            "centroids.npy": storage.write_array(folder / "centroids.npy", self.centroids_i8),
            "centroid_scale.npy": storage.write_array(folder / "centroid_scale.npy",
                                                      np.array([self.centroid_scale], dtype=np.float32)),
            "cutoffs.npy": storage.write_array(folder / "cutoffs.npy", np.asarray(self.cutoffs, dtype=np.float32)),
            "weights.npy": storage.write_array(folder / "weights.npy", np.asarray(self.weights, dtype=np.float32)),
        }
        if self.codebook is not None:
            files["codebook.npy"] = storage.write_array(folder / "codebook.npy", np.asarray(self.codebook, np.float32))
        storage.fsync_dir(folder)
        info = {k: self.info[k] for k in CodecEntry.INFO if k in self.info}
        return CodecEntry(folder.name, files, self.num_centroids, self.nbits, self.residual,
                          int(self.info.get("trained_tokens") or 0), info)

    def save(self, folder: str | os.PathLike) -> Path:
        """Save as a standalone codec folder (the arrays + codec.json, a checksummed manifest), to be adopted
        by any number of indexes: `Codec.load(folder)`, `Index.create(..., codec=folder)`."""
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise InputError(f"{folder} exists and is not an empty folder; a codec is saved into a new folder")
        folder.mkdir(parents=True, exist_ok=True)
        entry = self.write(folder).to_dict()
        del entry["dir"]
        body = {"format": CODEC_FORMAT, "format_version": 1, "dim": self.dim, "codec": entry}
        with open(folder / CODEC_MANIFEST, "wb") as fh:
            fh.write(json.dumps({**body, "checksum": checksum(body)}, indent=1, sort_keys=True).encode())
            fh.flush()
            os.fsync(fh.fileno())
        storage.fsync_dir(folder)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, *, verify: bool = True) -> Codec:
        """A codec folder written by `save`, or an index folder (its codec: the index must be compressed)."""
        root = Path(path)
        if (root / MANIFEST).exists():
            manifest = storage.read_manifest(root)
            if manifest.codec is None:
                raise InputError(f"index {root} has no codec yet (it stores its few vectors exactly)")
            return cls.open(root, manifest.codec, verify=verify)
        if not (root / CODEC_MANIFEST).exists():
            raise InputError(f"{root} is neither a codec folder ({CODEC_MANIFEST}) nor an index ({MANIFEST})")
        where = root / CODEC_MANIFEST
        try:
            doc = json.loads(storage.read_small(root, CODEC_MANIFEST, 1 << 20).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise IndexFormatError(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != CODEC_FORMAT or doc.get("format_version") != 1:
            raise IndexFormatError(f"{where} is not a jcolbert codec manifest (format {CODEC_FORMAT!r}, version 1)")
        body = {k: v for k, v in doc.items() if k != "checksum"}
        if doc.get("checksum") != checksum(body) or set(body) != {"format", "format_version", "dim", "codec"}:
            raise IndexFormatError(f"{where} fails its checksum: the file was edited or corrupted")
        dim, entry = doc["dim"], doc["codec"]
        if not isinstance(dim, int) or not isinstance(entry, dict) or not 0 < dim <= 1 << 16 or \
                entry.get("nbits") not in (1, 2, 4):
            raise IndexFormatError(f"{where}: 'dim', 'codec' or 'codec.nbits' is malformed")
        entry = CodecEntry.parse({**entry, "dir": "codec-000000-000000"}, f"{CODEC_MANIFEST}: codec", dim,
                                 entry["nbits"])
        with storage.open_dir(root) as fd:
            return cls._from_arrays(entry, fd, str(root), verify)

    @classmethod
    def open(cls, root: Path, entry: CodecEntry, *, verify: bool, root_fd: int | None = None) -> Codec:
        """The codec an index manifest names (its folder inside the index)."""
        with storage.open_dir(root) if root_fd is None else contextlib.nullcontext(root_fd) as rfd, \
                storage.open_dir(entry.dir, rfd) as fd:
            return cls._from_arrays(entry, fd, str(root / entry.dir), verify)

    @classmethod
    def _from_arrays(cls, entry: CodecEntry, fd: int, where: str, verify: bool) -> Codec:
        a = {name: storage.open_array(fd, name, e, where=f"index file {where}/{name}", verify=verify, mmap_it=False)
             for name, e in entry.files.items()}
        for name in ("centroid_scale.npy", "cutoffs.npy", "weights.npy", "codebook.npy"):
            if name in a and not np.isfinite(a[name]).all():
                raise IndexFormatError(f"index file {where}/{name} holds NaN or infinite values")
        if not a["centroid_scale.npy"][0] > 0:
            raise IndexFormatError(f"index file {where}/centroid_scale.npy: the scale must be positive")
        info = {**entry.info, "num_centroids": entry.num_centroids, "nbits": entry.nbits, "residual": entry.residual,
                "trained_tokens": entry.trained_tokens}
        centroids = dequantize_rows(a["centroids.npy"], a["centroid_scale.npy"])
        codebook = a.get("codebook.npy")
        return cls(centroids, np.array(a["cutoffs.npy"], dtype=np.float32), np.array(a["weights.npy"], dtype=np.float32),
                   entry.nbits, info, None if codebook is None else np.array(codebook, dtype=np.float32))


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(q.astype(np.float32) * np.float32(scale.reshape(-1)[0]))


def pack_bits(buckets: np.ndarray, nbits: int) -> np.ndarray:
    """uint8 [n, dim] bucket indices -> uint8 [n, dim*nbits/8]; the first dimension sits in the high bits."""
    n, dim = buckets.shape
    per = 8 // nbits
    shifts = (8 - nbits * (np.arange(per) + 1)).astype(np.uint8)
    grouped = buckets.reshape(n, dim // per, per) << shifts[None, None, :]
    return np.bitwise_or.reduce(grouped, axis=2).astype(np.uint8)
