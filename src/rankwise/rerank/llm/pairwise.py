"""Pairwise ranking prompting (PRP; Qin et al. 2024, *Large Language Models are Effective Text Rankers with
Pairwise Ranking Prompting*): the model says which of two passages is more relevant.

Every pair is asked in both orders (A/B, then B/A) to cancel position bias: a passage that wins both is preferred
(preference 1), a split verdict is a tie (0.5 each). Three algorithms:

- ``allpairs`` — all N·(N−1) ordered prompts; a passage's score is the sum of its preferences (PRP-Allpair). With a
  perfect judge this is the ideal order.
- ``heapsort`` — top-k by heapsort on a binary heap (PRP-Sorting): O(N + k log N) comparisons, each 2 calls.
- ``sliding`` — ``passes`` bottom-up bubble passes over adjacent pairs (PRP-Sliding-K): pass p costs N−1−p
  comparisons and settles rank p+1. The settled top is followed by the other passages in their input order (the
  PRP paper does not say; the Setwise paper's implementation of PRP does this).

``mode='logits'`` compares the next-token log-probabilities of ``A`` and ``B`` after ``Passage`` (one forward pass per
prompt); ``mode='generate'`` parses the written answer (a missing answer is a tie, counted as a fallback).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from rankwise.checks import positive_int
from rankwise.rerank.llm.base import LLMReranker, resolve_mode
from rankwise.rerank.llm.parsing import parse_choice, split_answer
from rankwise.rerank.llm.sorting import bubble_passes, heap_top_k
from rankwise.types import Query

METHODS = ("allpairs", "heapsort", "sliding")


class PairwiseReranker(LLMReranker):
    """PRP with ``method`` = ``allpairs`` | ``heapsort`` | ``sliding`` (module docs).

    Args:
        k: how many top documents heapsort extracts, and the default number of sliding passes.
        passes: sliding passes (default ``k``).
        mode: ``auto`` (logits when the engine offers them), ``logits`` or ``generate``.
        batch_size: prompts sent to the engine per call in ``allpairs`` (None: all at once).
        reuse_verdicts: remember each pair's verdict within a query and never ask it again (fewer calls than the
            published algorithms when sliding passes or heap sifts meet a pair twice; same order from a
            deterministic model). Off by default, so that costs match the papers' algorithms exactly.
    """

    name = "llm:pairwise"
    kind = "pairwise"
    strategy = "pairwise"
    default_template = "prp"

    def __init__(self, llm, template=None, *, method: str = "heapsort", k: int = 10, passes: int | None = None,
                 mode: str = "auto", batch_size: int | None = None, reuse_verdicts: bool = False, **options):
        super().__init__(llm, template, **options)
        if method not in METHODS:
            raise ValueError(f"pairwise method must be one of {', '.join(METHODS)}; got {method!r}")
        self.method = method
        self.k = positive_int("k", k)
        self.passes = positive_int("passes", passes) if passes is not None else self.k
        self.mode = resolve_mode(mode, self.llm)
        self.batch_size = positive_int("batch_size", batch_size, optional=True)
        self.reuse_verdicts = bool(reuse_verdicts)
        if self.mode == "logits" and len(self.template.labels) != 2:
            raise ValueError(f"template {self.template.name!r} needs two labels (for passage A and B) in logits mode")

    def __repr__(self) -> str:
        return f"PairwiseReranker(llm={self.llm!r}, method={self.method!r}, k={self.k}, mode={self.mode!r})"

    def _estimate_params(self) -> dict:
        return {"method": self.method, "k": self.k, "passes": self.passes, "mode": self.mode}

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray):
        n = len(texts)
        fitted = self.fit(query, texts, 2, 4, lambda q, t: self.template.render_pair(q, t[0], t[1]))
        judge = _Comparisons(self, query.qid, fitted.query, fitted.texts)
        if self.method == "allpairs":
            pairs = list(combinations(range(n), 2))
            step = len(pairs) if self.batch_size is None else max(1, self.batch_size // 2)
            for s in range(0, len(pairs), step):
                judge.ask(pairs[s: s + step])
            wins = np.zeros(n)
            for i, j in pairs:
                p = judge.known[(i, j)]
                wins[i] += p
                wins[j] += 1.0 - p
            return sorted(range(n), key=lambda i: (-wins[i], i))

        def best_of(group: list[int]) -> int:
            best = 0
            for pos in range(1, len(group)):
                if judge.preference(group[pos], group[best]) > 0.5:  # a tie keeps the incumbent
                    best = pos
            return best

        if self.method == "heapsort":
            return heap_top_k(range(n), self.k, 2, best_of)
        return bubble_passes(range(n), self.passes, 2, best_of)


class _Comparisons:
    """Both-order verdicts for pairs of one query (remembered and reused only with ``reuse_verdicts``)."""

    def __init__(self, reranker: PairwiseReranker, qid: str, query: str, texts: list[str]):
        self.r, self.qid, self.query, self.texts = reranker, qid, query, texts
        self.known: dict[tuple[int, int], float] = {}

    def preference(self, i: int, j: int) -> float:
        """How much i is preferred over j: 1, 0.5 (tie or split verdict) or 0."""
        if not self.r.reuse_verdicts:
            self.known.pop((i, j), None)
            self.known.pop((j, i), None)
        if (i, j) not in self.known and (j, i) not in self.known:
            self.ask([(i, j)])
        if (i, j) in self.known:
            return self.known[(i, j)]
        return 1.0 - self.known[(j, i)]

    def ask(self, pairs: list[tuple[int, int]]) -> None:
        pairs = [p for p in pairs if p not in self.known and p[::-1] not in self.known]
        if not pairs:
            return
        ordered = [(i, j) for i, j in pairs] + [(j, i) for i, j in pairs]  # both orders, one engine call
        logits = self.r.mode == "logits"
        prompts = [self.r.template.render_pair(self.query, self.texts[a], self.texts[b], for_logits=logits)
                   for a, b in ordered]
        first_wins = self._ask_logits(prompts) if logits else self._ask_generate(prompts)
        m = len(pairs)
        for k, (i, j) in enumerate(pairs):
            # first_wins: 1 = the passage shown as A won, 0 = B won, 0.5 = no verdict
            self.known[(i, j)] = (first_wins[k] + (1.0 - first_wins[m + k])) / 2.0

    def _ask_generate(self, prompts) -> list[float]:
        out = []
        for g in self.r.generate(prompts, 8):
            section = split_answer(g.text, self.r.template.answer_section)
            choice = parse_choice(section.answer, ["A", "B"], self.r.template.answer)
            self.r.costs.add(self.qid, "compare", g.usage, repaired=choice.repaired, fallback=choice.fallback,
                             error=g.error)
            out.append(0.5 if choice.index is None else 1.0 - choice.index)
        return out

    def _ask_logits(self, prompts) -> list[float]:
        a, b = self.r.template.labels[:2]
        out = []
        for res in self.r.label_logprobs(prompts, [a, b]):
            self.r.costs.add(self.qid, "compare", res.usage, repaired=bool(res.missing), error=res.error)
            la, lb = res.logprobs.get(a, -np.inf), res.logprobs.get(b, -np.inf)
            out.append(0.5 if res.error is not None or la == lb else float(la > lb))
        return out
