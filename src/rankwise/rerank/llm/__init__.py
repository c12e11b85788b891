"""LLM rerankers: every strategy of the literature behind one engine interface, with exact cost accounting.

Strategies (each a :class:`rankwise.pipeline.Reranker`; each docstring names its paper):

================================ ===================================================================
``llm:pointwise``                yes/no log-odds, fine-grained labels, query likelihood (UPR)
``llm:pairwise``                 PRP: all pairs, heapsort top-k, sliding passes; both orders
``llm:setwise``                  Setwise: heapsort or bubble over "pick the best of c"
``llm:listwise``                 RankGPT sliding window (RankGPT / RankVicuna / RankZephyr prompts)
``llm:first``                    FIRST: one forward pass per window, identifiers ranked by logits
``llm:full-list``                all candidates in one prompt when they fit, else windows
``llm:icr``                      in-context reranking from attention (local models)
``llm:insertrank``               listwise with first-stage scores in the prompt
``llm:reasoning``                Rank-R1: setwise with reasoning, answer read from ``<answer>``
``llm:reasoning-listwise``       listwise with reasoning
================================ ===================================================================

Engines (:mod:`~rankwise.rerank.llm.backends`): local transformers models (:class:`LocalLLM`), OpenAI-compatible
servers (:class:`HttpLLM`). Stand-in judges for tests (:class:`~rankwise.testing.OracleJudge`,
:class:`~rankwise.testing.NoisyJudge`) and an OpenAI-protocol test server live in :mod:`rankwise.testing`.
Every reranker logs each invocation in ``reranker.costs`` (:class:`CostLog`: ``table()``, ``totals()``,
``means()``); :func:`estimate` predicts calls and tokens before a run.

>>> from rankwise.rerank.llm import make_reranker
>>> reranker = make_reranker("llm:listwise", llm="HuggingFaceTB/SmolLM2-135M-Instruct",  # doctest: +SKIP
...                          window=10, step=5)
>>> run = reranker(queries, candidates.top(20))  # doctest: +SKIP
>>> print(reranker.costs.table())  # doctest: +SKIP
"""
from __future__ import annotations

import inspect

from rankwise.rerank.llm.backends import (
    LLM,
    AttentionScores,
    ContinuationScores,
    Generation,
    LabelScores,
    Prompt,
    Segment,
    UnsupportedRequest,
    Usage,
    get_llm,
)
from rankwise.rerank.llm.base import LLMReranker
from rankwise.rerank.llm.first import FirstReranker
from rankwise.rerank.llm.icr import ICRReranker
from rankwise.rerank.llm.listwise import (
    FullListReranker,
    InsertRankReranker,
    ListwiseReranker,
    sliding_windows,
)
from rankwise.rerank.llm.pairwise import PairwiseReranker
from rankwise.rerank.llm.parsing import parse_choice, parse_permutation, split_answer
from rankwise.rerank.llm.pointwise import PointwiseReranker
from rankwise.rerank.llm.prompts import TEMPLATES, Template, get_template
from rankwise.rerank.llm.reasoning import ReasoningListwiseReranker, ReasoningReranker
from rankwise.rerank.llm.records import CallRecord, CostLog, Estimate, estimate
from rankwise.rerank.llm.setwise import SetwiseReranker

STRATEGIES: dict[str, tuple[type[LLMReranker], str]] = {
    "llm:pointwise": (PointwiseReranker, "LLM pointwise: yes/no log-odds, fine-grained labels or query likelihood"),
    "llm:pairwise": (PairwiseReranker, "LLM pairwise ranking prompting (PRP): allpairs, heapsort or sliding"),
    "llm:setwise": (SetwiseReranker, "LLM setwise: pick the best of c passages, heapsort or bubble"),
    "llm:listwise": (ListwiseReranker, "LLM listwise sliding window (RankGPT / RankZephyr prompts)"),
    "llm:first": (FirstReranker, "LLM listwise with single-token decoding (FIRST): one forward pass per window"),
    "llm:full-list": (FullListReranker, "LLM listwise over the whole list when it fits the context, else windows"),
    "llm:icr": (ICRReranker, "LLM in-context reranking from attention (local models only)"),
    "llm:insertrank": (InsertRankReranker, "LLM listwise with first-stage scores in the prompt (InsertRank)"),
    "llm:reasoning": (ReasoningReranker, "LLM reasoning reranker (Rank-R1 style setwise with <answer>)"),
    "llm:reasoning-listwise": (ReasoningListwiseReranker, "LLM listwise with reasoning before the <answer>"),
}


def make_reranker(name: str, llm: "LLM | str", **options) -> LLMReranker:
    """An LLM reranker by registry name (``llm:listwise`` …) on an engine, a model name/path or a URL.

    Options are the strategy's keyword arguments (``window``, ``step``, ``passes``, ``method``, ``k``, ``set_size``,
    ``mode``, ``template``…); options that are None are ignored, so a CLI can pass every flag it has; engine options
    go in ``llm_options`` (a dict handed to :func:`get_llm`).
    """
    try:
        cls, _ = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown LLM reranker {name!r}; known: {', '.join(STRATEGIES)}") from None
    engine_options = options.pop("llm_options", None) or {}
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters)
    unknown = set(options) - accepted
    if unknown:  # checked before the engine is built: loading a model takes seconds
        raise ValueError(f"{name} does not take option(s) {', '.join(sorted(unknown))}")
    engine = get_llm(llm, **engine_options)
    return cls(engine, **options)


def __getattr__(name: str):
    # The engines that import torch or open sockets load on first use.
    if name == "LocalLLM":
        from rankwise.rerank.llm.local import LocalLLM

        return LocalLLM
    if name == "HttpLLM":
        from rankwise.rerank.llm.http import HttpLLM

        return HttpLLM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LLM", "LocalLLM", "HttpLLM", "get_llm", "Prompt", "Segment", "Usage", "Generation",
    "LabelScores", "ContinuationScores", "AttentionScores", "UnsupportedRequest", "Template", "TEMPLATES",
    "get_template", "parse_permutation", "parse_choice", "split_answer", "CostLog", "CallRecord", "Estimate",
    "estimate", "LLMReranker", "PointwiseReranker", "PairwiseReranker", "SetwiseReranker", "ListwiseReranker",
    "FirstReranker", "FullListReranker", "ICRReranker", "InsertRankReranker", "ReasoningReranker",
    "ReasoningListwiseReranker", "STRATEGIES", "make_reranker", "sliding_windows",
]
