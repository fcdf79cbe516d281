"""Query vectors over HTTP: JSON lists of rows, or base64 of float16 / float32 bytes. numpy only (the client
imports this too)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from jcolbert.errors import ServiceError


def decode_vectors(value: Any, dim: int, where: str) -> np.ndarray:
    """A [tokens, dim] float32 matrix from JSON lists or base64; 422 naming `where` when it is not one."""
    if hasattr(value, "data"):  # schemas.EncodedArray
        try:
            raw = base64.b64decode(value.data, validate=True)
        except (binascii.Error, ValueError):
            raise ServiceError(422, "invalid_request", f"{where}.data: not valid base64") from None
        dtype = np.dtype("<f2" if value.dtype == "float16" else "<f4")
        if len(value.shape) != 2 or int(np.prod(value.shape)) * dtype.itemsize != len(raw):
            raise ServiceError(422, "invalid_request", f"{where}: shape {value.shape} does not match "
                               f"{len(raw)} bytes of {value.dtype}")
        array = np.frombuffer(raw, dtype=dtype).reshape(value.shape).astype(np.float32)
    else:
        if not value or len({len(row) for row in value}) != 1:
            raise ServiceError(422, "invalid_request", f"{where}: must be a non-empty [tokens, dim] list of rows "
                               "of equal length")
        array = np.asarray(value, dtype=np.float32)
    if array.shape[0] == 0 or array.shape[1] != dim:
        raise ServiceError(422, "invalid_request", f"{where}: shape {list(array.shape)}; this index takes "
                           f"[tokens, {dim}]")
    if not np.isfinite(array).all():
        raise ServiceError(422, "invalid_request", f"{where}: contains NaN or infinite values")
    return array


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """A float16 base64 form of a [tokens, dim] array (what `decode_vectors` reads back)."""
    half = np.ascontiguousarray(array, dtype="<f2")
    return {"dtype": "float16", "shape": list(half.shape), "data": base64.b64encode(half.tobytes()).decode("ascii")}


def stack_queries(mats: list[np.ndarray]) -> np.ndarray:
    """[n, max_tokens, dim]: shorter queries padded with zero rows, which add exactly 0 to MaxSim."""
    width = max(m.shape[0] for m in mats)
    out = np.zeros((len(mats), width, mats[0].shape[1]), dtype=np.float32)
    for i, m in enumerate(mats):
        out[i, :len(m)] = m
    return out


__all__ = ["decode_vectors", "encode_array", "stack_queries"]
