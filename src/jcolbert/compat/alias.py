"""`install_as_colbert()`: make ``import colbert`` (and ``colbert.*``) resolve to `jcolbert.compat`.

Every module of `jcolbert.compat` is imported and registered in `sys.modules` under the matching
``colbert.`` name, so the same module object answers to both names (``colbert.data.Queries is
jcolbert.compat.data.Queries``). colbert-ai modules that jcolbert.compat does not mirror stay missing:
importing them raises `ModuleNotFoundError` naming them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

from jcolbert.compat.errors import CompatError

PACKAGE = "jcolbert.compat"
ALIAS = "colbert"

def _skipped(name: str) -> bool:
    """The runner (importing it would run it) and private helpers (not colbert-ai names; some import torch)."""
    return name.rsplit(".", 1)[-1].startswith("_")


def compat_modules() -> dict[str, ModuleType]:
    """``{"colbert.x.y": module jcolbert.compat.x.y}`` for every module of the package, itself included."""
    package = importlib.import_module(PACKAGE)
    out = {ALIAS: package}
    for info in pkgutil.walk_packages(package.__path__, prefix=PACKAGE + "."):
        if _skipped(info.name):
            continue
        out[ALIAS + info.name[len(PACKAGE) :]] = importlib.import_module(info.name)
    return out


def install_as_colbert() -> ModuleType:
    """Register jcolbert.compat as ``colbert`` in `sys.modules`; returns it. Calling it again is harmless.

    Refused (`CompatError`) when the real colbert-ai is already imported: both at once would mix two
    engines in one process. Call it before anything imports ``colbert``.
    """
    present = sys.modules.get(ALIAS)
    package = importlib.import_module(PACKAGE)
    if present is not None and present is not package:
        where = getattr(present, "__file__", None) or "an unknown location"
        raise CompatError(
            f"colbert-ai is already imported (colbert from {where}); call install_as_colbert() before "
            "anything imports colbert, or run the script with python -m jcolbert.compat SCRIPT.py"
        )
    for name, module in compat_modules().items():
        sys.modules.setdefault(name, module)
    return package
