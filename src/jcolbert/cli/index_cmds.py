"""`jcolbert index`, `info`, `delete`, `compact`: building and maintaining an index folder.

`index` is resumable by construction: it validates the whole input first (a malformed line 90,000
fails before anything is written), skips documents whose ids the index already holds, and commits
every ``--batch-size`` documents. Ctrl-C (or a crash) therefore leaves the index at its last commit,
and running the same command again continues where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from jcolbert.cli.common import (
    DEFAULT_MODEL,
    EXIT_INTERRUPTED,
    CliError,
    JsonOption,
    Output,
    QuietOption,
    load_model,
    quiet_truncation_log,
    require_index_folder,
)
from jcolbert.documents import ReadOptions, batched, read_documents, scan_documents

IndexPath = Annotated[Path, typer.Argument(help="The index folder.", show_default=False)]
WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait while another process changes the index.", min=0)
]


def index_exists(path: Path) -> bool:
    """Whether ``path`` holds a jcolbert index (its manifest), as opposed to nothing or an empty folder."""
    return (path / "manifest.json").is_file()


def open_index(path: Path, wait: float = 0.0) -> Any:
    """Open an existing index for the CLI: our own progress bars replace the engine's."""
    from jcolbert import Index

    if not index_exists(path):
        raise CliError(f"{path} is not a jcolbert index (no manifest.json there)")
    return Index.open(path, progress=False, lock_timeout=wait)


