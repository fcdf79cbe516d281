"""`jcolbert index`, `info`, `delete`, `compact`: building and maintaining an index folder.

`index` is resumable by construction: it validates the whole input first (a malformed line 90,000
fails before anything is written), skips documents whose ids the index already holds, and commits
every ``--batch-size`` documents. Ctrl-C (or a crash) therefore leaves the index at its last commit,
and running the same command again continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from jcolbert.cli.common import (
    DEFAULT_MODEL,
    EXIT_INTERRUPTED,
    JsonOption,
    Output,
    QuietOption,
    UsageError,
    load_model,
    quiet_truncation_log,
    require_index_folder,
)
from jcolbert.documents import ReadOptions, batched, read_documents, scan_documents
from jcolbert.errors import InputError

IndexPath = Annotated[Path, typer.Argument(help="The index folder.", show_default=False)]
WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait while another process changes the index.", min=0)
]


def index_exists(path: Path) -> bool:
    """Whether ``path`` holds a jcolbert index (its manifest), as opposed to nothing or an empty folder."""
    from jcolbert.distributed import exists

    return exists(path)


def open_index(path: Path, wait: float = 0.0, ray: str | None = None) -> Any:
    """Open an existing index (or sharded index) for the CLI: our own progress bars replace the engine's.
    ray: a sharded index's shards are held by Ray actors (ADDRESS, or 'local' to start Ray here)."""
    from jcolbert.distributed import open_index as open_any

    if not index_exists(path):
        from jcolbert.index.manifest import MANIFEST

        raise UsageError(f"{path} is not a jcolbert index (no {MANIFEST} there)")
    if ray is not None:
        return open_any(path, progress=False, lock_timeout=wait, backend="ray", address=ray_address(ray))
    return open_any(path, progress=False, lock_timeout=wait)


