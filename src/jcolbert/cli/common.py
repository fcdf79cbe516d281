"""What every `jcolbert` verb shares: option types, output (tables, JSON, progress), errors, model loading.

Rules the verbs follow:
* results go to stdout (a rich table, or JSON with ``--json``); progress and notes go to stderr,
  so ``jcolbert search ... --json | jq`` always sees clean JSON;
* ``--quiet`` silences progress and notes, never results or errors;
* any error the user can cause ends the command with exit code 1 and ONE line on stderr
  (`error_line`), raised here as `UsageError` or by the library as a `jcolbert.errors.JColbertError`.

Nothing here imports torch: `jcolbert --help` must stay fast, so heavy imports happen inside verbs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jcolbert.errors import HubUnavailableError, JColbertError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from jcolbert.model import ColBERTModel

DEFAULT_MODEL = "jinaai/jina-colbert-v1-en"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
OFFLINE_MODEL = "minilm"

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or notes; only results and errors.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print results as JSON (for scripts).")]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help=f"Hub name or local checkpoint folder; '{OFFLINE_MODEL}' is a small model that needs no network.",
    ),
]


def error_line(exc: BaseException) -> str:
    """The one line printed for an error: its message with newlines folded, plus a hint where we know one."""
    if isinstance(exc, OSError) and not isinstance(exc, JColbertError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        message = f"{exc.strerror or exc}{where}"
    else:
        message = str(exc) or type(exc).__name__
    message = " ".join(message.split())
    if isinstance(exc, HubUnavailableError) and f"--model {OFFLINE_MODEL}" not in message:
        message += f" (on the command line: --model {OFFLINE_MODEL} works offline)"
    return f"error: {message}"


class Output:
    """Where a verb writes: results to stdout, progress and notes to stderr (silenced by --quiet)."""

    def __init__(self, *, quiet: bool = False, json_mode: bool = False) -> None:
        self.quiet = quiet
        self.json_mode = json_mode

    @property
    def out(self) -> Console:
        from rich.console import Console

        return Console(highlight=False, soft_wrap=False)

    @property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def note(self, message: str) -> None:
        """A line for the human at the terminal (stderr); not shown with --quiet."""
        if not self.quiet:
            typer.echo(message, err=True)

    def result(self, message: str) -> None:
        """A result line on stdout (shown even with --quiet)."""
        typer.echo(message)

    def json(self, data: Any) -> None:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))

    def table(self, columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
        """A table on stdout; the last column (document text) is cut to keep each row on one line."""
        from rich.table import Table
        from rich.text import Text  # plain text: "[D]" in a document must not read as markup

        cells = [[_cell(v) for v in row] for row in rows]
        console = self.out
        fixed = sum(max([len(c)] + [len(r[i]) for r in cells]) + 3 for i, c in enumerate(columns[:-1]))
        room = max(20, console.width - fixed - 4)
        table = Table(*columns, title=title, show_lines=False, title_justify="left")
        for row in cells:
            last = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
            table.add_row(*[Text(c) for c in row[:-1]], Text(last))
        console.print(table)

    @contextmanager
    def progress(self, description: str, total: int | None, unit: str = "docs") -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr (done/total, rate, elapsed, ETA); yields ``advance(n)``. Silent with --quiet."""
        if self.quiet:
            yield lambda n: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _rate_column(unit),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.err,
            transient=False,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


def _rate_column(unit: str):
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        """Items per second, once there is a rate to show."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} {unit}/s" if speed else f"- {unit}/s")

    return Rate()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def snippet(text: str | None, width: int = 90) -> str:
    """First ``width`` characters of a text on one line, for tables."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def load_model(name: str, **overrides: Any) -> ColBERTModel:
    """`jcolbert.load_model` for the CLI: heavy imports happen here, not at start-up.

    A local folder is passed as an absolute path, because an index records the model's path and must
    find it again when searched from another working directory.
    """
    import jcolbert
    from jcolbert.errors import CheckpointError

    local = Path(name).expanduser()
    if name != OFFLINE_MODEL and local.is_dir():
        name = str(local.resolve())
    try:
        return jcolbert.load_model(name, **{k: v for k, v in overrides.items() if v is not None})
    except CheckpointError as exc:
        if _looks_like_offline_model(name) and not local.exists():
            raise CheckpointError(f"{exc} (did you mean --model {OFFLINE_MODEL}?)") from exc
        raise


def _looks_like_offline_model(name: str) -> bool:
    """``MiniLM``, ``mini-lm``, ``all-MiniLM-L6-v2``: names a user may type for the offline model."""
    flat = "".join(c for c in name.lower() if c.isalnum())
    return name != OFFLINE_MODEL and "minilm" in flat and "/" not in name


def command_name() -> str:
    """How to type the `jcolbert` command here: ``jcolbert`` when the PATH finds this installation's,
    else its path (relative when under the working directory, e.g. ``.venv/bin/jcolbert``)."""
    import os
    import shutil

    script = Path(sys.executable).parent / "jcolbert"
    if not script.exists():
        return "jcolbert"
    found = shutil.which("jcolbert")
    if found and Path(found).resolve() == script.resolve():
        return "jcolbert"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(script)


def activation_hint(command: str) -> str:
    """The line that says how to get plain `jcolbert`, when `command` is a path."""
    if command == "jcolbert":
        return ""
    return f"(to type just `jcolbert`: source {Path(command).parent / 'activate'})"


@contextmanager
def quiet_truncation_log() -> Iterator[None]:
    """Hold back the encoder's per-call "truncated N documents" log lines while a verb encodes in
    batches; the verb reports one total instead (`EncodedDocuments.n_truncated`)."""
    import logging

    logger = logging.getLogger("jcolbert.model")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def require_index_folder(path: Path, *, must_exist: bool) -> Path:
    """Refuse index paths that are files, or missing when the verb needs an existing index."""
    if path.is_file():
        raise UsageError(f"{path} is a file; an index is a folder")
    if must_exist and not path.exists():
        raise UsageError(f"{path}: no such index folder")
    return path


def is_interactive() -> bool:
    return sys.stderr.isatty()
