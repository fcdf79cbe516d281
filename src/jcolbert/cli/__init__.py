"""The `jcolbert` command line (typer). The app is `jcolbert.cli.main.app`; run `jcolbert --help`."""
