"""The `jcolbert` command line (typer + rich: the `cli` extra). The app is `jcolbert.cli.main.app`.

`main` is the console script: it checks for the `cli` extra first, so that a user who installed only the
core library (``pip install jcolbert``) gets one line saying what to install instead of a traceback.
"""

from __future__ import annotations

import sys

CLI_PACKAGES = ("typer", "rich")


def missing_cli_package() -> str | None:
    """The first package of the `cli` extra that cannot be imported, or None."""
    from importlib.util import find_spec

    for name in CLI_PACKAGES:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken one
            return name
    return None


def main() -> None:
    """Entry point of the `jcolbert` console script."""
    missing = missing_cli_package()
    if missing is not None:
        sys.stderr.write(
            f'error: the jcolbert command needs the {missing} package: pip install "jcolbert[cli]"\n'
        )
        raise SystemExit(1)
    from jcolbert.cli.main import app

    app()
