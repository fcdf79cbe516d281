"""What several routes share: access checks (FastAPI dependencies), request limits, filters, vectors, hits."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPBearer

from jcolbert.errors import ServiceError
from jcolbert.serve.arrays import decode_vectors, encode_array, stack_queries
from jcolbert.serve.auth import READ, WRITE

_bearer = HTTPBearer(auto_error=False, description="an API key of this server (KEY, or a read-only KEY:read)")


def _server(request: Request):
    return request.app.state.server


def read_access(request: Request, _key=Security(_bearer)):
    """Dependency of every read route: a valid key unless the server has none or reads are public."""
    server = _server(request)
    server.config.keys.check(request.headers.get("authorization"), READ, public_read=server.config.public_read)
    return server


def write_access(request: Request, _key=Security(_bearer)):
    """Dependency of every write route: a valid read-write key unless the server has no keys at all."""
    server = _server(request)
    server.config.keys.check(request.headers.get("authorization"), WRITE)
    return server


# ----------------------------------------------------------------------------------------------- limits


def check_k(server, k: int | None) -> None:
    if k is not None and k > server.limits.max_k:
        raise ServiceError(422, "invalid_request", f"k: {k} is over this server's limit of {server.limits.max_k}")


def check_count(n: int, limit: int, what: str) -> None:
    if n > limit:
        raise ServiceError(413, "too_large", f"{n} {what} in one request; this server takes at most {limit}")


def check_queries(server, texts: list[str], field: str) -> None:
    check_count(len(texts), server.limits.max_queries, "queries")
    for i, text in enumerate(texts):
        where = field if len(texts) == 1 and field == "query" else f"{field}[{i}]"
        if not text.strip():
            raise ServiceError(422, "invalid_request", f"{where}: the query is empty")
        if len(text) > server.limits.max_query_chars:
            raise ServiceError(413, "too_large", f"{where}: {len(text)} characters; this server takes queries of "
                               f"at most {server.limits.max_query_chars}")


# ----------------------------------------------------------------------------------------------- filters


def library_filter(spec: dict[str, Any] | list[str] | None) -> Any:
    """The request's `filter` as the library parses it (`jcolbert.index.filters`): a spec object
    ({"lang": "en", "year": [2023, 2024], "ids": [...]}) or a bare list of ids. Checked here, before any
    encoding; a bad clause is a 400 naming it."""
    from jcolbert.index import filters

    return filters.coerce(spec)


# ----------------------------------------------------------------------------------------------- hits


def hit_dict(hit: Any, text: bool) -> dict[str, Any]:
    """A Hit as the API answers it (`Hit.to_dict`); text dropped when it was fetched only for an explanation."""
    out = hit.to_dict()
    if not text:
        out.pop("text", None)
    return out


__all__ = ["check_count", "check_k", "check_queries", "decode_vectors", "encode_array", "hit_dict",
           "library_filter", "read_access", "stack_queries", "write_access"]
