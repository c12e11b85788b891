"""Token truncation that makes every prompt fit the model's context, decided once per query before any call,
so that a run never fails halfway because one prompt was too long.

The budget per passage is the smaller of ``max_passage_tokens`` and an equal share of what the context leaves
after the template, the query and the answer: ``(context − overhead − query − answer) // passages_per_prompt``.
Queries are cut to ``max_query_tokens``. Cuts keep the beginning of a text, at a token boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rankwise.rerank.llm.backends import LLM

MIN_PASSAGE_TOKENS = 8


@dataclass(frozen=True)
class Fitted:
    query: str
    texts: list[str]
    truncated: int  # passages that were cut
    passage_budget: int  # tokens allowed per passage
    overflow: bool  # even the minimum budget does not fit the context (the engine may reject the prompt)


def passage_budget(llm: LLM, *, passages_per_prompt: int, overhead_tokens: int, query_tokens: int,
                   answer_tokens: int, max_passage_tokens: int | None) -> tuple[int, bool]:
    free = llm.context_length - overhead_tokens - query_tokens - answer_tokens
    share = free // max(passages_per_prompt, 1)
    budget = share if max_passage_tokens is None else min(share, max_passage_tokens)
    if budget < MIN_PASSAGE_TOKENS:
        return MIN_PASSAGE_TOKENS, True
    return budget, False


def fit(llm: LLM, query: str, texts: Sequence[str], *, passages_per_prompt: int, overhead_tokens: int,
        answer_tokens: int, max_passage_tokens: int | None = 300, max_query_tokens: int | None = 64) -> Fitted:
    """Cut the query and the passages so that a prompt of ``passages_per_prompt`` passages fits the context."""
    if max_query_tokens is not None and llm.count_tokens(query) > max_query_tokens:
        query = llm.truncate_text(query, max_query_tokens)
    budget, overflow = passage_budget(
        llm, passages_per_prompt=passages_per_prompt, overhead_tokens=overhead_tokens,
        query_tokens=llm.count_tokens(query), answer_tokens=answer_tokens, max_passage_tokens=max_passage_tokens,
    )
    out, cut = [], 0
    for text in texts:
        if llm.count_tokens(text) > budget:
            out.append(llm.truncate_text(text, budget))
            cut += 1
        else:
            out.append(text)
    return Fitted(query, out, cut, budget, overflow)
