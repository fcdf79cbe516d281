"""Write routes: create an index, add, delete, compact (queued on the index's writer), and get a document.

A write request is checked whole before it is queued (shape, limits, duplicate ids), and the index checks it
again before writing anything, so a bad request writes nothing; a good one is one commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from jcolbert.errors import InputError, ServiceError
from jcolbert.serve import deps
from jcolbert.serve.schemas import (
    AddRequest,
    AddResponse,
    CompactRequest,
    CompactResponse,
    CreateIndexRequest,
    DeleteRequest,
    DeleteResponse,
    DocumentOut,
    ErrorResponse,
)

router = APIRouter(tags=["documents"])
_ERRORS = {s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)}


def _names(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(x) for x in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


@router.post("/v1/indexes", tags=["indexes"], status_code=201, responses=_ERRORS)
async def create_index(body: CreateIndexRequest, server=Depends(deps.write_access)) -> dict[str, Any]:
    """Create an empty index in the server's folder of indexes, with the server's model."""
    options: dict[str, Any] = {"nbits": body.nbits, "residual": body.residual}
    if body.exact_threshold is not None:
        options["exact_threshold"] = body.exact_threshold
    if body.rerank is not None:
        options["rerank"] = body.rerank
    if not server.ready.is_set():
        raise ServiceError(503, "not_ready", "the server is still opening its indexes; see /readyz")
    served = await server.deadline(server.run(server.registry.create, body.name, options))
    stats = await server.run(served.reader.stats)
    stats.pop("path", None)
    return {"name": served.name, **stats}


@router.post("/v1/indexes/{name}/documents", response_model=AddResponse, responses=_ERRORS)
async def add_documents(name: str, body: AddRequest, server=Depends(deps.write_access)) -> Any:
    """Encode and add documents in one commit. Ids already in the index: 409, nothing added."""
    deps.check_count(len(body.documents), server.limits.max_documents, "documents")
    given = [d.id for d in body.documents if d.id is not None]
    dupes = sorted({x for x in given if given.count(x) > 1}) if len(set(given)) != len(given) else []
    if dupes:
        raise ServiceError(422, "invalid_request", f"documents: duplicate ids in this request: {_names(dupes)}")
    served = await server.index(name)
    if served.model is None:
        raise ServiceError(400, "bad_request", f"index {name!r} holds precomputed vectors and has no model to "
                           "encode text with")
    docs = [{"id": d.id, "text": d.text, "metadata": d.metadata} if d.id is not None
            else {"text": d.text, "metadata": d.metadata} for d in body.documents]

    def job(index) -> dict[str, Any]:
        taken = [x for x in given if x in index]
        if taken:
            raise ServiceError(409, "duplicate_id", f"already in index {name!r}: {_names(taken)}; nothing was added")
        ids = index.add(docs)
        return {"ids": ids, "documents": len(index)}

    return await served.writer.run(job, server.limits.timeout_s)


@router.delete("/v1/indexes/{name}/documents", response_model=DeleteResponse, responses=_ERRORS)
async def delete_documents(name: str, body: DeleteRequest, server=Depends(deps.write_access)) -> Any:
    """Delete documents by id in one commit. Unknown ids: 404 naming them, nothing deleted (unless missing_ok)."""
    deps.check_count(len(body.ids), server.limits.max_documents, "ids")
    served = await server.index(name)

    def job(index) -> dict[str, Any]:
        missing = [x for x in dict.fromkeys(body.ids) if x not in index]
        if missing and not body.missing_ok:
            raise ServiceError(404, "document_not_found", f"not in index {name!r}: {_names(missing)}; nothing was "
                               "deleted")
        deleted = index.delete(body.ids, missing_ok=True)
        return {"deleted": deleted, "documents": len(index)}

    return await served.writer.run(job, server.limits.timeout_s)


@router.get("/v1/indexes/{name}/documents/{doc_id:path}", response_model=DocumentOut, responses=_ERRORS)
async def get_document(name: str, doc_id: str, server=Depends(deps.read_access)) -> Any:
    """A stored document: id, text and metadata."""
    served = await server.index(name)
    try:
        return await server.run(served.reader.get, doc_id)
    except InputError:
        raise ServiceError(404, "document_not_found", f"no document with id {doc_id!r} in index {name!r}") from None


@router.post("/v1/indexes/{name}/compact", response_model=CompactResponse, responses=_ERRORS)
async def compact(name: str, body: CompactRequest | None = None, server=Depends(deps.write_access)) -> Any:
    """Rewrite the index without its deleted documents (re-clustering when due, or as asked)."""
    served = await server.index(name)
    recluster = body.recluster if body is not None else "auto"
    return await served.writer.run(lambda index: index.compact(recluster=recluster), server.limits.timeout_s)


__all__ = ["router"]
