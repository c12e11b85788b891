"""A LangChain document compressor that reranks with a rankwise reranker, in process.

    from rankwise.integrations.langchain import RankwiseRerank
    compressor = RankwiseRerank(reranker="cross-encoder", top_n=3)       # or reranker=<a rankwise reranker>
    docs = compressor.compress_documents(documents, "what do zebras eat")
    # or: ContextualCompressionRetriever(base_compressor=compressor, base_retriever=retriever)

Each returned document is a copy with ``metadata["relevance_score"]`` set to the reranker's score, as
``langchain_cohere.CohereRerank`` does. Needs the ``langchain`` extra (langchain-core).
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Optional, Sequence

from rankwise.integrations import best_first, resolve_reranker
from rankwise.models import require

require("langchain_core", "langchain", "the LangChain adapter")

from langchain_core.callbacks.manager import Callbacks  # noqa: E402
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402
from pydantic import ConfigDict, Field, model_validator  # noqa: E402


class RankwiseRerank(BaseDocumentCompressor):
    """Rerank LangChain documents (their ``page_content``) with a rankwise reranker and keep the best ``top_n``."""

    reranker: Any = "cross-encoder"
    """A reranker name (see ``rankwise rerankers``) or a rankwise reranker object."""
    reranker_options: dict = Field(default_factory=dict)
    """Keyword arguments for :func:`rankwise.rerank.get_reranker` when ``reranker`` is a name (e.g. ``model``)."""
    top_n: Optional[int] = 3
    """Documents returned (None: all)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    @model_validator(mode="after")
    def _build(self):
        self.reranker = resolve_reranker(self.reranker, self.reranker_options)
        self.reranker_options = {}
        if self.top_n is not None and self.top_n < 1:
            raise ValueError(f"top_n must be a positive integer or None, got {self.top_n}")
        return self

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Optional[Callbacks] = None) -> Sequence[Document]:
        out = []
        for i, score in best_first(self.reranker, query, [d.page_content for d in documents], self.top_n):
            doc = documents[i]
            copy = Document(page_content=doc.page_content, metadata=deepcopy(doc.metadata), id=doc.id)
            copy.metadata["relevance_score"] = score
            out.append(copy)
        return out


__all__ = ["RankwiseRerank"]
