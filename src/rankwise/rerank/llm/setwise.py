"""Setwise ranking (Zhuang et al. 2024, *A Setwise Approach to Effective and Highly Efficient Zero-shot Ranking with
Large Language Models*): the model picks the most relevant of ``set_size`` passages, and a sorting algorithm built on
that choice ranks the list.

- ``heapsort`` — top-k on a (set_size−1)-ary heap: each sift step shows the parent and its children in one prompt.
  Heapify asks once per internal node at least (⌈(N−1)/(c−1)⌉ calls on an input that is already a heap).
- ``bubble`` — ``passes`` bottom-up passes of a window of ``set_size`` with an overlap of one; the chosen passage
  swaps places with the window's top. Pass p costs ⌈(N−p−1)/(c−1)⌉ calls and settles rank p+1; the settled top
  is followed by the other passages in their input order (as the paper's code returns them).

``mode='logits'`` orders the identifiers by their next-token log-probabilities after ``Passage`` (one forward pass);
``mode='generate'`` parses the written label. No usable answer keeps the current top of the set (a fallback).
"""
from __future__ import annotations

import numpy as np

from rankwise.checks import positive_int
from rankwise.rerank.llm.base import LLMReranker, resolve_mode
from rankwise.rerank.llm.parsing import parse_choice, split_answer
from rankwise.rerank.llm.prompts import make_ids
from rankwise.rerank.llm.sorting import bubble_passes, heap_top_k
from rankwise.types import Query

METHODS = ("heapsort", "bubble")


class SetwiseReranker(LLMReranker):
    """Setwise with ``method`` = ``heapsort`` | ``bubble`` (module docs).

    Args:
        set_size: passages per prompt, c (heap arity c−1; default 4 = a parent and 3 children).
        k: documents to settle (heapsort extractions; default number of bubble passes).
        passes: bubble passes (default ``k``).
        mode: ``auto`` (logits when the engine offers them), ``logits`` or ``generate``.
        reasoning_tokens: answer room for templates with a reasoning section.
    """

    name = "llm:setwise"
    kind = "setwise"
    strategy = "setwise"
    default_template = "setwise"

    def __init__(self, llm, template=None, *, method: str = "heapsort", set_size: int = 4, k: int = 10,
                 passes: int | None = None, mode: str = "auto", reasoning_tokens: int = 512, **options):
        super().__init__(llm, template, **options)
        if method not in METHODS:
            raise ValueError(f"setwise method must be one of {', '.join(METHODS)}; got {method!r}")
        self.method = method
        self.set_size = positive_int("set_size", set_size, minimum=2)
        make_ids(self.set_size, self.template.ids)  # letters allow at most 26
        self.k = positive_int("k", k)
        self.passes = positive_int("passes", passes) if passes is not None else self.k
        self.reasoning_tokens = positive_int("reasoning_tokens", reasoning_tokens)
        self.mode = "generate" if self.template.answer_section else resolve_mode(mode, self.llm)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(llm={self.llm!r}, method={self.method!r}, set_size={self.set_size}, "
                f"k={self.k}, mode={self.mode!r})")

    def _estimate_params(self) -> dict:
        return {"method": self.method, "set_size": self.set_size, "k": self.k, "passes": self.passes,
                "mode": self.mode, "reasoning_tokens": self.reasoning_tokens}

    def answer_tokens(self) -> int:
        return 8 + (self.reasoning_tokens if self.template.answer_section else 0)

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray) -> list[int]:
        n = len(texts)
        per_prompt = min(self.set_size, n)
        fitted = self.fit(query, texts, per_prompt, self.answer_tokens(),
                          lambda q, t: self.template.render_list(q, t)[0])

        def best_of(group: list[int]) -> int:
            return self.choose(query.qid, fitted.query, [fitted.texts[i] for i in group])

        if self.method == "heapsort":
            return heap_top_k(range(n), self.k, self.set_size - 1, best_of)
        return bubble_passes(range(n), self.passes, self.set_size, best_of)

    def choose(self, qid: str, query: str, texts: list[str]) -> int:
        """One call: the position of the most relevant passage (0 — the current top — when the answer names none)."""
        logits = self.mode == "logits"
        prompt, ids = self.template.render_list(query, texts, for_logits=logits)
        if logits:
            res = self.label_logprobs([prompt], ids)[0]
            self.costs.add(qid, "choose", res.usage, repaired=bool(res.missing), error=res.error)
            if res.error is not None:
                return 0
            return max(range(len(ids)), key=lambda k: (res.logprobs.get(ids[k], -np.inf), -k))
        g = self.generate([prompt], self.answer_tokens())[0]
        section = split_answer(g.text, self.template.answer_section)
        choice = parse_choice(section.answer, ids, self.template.answer)
        self.costs.add(qid, "choose", g.usage, repaired=choice.repaired or (not section.marked and not choice.fallback),
                       fallback=choice.fallback, error=g.error, reasoning=section.reasoning or None)
        return 0 if choice.index is None else choice.index
