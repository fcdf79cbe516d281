"""The `jcolbert` command: the app object, one-line error handling, and the verbs' registration.

Each verb lives in the module of its group (`index_cmds`, `search_cmds`, `encode_cmd`,
`quickstart_cmd`; `evaluate` is owned by the evaluation module). The app's group class catches
every `jcolbert.errors.JColbertError` (and bad paths) from any verb and turns it into one line on
stderr and exit code 1, so no verb needs its own try/except.
"""

from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from jcolbert import __version__
from jcolbert.cli import encode_cmd, index_cmds, quickstart_cmd, search_cmds, verify_cmd
from jcolbert.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, error_line
from jcolbert.errors import JColbertError


class _OneLineErrors(TyperGroup):
    """Turns user-caused errors into one stderr line + exit 1 (``JCOLBERT_DEBUG=1`` shows tracebacks)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own exits and usage errors
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (JColbertError, OSError) as exc:
            if os.environ.get("JCOLBERT_DEBUG") == "1":
                raise
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            if os.environ.get("JCOLBERT_DEBUG") == "1":
                raise
            message = " ".join(str(exc).split())
            typer.echo(
                f"error: internal error {type(exc).__name__}: {message} "
                "(this is a bug; rerun with JCOLBERT_DEBUG=1 for the traceback and report it)",
                err=True,
            )
            raise typer.Exit(EXIT_ERROR) from None


app = typer.Typer(
    name="jcolbert",
    cls=_OneLineErrors,
    help=(
        "Late-interaction (ColBERT) retrieval: index your files, search them, rerank, evaluate.\n\n"
        "Start with `jcolbert quickstart`, then: `jcolbert index my_index docs.jsonl`, "
        '`jcolbert search my_index "your question"`.'
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jcolbert {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Late-interaction (ColBERT) retrieval from the command line."""


index_cmds.register(app)
search_cmds.register(app)
encode_cmd.register(app)
quickstart_cmd.register(app)
verify_cmd.register(app)


def _register_evaluate() -> None:
    """`jcolbert evaluate` is defined by the evaluation module (src/jcolbert/cli/evaluate.py)."""
    from jcolbert.cli.evaluate import evaluate

    app.command("evaluate")(evaluate)


_register_evaluate()


def main() -> None:  # pragma: no cover - `python -m jcolbert.cli.main`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
