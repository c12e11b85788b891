"""Context packing: the passages a generator reads, chosen from a ranking within a token budget.

Walking the ranking best first, :func:`pack_contexts` skips a passage whose text repeats one already taken
(duplicates: the same text under two ids, common in merged pools), cuts a passage longer than
``max_passage_tokens`` to that length, and stops at ``k`` passages or when the budget is spent. A passage that does
not fit the tokens left is cut to fit when at least :data:`MIN_PASSAGE_TOKENS` remain; the passages among the top
``k`` that did not fit at all are counted as ``dropped``. Every cut is counted (``truncated``). Cuts keep the
beginning of a text, at a token boundary (the engine's own tokenizer).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rankwise.rerank.llm.backends import LLM
from rankwise.types import Ranking

MIN_PASSAGE_TOKENS = 16


@dataclass
class Packed:
    """The passages chosen for a prompt (``docids``/``texts`` in prompt order, numbered from 1)."""

    docids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    truncated: int = 0  # passages cut (too long, or cut to fit the budget)
    dropped: int = 0  # passages among the top k that did not fit the budget at all
    duplicates: int = 0  # passages skipped because their text repeats a passage already taken
    tokens: int = 0  # tokens of the packed passages (texts and their identifiers)


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def pack_contexts(llm: LLM, ranking: Ranking | None, k: int, budget: int, *, max_passage_tokens: int | None = None,
                  overhead: "callable | None" = None) -> Packed:
    """Choose up to ``k`` passages of ``ranking`` (which must carry texts) within ``budget`` tokens.

    ``overhead(i)`` gives the tokens the prompt spends around passage ``i`` (its identifier); default 0.
    """
    packed = Packed()
    if ranking is None or not len(ranking) or k <= 0:
        return packed
    if ranking.texts is None:
        raise ValueError(f"query {ranking.qid!r}: the contexts carry no texts; retrieve from a corpus or attach "
                         "them with run.with_texts(dataset.corpus)")
    seen: set[str] = set()
    left = budget
    for docid, text in zip(ranking.docids, ranking.texts):
        if len(packed.docids) + packed.dropped >= k:
            break
        key = _key(text)
        if key in seen:
            packed.duplicates += 1
            continue
        seen.add(key)
        extra = overhead(len(packed.docids) + 1) if overhead else 0
        tokens = llm.count_tokens(text)
        cut = False
        if max_passage_tokens is not None and tokens > max_passage_tokens:
            text, tokens, cut = llm.truncate_text(text, max_passage_tokens), max_passage_tokens, True
        room = left - extra
        if tokens > room:
            if room < MIN_PASSAGE_TOKENS:
                packed.dropped += 1
                left = 0
                continue
            text, tokens, cut = llm.truncate_text(text, room), room, True
        packed.docids.append(docid)
        packed.texts.append(text)
        packed.truncated += int(cut)
        packed.tokens += tokens + extra
        left -= tokens + extra
    return packed
