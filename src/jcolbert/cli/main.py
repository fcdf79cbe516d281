"""The `jcolbert` command: the app object, one-line error handling, and the verbs' registration.

Each verb lives in the module of its group (`index_cmds`, `search_cmds`, `encode_cmd`,
`quickstart_cmd`; `evaluate` is owned by the evaluation module). The app's group class catches
every `jcolbert.errors.JColbertError` (and bad paths) from any verb and turns it into one line on
stderr and exit code 1, so no verb needs its own try/except.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

try:  # recent typer vendors click (as typer._click); older releases use click itself
    from typer._click import Context, Parameter
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import Context, Parameter
    from click import exceptions as click_errors

from jcolbert import __version__
from jcolbert.cli import (
    encode_cmd,
    index_cmds,
    quickstart_cmd,
    search_cmds,
    serve_cmd,
    train_cmds,
    verify_cmd,
)
from jcolbert.cli.common import DEFAULT_MODEL, EXIT_ERROR, EXIT_INTERRUPTED, error_line
from jcolbert.errors import JColbertError


class _Flags:
    """Boolean flags show no ``<bool>`` type in ``--help`` (they take no value)."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_Flags, TyperCommand):
    """Every verb's command class (see `register`)."""


class _OneLineErrors(_Flags, TyperGroup):
    """Turns every error into one stderr line + exit 1 (``JCOLBERT_DEBUG=1`` shows tracebacks).

    User-caused errors come from the verbs (`invoke`); usage errors (an unknown option, a missing
    argument, a bad value) from click's parsing (`main`). A closed pipe (``jcolbert --help | head``)
    ends the command quietly.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click_errors.NoArgsIsHelpError as exc:  # `jcolbert` alone: the help (rich prints it itself)
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            code = 0
        except click_errors.ClickException as exc:
            typer.echo(usage_error_line(exc), err=True)
            code = EXIT_ERROR
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = EXIT_ERROR
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_errors.ClickException, BrokenPipeError):  # handled by `main`
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


def usage_error_line(exc: click_errors.ClickException) -> str:
    """``error: no such option: --bogus (see: jcolbert index --help)``."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click_errors.UsageError) and ctx is not None:
        message += f" (see: {ctx.command_path} --help)"
    return f"error: {message}"


app = typer.Typer(
    name="jcolbert",
    cls=_OneLineErrors,
    help=(
        "Late-interaction (ColBERT) retrieval: index your files, search them, rerank, evaluate.\n\n"
        "Start with `jcolbert quickstart`, then index and search your own files: "
        '`jcolbert index my_index docs.jsonl --model minilm`, `jcolbert search my_index "your question"` '
        f"(minilm is a small model that works offline; without --model, a new index uses {DEFAULT_MODEL} "
        "from the Hugging Face hub)."
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
serve_cmd.register(app)
verify_cmd.register(app)
train_cmds.register(app)


def _register_evaluate() -> None:
    """`jcolbert evaluate` is defined by the evaluation module (src/jcolbert/cli/evaluate.py)."""
    from jcolbert.cli.evaluate import evaluate

    app.command("evaluate")(evaluate)


_register_evaluate()
for _info in app.registered_commands:  # every verb gets the flag display of `Command`
    _info.cls = Command


def main() -> None:  # pragma: no cover - `python -m jcolbert.cli.main`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
