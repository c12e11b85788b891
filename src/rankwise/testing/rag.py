"""A stand-in for testing the RAG layer: a decomposer whose sub-questions are known (its generator can be
:class:`rankwise.testing.ScriptedLLM`, whose answers a test writes)."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from rankwise.rag.decompose import Decomposer, clean_sub_questions
from rankwise.types import Query


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
