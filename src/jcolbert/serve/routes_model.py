"""Model routes: rerank candidates (texts, or ids of an index's documents) and encode texts to token vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends

from jcolbert.errors import InputError, ServiceError
from jcolbert.serve import deps
from jcolbert.serve.schemas import EncodeRequest, EncodeResponse, ErrorResponse, RerankRequest, RerankResponse

router = APIRouter(tags=["model"])
_ERRORS = {s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)}


async def _model(server, index: str | None):
    """(served model, served index or None): the index's model when an index is named, else the server's."""
    if index is not None:
        served = await server.index(index)
        if served.model is None:
            raise ServiceError(400, "bad_request", f"index {index!r} holds precomputed vectors and has no model")
        return served.model, served
    if not server.ready.is_set():
        raise ServiceError(503, "not_ready", "the server is still loading; see /readyz")
    return await server.run(server.registry.default_model), None


@router.post("/v1/rerank", response_model=RerankResponse, response_model_exclude_none=True, responses=_ERRORS)
async def rerank(body: RerankRequest, server=Depends(deps.read_access)) -> Any:
    """Exact MaxSim of the query against each candidate, best first (at most k)."""
    deps.check_queries(server, [body.query], "query")
    n = len(body.documents if body.documents is not None else body.ids)
    deps.check_count(n, server.limits.max_documents, "candidates")
    deps.check_k(server, body.k)
    if body.documents is not None:
        for i, text in enumerate(body.documents):
            if not text.strip():
                raise ServiceError(422, "invalid_request", f"documents[{i}]: the text is empty")
    served_model, served = await _model(server, body.index)

    async def work() -> list[dict[str, Any]]:
        texts = body.documents
        if texts is None:
            try:
                rows = await server.run(served.reader.get, body.ids)
            except InputError as exc:
                raise ServiceError(404, "document_not_found", str(exc)) from None
            texts = [r["text"] for r in rows]
            missing = [body.ids[i] for i, t in enumerate(texts) if not t]
            if missing:
                raise ServiceError(400, "bad_request", f"documents stored without text cannot be reranked: {missing[:5]}")
        Q = (await served_model.batcher.encode([body.query], run_direct=server.run))[0]
        scores = await server.run(_maxsim, served_model.model, Q, texts)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:body.k]
        return [{"rank": r, "score": scores[i], "index": i, "id": body.ids[i] if body.ids else None}
                for r, i in enumerate(order, 1)]

    if n == 0:
        return {"results": []}
    return {"results": await server.deadline(work())}


def _maxsim(model, Q: np.ndarray, texts: list[str]) -> list[float]:
    import torch

    from jcolbert.scoring import maxsim

    D = model.encode_documents(texts, show_progress=False)
    return maxsim(torch.from_numpy(np.ascontiguousarray(Q)), D).tolist()


@router.post("/v1/encode", response_model=EncodeResponse, responses=_ERRORS)
async def encode(body: EncodeRequest, server=Depends(deps.read_access)) -> Any:
    """Token vectors: queries [query_maxlen, dim] each, documents [kept tokens, dim] each; float32 JSON lists,
    or base64 float16 with format="float16_base64"."""
    if body.kind == "query":
        deps.check_queries(server, body.texts, "texts")
    else:
        deps.check_count(len(body.texts), server.limits.max_documents, "texts")
        for i, text in enumerate(body.texts):
            if not text.strip():
                raise ServiceError(422, "invalid_request", f"texts[{i}]: the text is empty")
    served_model, _ = await _model(server, body.index)

    async def work() -> list[np.ndarray]:
        if body.kind == "query":
            return list(await served_model.batcher.encode(body.texts, run_direct=server.run))
        out = await server.run(served_model.model.encode_documents, body.texts, show_progress=False)
        return [v.numpy() for v in out]

    arrays = await server.deadline(work())
    vectors = ([deps.encode_array(a) for a in arrays] if body.format == "float16_base64"
               else [np.asarray(a, dtype=np.float32).tolist() for a in arrays])
    return {"model": served_model.name, "dim": int(served_model.model.config.dim), "vectors": vectors}


__all__ = ["router"]
