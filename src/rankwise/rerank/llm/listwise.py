"""Listwise reranking: the model reads several passages and writes their order, ``[3] > [1] > [2]``.

- :class:`ListwiseReranker` — the sliding window of RankGPT (Sun et al. 2023, *Is ChatGPT Good at Search?*), with the
  RankGPT, RankVicuna and RankZephyr prompts (Pradeep et al. 2023). A window of ``window`` passages slides from the
  bottom of the list to the top by ``step``; each window is reordered by the model. One pass costs ⌈(N−w)/s⌉ + 1
  calls and carries the best document to rank 1 whenever ``step < window``; after one pass the top ``window − step``
  are those a perfect judge would put there.
- :class:`FullListReranker` — all candidates in one prompt when they fit the context (long-context single pass:
  Liu et al. 2024, *Sliding Windows Are Not the End: Exploring Full Ranking with Long-Context Large Language
  Models*), sliding windows otherwise.
- :class:`InsertRankReranker` — the first-stage score of each candidate is written beside it, under the first
  stage's name (Seetharaman et al. 2025, *InsertRank*); candidates without scores get plain listwise.

Answers are repaired (:func:`rankwise.rerank.llm.parsing.parse_permutation`); an answer with no identifier keeps the
window's input order. Both are counted in the cost log.
"""
from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.rerank.llm.base import LLMReranker
from rankwise.rerank.llm.parsing import parse_permutation, split_answer
from rankwise.rerank.llm.prompts import get_template, make_ids
from rankwise.types import Query


def sliding_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the windows of one bottom-up pass over n items: ⌈(n−w)/s⌉ + 1 of them (one if n ≤ w)."""
    if n <= 1:
        return []
    if n <= window:
        return [(0, n)]
    out, end = [], n
    while True:
        start = max(0, end - window)
        out.append((start, end))
        if start == 0:
            return out
        end -= step


class ListwiseReranker(LLMReranker):
    """Sliding-window listwise reranking (RankGPT; RankVicuna/RankZephyr prompts). See the module docs.

    Args:
        llm: engine, model name/path or URL.
        template: ``rankzephyr`` (default), ``rankgpt`` (passages as separate chat turns), or your own.
        window, step, passes: window size, step between windows (default: half the window, RankGPT's 20/10) and
            number of bottom-up passes.
        reasoning_tokens: extra answer tokens for templates with a reasoning section.
    """

    name = "llm:listwise"
    strategy = "listwise"
    default_template = "rankzephyr"

    def __init__(self, llm, template=None, *, window: int = 20, step: int | None = None, passes: int = 1,
                 reasoning_tokens: int = 512, **options):
        super().__init__(llm, template, **options)
        self.window = positive_int("window", window, minimum=2)
        self.step = positive_int("step", step) if step is not None else max(1, self.window // 2)
        if self.step > self.window:
            raise ValueError(f"step ({step}) must not exceed window ({window}): documents between windows would "
                             "never be compared; use step < window (e.g. window 20, step 10)")
        self.passes = positive_int("passes", passes)
        self.reasoning_tokens = positive_int("reasoning_tokens", reasoning_tokens)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(llm={self.llm!r}, template={self.template.name!r}, window={self.window}, "
                f"step={self.step}, passes={self.passes})")

    def _estimate_params(self) -> dict:
        return {"window": self.window, "step": self.step, "passes": self.passes}

    # --- prompts -----------------------------------------------------------------------------------------------------
    def render(self, query: str, texts: list[str], first_stage: Sequence[float] | None = None, for_logits=False):
        return self.template.render_list(query, texts, for_logits=for_logits)

    def answer_tokens(self, n: int) -> int:
        """Room for a written permutation of n identifiers (plus the reasoning, when the template has one)."""
        ids = make_ids(n, self.template.ids)
        tokens = self.llm.count_tokens(" > ".join(f"[{i}]" for i in ids)) + 8
        return tokens + (self.reasoning_tokens if self.template.answer_section else 0)

    # --- the algorithm -----------------------------------------------------------------------------------------------
    def order(self, query: Query, texts: list[str], first_stage: np.ndarray) -> list[int]:
        n = len(texts)
        per_prompt = min(self.window, n)
        fitted = self.fit(query, texts, per_prompt, self.answer_tokens(per_prompt),
                          lambda q, t: self.render(q, t)[0])
        return self.slide(query.qid, fitted.query, fitted.texts, first_stage, list(range(n)))

    def slide(self, qid: str, query: str, texts: list[str], first_stage: np.ndarray, current: list[int]) -> list[int]:
        for _ in range(self.passes):
            for start, end in sliding_windows(len(current), self.window, self.step):
                window = current[start:end]
                perm = self.rank_window(qid, query, [texts[i] for i in window], first_stage[window], "window")
                current[start:end] = [window[k] for k in perm]
        return current

    def rank_window(self, qid: str, query: str, texts: list[str], first_stage: Sequence[float], step: str) -> list[int]:
        """One model call over one window; returns the window's repaired order."""
        prompt, ids = self.render(query, texts, first_stage)
        generation = self.generate([prompt], self.answer_tokens(len(texts)))[0]
        section = split_answer(generation.text, self.template.answer_section)
        parsed = parse_permutation(section.answer, ids, self.template.answer)
        unmarked = not section.marked and not parsed.fallback  # a reasoning answer without its answer section
        self.costs.add(qid, step, generation.usage, repaired=parsed.repaired or unmarked, fallback=parsed.fallback,
                       error=generation.error, reasoning=section.reasoning or None)
        return parsed.order


class FullListReranker(ListwiseReranker):
    """All candidates in one prompt when they fit the context, else sliding windows (Liu et al. 2024, *Sliding
    Windows Are Not the End*). The check is exact: the prompt with every passage cut to ``max_passage_tokens`` plus
    room for the full permutation must fit the engine's context length."""

    name = "llm:full-list"
    strategy = "full-list"

    def _estimate_params(self) -> dict:
        return {**super()._estimate_params(), "context_length": self.llm.context_length}

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray) -> list[int]:
        n = len(texts)
        q = query.text
        if self.max_query_tokens is not None and self.llm.count_tokens(q) > self.max_query_tokens:
            q = self.llm.truncate_text(q, self.max_query_tokens)
        capped = list(texts)
        if self.max_passage_tokens is not None:
            capped = [t if self.llm.count_tokens(t) <= self.max_passage_tokens
                      else self.llm.truncate_text(t, self.max_passage_tokens) for t in texts]
        prompt, _ = self.render(q, capped, first_stage)
        if self.llm.prompt_tokens(prompt) + self.answer_tokens(n) <= self.llm.context_length:
            cut = sum(a != b for a, b in zip(capped, texts))
            if cut:
                self.costs.truncated[query.qid] += cut
            perm = self.rank_window(query.qid, q, capped, first_stage, "full-list")
            return perm
        return super().order(query, texts, first_stage)  # too long: sliding windows


