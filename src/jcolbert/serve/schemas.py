"""The HTTP contract as pydantic models: what each route accepts and answers (also the OpenAPI at /docs).

Shapes a client relies on: a search body `{"query": "...", "k": 10, ...}` answers `{"hits": [{"id", "score",
"rank", "text"?, "metadata"?}]}`, and with `"queries": [...]` `{"results": [{"hits": [...]}, ...]}`; an add body
is `{"documents": [{"id", "text", "metadata"?}]}`; every error is `{"error": {"code", "message"}}`. Unknown
fields are refused (422), so a misspelt option never passes silently. Limits that depend on the server's
settings (k, counts, sizes) are checked by the routes.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class EncodedArray(_Strict):
    """An array as base64 of its little-endian bytes (float16 by default: half the size of float32 JSON)."""

    dtype: Literal["float16", "float32"] = "float16"
    shape: list[int]
    data: str


Vectors = list[list[float]] | EncodedArray
Filter = dict[str, Any] | list[str]


# ----------------------------------------------------------------------------------------------- search


class SearchRequest(_Strict):
    """Exactly one of query / queries / query_vectors / queries_vectors."""

    query: str | None = None
    queries: list[str] | None = None
    query_vectors: Vectors | None = Field(None, description="one query's token vectors [tokens, dim]")
    queries_vectors: list[Vectors] | None = None
    k: int = Field(10, ge=1)
    filter: Filter | None = Field(None, description='metadata values {"lang": "en"}, or ids {"ids": ["a", "b"]}')
    return_text: bool = False
    return_metadata: bool = False
    explain: bool = Field(False, description="per hit: which document token won each query token, and its share")
    ncells: int | None = Field(None, ge=1)
    centroid_score_threshold: float | None = None
    ndocs: int | None = Field(None, ge=1)
    mode: Literal["auto", "plaid", "exact"] | None = None

    @model_validator(mode="after")
    def _one_query_form(self) -> SearchRequest:
        given = [n for n in ("query", "queries", "query_vectors", "queries_vectors") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of query, queries, query_vectors, queries_vectors"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    def knobs(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in ("ncells", "centroid_score_threshold", "ndocs", "mode")
                if getattr(self, n) is not None}


class TokenMatchOut(BaseModel):
    query_position: int
    query_token: str
    query_span: list[int] | None
    doc_position: int
    doc_token: str
    doc_span: list[int] | None
    contribution: float


class ExplanationOut(BaseModel):
    score: float = Field(description="exact MaxSim over the re-encoded document: the sum of the contributions")
    matches: list[TokenMatchOut]
    doc_tokens: int
    truncated: bool


class HitOut(BaseModel):
    id: str
    score: float
    rank: int
    text: str | None = None
    metadata: dict[str, Any] | None = None
    explanation: ExplanationOut | None = None


class HitsOut(BaseModel):
    hits: list[HitOut]


class SearchResponse(BaseModel):
    hits: list[HitOut] | None = None
    results: list[HitsOut] | None = None


# ----------------------------------------------------------------------------------------------- documents


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: NaN and Infinity are not JSON values")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


class DocumentIn(_Strict):
    id: str | None = Field(None, min_length=1, max_length=512, description="assigned by the index when omitted")
    text: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the text is empty or whitespace-only")
        return v

    @field_validator("metadata")
    @classmethod
    def _finite(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            _check_finite(v, "metadata")
        return v


class AddRequest(_Strict):
    documents: list[DocumentIn] = Field(min_length=1)


class AddResponse(BaseModel):
    ids: list[str]
    documents: int = Field(description="live documents in the index after this commit")


class DeleteRequest(_Strict):
    ids: list[str] = Field(min_length=1)
    missing_ok: bool = False


class DeleteResponse(BaseModel):
    deleted: int
    documents: int


class DocumentOut(BaseModel):
    id: str
    text: str | None = None
    metadata: dict[str, Any] | None = None


class CompactRequest(_Strict):
    recluster: bool | Literal["auto"] = "auto"


class CompactResponse(BaseModel):
    documents: int
    removed: int
    reclustered: bool


class CreateIndexRequest(_Strict):
    name: str
    nbits: Literal[1, 2, 4] = 2
    residual: Literal["pq", "quantile"] = "pq"
    exact_threshold: int | None = Field(None, ge=0, description="tokens stored exactly before compression starts")
    rerank: Literal["int8", "fp16"] | None = Field(None, description="exact tier: a copy of every token vector "
                                                   "ranking the final candidates (Index.create(rerank=))")


# ----------------------------------------------------------------------------------------------- rerank / encode


class RerankRequest(_Strict):
    """Candidates as texts (`documents`), or as ids of documents stored in `index`."""

    query: str = Field(min_length=1)
    documents: list[str] | None = None
    index: str | None = None
    ids: list[str] | None = None
    k: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_candidate_form(self) -> RerankRequest:
        if (self.documents is None) == (self.ids is None):
            raise ValueError("give the candidates either as documents (texts) or as ids (with index)")
        if self.ids is not None and self.index is None:
            raise ValueError("ids name documents of an index: give index too")
        return self


class RerankResult(BaseModel):
    rank: int
    score: float
    index: int = Field(description="position of the candidate in the request's documents / ids")
    id: str | None = None


class RerankResponse(BaseModel):
    results: list[RerankResult]


class EncodeRequest(_Strict):
    texts: list[str] = Field(min_length=1)
    kind: Literal["query", "document"] = "query"
    index: str | None = Field(None, description="use this index's model (default: the server's model)")
    format: Literal["float32", "float16_base64"] = "float32"


class EncodeResponse(BaseModel):
    model: str
    dim: int
    vectors: list[list[list[float]]] | list[EncodedArray]


__all__ = [
    "AddRequest",
    "AddResponse",
    "CompactRequest",
    "CompactResponse",
    "CreateIndexRequest",
    "DeleteRequest",
    "DeleteResponse",
    "DocumentIn",
    "DocumentOut",
    "EncodeRequest",
    "EncodeResponse",
    "EncodedArray",
    "ErrorBody",
    "ErrorResponse",
    "ExplanationOut",
    "Filter",
    "HitOut",
    "HitsOut",
    "RerankRequest",
    "RerankResponse",
    "RerankResult",
    "SearchRequest",
    "SearchResponse",
    "TokenMatchOut",
    "Vectors",
]
