"""Reasoning rerankers: the model reasons before it answers, and the final answer is read from a marked section.

:class:`ReasoningReranker` follows Rank-R1 (Zhuang et al. 2025, *Rank-R1: Enhancing Reasoning in LLM-based Document
Rerankers via Reinforcement Learning*): setwise prompts (pick the most relevant of a set, heapsort or bubble) whose
answer is written as ``<think> … </think> <answer>[3]</answer>``, in up to 2,048 tokens as Rank-R1 generates them
(its ``RankR1SetwiseLlmRanker`` and its GRPO training allow 2,048; its ``run_setwise.py`` script 8,000).
:class:`ReasoningListwiseReranker` asks for a whole permutation inside ``<answer>`` instead (sliding windows).

The answer is parsed from the last ``<answer>`` section; without one, from the text after ``</think>`` (counted as
repaired). The reasoning is kept in each cost record (``CostLog.records[i].reasoning``; ``write_jsonl`` saves it).
"""
from __future__ import annotations

from rankwise.rerank.llm.listwise import ListwiseReranker
from rankwise.rerank.llm.setwise import SetwiseReranker


class ReasoningReranker(SetwiseReranker):
    """Rank-R1-style setwise reasoning reranker (module docs); always in generation mode. Each answer may run to
    ``reasoning_tokens`` (default 2,048, Rank-R1's generation limit) + 8 tokens."""

    name = "llm:reasoning"
    strategy = "reasoning"
    default_template = "rank-r1"

    def __init__(self, llm, template=None, *, reasoning_tokens: int = 2048, **options):
        super().__init__(llm, template, reasoning_tokens=reasoning_tokens, **options)
        if not self.template.answer_section:
            raise ValueError(f"template {self.template.name!r} marks no answer section; a reasoning template needs "
                             "answer_section (e.g. r'<answer>(.*?)</answer>')")


class ReasoningListwiseReranker(ListwiseReranker):
    """Listwise sliding windows whose permutation is read from the ``<answer>`` section (module docs)."""

    name = "llm:reasoning-listwise"
    default_template = "reasoning-listwise"

    def __init__(self, llm, template=None, **options):
        super().__init__(llm, template, **options)
        if not self.template.answer_section:
            raise ValueError(f"template {self.template.name!r} marks no answer section; a reasoning template needs "
                             "answer_section (e.g. r'<answer>(.*?)</answer>')")
