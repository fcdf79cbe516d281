"""Read routes: health, readiness, metrics, the indexes and their stats, search (with explanations), colbert-ai's
demo route, the web page and the API docs."""

from __future__ import annotations

import json
import math
from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from jcolbert.errors import ServiceError
from jcolbert.serve import deps
from jcolbert.serve.metrics import CONTENT_TYPE
from jcolbert.serve.schemas import ErrorResponse, SearchRequest, SearchResponse

router = APIRouter()
_ERRORS = {s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 422, 429, 503, 504)}


@router.get("/healthz", tags=["service"])
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about the indexes: see /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["service"], responses={503: {"model": ErrorResponse}})
async def readyz(server=Depends(deps._server)) -> Any:
    """Ready when every index found at start-up is open and its model loaded (503 until then, or on failure)."""
    if not server.ready.is_set():
        raise ServiceError(503, "not_ready", "opening indexes and loading models")
    problems = dict(server.registry.errors)
    if server.load_error:
        problems["start-up"] = server.load_error
    if problems:
        raise ServiceError(503, "not_ready", "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
    return {"status": "ready", "indexes": sorted(s.name for s in server.registry.opened()),
            "models": sorted(m.name for m in server.registry.models())}


@router.get("/metrics", tags=["service"], response_class=Response)
async def metrics(server=Depends(deps.read_access)) -> Response:
    """Prometheus text: requests and latency by route and status, queue depths, documents per index."""
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/indexes", tags=["indexes"], responses=_ERRORS)
async def list_indexes(server=Depends(deps.read_access)) -> dict[str, list[str]]:
    """Names of the indexes this server answers for (folders created since start-up included)."""
    return {"indexes": await server.run(server.registry.names)}


@router.get("/v1/indexes/{name}", tags=["indexes"], responses=_ERRORS)
async def index_stats(name: str, server=Depends(deps.read_access)) -> dict[str, Any]:
    """What `Index.stats()` says (its server-side path left out), plus the index's name."""
    served = await server.index(name)
    stats = await server.run(served.reader.stats)
    stats.pop("path", None)
    return {"name": name, **stats}


@router.post("/v1/indexes/{name}/search", tags=["search"], response_model=SearchResponse,
             response_model_exclude_none=True, responses=_ERRORS)
async def search(name: str, body: SearchRequest, server=Depends(deps.read_access)) -> Any:
    """Top-k documents for one query (`hits`) or several (`results`), by text or by query vectors."""
    deps.check_k(server, body.k)
    texts = [body.query] if body.query is not None else body.queries
    if texts is not None:
        deps.check_queries(server, texts, "query" if body.query is not None else "queries")
    else:
        mats = [body.query_vectors] if body.query_vectors is not None else body.queries_vectors
        deps.check_count(len(mats), server.limits.max_queries, "queries")
    n_queries = len(texts) if texts is not None else len(mats)
    if body.explain and n_queries * body.k > server.limits.max_explain:
        raise ServiceError(413, "too_large", f"explain: {n_queries} queries x k={body.k} hits to explain; this server "
                           f"explains at most {server.limits.max_explain} per request")
    served = await server.index(name)
    single = body.query is not None or body.query_vectors is not None
    results = await server.deadline(_search(server, served, body, texts))
    if single:
        return {"hits": results[0]}
    return {"results": [{"hits": hits} for hits in results]}


async def _search(server, served, body: SearchRequest, texts: list[str] | None) -> list[list[dict[str, Any]]]:
    filt = deps.library_filter(body.filter)
    if texts is not None:
        if served.model is None:
            raise ServiceError(400, "bad_request", f"index {served.name!r} holds precomputed vectors and has no "
                               "model: search it with query_vectors")
        Q = await served.model.batcher.encode(texts, run_direct=server.run)
    else:
        mats = [body.query_vectors] if body.query_vectors is not None else body.queries_vectors
        dim = served.reader.dim
        field = "query_vectors" if body.query_vectors is not None else "queries_vectors"
        Q = deps.stack_queries([deps.decode_vectors(m, dim, field if len(mats) == 1 and field == "query_vectors"
                                                    else f"{field}[{i}]") for i, m in enumerate(mats)])
    want_text = body.return_text or body.explain
    knobs = body.knobs()
    search = partial(served.reader.search_embeddings, k=body.k, filter=filt, return_text=want_text,
                     return_metadata=body.return_metadata, **knobs)
    if server.config.batch_wait_ms > 0:  # micro-batching on: searches waiting together run together
        key = (body.k, json.dumps(body.filter, sort_keys=True), want_text, body.return_metadata,
               tuple(sorted(knobs.items())))
        hits = await served.searches.search(Q, key, search)
    else:
        hits = await server.run(search, Q)
    out = [[deps.hit_dict(h, body.return_text) for h in per_query] for per_query in hits]
    if body.explain:
        await server.run(_explain_all, served, texts, Q, hits, out)
    return out


def _explain_all(served, texts: list[str] | None, Q: np.ndarray, hits: list[list[Any]],
                 out: list[list[dict[str, Any]]]) -> None:
    """Fill each hit's `explanation` (needs the index's model and the document's stored text)."""
    from jcolbert.scoring.explain import explain

    if served.model is None:
        raise ServiceError(400, "bad_request", f"explain re-encodes documents, and index {served.name!r} has no model")
    model = served.model.model
    for i, per_query in enumerate(hits):
        for hit, d in zip(per_query, out[i], strict=True):
            if hit.text:
                d["explanation"] = explain(model, texts[i] if texts else None, hit.text, Q=Q[i]).to_dict()


# ----------------------------------------------------------------------------------------------- colbert-ai demo


@router.get("/api/search", tags=["search"], responses=_ERRORS)
async def colbert_demo_search(query: str = Query(..., description="the query text"),
                              k: int | None = Query(None, description="hits, at most 100 (default 10)"),
                              index: str | None = Query(None, description="needed when several indexes are served"),
                              server=Depends(deps.read_access)) -> dict[str, Any]:
    """colbert-ai's demo server route: `{"query", "topk": [{"text", "pid", "rank", "score", "prob"}]}`, k capped
    at 100, prob the softmax of the top-k scores. pid is the document id, as a number when it is one."""
    k = 10 if k is None else min(int(k), 100)
    if k < 1:
        raise ServiceError(422, "invalid_request", f"k: must be a positive integer, got {k}")
    deps.check_queries(server, [query], "query")
    if index is None:
        names = await server.run(server.registry.names)
        if len(names) != 1:
            raise ServiceError(400, "bad_request", f"this server has {len(names)} indexes "
                               f"({', '.join(names) or 'none'}): name one with &index=NAME")
        index = names[0]
    served = await server.index(index)
    body = SearchRequest(query=query, k=k, return_text=True)
    hits = (await server.deadline(_search(server, served, body, [query])))[0]
    top = max((h["score"] for h in hits), default=0.0)
    weights = [math.exp(h["score"] - top) for h in hits]
    total = sum(weights) or 1.0
    topk = [{"text": h["text"], "pid": int(h["id"]) if h["id"].isdigit() else h["id"], "rank": h["rank"],
             "score": h["score"], "prob": w / total} for h, w in zip(hits, weights, strict=True)]
    return {"query": query, "topk": topk}


# ----------------------------------------------------------------------------------------------- page and docs


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    from jcolbert.serve.app import STATIC

    return FileResponse(STATIC / "index.html", media_type="text/html")


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package's files (served here, so it works offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the serve extra installs it; without it /docs says where the schema is
        @app.get("/docs", include_in_schema=False)
        async def docs_missing() -> HTMLResponse:
            return HTMLResponse('<p>Install swagger-ui-bundle for the interactive docs; the schema is at '
                                '<a href="/openapi.json">/openapi.json</a>.</p>')
        return
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="jcolbert API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")


__all__ = ["mount_docs", "router"]
