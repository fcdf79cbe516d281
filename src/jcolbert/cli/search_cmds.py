"""`jcolbert search` (an index, one query or a file of them) and `jcolbert rerank` (no index at all)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jcolbert.cli.common import (
    DEFAULT_MODEL,
    JsonOption,
    ModelOption,
    Output,
    QuietOption,
    UsageError,
    load_model,
    require_index_folder,
    snippet,
)
from jcolbert.documents import ReadOptions, read_documents, read_queries
from jcolbert.errors import InputError


def parse_filters(filters: list[str] | None) -> Any:
    """``--filter key=value`` (repeatable, all must hold) -> a filter for `jcolbert.Index.search`.
    The parsing and the matching rules live in the library (`jcolbert.index.filters.from_cli`)."""
    from jcolbert.index.filters import from_cli

    return from_cli(filters)


def check_query(query: str) -> str:
    if not query.strip():
        raise InputError("the query is empty")
    return query


def _print_hits(out: Output, query: str, hits: list[Any]) -> None:
    if not hits:
        out.note(f"no hits for {query!r}")
        return
    out.table(
        ["rank", "score", "id", "text"],
        [[h.rank, float(h.score), h.id, snippet(h.text)] for h in hits],
        title=f"query: {query}",
    )


def write_trec(handle, qid: str, hits: list[Any], tag: str) -> None:
    """TREC run lines: ``qid Q0 docid rank score tag``."""
    for hit in hits:
        handle.write(f"{qid} Q0 {hit.id} {hit.rank} {float(hit.score):.6f} {tag}\n")


def search(
    index_path: Annotated[Path, typer.Argument(help="The index folder.", show_default=False)],
    query: Annotated[
        str | None, typer.Argument(help="The query text (or use --queries FILE).", show_default=False)
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Hits per query.", min=1)] = 10,
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            help="File of queries: .tsv (qid<TAB>text, no header), .jsonl (BEIR: _id/text), .csv (id,text) or .txt (one per line).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write a TREC run file here (default with --queries: stdout)."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="Only documents whose metadata has KEY=VALUE (repeatable; all must hold). id=a,b restricts to ids.",
        ),
    ] = None,
    tag: Annotated[str, typer.Option(help="Run tag in the TREC file.")] = "jcolbert",
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Search an index with one query (a table of hits) or a file of queries (a TREC run file)."""
    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    if (query is None) == (queries is None):
        raise UsageError("give either a QUERY or --queries FILE (not both, not neither)")
    filter_spec = parse_filters(filters)
    pairs = [("1", check_query(query))] if query is not None else read_queries(queries)

    from jcolbert.cli.index_cmds import open_index

    index = open_index(index_path)
    if query is not None and output is None:
        hits = index.search(pairs[0][1], k=k, filter=filter_spec, return_text=True, return_metadata=json_out)
        if json_out:
            out.json({"query": query, "hits": [h.to_dict() for h in hits]})
        else:
            _print_hits(out, query, hits)
        return

    results: dict[str, list[Any]] = {}
    index.warm_up()  # model, codec tables, norms: loaded once here, so every query of the file runs warm
    with out.progress("searching", total=len(pairs)) as advance:
        for qid, text in pairs:
            results[qid] = index.search(text, k=k, filter=filter_spec, return_text=json_out,
                                        return_metadata=json_out)
            advance(1)
    if json_out and output is None:
        out.json({qid: [h.to_dict() for h in hits] for qid, hits in results.items()})
        return
    if output is None:
        for qid, hits in results.items():
            write_trec(sys.stdout, qid, hits, tag)
        return
    with open(output, "w", encoding="utf-8") as handle:
        for qid, hits in results.items():
            write_trec(handle, qid, hits, tag)
    summary = {"queries": len(results), "run": str(output), "k": k}
    if json_out:
        out.json(summary)
    else:
        out.result(
            f"wrote {sum(len(h) for h in results.values())} hits for {len(results)} queries to {output}"
        )


def rerank(
    query: Annotated[str, typer.Argument(help="The query text.", show_default=False)],
    docs_file: Annotated[
        Path,
        typer.Argument(
            help="Candidates: .jsonl, .csv/.tsv, .parquet, .txt (one per line) or a folder.",
            show_default=False,
        ),
    ],
    model: ModelOption = DEFAULT_MODEL,
    k: Annotated[int | None, typer.Option("-k", "--k", help="Keep the best k (default: all).", min=1)] = None,
    id_field: Annotated[str | None, typer.Option(help="Field/column holding document ids.")] = None,
    text_field: Annotated[
        str, typer.Option(help="Field/column holding the text (comma-separated to join several).")
    ] = "text",
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Rerank candidate documents for a query with exact MaxSim (no index needed)."""
    out = Output(quiet=quiet, json_mode=json_out)
    check_query(query)
    documents = list(read_documents(docs_file, ReadOptions(id_field=id_field, text_field=text_field)))
    if not documents:
        raise InputError(f"{docs_file}: holds no documents")
    encoder = load_model(model)
    import jcolbert

    out.note(f"reranking {len(documents)} documents with {model}")
    ranked = jcolbert.rerank(encoder, query, [d["text"] for d in documents], k=k)
    rows = [
        {"rank": r, "id": documents[i]["id"], "score": float(s), "text": documents[i]["text"]}
        for r, (i, s) in enumerate(ranked, start=1)
    ]
    if json_out:
        out.json({"query": query, "model": model, "hits": rows})
    else:
        out.table(
            ["rank", "score", "id", "text"],
            [[r["rank"], r["score"], r["id"], snippet(r["text"])] for r in rows],
            title=f"query: {query}",
        )


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("rerank")(rerank)
