"""colbert-ai's `Provenance` (where a result came from) and the run metadata it writes beside files."""

from __future__ import annotations

import socket
import sys
import time
import traceback
from typing import Any


class Provenance:
    """Free-form attributes (``source``, ``queries``, ``config``, ``k``, ...) plus the creating call stack."""

    def __init__(self) -> None:
        self.initial_stacktrace = _stacktrace()

    def toDict(self) -> dict[str, Any]:  # noqa: N802 - colbert-ai's name (ujson calls it)
        self.serialization_stacktrace = _stacktrace()
        return dict(self.__dict__)


def _stacktrace() -> list[str]:
    return [f"{f.filename}:{f.lineno}:{f.name}:   {(f.line or '').strip()}" for f in traceback.extract_stack()[:-2]]


def metadata_only() -> dict[str, str]:
    """What colbert-ai's ``get_metadata_only()`` records (host, time, command line), without git details."""
    return {
        "hostname": socket.gethostname(),
        "current_datetime": time.strftime("%b %d, %Y ; %l:%M%p %Z (%z)"),
        "cmd": " ".join(sys.argv),
        "written_by": "jcolbert.compat",
    }


def to_json(obj: Any) -> Any:
    """`json.dumps` default: objects with ``toDict`` (colbert-ai's convention for ujson), else their repr."""
    return obj.toDict() if hasattr(obj, "toDict") else repr(obj)
