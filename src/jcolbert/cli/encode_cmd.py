"""`jcolbert encode`: token vectors of documents (or queries) into one safetensors file.

Layout (readable with `safetensors.torch.load_file` or `safetensors.numpy.load_file`):

* documents: ``vectors`` float32 ``[total_tokens, dim]`` (all documents' kept vectors, concatenated)
  and ``doclens`` int64 ``[n]`` (vectors per document, in order): colbert-ai's ``keep_dims="flatten"``;
* queries (``--queries``): ``vectors`` float32 ``[n, query_maxlen, dim]``.

The header's metadata holds ``kind``, ``model``, ``dim``, ``count`` and ``ids`` (a JSON list) so the
vectors can be matched back to their documents, e.g. by `jcolbert.Index.add_embeddings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from jcolbert.cli.common import (
    DEFAULT_MODEL,
    JsonOption,
    ModelOption,
    Output,
    QuietOption,
    UsageError,
    load_model,
)
from jcolbert.documents import ReadOptions, batched, read_queries, scan_documents
from jcolbert.documents import read_documents as _read_documents

FORMAT = "jcolbert-vectors/1"


def encode(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Documents (as for `jcolbert index`) or, with --queries, a query file.", show_default=False
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write.")],
    model: ModelOption = DEFAULT_MODEL,
    queries: Annotated[
        bool, typer.Option("--queries", help="Encode queries (one query file) instead of documents.")
    ] = False,
    doc_maxlen: Annotated[
        int | None, typer.Option(help="Token limit per document (default: the model's).")
    ] = None,
    id_field: Annotated[str | None, typer.Option(help="Field/column holding ids.")] = None,
    text_field: Annotated[
        str, typer.Option(help="Field/column holding the text (comma-separated to join several).")
    ] = "text",
    batch_size: Annotated[int, typer.Option(help="Documents per encoder call.", min=1)] = 64,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Encode texts into ColBERT token vectors and save them as safetensors."""
    out = Output(quiet=quiet, json_mode=json_out)
    if out_path.suffix != ".safetensors":
        raise UsageError(f"--out {out_path}: the file name must end in .safetensors")
    if out_path.is_dir():
        raise UsageError(f"--out {out_path} is a folder; give a file name ending in .safetensors")
    options = ReadOptions(id_field=id_field, text_field=text_field)
    if queries:
        if len(inputs) != 1:
            raise UsageError("--queries takes exactly one query file")
        pairs = read_queries(inputs[0], options)
        ids, texts = [q for q, _ in pairs], [t for _, t in pairs]
    else:
        scan = scan_documents(inputs, options)
        if scan.report.skipped_summary():
            out.note(scan.report.skipped_summary())
        ids = scan.ids
        texts = [d["text"] for d in _read_documents(inputs, options)]

    encoder = load_model(model, doc_maxlen=doc_maxlen)
    import torch
    from safetensors.torch import save_file

    if queries:
        vectors = encoder.encode_queries(texts, batch_size=batch_size)
        tensors = {"vectors": vectors.contiguous()}
    else:
        parts: list[torch.Tensor] = []
        with out.progress("encoding", total=len(texts)) as advance:
            for chunk in batched(texts, batch_size * 4):
                parts.extend(encoder.encode_documents(chunk, batch_size=batch_size, show_progress=False))
                advance(len(chunk))
        tensors = {
            "vectors": torch.cat(parts).contiguous(),
            "doclens": torch.tensor([p.shape[0] for p in parts], dtype=torch.int64),
        }
    metadata = {
        "format": FORMAT,
        "kind": "queries" if queries else "documents",
        "model": str(model),
        "dim": str(encoder.config.dim),
        "count": str(len(ids)),
        "ids": json.dumps(ids, ensure_ascii=False),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_path), metadata=metadata)
    summary = {
        "out": str(out_path),
        "kind": metadata["kind"],
        "count": len(ids),
        "vectors": int(
            tensors["vectors"].shape[0]
            if not queries
            else tensors["vectors"].shape[0] * tensors["vectors"].shape[1]
        ),
        "dim": encoder.config.dim,
        "model": str(model),
    }
    if json_out:
        out.json(summary)
    else:
        out.result(
            f"wrote {summary['count']} {summary['kind']} ({summary['vectors']} vectors of dim {summary['dim']}) to {out_path}"
        )


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)
