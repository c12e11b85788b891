"""Single-token listwise reranking: FIRST (Reddy et al. 2024, *FIRST: Faster Improved Listwise Reranking with
Single Token Decoding*).

The same sliding windows as :class:`~rankwise.rerank.llm.listwise.ListwiseReranker`, but each window costs one
forward pass: the prompt ends where the answer's first identifier would be written (``[``), and the window is
ordered by the log-probabilities the model gives each identifier as that next token. Identifiers are letters
(``A``..``Z``), one token each, so a window holds at most 26 passages.
"""
from __future__ import annotations

from typing import Sequence

from rankwise.rerank.llm.listwise import ListwiseReranker


class FirstReranker(ListwiseReranker):
    """FIRST: order each window by the first generated token's logits over the identifiers (module docs)."""

    name = "llm:first"
    strategy = "first"
    default_template = "first"

    def __init__(self, llm, template=None, *, window: int = 20, step: int | None = None, **options):
        super().__init__(llm, template, window=window, step=step, **options)
        if self.template.ids != "alpha":
            raise ValueError(f"FIRST needs single-token identifiers: template {self.template.name!r} uses "
                             f"{self.template.ids!r} ones; use ids='alpha' (the 'first' template)")
        if self.window > 26:
            raise ValueError(f"FIRST's letter identifiers allow a window of at most 26, got {self.window}")

    def answer_tokens(self, n: int) -> int:
        return 1

    def rank_window(self, qid: str, query: str, texts: list[str], first_stage: Sequence[float], step: str) -> list[int]:
        prompt, ids = self.render(query, texts, first_stage, for_logits=True)
        result = self.label_logprobs([prompt], ids)[0]
        if result.error is not None:
            self.costs.add(qid, step, result.usage, fallback=True, error=result.error)
            return list(range(len(texts)))
        # Stable: identifiers the engine scored alike keep their input order.
        order = sorted(range(len(ids)), key=lambda k: (-result.logprobs.get(ids[k], float("-inf")), k))
        self.costs.add(qid, step, result.usage, repaired=bool(result.missing))
        return order