class InsertRankReranker(ListwiseReranker):
    """Listwise reranking with each candidate's first-stage score in the prompt (Seetharaman et al. 2025,
    *InsertRank: LLMs can reason over BM25 scores to improve listwise reranking*): ``[3] (BM25 score: 12.31) …``.

    Args:
        score_name: the name written before each score. Default: the name of the stage that produced the candidates
            when it is known (``BM25`` for rankwise's BM25 retriever, ``dense(…)``, a TREC run's tag), otherwise
            ``first-stage``.

    Scores are never made up: a query whose candidates carry none (``Ranking.pseudo_scores``: a candidates file
    without scores, or the order of an LLM reranker) is reranked as plain listwise, with the RankZephyr prompt, and a
    warning says so once.
    """

    name = "llm:insertrank"
    strategy = "insertrank"
    default_template = "insertrank"

    def __init__(self, llm, template=None, *, score_name: str | None = None, **options):
        super().__init__(llm, template, **options)
        self.score_name = score_name
        self.plain_template = get_template("rankzephyr", "listwise")
        self._run_label: str | None = None  # the candidates' first stage, while a run is reranked
        self._plain = False  # the current query's candidates carry no scores
        self._warned_plain = False

    def rerank_batch(self, queries, run):
        self._run_label = first_stage_label(run)
        try:
            return super().rerank_batch(queries, run)
        finally:
            self._run_label = None

    def rerank(self, query, candidates):
        self._plain = bool(getattr(candidates, "pseudo_scores", False))
        if self._plain and not self._warned_plain:
            warnings.warn(f"{self.name}: the candidates of query {candidates.qid!r} carry no first-stage scores (their "
                          "scores only encode an order); InsertRank reranks such queries as plain listwise (the "
                          "RankZephyr prompt) rather than show made-up scores. Give candidates with their "
                          "retriever's scores to use InsertRank.", UserWarning, stacklevel=2)
            self._warned_plain = True
        return super().rerank(query, candidates)

    @property
    def label(self) -> str:
        """The name written before each score."""
        return self.score_name or self._run_label or "first-stage"

    def render(self, query: str, texts: list[str], first_stage: Sequence[float] | None = None, for_logits=False):
        if self._plain:
            return self.plain_template.render_list(query, texts, for_logits=for_logits)
        values = first_stage if first_stage is not None else [0.0] * len(texts)  # 0.00: for the token budget
        return self.template.render_list(query, texts, scores=[f"{float(v):.2f}" for v in values],
                                         score_name=self.label, for_logits=for_logits)


def first_stage_label(run) -> str | None:
    """The name of the stage whose scores a run's rankings carry: the run's name (``BM25`` for ``bm25``, a cutoff
    such as ``% 100`` left out), or None for a run without a name of its own (read from a candidates file)."""
    name = re.sub(r"\s*%\s*\d+$", "", str(getattr(run, "name", "") or "")).strip()
    if name in ("", "run", "candidates"):
        return None
    return {"bm25": "BM25"}.get(name, name)
