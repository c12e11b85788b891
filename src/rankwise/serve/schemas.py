"""The API shapes the service speaks, as pydantic models (they also make the OpenAPI docs at ``/docs``).

- Cohere v2 ``POST /v2/rerank`` and Cohere v1 / Jina ``POST /v1/rerank``: ``{model, query, documents, top_n, …}``
  → ``{id, results: [{index, relevance_score, document?}], meta, usage}``.
- Hugging Face TEI ``POST /rerank``: ``{query, texts, raw_scores, return_text, truncate}`` → ``[{index, score, text?}]``.
- rankwise ``POST /v1/search``: ``{query, top_n, rerank}`` → ``{results: [{id, score, text, …}]}``.

Documents are checked by :func:`document_texts` rather than by the models, so that a bad one gets one plain message
naming its position. Fields a gateway may add that mean nothing here (``priority``, ``max_chunks_per_doc``,
``truncation_direction``…) are accepted and ignored; unknown fields are ignored too.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CohereRerankRequest(_Request):
    """Cohere v2 (``/v2/rerank``: ``model`` required) and Cohere v1 / Jina (``/v1/rerank``)."""

    model: Optional[str] = Field(None, description="the served model id or one of its aliases (GET /v1/models)")
    query: str = Field(description="the search query")
    documents: list[Any] = Field(description="strings, or objects with a 'text' field (or the rank_fields)")
    top_n: Optional[int] = Field(None, description="return only the best top_n (default: all)")
    max_tokens_per_doc: Optional[int] = Field(
        None, description="documents are cut to this many tokens first (default 4096); a document longer than "
                          "the model's window scores as its best passage")
    return_documents: Optional[bool] = Field(None, description="include each document in the results")
    rank_fields: Optional[list[str]] = Field(
        None, description="for object documents: the fields read, as 'field: value' lines (default: 'text')")
    max_chunks_per_doc: Optional[int] = Field(None, description="Cohere v1; accepted and ignored")
    priority: Optional[int] = Field(None, description="Cohere v2; accepted and ignored")


class ReturnedDocument(BaseModel):
    """The document as sent: ``{text}`` for a string, the object itself for an object."""

    model_config = ConfigDict(extra="allow")
    text: Optional[str] = None


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: Optional[ReturnedDocument] = None


class BilledUnits(BaseModel):
    search_units: int


class Tokens(BaseModel):
    input_tokens: int
    output_tokens: int = 0


class ApiVersion(BaseModel):
    version: str


class Meta(BaseModel):
    api_version: ApiVersion
    billed_units: BilledUnits
    tokens: Tokens
    warnings: list[str] = []


class Usage(BaseModel):
    total_tokens: int
    prompt_tokens: int


class RerankResponse(BaseModel):
    """Cohere's response, with Jina's ``model`` and ``usage`` beside it (each client reads the fields it knows)."""

    id: str
    model: str
    results: list[RerankResult]
    meta: Meta
    usage: Usage


class TeiRerankRequest(_Request):
    query: str
    texts: list[Any] = Field(description="the documents, as strings")
    raw_scores: bool = Field(False, description="the model's raw scores instead of their sigmoid")
    return_text: bool = Field(False, description="include each text in the results")
    truncate: Optional[bool] = Field(
        None, description="accepted; long texts are always handled (cut to max_tokens_per_doc, best passage)")
    truncation_direction: Optional[str] = Field(None, description="accepted and ignored")


class TeiRank(BaseModel):
    index: int
    score: float
    text: Optional[str] = None


class SearchRequest(_Request):
    query: str
    top_n: int = Field(10, description="documents returned")
    rerank: bool = Field(False, description="rerank the top rerank_depth candidates with the served reranker")
    max_tokens_per_doc: Optional[int] = None


class SearchHit(BaseModel):
    id: str
    score: float = Field(description="the reranker's score when reranked, else the retrieval score")
    retrieval_score: float
    text: Optional[str] = None


class SearchResponse(BaseModel):
    id: str
    query: str
    reranked: bool
    results: list[SearchHit]


def document_texts(documents: list[Any], rank_fields: list[str] | None, name: str = "documents") -> list[str]:
    """The text of each document: a string as it is; an object's ``text`` field, or with ``rank_fields`` those
    fields as ``field: value`` lines. Raises ValueError naming the first bad document and what was expected."""
    texts = []
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            texts.append(doc)
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"{name}[{i}] must be a string{'' if name == 'texts' else ' or an object with a text field'}"
                             f", got {_kind(doc)}")
        if name == "texts":
            raise ValueError(f"texts[{i}] must be a string, got an object")
        fields = rank_fields or ["text"]
        missing = [f for f in fields if f not in doc]
        if missing:
            raise ValueError(f"{name}[{i}] has no {missing[0]!r} field (its fields: {', '.join(map(repr, doc)) or 'none'})"
                             + ("" if rank_fields else "; send strings, objects with 'text', or set rank_fields"))
        values = [doc[f] if isinstance(doc[f], str) else None for f in fields]
        bad = next((f for f, v in zip(fields, values) if v is None), None)
        if bad is not None:
            raise ValueError(f"{name}[{i}].{bad} must be a string, got {_kind(doc[bad])}")
        texts.append(values[0] if not rank_fields else "\n".join(f"{f}: {v}" for f, v in zip(fields, values)))
    return texts


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


__all__ = ["CohereRerankRequest", "RerankResponse", "SearchRequest", "SearchResponse", "TeiRank", "TeiRerankRequest",
           "document_texts"]
