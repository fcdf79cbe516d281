"""`jcolbert index OUT INPUT --shards N --ray ADDRESS`: a new sharded index built on Ray (distributed/build.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jcolbert.cli.common import Output


def build_with_ray(out: Output, index_path: Path, inputs: list[Path], options: Any, *, model: str, shards: int,
                   nbits: int, doc_maxlen: int | None, long_documents: str, address: str | None, workers: int,
                   started: float) -> None:
    from jcolbert.distributed.build import build

    out.note(f"building {index_path} on Ray: {workers} encoder worker(s), {shards} shard(s)")
    summary = build(index_path, inputs, model=model, shards=shards, options=options, nbits=nbits, workers=workers,
                    doc_maxlen=doc_maxlen, long_documents=long_documents, address=address)
    summary = {"index": str(index_path), "created": True, "added": summary["documents"],
               "seconds": round(time.perf_counter() - started, 3), **summary}
    if out.json_mode:
        out.json(summary)
    else:
        out.result(f"created {index_path}: added {summary['documents']} documents in {shards} shard(s) "
                   f"({summary['tokens']} tokens, {summary['seconds']:.1f} s)")
