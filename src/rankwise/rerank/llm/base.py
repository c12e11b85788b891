"""What every LLM reranker shares: an engine, a template, truncation to fit the context, and the cost log.

A strategy implements :meth:`LLMReranker.order` (one query: candidate texts → an order or scores). The base class
turns that into a :class:`~rankwise.types.Ranking`, times the query, and guards engine calls: an engine failure on
one call becomes an error record and a fallback for that step, never an exception halfway through a run (engines
retry transient faults themselves; a request the engine cannot serve at all, such as attention over HTTP, is
raised at once).
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.pipeline import Reranker, require_texts
from rankwise.rerank.llm.backends import (
    LLM,
    EngineConfigurationError,
    Generation,
    LabelScores,
    Prompt,
    UnsupportedRequest,
    Usage,
    get_llm,
)
from rankwise.rerank.llm.prompts import Template, get_template
from rankwise.rerank.llm.records import CostLog, Estimate, estimate
from rankwise.rerank.llm.truncate import Fitted, fit
from rankwise.types import Query, Ranking


class Scores(np.ndarray):
    """Marker type: :meth:`LLMReranker.order` returned scores rather than an order."""


class LLMReranker(Reranker):
    """Base of the LLM strategies.

    Args:
        llm: an engine (:class:`~rankwise.rerank.llm.backends.LLM`), a model name or path, or an OpenAI-compatible URL.
        template: a template name, a :class:`~rankwise.rerank.llm.prompts.Template` or a dict (default: the
            strategy's own).
        max_passage_tokens: passages are cut to at most this many tokens (and less when the context requires).
        max_query_tokens: queries are cut to at most this many tokens.
    """

    name = "llm"
    kind = "listwise"  # the template kind this strategy needs
    default_template = "rankzephyr"
    strategy = "llm"  # the key of records.estimate

    def __init__(self, llm: "LLM | str", template: "str | Template | dict | None" = None, *,
                 max_passage_tokens: int | None = 300, max_query_tokens: int | None = 64):
        self.llm = get_llm(llm)
        self.template = get_template(template if template is not None else self.default_template, self.kind)
        for label, value in (("max_passage_tokens", max_passage_tokens), ("max_query_tokens", max_query_tokens)):
            positive_int(label, value, optional=True)
        self.max_passage_tokens = max_passage_tokens
        self.max_query_tokens = max_query_tokens
        self.costs = CostLog(self.name)
        self._warned = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(llm={self.llm!r}, template={self.template.name!r})"

    # --- the Reranker interface ------------------------------------------------------------------------------------
    def rerank(self, query: Query | str, candidates: Ranking) -> Ranking:
        query = query if isinstance(query, Query) else Query(candidates.qid, query)
        texts = list(require_texts(candidates, self))
        n = len(texts)
        if n == 0:
            return Ranking(candidates.qid, [], [])
        with self.costs.query(candidates.qid):
            result = self.order(query, texts, np.asarray(candidates.scores, dtype=np.float64))
        if isinstance(result, Scores):
            return Ranking(candidates.qid, candidates.docids, np.asarray(result, dtype=np.float64), texts)
        order = list(result)
        if sorted(order) != list(range(n)):  # a strategy bug, never a model's fault: models are repaired before
            raise AssertionError(f"{self.name}: order {order} is not a permutation of {n} candidates")
        # The order is the ranking: descending pseudo-scores n..1 keep it exactly (trec_eval order is by score).
        docids = [candidates.docids[i] for i in order]
        return Ranking.trusted(candidates.qid, docids, np.arange(n, 0, -1, dtype=np.float64), [texts[i] for i in order],
                               pseudo_scores=True)

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray) -> "list[int] | Scores":
        """One query: the candidates' order (indices, best first) or their scores (wrapped with :func:`scores`)."""
        raise NotImplementedError

    def estimate(self, n: int, **options) -> Estimate:
        """Predicted calls and tokens for one query of ``n`` candidates (see :func:`records.estimate`)."""
        params = self._estimate_params()
        params.update(options)
        return estimate(self.strategy, n, **params)

    def _estimate_params(self) -> dict:
        return {}

    # --- helpers for strategies -----------------------------------------------------------------------------------
    def overhead_tokens(self, passages_per_prompt: int, render: Callable[[str, list[str]], Prompt]) -> int:
        """Tokens of the prompt with empty passages and query (template, identifiers, chat markup)."""
        return self.llm.prompt_tokens(render("", [""] * passages_per_prompt))

    def fit(self, query: Query, texts: Sequence[str], passages_per_prompt: int, answer_tokens: int,
            render: Callable[[str, list[str]], Prompt]) -> Fitted:
        fitted = fit(self.llm, query.text, texts, passages_per_prompt=passages_per_prompt,
                     overhead_tokens=self.overhead_tokens(passages_per_prompt, render), answer_tokens=answer_tokens,
                     max_passage_tokens=self.max_passage_tokens, max_query_tokens=self.max_query_tokens)
        if fitted.truncated:
            self.costs.truncated[query.qid] += fitted.truncated
        return fitted

    def generate(self, prompts: Sequence[Prompt], max_tokens: int) -> list[Generation]:
        """Engine generation; a failure of the whole call becomes one error per prompt."""
        try:
            results = self.llm.generate(prompts, max_tokens)
        except (UnsupportedRequest, EngineConfigurationError):
            raise
        except Exception as e:  # noqa: BLE001 - one failed call must not end a long run; it is recorded
            results = [Generation("", Usage(), error=f"{type(e).__name__}: {e}") for _ in prompts]
        self._warn_once(results)
        return results

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[LabelScores]:
        try:
            results = self.llm.label_logprobs(prompts, labels)
        except (UnsupportedRequest, EngineConfigurationError):
            raise
        except Exception as e:  # noqa: BLE001
            results = [LabelScores({}, Usage(), error=f"{type(e).__name__}: {e}") for _ in prompts]
        self._warn_once(results)
        return results

    def _warn_once(self, results) -> None:
        failed = next((r.error for r in results if r.error is not None), None)
        if failed is not None:
            self._error_message(failed)

    def _error(self, e: Exception) -> str:
        return self._error_message(f"{type(e).__name__}: {e}")

    def _error_message(self, message: str) -> str:
        if not self._warned:  # once per reranker: the count is in the cost table
            warnings.warn(f"{self.name}: an LLM call failed ({message}); that step keeps the input order. "
                          "Further failures are counted in the cost table.", RuntimeWarning, stacklevel=4)
            self._warned = True
        return message


def scores(values) -> Scores:
    return np.asarray(values, dtype=np.float64).view(Scores)


def resolve_mode(mode: str, llm: LLM) -> str:
    """``auto`` → ``logits`` when the engine gives next-token log-probabilities, else ``generate``."""
    if mode not in ("auto", "logits", "generate"):
        raise ValueError(f"mode must be 'auto', 'logits' or 'generate', got {mode!r}")
    if mode == "auto":
        return "logits" if llm.supports("labels") else "generate"
    return mode

