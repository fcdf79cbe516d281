"""What a server is told: which folders, where to listen, keys, limits and the batcher's settings.

`ServeConfig` is a validated dataclass; `jcolbert serve`'s flags map one to one onto its fields, and
`create_app(config)` takes nothing else. The start rule lives here too: a server reachable from other machines
(a host that is not loopback) must have API keys, unless `insecure=True` says the operator means it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from jcolbert.errors import InputError
from jcolbert.serve.auth import ApiKeys


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class Limits:
    """Per-request limits; a request over one is refused with 413 (sizes and counts) or 504 (time)."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_documents: int = 1000  # per add request
    max_queries: int = 64  # per search request
    max_k: int = 1000
    max_query_chars: int = 2000
    timeout_s: float = 30.0  # per request; a write must *start* within it (a started commit always finishes)
    max_pending_writes: int = 64  # queued write requests per index before 429
    max_inflight: int = 256  # requests being answered at once before 429
    max_explain: int = 100  # hits explained per search request (queries x k): each re-encodes its document

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_documents", "max_queries", "max_k", "max_query_chars",
                     "max_pending_writes", "max_inflight", "max_explain"):
            value = getattr(self, name)
            if not _positive_int(value):
                raise InputError(f"limit {name} must be a positive integer, got {value!r}")
        if not isinstance(self.timeout_s, int | float) or self.timeout_s <= 0:
            raise InputError(f"limit timeout_s must be a positive number of seconds, got {self.timeout_s!r}")


# load_model's precisions and their short names (jcolbert.model.precision; not imported here: it needs torch)
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ServeConfig:
    """Everything `create_app` needs.

    paths: index folders (served under their folder name) and folders of index folders (every index in them is
    served, including ones created later, by the API or by another process). model: the model for /v1/encode,
    /v1/rerank and for indexes created through the API (a name or path; default: the model of the first index).
    batch_wait_ms: how long the query micro-batcher gathers concurrent queries into one encoder call (0: off, each
    request encodes its own). search_threads: searches answered at once (numpy and torch release the GIL).
    compute_threads: threads one search or one encoding computes on (torch in each worker thread, numpy's BLAS in
    the process; threads.py says why 1 is the default); None leaves the process's settings alone.
    lock_timeout_s: how long a write waits for another process's writer lock before 409. dtype: the precision the
    server's models encode at ("auto", "float32", "bfloat16", "float16", "int8"; `load_model`'s `dtype`).
    """

    paths: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    keys: ApiKeys = field(default_factory=ApiKeys)
    public_read: bool = False
    insecure: bool = False
    model: str | None = None
    limits: Limits = field(default_factory=Limits)
    batch_wait_ms: float = 2.0
    max_batch: int = 64
    search_threads: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    compute_threads: int | None = 1
    lock_timeout_s: float = 60.0
    dtype: str = "auto"
    preload: bool = True  # open the indexes and load their models at start-up (readyz says when done)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(Path(p) for p in self.paths))
        for p in self.paths:
            if not p.is_dir():
                raise InputError(f"{p}: not a folder (give index folders or folders of index folders)")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InputError(f"port must be 0..65535, got {self.port!r}")
        if self.batch_wait_ms < 0 or self.batch_wait_ms > 1000:
            raise InputError(f"batch_wait_ms must be between 0 and 1000, got {self.batch_wait_ms!r}")
        for name in ("max_batch", "search_threads", "compute_threads"):
            value = getattr(self, name)
            if not (_positive_int(value) or (name == "compute_threads" and value is None)):
                unset = " or None" if name == "compute_threads" else ""
                raise InputError(f"{name} must be a positive integer{unset}, got {value!r}")
        if self.dtype.lower() not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES[:5])}, got {self.dtype!r}")
        if self.lock_timeout_s < 0:
            raise InputError(f"lock_timeout_s must be >= 0, got {self.lock_timeout_s!r}")

    def check_start(self) -> None:
        """The refuse-to-start rule: a non-loopback host needs keys, or insecure=True."""
        if not is_loopback(self.host) and not self.keys and not self.insecure:
            raise InputError(
                f"refusing to serve on {self.host}, which other machines can reach, without API keys: give "
                "--api-key-file FILE (or set JCOLBERT_API_KEYS), or pass --insecure if that is really meant"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


__all__ = ["Limits", "ServeConfig", "is_loopback"]
