"""Stand-ins for testing the RAG layer: an LLM engine whose answers a test writes, and a decomposer whose
sub-questions are known.

- :class:`ScriptedLLM` answers ``generate`` with ``reply(prompt_text)``; a reply that raises is an engine failure, an
  empty reply an engine that returns nothing. Words stand in for tokens (as in :class:`OracleJudge`), so budgets and
  truncation are exact and easy to reason about.
- :class:`StandInDecomposer` returns the sub-questions it was given for each question id (or from a function), and
  counts its calls.
"""
from __future__ import annotations

import re
import time
from typing import Callable, Mapping, Sequence

from rankwise.rag.decompose import Decomposer, clean_sub_questions
from rankwise.rerank.llm.backends import LLM, Generation, Prompt, Usage
from rankwise.types import Query

_WORD = re.compile(r"\S+")


class ScriptedLLM(LLM):
    """An engine whose text answers come from ``reply(prompt_text)`` (the prompt's text with its chat turns joined).

    ``prompts`` keeps every prompt text it was sent, in order. ``context_length`` is in words.
    """

    capabilities = frozenset({"generate"})

    def __init__(self, reply: "str | Callable[[str], str]", *, context_length: int = 4096, name: str = "scripted"):
        self.reply = reply if callable(reply) else (lambda _text, _r=str(reply): _r)
        self.context_length = context_length
        self.name = name
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return sum(1 for _ in _WORD.finditer(text))

    def truncate_text(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        for k, m in enumerate(_WORD.finditer(text), start=1):
            if k == max_tokens:
                return text[: m.end()]
        return text

    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = prompt.plain()
            self.prompts.append(text)
            start = time.perf_counter()
            answer = self.reply(text)  # may raise: an engine failure
            words = list(_WORD.finditer(answer))
            if len(words) > max_tokens:
                answer = answer[: words[max_tokens - 1].end()]
            n = min(len(words), max_tokens)
            out.append(Generation(answer, Usage(self.prompt_tokens(prompt), n, max(n, 1),
                                                time.perf_counter() - start)))
        return out


class StandInDecomposer(Decomposer):
    """Known sub-questions: ``{question id: [sub-questions]}`` or a function of the :class:`Query`. A question it has
    none for gets none (counted in ``unusable``). ``calls`` counts the questions it was asked."""

    name = "stand-in"

    def __init__(self, sub_questions: "Mapping[str, Sequence[str]] | Callable[[Query], Sequence[str]]"):
        super().__init__()
        self.source = sub_questions
        self.calls = 0

    def decompose(self, query: Query) -> list[str]:
        self.calls += 1
        found = self.source(query) if callable(self.source) else self.source.get(query.qid, [])
        out = clean_sub_questions(list(found), query.text)
        if not out:
            self.unusable += 1
        return out
