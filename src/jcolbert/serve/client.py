"""`RemoteIndex`: an index served by `jcolbert serve`, used like a local `jcolbert.Index`.

    index = jcolbert.Index.open("my_index")                                   # local
    index = jcolbert.RemoteIndex("http://127.0.0.1:8000", "my_index")         # the same index, served
    index.search("late interaction", k=10, filter={"lang": "en"})            # [Hit(id, score, rank), ...]

`search`, `add`, `delete`, `get`, `compact`, `stats` and `len()` take the same arguments and return the same
values (`Hit`s, ids, counts) as on `Index`. An error answer raises `ServiceInputError` (also an `InputError`,
like the local index's errors) for problems with the request, or `ServiceError` (with `.status`, `.code`) for the
rest: keys, limits, timeouts, an unavailable server. Needs only httpx (no torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from jcolbert.errors import InputError, ServiceError, ServiceInputError
from jcolbert.index.query import Hit

_INPUT_STATUSES = (400, 404, 409, 413, 422)


class RemoteIndex:
    """One index on a jcolbert server. api_key: sent as `Authorization: Bearer KEY`."""

    def __init__(self, url: str, name: str, api_key: str | None = None, *, timeout: float = 60.0,
                 client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.name = name
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._own = client is None
        self._http = client or httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        if client is not None and api_key:
            self._http.headers.update(headers)

    def __repr__(self) -> str:
        return f"RemoteIndex({self.url!r}, {self.name!r})"

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- reading

    def search(self, query_or_queries: str | Sequence[str], k: int = 10, filter: Any = None, *,
               return_text: bool = False, return_metadata: bool = False, batch_size: int = 32,
               **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Top-k documents for a query (list of Hit) or for each of several queries (list of lists).

        filter: a dict of metadata key == value pairs, or a collection of ids (a callable cannot travel over
        HTTP). knobs: ncells, centroid_score_threshold, ndocs, mode, as for Index.search. batch_size is accepted
        for Index.search's signature; the server batches queries itself."""
        single = isinstance(query_or_queries, str)
        body: dict[str, Any] = {"k": k, "return_text": return_text, "return_metadata": return_metadata, **knobs}
        body["query" if single else "queries"] = query_or_queries if single else list(query_or_queries)
        if filter is not None:
            body["filter"] = _filter_spec(filter)
        if not single and not body["queries"]:
            return []
        answer = self._call("POST", f"/v1/indexes/{self.name}/search", body)
        if single:
            return [_hit(h) for h in answer["hits"]]
        return [[_hit(h) for h in r["hits"]] for r in answer["results"]]

    def search_embeddings(self, Q: Any, k: int = 10, filter: Any = None, *, return_text: bool = False,
                          return_metadata: bool = False, **knobs: Any) -> list[Hit] | list[list[Hit]]:
        """Search with query vectors: [query_tokens, dim] (one query) or [n, query_tokens, dim]."""
        import numpy as np

        from jcolbert.serve.arrays import encode_array

        Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=np.float32)
        single = Q.ndim == 2
        body: dict[str, Any] = {"k": k, "return_text": return_text, "return_metadata": return_metadata, **knobs}
        if single:
            body["query_vectors"] = Q.tolist()
        else:
            body["queries_vectors"] = [encode_array(q) for q in Q]
        if filter is not None:
            body["filter"] = _filter_spec(filter)
        answer = self._call("POST", f"/v1/indexes/{self.name}/search", body)
        if single:
            return [_hit(h) for h in answer["hits"]]
        return [[_hit(h) for h in r["hits"]] for r in answer["results"]]

    def get(self, ids: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        """Stored document(s) by id: {"id", "text", "metadata"}."""
        if isinstance(ids, str):
            return self._call("GET", f"/v1/indexes/{self.name}/documents/{_quote(ids)}")
        return [self._call("GET", f"/v1/indexes/{self.name}/documents/{_quote(x)}") for x in ids]

    def stats(self) -> dict[str, Any]:
        """What the served index's `Index.stats()` says (without its server-side path)."""
        return self._call("GET", f"/v1/indexes/{self.name}")

    def __len__(self) -> int:
        return int(self.stats()["documents"])

    # ------------------------------------------------------------------------------------------- writing

    def add(self, documents: str | dict | Iterable[str | dict], *, batch_size: int = 32) -> list[str]:
        """Add documents (strings, or {"id", "text", "metadata"} dicts) in one commit; returns their ids.
        The server limits documents per request (413 beyond it): send large collections in several calls.
        batch_size is accepted for Index.add's signature; the server encodes with its own."""
        if isinstance(documents, str | dict):
            documents = [documents]
        docs = []
        for i, d in enumerate(documents):
            if isinstance(d, str):
                docs.append({"text": d})
            elif isinstance(d, dict):
                docs.append({k: v for k, v in d.items() if v is not None or k != "metadata"})
            else:
                raise InputError(f"documents[{i}] must be a string or a dict, got {type(d).__name__}")
        if not docs:
            return []
        return self._call("POST", f"/v1/indexes/{self.name}/documents", {"documents": docs})["ids"]

    def delete(self, ids: str | Iterable[str], *, missing_ok: bool = False) -> int:
        """Delete documents by id; returns how many were deleted. Unknown ids raise (nothing deleted) unless
        missing_ok=True."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not ids:
            return 0
        body = {"ids": ids, "missing_ok": missing_ok}
        return int(self._call("DELETE", f"/v1/indexes/{self.name}/documents", body)["deleted"])

    def compact(self, *, recluster: bool | str = "auto") -> dict[str, Any]:
        """Rewrite the index without deleted documents; {"documents", "removed", "reclustered"}."""
        return self._call("POST", f"/v1/indexes/{self.name}/compact", {"recluster": recluster})

    # ------------------------------------------------------------------------------------------- transport

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceError(503, "unreachable", f"{self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def _error(response: httpx.Response) -> ServiceError:
    try:
        err = response.json()["error"]
        code, message = str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", f"HTTP {response.status_code}: {response.text[:200]}"
    cls = ServiceInputError if response.status_code in _INPUT_STATUSES else ServiceError
    return cls(response.status_code, code, message)


def _hit(d: dict[str, Any]) -> Hit:
    return Hit(d["id"], float(d["score"]), int(d["rank"]), d.get("text"), d.get("metadata"))


def _filter_spec(filter: Any) -> Any:
    if callable(filter):
        raise InputError("a callable filter cannot be sent to a server: use a dict of metadata values or a list of ids")
    if isinstance(filter, dict):
        return filter
    if isinstance(filter, str):
        raise InputError("filter must be a dict of metadata values or a collection of ids; got a single string "
                         "(wrap it in a list to filter by one id)")
    return {"ids": list(filter)}


def _quote(doc_id: str) -> str:
    from urllib.parse import quote

    return quote(doc_id, safe="")


__all__ = ["RemoteIndex"]
