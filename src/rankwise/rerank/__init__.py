"""Rerankers, one module per family, all with the same interface (:class:`rankwise.pipeline.Reranker`):
``rerank(query, candidates) -> Ranking`` for one query, ``rerank_batch(queries, run) -> Run`` for many.

:func:`get_reranker` builds one by name, as the CLI's ``--reranker NAME`` does.
"""
from __future__ import annotations

from typing import Callable

from rankwise.pipeline import Reranker


def _bm25(**options) -> Reranker:
    from rankwise.rerank.bm25 import BM25Reranker

    return BM25Reranker(**options)


# name -> (factory, one-line description). Later families register here; order = preference for "best available".
RERANKERS: dict[str, tuple[Callable[..., Reranker], str]] = {
    "bm25": (_bm25, "BM25 over the candidates' own texts (no model; statistics from the candidate pool)"),
}


def available_rerankers() -> dict[str, str]:
    return {name: description for name, (_, description) in RERANKERS.items()}


def get_reranker(name: str, **options) -> Reranker:
    """A reranker by name; an unknown name lists the known ones."""
    try:
        factory, _ = RERANKERS[name]
    except KeyError:
        known = ", ".join(RERANKERS)
        raise ValueError(f"unknown reranker {name!r}; known: {known}") from None
    return factory(**options)


def best_available_reranker() -> Reranker:
    """The strongest reranker that can run on this machine (the demo's choice)."""
    errors = []
    for name in RERANKERS:
        try:
            return get_reranker(name)
        except ImportError as e:  # a family whose extra is not installed
            errors.append(f"{name}: {e}")
    raise RuntimeError("no reranker can run here: " + "; ".join(errors))


__all__ = ["Reranker", "RERANKERS", "available_rerankers", "best_available_reranker", "get_reranker"]
