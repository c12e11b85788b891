"""In-process adapters: rankwise rerankers inside other frameworks, with no service in between.

- :class:`rankwise.integrations.langchain.RankwiseRerank` — a LangChain ``BaseDocumentCompressor`` (the drop-in for
  ``langchain_cohere.CohereRerank``, e.g. in a ``ContextualCompressionRetriever``); extra ``langchain``.
- :class:`rankwise.integrations.llamaindex.RankwiseRerank` — a LlamaIndex ``BaseNodePostprocessor`` (the drop-in for
  ``llama_index.postprocessor.cohere_rerank.CohereRerank``); extra ``llamaindex``.

Both take a reranker name (with its options, as :func:`rankwise.rerank.get_reranker`) or a reranker object, and give
each returned item the reranker's own score. To call a ``rankwise serve`` service instead, point the frameworks'
Cohere classes at it (docs/serve.md).
"""
from __future__ import annotations


def resolve_reranker(reranker, options: dict):
    """A reranker object from a name (built with ``options``) or the object itself."""
    if isinstance(reranker, str):
        from rankwise.rerank import get_reranker

        return get_reranker(reranker, **options)
    if options:
        raise ValueError("reranker options go with a reranker name, not with a reranker object")
    if not callable(reranker):
        raise TypeError(f"reranker must be a name or a rankwise reranker, got {type(reranker).__name__}")
    return reranker


def best_first(reranker, query: str, texts: list[str], top_n: int | None) -> list[tuple[int, float]]:
    """``(index, score)`` of the best ``top_n`` texts (all when None), best first; ties keep the given order."""
    import numpy as np

    from rankwise.pipeline import score_texts

    if not texts:
        return []
    scores = score_texts(reranker, [(query, texts)])[0]
    order = np.argsort(-scores, kind="stable")[:top_n]
    return [(int(i), float(scores[i])) for i in order]