def ray_address(value: str) -> str | None:
    """--ray ADDRESS: 'local' starts a Ray instance for this command; 'auto', HOST:PORT or ray://... joins a cluster."""
    return value


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
    rerank: Annotated[
        str | None,
        typer.Option(help="Exact tier for a new index: 'int8' or 'fp16' keeps a memory-mapped copy of every token "
                     "vector, read only to rank the final candidates by MaxSim over (near-)original vectors."),
    ] = None,
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
    long_documents: Annotated[
        str,
        typer.Option(help="Documents longer than the model's limit: 'truncate' (counted), or 'split' into "
                     "overlapping windows whose vectors all index the document."),
    ] = "truncate",
    batch_size: Annotated[
        int, typer.Option(help="Documents per commit (what a Ctrl-C can lose).", min=1)
    ] = 1000,
    shards: Annotated[
        int | None,
        typer.Option("--shards", min=1, help="Make a new index of N shards (one codec; each id in one shard)."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option("--ray", metavar="ADDRESS", help="Build with Ray: encode on a pool of Ray workers, write the "
                     "shards in parallel Ray tasks. ADDRESS: 'local' (start Ray here), 'auto', HOST:PORT."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Encoder workers (Ray actors, one model each) with --ray.", min=1)] = 2,
    wait: WaitOption = 0.0,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Create an index from files, or add them to an existing one (ids already present are skipped)."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=False)
    if nbits not in (1, 2, 4):
        raise UsageError(f"--nbits {nbits}: choose 1, 2 or 4")
    if rerank not in (None, "int8", "fp16"):
        raise UsageError(f"--rerank {rerank}: choose int8 or fp16")
    if rerank is not None and (shards is not None or ray is not None):
        raise UsageError("--rerank does not combine with --shards / --ray yet: the shards keep no exact tier")
    if long_documents not in ("truncate", "split"):
        raise UsageError(f"--long-documents {long_documents}: choose truncate or split")
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
    if ray is not None and not index_exists(index_path):
        from jcolbert.cli.shard_cmds import build_with_ray

        build_with_ray(out, index_path, inputs, options, model=model or DEFAULT_MODEL, shards=shards or 1,
                       nbits=nbits, doc_maxlen=doc_maxlen, long_documents=long_documents, address=ray_address(ray),
                       workers=workers, started=started)
        return

    idx, created = _open_or_create(index_path, model, doc_maxlen, nbits, out, wait, rerank, shards, ray)
    present = set(idx.ids()).intersection(scan.ids)
    if present:
        check_same_texts(idx, index_path, read_documents(inputs, options), present)
    todo = scan.count - len(present)
    if present:
        out.note(
            f"{len(present)} of {scan.count} documents are already in the index; adding the other {todo}"
        )
    added = truncated = 0
    timings: dict[str, float] = {}
    try:
        with out.progress("indexing", total=todo) as advance, quiet_truncation_log():
            pending = (
                {"id": d["id"], "text": d["text"], "metadata": d["metadata"] or None}
                for d in read_documents(inputs, options)
                if d["id"] not in present
            )
            if todo:  # loading a model for nothing to add would only cost time
                idx.add(pending, long_documents=long_documents, progress=progress_to(advance),
                        commit_every=batch_size)  # fmt: skip
                added, truncated = idx.last_add["documents"], idx.last_add["truncated"]
                timings = dict(idx.last_timings)
    except KeyboardInterrupt:
        kept = _stats(idx).get("documents", "?")
        out.result(
            f"interrupted: {index_path} keeps the {kept} documents committed so far; "
            "run the same command again to continue"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if truncated:
        out.note(truncation_note(truncated, added, idx.model.config))

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
        "seconds_encoding": round(timings.get("encode_s", 0.0), 3),
        "seconds_indexing": round(timings.get("total_s", 0.0) - timings.get("encode_s", 0.0), 3),
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


def _open_or_create(index_path: Path, model: str | None, doc_maxlen: int | None, nbits: int,
                    out: Output, wait: float = 0.0, rerank: str | None = None, shards: int | None = None,
                    ray: str | None = None) -> tuple[Any, bool]:  # fmt: skip
    """The index at ``index_path`` (its own model and settings) or a new one; notes the options ignored."""
    from jcolbert.index import Index

    if index_exists(index_path):
        idx = open_index(index_path, wait, ray)
        held = getattr(idx, "num_shards", None)
        if shards is not None and shards != (held or 1):
            idx.close()
            raise UsageError(f"{index_path} exists with {held or 1} shard(s), not {shards}; the shard count of an "
                             "index is fixed (build a new one to change it)")
        ignored = []
        if model is not None and not _same_model(model, _stats(idx).get("model")):
            ignored.append(f"--model {model}")
        if doc_maxlen is not None:
            ignored.append(f"--doc-maxlen {doc_maxlen}")
        if rerank is not None and rerank != idx.rerank:
            ignored.append(f"--rerank {rerank}")
        if ignored:
            out.note(f"{index_path} exists: adding with its own model and settings ({', '.join(ignored)} ignored)")
        return idx, False
    from jcolbert.index.folder import creation_remains

    if index_path.is_dir() and any(index_path.iterdir()) and not creation_remains(index_path):
        raise UsageError(f"{index_path} is a folder with other files in it, not an index; choose a new path")
    name = model or DEFAULT_MODEL
    out.note(f"loading model {name}")
    encoder = load_model(name, doc_maxlen=doc_maxlen)
    if shards is not None:
        from jcolbert.distributed.sharded import ShardedIndex

        return ShardedIndex.create(index_path, model=encoder, shards=shards, nbits=nbits, lock_timeout=wait), True
    return Index.create(index_path, model=encoder, nbits=nbits, progress=False, lock_timeout=wait,
                        rerank=rerank), True


def _same_model(given: str, stored: str | None) -> bool:
    if stored is None:
        return False
    local = Path(given).expanduser()
    return given == stored or (local.is_dir() and str(local.resolve()) == stored)


def check_same_texts(idx: Any, index_path: Path, documents: Iterable[dict[str, Any]], present: set[str]) -> None:
    """Ids already in the index are skipped (that is how a run resumes), so an id that now names a different
    text must stop the run: skipping it would silently lose a document."""
    clashes: list[str] = []
    for batch in batched((d for d in documents if d["id"] in present), 1000):
        stored = idx.get([d["id"] for d in batch])
        clashes += [d["id"] for d, s in zip(batch, stored, strict=True)
                    if s.get("text") is not None and s["text"] != d["text"]]  # fmt: skip
    if clashes:
        shown = ", ".join(repr(c) for c in clashes[:5]) + (", ..." if len(clashes) > 5 else "")
        raise InputError(
            f"{len(clashes)} document id(s) of this input are already in {index_path} with a different text "
            f"({shown}); nothing was added. Give these documents other ids (an id field, or a file name the "
            f"index has not seen), or delete the old ones first (jcolbert delete {index_path} ID ...)"
        )


def progress_to(advance: Callable[[int], None]) -> Callable[[int, int | None], None]:
    """`Index.add`'s ``progress(done, total)`` (after each encoder call) as steps of a progress bar."""
    shown = [0]

    def progress(done: int, total: int | None) -> None:
        advance(done - shown[0])
        shown[0] = done

    return progress


def truncation_note(truncated: int, added: int, config: Any) -> str:
    """What was cut, and the option that would keep it (only options this model can take)."""
    limit = config.doc_maxlen
    longest = getattr(config, "max_positions", None)
    ways = ["--long-documents split indexes all of their text"]
    if longest and limit < longest:
        ways.append(f"a new index takes --doc-maxlen up to {longest}")
    return f"truncated {truncated} of {added} documents to {limit} tokens ({'; '.join(ways)})"


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
    if isinstance(value, list) and value and isinstance(value[0], dict):  # a sharded index's per_shard lines
        return "\n".join(f"{v.get('shard')}: {_fmt(v.get('documents'))} docs, {_fmt(v.get('tokens'))} tokens"
                         for v in value)
    return str(value)


def delete(
    index_path: IndexPath,
    ids: Annotated[
        list[str] | None, typer.Argument(help="Document ids to delete.", show_default=False)
    ] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="A file with one id per line.")] = None,
    missing_ok: Annotated[
        bool,
        typer.Option("--missing-ok", help="Ids the index does not hold are listed, not an error."),
    ] = False,
    wait: WaitOption = 0.0,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Delete documents by id (gone from results at once; `compact` reclaims the space).

    An id the index does not hold is an error and nothing is deleted (as `Index.delete` in Python),
    unless --missing-ok.
    """
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    wanted = list(ids or [])
    if ids_file is not None:
        wanted += [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not wanted:
        raise UsageError("no ids given: pass ids as arguments or --ids-file FILE")
    idx = open_index(index_path, wait)
    held = set(idx.ids())
    missing = sorted({i for i in wanted if i not in held})
    if missing and not missing_ok:
        shown = ", ".join(repr(m) for m in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise InputError(
            f"{index_path} holds no document with id {shown}; nothing was deleted "
            "(--missing-ok deletes the others)"
        )
    deleted = idx.delete(wanted, missing_ok=missing_ok)
    summary = {"deleted": deleted, "not_found": missing, "documents": _stats(idx).get("documents")}
    if json_out:
        out.json(summary)
    else:
        out.result(
            f"deleted {deleted} documents"
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
