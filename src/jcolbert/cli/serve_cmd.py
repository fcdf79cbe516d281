"""`jcolbert serve`: run the HTTP search service (FastAPI on uvicorn) over index folders."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from jcolbert.cli.common import UsageError
from jcolbert.errors import require_extra

_LIMITS = "Limits"
_TUNING = "Tuning"


def serve(
    paths: Annotated[list[Path], typer.Argument(
        help="Index folders (served under their folder name) and/or folders of index folders (all served, "
             "including indexes created there later).", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs API keys.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, printed at start).")] = 8000,
    api_key_file: Annotated[Path | None, typer.Option(
        "--api-key-file", help="File of API keys, one a line: KEY (read and write) or KEY:read. "
                               "JCOLBERT_API_KEYS (comma-separated) adds more.", show_default=False)] = None,
    public_read: Annotated[bool, typer.Option("--public-read", help="Reads need no key; writes still do.")] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback host without keys.")] = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for /v1/encode, /v1/rerank and new "
                                              "indexes (default: the first index's).", show_default=False)] = None,
    dtype: Annotated[str, typer.Option(help="Encoder precision: auto (bf16 on CPUs/GPUs with native bf16, else "
                                       "fp32), float32, bfloat16, float16 or int8.")] = "auto",
    max_body_bytes: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Largest request body.")] = 16 * 1024 * 1024,
    max_documents: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Documents per add request.")] = 1000,
    max_queries: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Queries per search request.")] = 64,
    max_k: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Largest k.")] = 1000,
    max_query_chars: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Longest query.")] = 2000,
    timeout: Annotated[float, typer.Option(rich_help_panel=_LIMITS, help="Seconds per request (a write must start "
                                           "within it; a started write always finishes).")] = 30.0,
    max_pending_writes: Annotated[int, typer.Option(rich_help_panel=_LIMITS,
                                                    help="Queued writes per index before 429.")] = 64,
    max_inflight: Annotated[int, typer.Option(rich_help_panel=_LIMITS,
                                              help="Requests answered at once before 429.")] = 256,
    max_explain: Annotated[int, typer.Option(rich_help_panel=_LIMITS, help="Hits explained per search request "
                                             "(queries x k; each re-encodes its document).")] = 100,
    batch_wait_ms: Annotated[float, typer.Option(rich_help_panel=_TUNING, help="How long the query batcher "
                                                 "gathers concurrent queries into one encoder call (0: off).")] = 2.0,
    max_batch: Annotated[int, typer.Option(rich_help_panel=_TUNING, help="Most queries per encoder call.")] = 64,
    search_threads: Annotated[int | None, typer.Option(rich_help_panel=_TUNING, help="Searches answered at once "
                                                       "(default: CPU cores, at least 2).", show_default=False)] = None,
    compute_threads: Annotated[int, typer.Option(rich_help_panel=_TUNING, help="Threads one search or one "
                                                 "encoding computes on (0: torch's and numpy's own defaults). "
                                                 "Requests run side by side, so 1 is fastest under load.")] = 1,
    lock_timeout: Annotated[float, typer.Option(rich_help_panel=_TUNING, help="Seconds a write waits for another "
                                                "process's writer lock before 409.")] = 60.0,
    log_level: Annotated[str, typer.Option(help="debug, info (one line per request), warning.")] = "info",
) -> None:
    """Serve indexes over HTTP: search, add, delete, a web page at / and the API docs at /docs."""
    # Several threads call into torch at once (encoder, searches, writer): OpenMP threads that spin while waiting
    # starve them on a busy machine (BENCHMARKS.md, "Index engine"). Set before torch loads; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    uvicorn = require_extra("uvicorn", "serve", "jcolbert serve")
    require_extra("fastapi", "serve", "jcolbert serve")
    from jcolbert.serve.app import create_app
    from jcolbert.serve.auth import ApiKeys
    from jcolbert.serve.config import Limits, ServeConfig

    limits = Limits(max_body_bytes=max_body_bytes, max_documents=max_documents, max_queries=max_queries, max_k=max_k,
                    max_query_chars=max_query_chars, timeout_s=timeout, max_pending_writes=max_pending_writes,
                    max_inflight=max_inflight, max_explain=max_explain)
    extra = {"search_threads": search_threads} if search_threads is not None else {}
    config = ServeConfig(paths=tuple(paths), host=host, port=port, keys=ApiKeys.load(api_key_file),
                         public_read=public_read, insecure=insecure, model=model, limits=limits,
                         batch_wait_ms=batch_wait_ms, max_batch=max_batch, lock_timeout_s=lock_timeout, dtype=dtype,
                         compute_threads=compute_threads or None, **extra)
    config.check_start()
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise UsageError(f"--log-level {log_level!r}: use debug, info or warning")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False, server_header=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


__all__ = ["register", "serve"]
