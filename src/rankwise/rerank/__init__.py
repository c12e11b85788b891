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


def _cross_encoder(**options) -> Reranker:
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(**options)


def _colbert(**options) -> Reranker:
    from rankwise.rerank.late_interaction import ColBERTReranker

    return ColBERTReranker(**options)


def _monot5(**options) -> Reranker:
    from rankwise.rerank.seq2seq import MonoT5Reranker

    return MonoT5Reranker(**options)


def _rankt5(**options) -> Reranker:
    from rankwise.rerank.seq2seq import RankT5Reranker

    return RankT5Reranker(**options)


# name -> (factory, one-line description). Each family registers here.
RERANKERS: dict[str, tuple[Callable[..., Reranker], str]] = {
    "cross-encoder": (_cross_encoder, "pointwise cross-encoder, ONNX or torch (default "
                                      "cross-encoder/ms-marco-MiniLM-L-12-v2, int8 in the offline kit; onnx extra)"),
    "bm25": (_bm25, "BM25 over the candidates' own texts (no model; statistics from the candidate pool)"),
    "colbert": (_colbert, "ColBERT late interaction, MaxSim over token vectors (answerdotai/answerai-colbert-small-v1; the "
                          "offline kit ships only its backbone, answerai-colbert-small-v1-backbone: no ColBERT quality)"),
    "monot5": (_monot5, "monoT5 pointwise seq2seq, log-odds of true/false (castorini/monot5-base-msmarco; torch extra)"),
    "rankt5": (_rankt5, "RankT5 encoder-decoder, logit of <extra_id_10> (Soyoung97/RankT5-base; torch extra)"),
}
# What `rankwise demo` tries first: the strongest reranker that runs on this machine.
PREFERENCE = ("cross-encoder", "bm25")


def _llm(name: str) -> Callable[..., Reranker]:
    def factory(llm: str = "HuggingFaceTB/SmolLM2-135M-Instruct", **options) -> Reranker:
        from rankwise.rerank.llm import make_reranker

        return make_reranker(name, llm, **options)

    return factory


# LLM strategies (rankwise.rerank.llm), after the model rerankers; "best available" never picks them.
from rankwise.rerank.llm import STRATEGIES as _LLM_STRATEGIES  # noqa: E402 - light: no torch until a model loads

for _name, (_, _description) in _LLM_STRATEGIES.items():
    RERANKERS[_name] = (_llm(_name), _description)


def available_rerankers() -> dict[str, str]:
    return {name: description for name, (_, description) in RERANKERS.items()}


def get_reranker(name: str, **options) -> Reranker:
    """A reranker by name; an unknown name lists the known ones."""
    try:
        factory, _ = RERANKERS[name]
    except KeyError:
        known = ", ".join(RERANKERS)
        raise ValueError(f"unknown reranker {name!r}; known: {known}") from None
    reranker = factory(**options)
    from rankwise.distributed.units import Recipe

    reranker.recipe = Recipe(get_reranker, name, **options)  # how a Ray worker builds its own copy
    return reranker


def best_available_reranker() -> Reranker:
    """The strongest reranker that can run on this machine (the demo's choice)."""
    errors = []
    for name in PREFERENCE:
        try:
            return get_reranker(name)
        except (ImportError, LookupError) as e:  # a missing extra, or a model not found here
            errors.append(f"{name}: {e}")
    raise RuntimeError("no reranker can run here: " + "; ".join(errors))


__all__ = ["Reranker", "RERANKERS", "PREFERENCE", "available_rerankers", "best_available_reranker", "get_reranker"]
