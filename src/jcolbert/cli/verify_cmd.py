"""`jcolbert verify INDEX [--repair]`: check an index folder deeply (jcolbert.index.verify has the list of
checks); with --repair, remove what interrupted writers left behind. Exit code 1 when problems remain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jcolbert.cli.common import JsonOption, Output, QuietOption, UsageError, require_index_folder


def verify(
    index_path: Annotated[Path, typer.Argument(help="The index folder.", show_default=False)],
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove leftovers of interrupted changes (files, orphan rows).")
    ] = False,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Check every file, array, inverted file and stored row of an index against its manifest."""
    from jcolbert.index.verify import verify as run

    out = Output(quiet=quiet, json_mode=json_out)
    require_index_folder(index_path, must_exist=True)
    out.note(f"verifying {index_path}")
    report = run(index_path, repair=repair)
    if json_out:
        out.json(report)
    else:
        for line in report["repaired"]:
            out.result(f"repaired: {line}")
        for line in report["problems"]:
            out.result(f"problem: {line}")
        for line in report["repairable"]:
            out.result(f"leftover: {line} (jcolbert verify --repair removes it)")
    if not report["ok"]:
        n = len(report["problems"]) + len(report["repairable"])
        raise UsageError(f"{index_path}: {n} problem(s) found" + (f": {report['problems'][0]}" if report["problems"] else ""))
    if not json_out:
        out.result(f"{index_path}: ok ({report['documents']} documents)")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