def index(
    index_path: IndexPath,
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "Documents: .jsonl/.json (objects with id/text/metadata, or strings), .csv/.tsv with a header, "
                ".parquet, .txt (one document per line), .md/.rst (one document), or a folder of .txt/.md/.rst files "
                "(one document per file, id = relative path)."
            ),
            show_default=False,
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help=f"Model for a new index (default {DEFAULT_MODEL}; 'minilm' works offline). An existing index uses its own.",
        ),
    ] = None,
    nbits: Annotated[int, typer.Option(help="Bits per residual dimension for a new index (1, 2 or 4).")] = 2,
    doc_maxlen: Annotated[
        int | None, typer.Option(help="Token limit per document for a new index (default: the model's).")
    ] = None,
    id_field: Annotated[
        str | None,
        typer.Option(help="Field/column with the document ids (default: id or _id, else positions)."),
    ] = None,
    text_field: Annotated[
        str, typer.Option(help="Field/column with the text; comma-separated fields are joined.")
    ] = "text",
    no_header: Annotated[
        bool, typer.Option("--no-header", help="CSV/TSV files have no header (columns 1=id, 2=text).")
    ] = False,
    encoding_errors: Annotated[
        str,
        typer.Option(help="Invalid UTF-8: 'strict' stops with the file and offset, 'replace' reads U+FFFD."),
    ] = "strict",
    skip_empty: Annotated[
        bool, typer.Option("--skip-empty", help="Skip documents with empty text instead of failing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="Documents per commit (what a Ctrl-C can lose).", min=1)
    ] = 1000,
    wait: WaitOption = 0.0,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Create an index from files, or add them to an existing one (ids already present are skipped)."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=False)
    if nbits not in (1, 2, 4):
        raise CliError(f"--nbits {nbits}: choose 1, 2 or 4")
    options = ReadOptions(
        id_field=id_field,
        text_field=text_field,
        encoding_errors=encoding_errors,  # type: ignore[arg-type]
        skip_empty=skip_empty,
        header=not no_header,
    )
    started = time.perf_counter()
    scan = scan_documents(inputs, options)
    if scan.report.skipped_summary():
        out.note(scan.report.skipped_summary())

    from jcolbert.index import Index

    if index_exists(index_path):
        if doc_maxlen is not None or model is not None:
            out.note(
                f"{index_path} exists: adding with its own model and settings (--model/--doc-maxlen ignored)"
            )
        idx = open_index(index_path, wait)
        created = False
    else:
        from jcolbert.index.folder import creation_remains

        if index_path.is_dir() and any(index_path.iterdir()) and not creation_remains(index_path):
            raise CliError(
                f"{index_path} is a folder with other files in it, not an index; choose a new path"
            )
        name = model or DEFAULT_MODEL
        out.note(f"loading model {name}")
        encoder = load_model(name, doc_maxlen=doc_maxlen)
        idx = Index.create(index_path, model=encoder, nbits=nbits, progress=False, lock_timeout=wait)
        created = True

    present = set(idx.ids()).intersection(scan.ids)
    todo = scan.count - len(present)
    if present:
        out.note(
            f"{len(present)} of {scan.count} documents are already in the index; adding the other {todo}"
        )
    encoder = idx.model if todo else None  # loading a model for nothing to add would only cost time
    added = truncated = 0
    timings = {"encode": 0.0, "index": 0.0}
    try:
        with out.progress("indexing", total=todo) as advance, quiet_truncation_log():
            pending = (d for d in read_documents(inputs, options) if d["id"] not in present)
            for batch in batched(pending, batch_size):
                t0 = time.perf_counter()
                vectors = encoder.encode_documents([d["text"] for d in batch], show_progress=False)
                t1 = time.perf_counter()
                idx.add_embeddings(
                    [d["id"] for d in batch],
                    list(vectors),
                    texts=[d["text"] for d in batch],
                    metadata=[d["metadata"] or None for d in batch],
                )
                timings["encode"] += t1 - t0
                timings["index"] += time.perf_counter() - t1
                truncated += getattr(vectors, "n_truncated", 0)
                added += len(batch)
                advance(len(batch))
    except KeyboardInterrupt:
        out.result(
            f"interrupted: {index_path} keeps the {len(present) + added} documents committed so far "
            f"({todo - added} of this input not yet added); run the same command again to continue"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if truncated and encoder is not None:
        out.note(
            f"truncated {truncated} of {added} documents to {encoder.config.doc_maxlen} tokens "
            "(a new index takes --doc-maxlen)"
        )

    stats = _stats(idx)
    summary = {
        "index": str(index_path),
        "created": created,
        "added": added,
        "skipped_existing": len(present),
        "skipped": {
            "binary_files": len(scan.report.binary_files),
            "empty": len(scan.report.empty),
            "other_files": len(scan.report.other_files),
        },
        "truncated": truncated,
        "seconds": round(time.perf_counter() - started, 3),
        "seconds_encoding": round(timings["encode"], 3),
        "seconds_indexing": round(timings["index"], 3),
        "stats": stats,
    }
    if json_out:
        out.json(summary)
    else:
        out.result(
            f"{'created' if created else 'updated'} {index_path}: added {added} documents"
            + (f", skipped {len(present)} already present" if present else "")
            + f"; it now holds {stats.get('documents', '?')} documents"
        )


def _stats(idx: Any) -> dict[str, Any]:
    stats = idx.stats()
    return dict(stats) if not isinstance(stats, dict) else stats


def info(index_path: IndexPath, json_out: JsonOption = False, quiet: QuietOption = False) -> None:
    """Show what an index holds: documents, tokens, size on disk, model."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    stats = _stats(open_index(index_path))
    if json_out:
        out.json(stats)
        return
    out.table(["property", "value"], [[k, _fmt(v)] for k, v in stats.items()], title=str(index_path))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def delete(
    index_path: IndexPath,
    ids: Annotated[
        list[str] | None, typer.Argument(help="Document ids to delete.", show_default=False)
    ] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="A file with one id per line.")] = None,
    wait: WaitOption = 0.0,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Delete documents by id (gone from results at once; `compact` reclaims the space)."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    wanted = list(ids or [])
    if ids_file is not None:
        wanted += [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not wanted:
        raise CliError("no ids given: pass ids as arguments or --ids-file FILE")
    idx = open_index(index_path, wait)
    found = set(idx.ids()).intersection(wanted)
    missing = [i for i in wanted if i not in found]
    if found:
        idx.delete(sorted(found))
    summary = {"deleted": len(found), "not_found": missing, "documents": _stats(idx).get("documents")}
    if json_out:
        out.json(summary)
    else:
        out.result(
            f"deleted {len(found)} documents"
            + (f"; not in the index: {', '.join(missing[:10])}" if missing else "")
        )


def compact(
    index_path: IndexPath, wait: WaitOption = 0.0, json_out: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Rewrite the index without deleted documents (and re-cluster when it has outgrown its centroids)."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    idx = open_index(index_path, wait)
    before = _stats(idx)
    out.note(f"compacting {index_path}")
    done = idx.compact()
    after = _stats(idx)
    if json_out:
        out.json({"result": done, "before": before, "after": after})
    else:
        out.result(
            f"compacted {index_path}: removed {done.get('removed', 0)} deleted documents"
            + (", re-clustered" if done.get("reclustered") else "")
            + f"; {after['documents']} documents, {before['bytes_on_disk']:,} -> {after['bytes_on_disk']:,} bytes"
        )


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("info")(info)
    app.command("delete")(delete)
    app.command("compact")(compact)
