"""`jcolbert quickstart`: see jcolbert work on real text in under two minutes, then do it on your files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jcolbert.cli.common import (
    DEFAULT_MODEL,
    OFFLINE_MODEL,
    JsonOption,
    Output,
    QuietOption,
    activation_hint,
    command_name,
    snippet,
)
from jcolbert.cli.quickstart import DEFAULT_LIMIT, LARGE_MODEL_LIMIT


def quickstart(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the example index goes (reused when run again).")
    ] = Path("jcolbert-quickstart"),
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help=f"Model to use (default: {DEFAULT_MODEL} from the hub, or '{OFFLINE_MODEL}' when the hub is unreachable).",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help=f"How many standard-library docstrings to index (default {DEFAULT_LIMIT} with a small model or a GPU, "
            f"{LARGE_MODEL_LIMIT} with a large model on a CPU).",
            min=1,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Hits shown per example query.", min=1)] = 3,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Index the Python standard library's docstrings, search them, and show the commands for your own files."""
    from jcolbert.cli.quickstart import run_quickstart

    out = Output(quiet=quiet, json_mode=json_out)
    result = run_quickstart(
        directory,
        model=model,
        default_model=DEFAULT_MODEL,
        offline_model=OFFLINE_MODEL,
        limit=limit,
        k=k,
        on_note=out.note,
        progress=out.progress,
    )
    if json_out:
        out.json(
            {
                "model": result.model,
                "model_note": result.model_note,
                "index": result.index_path,
                "documents": result.documents,
                "tokens": result.tokens,
                "reused": result.reused,
                "timings_s": {k_: round(v, 3) for k_, v in result.timings.items()},
                "queries": result.queries,
            }
        )
        return
    if result.reused:
        out.note(f"reusing the index built earlier at {result.index_path}")
    for item in result.queries:
        out.table(
            ["rank", "score", "id", "text"],
            [[h["rank"], h["score"], h["id"], snippet(_docstring(h["text"]), 200)] for h in item["hits"]],
            title=f"query: {item['query']}",
        )
    t = result.timings
    out.note(
        f"model load {t['model_load']:.1f}s, encoding {t['encode']:.1f}s, indexing {t['index']:.1f}s, "
        f"{len(result.queries)} searches {t['search']:.2f}s"
    )
    model_flag = f" --model {result.model}" if result.model != DEFAULT_MODEL else ""
    jc = command_name()
    activate = activation_hint(jc)
    out.result(
        "\nNow with your own files (JSONL, CSV/TSV, Parquet, or a folder of .txt/.md):\n"
        f"  {jc} index my_index path/to/your/docs{model_flag}\n"
        f'  {jc} search my_index "your question"\n'
        f"  {jc} info my_index\n"
        f'(search this example again: {jc} search {result.index_path} "your question")'
        + (f"\n{activate}" if activate else "")
    )


def _docstring(text: str | None) -> str:
    """The docstring part of a quickstart document (the id column already names the function)."""
    return (text or "").partition("\n\n")[2] or (text or "")


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
