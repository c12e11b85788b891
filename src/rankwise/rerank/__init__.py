"""Rerankers, one module per family, all with the same interface (:class:`rankwise.pipeline.Reranker`):
``rerank(query, candidates) -> Ranking`` for one query, ``rerank_batch(queries, run) -> Run`` for many.

:func:`get_reranker` builds one by name, as the CLI's ``--reranker NAME`` does.
"""
from __future__ import annotations

from typing import Callable

from rankwise.errors import UserError
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


def _recency(**options) -> Reranker:
    from rankwise.rerank.recency import RecencyReranker

    return RecencyReranker(**{"relevance": "cross-encoder", **options})


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
    "recency": (_recency, "AutoCast++ recency-aware reranking: a relevance reranker (default cross-encoder) times the "
                          "recency of each document's date before the question's; later documents dropped"),
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


# Model family (rankwise.models.detect_family) -> the reranker that loads it.
FAMILY_RERANKERS = {"cross-encoder": "cross-encoder", "late-interaction": "colbert", "seq2seq": "monot5"}
# Rerankers whose first argument is a model name or folder (--model).
MODEL_RERANKERS = ("cross-encoder", "colbert", "monot5", "rankt5")


def get_reranker(name: str, **options) -> Reranker:
    """A reranker by registry name (``cross-encoder``, ``llm:listwise``…) or by model name or folder
    (``cross-encoder/ms-marco-MiniLM-L-12-v2``, ``BAAI/bge-reranker-base``, ``./my-model``): the family is then read
    from the model's own files (:func:`reranker_for_model`). ``model=`` picks the model of a registry name.

    The reranker keeps its ``recipe`` (this call), so that a Ray worker can build its own copy."""
    from rankwise.distributed.units import Recipe

    reranker = _build_reranker(name, **options)
    reranker.recipe = Recipe(get_reranker, name, **options)
    return reranker


def _build_reranker(name: str, **options) -> Reranker:
    if name in RERANKERS:
        if options.get("model") is not None and name not in MODEL_RERANKERS:
            hint = " (LLM rerankers take --llm MODEL_OR_URL)" if name.startswith("llm:") else ""
            raise ValueError(f"reranker {name!r} takes no model{hint}; models go with "
                             f"{', '.join(MODEL_RERANKERS)}")
        options = {k: v for k, v in options.items() if not (k == "model" and v is None)}
        return RERANKERS[name][0](**options)
    if options.get("model") is not None:
        raise ValueError(f"{name!r} is not a reranker name, and a model is given too ({options['model']!r}): use "
                         f"--reranker FAMILY --model NAME (families: {', '.join(MODEL_RERANKERS)})")
    options.pop("model", None)
    if not _could_be_a_model(name):
        raise ValueError(f"unknown reranker {name!r}; known: {', '.join(RERANKERS)}; or a model name "
                         "(cross-encoder/ms-marco-MiniLM-L-12-v2) or folder")
    family = reranker_for_model(name)
    return RERANKERS[family][0](model=name, **options)


def _could_be_a_model(name: str) -> bool:
    """Hub names have an owner ("org/name"); folders exist; kit names are listed."""
    from pathlib import Path

    from rankwise.models import kit_model

    return "/" in name or Path(name).expanduser().exists() or kit_model(name) is not None


def reranker_for_model(model: str) -> str:
    """Which reranker loads ``model``, from the model's own configuration (found locally, in the offline kit or on
    the hub); an unknown or unusable model raises ValueError saying what was tried and why."""
    from rankwise.models import ModelNotFoundError, detect_family, resolve

    try:
        resolved = resolve(model)
    except ModelNotFoundError as e:
        raise ValueError(f"unknown reranker {model!r}: it is neither a reranker name ({', '.join(RERANKERS)}) nor "
                         f"a model found here. {e}") from None
    family, checked = detect_family(resolved)
    if family in FAMILY_RERANKERS:
        reranker = FAMILY_RERANKERS[family]
        if reranker == "monot5" and "rankt5" in str(model).lower():
            reranker = "rankt5"  # RankT5 checkpoints are T5 too; only the name tells them apart
        return reranker
    tried = f"tried {', '.join(FAMILY_RERANKERS)}; found: {'; '.join(checked)}"
    if family == "llm":
        raise ValueError(f"{model!r} is a causal LLM: choose how it reranks, e.g. --reranker llm:listwise --llm "
                         f"{model} (see `rankwise rerankers`)")
    if family in ("dense", "sparse"):
        raise ValueError(f"{model!r} is a {family} retrieval model, not a reranker ({tried}): use it with "
                         f"`rankwise retrieve --retriever {'dense' if family == 'dense' else 'splade'} --model {model}`")
    raise ValueError(f"cannot tell which reranker loads {model!r} ({tried}): name the family, e.g. "
                     f"--reranker cross-encoder --model {model}")


def best_available_reranker() -> Reranker:
    """The strongest reranker that can run on this machine (the demo's choice)."""
    errors = []
    for name in PREFERENCE:
        try:
            return get_reranker(name)
        except (ImportError, LookupError) as e:  # a missing extra, or a model not found here
            errors.append(f"{name}: {e}")
    raise UserError("no reranker can run here: " + "; ".join(errors) + ". Install the offline kit (make kit) and "
                    "the onnx extra (pip install 'rankwise[onnx]'), or name a model that is available")


__all__ = ["Reranker", "RERANKERS", "PREFERENCE", "available_rerankers", "best_available_reranker", "get_reranker",
           "reranker_for_model"]
