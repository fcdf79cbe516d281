"""``python -m jcolbert.compat SCRIPT.py [args...]`` (or ``-m MODULE [args...]``): run colbert-ai code
on jcolbert, unchanged. `install_as_colbert()` is called first, then the script runs as ``__main__``
with ``sys.argv`` = ``[SCRIPT.py, args...]``, as ``python SCRIPT.py args...`` would run it."""

from __future__ import annotations

import os
import runpy
import sys

USAGE = "usage: python -m jcolbert.compat SCRIPT.py [args...]  |  python -m jcolbert.compat -m MODULE [args...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or (argv[0] == "-m" and len(argv) < 2):
        print(USAGE, file=sys.stderr if not argv or argv[0] == "-m" else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from jcolbert.compat.alias import install_as_colbert

    if argv[0] != "-m" and not os.path.isfile(argv[0]):
        print(f"jcolbert.compat: {argv[0]}: no such file\n{USAGE}", file=sys.stderr)
        return 2
    install_as_colbert()
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
