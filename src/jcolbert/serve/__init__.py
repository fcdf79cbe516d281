"""`jcolbert serve`: an HTTP search service over jcolbert indexes, and `RemoteIndex`, its Python client.

Modules: config (ServeConfig, Limits, the start rule), auth (API keys), app (create_app: start-up, middleware,
error answers), routes_read / routes_write / routes_model (the endpoints), schemas (the pydantic contract),
deps (shared checks), registry (served indexes, their read and write handles, shared models), batcher (query
micro-batching), search_batcher (searches waiting together run together), threads (threads per search), writer
(one queued writer per index), metrics (Prometheus), client (RemoteIndex), static/ (the web page). Importing
this package loads none of FastAPI, uvicorn or torch; `create_app` does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_LAZY = {
    "create_app": "jcolbert.serve.app",
    "ServeConfig": "jcolbert.serve.config",
    "Limits": "jcolbert.serve.config",
    "ApiKeys": "jcolbert.serve.auth",
    "RemoteIndex": "jcolbert.serve.client",
}
__all__ = ["create_app", "ServeConfig", "Limits", "ApiKeys", "RemoteIndex"]

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.serve.app import create_app
    from jcolbert.serve.auth import ApiKeys
    from jcolbert.serve.client import RemoteIndex
    from jcolbert.serve.config import Limits, ServeConfig


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jcolbert.serve' has no attribute {name!r}")
