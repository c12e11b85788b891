"""Pointwise reranking: each passage is scored on its own, in one forward pass.

- ``yes-no`` — log-odds of the next token being ``Yes`` rather than ``No`` (relevance generation: Nogueira et al.
  2020, *Document Ranking with a Pretrained Sequence-to-Sequence Model*, monoT5; Liang et al. 2022, HELM).
- ``fine-grained`` — expected relevance Σ l·p(l) over the probabilities of the labels 0..k, renormalised over the
  labels (Zhuang et al. 2024, *Beyond Yes and No: Improving Zero-Shot LLM Rankers via Scoring Fine-Grained Relevance
  Labels*: the rating-scale prompt with its expected-relevance score).
- ``likelihood`` — query likelihood: the mean log-probability of the query's tokens given the passage (Sachan et al.
  2022, *Improving Passage Retrieval with Zero-Shot Question Generation*, UPR).

Prompts put the query before the passage, so all prompts of a query share a prefix that local engines compute once
(KV-cache reuse). A failed call keeps the query's input order (every call of the query is then a fallback).
"""
from __future__ import annotations

import numpy as np

from rankwise.checks import positive_int
from rankwise.rerank.llm.backends import (
    EngineConfigurationError,
    UnsupportedRequest,
    Usage,
)
from rankwise.rerank.llm.base import LLMReranker, scores
from rankwise.types import Query

METHODS = {"yes-no": ("pointwise", "yes-no"), "fine-grained": ("pointwise", "fine-grained"),
           "likelihood": ("likelihood", "upr")}


class PointwiseReranker(LLMReranker):
    """Pointwise scoring with ``method`` = ``yes-no`` | ``fine-grained`` | ``likelihood`` (module docs).

    For ``yes-no`` the template's first label is the affirmative one; for ``fine-grained`` the labels must be
    integers. ``batch_size`` prompts go to the engine per call (None: all of a query's prompts at once).
    """

    name = "llm:pointwise"
    strategy = "pointwise"

    def __init__(self, llm, template=None, *, method: str = "yes-no", batch_size: int | None = None, **options):
        if method not in METHODS:
            raise ValueError(f"pointwise method must be one of {', '.join(METHODS)}; got {method!r}")
        self.kind, default = METHODS[method]
        self.default_template = default
        super().__init__(llm, template, **options)
        self.method = method
        self.batch_size = positive_int("batch_size", batch_size, optional=True)
        if method == "fine-grained":
            bad = [label for label in self.template.labels if not label.strip().lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"fine-grained labels must be integers; template {self.template.name!r} has {bad}")
        needed = "continuation" if method == "likelihood" else "labels"
        if not self.llm.supports(needed):
            raise UnsupportedRequest(
                f"{self.llm.name} gives no {'continuation' if needed == 'continuation' else 'next-token'} "
                f"log-probabilities, which pointwise {method!r} scoring needs: use a local model, a server that returns "
                "logprobs, or a strategy that generates (llm:listwise, llm:setwise or llm:pairwise with --mode generate)"
            )

    def __repr__(self) -> str:
        return f"PointwiseReranker(llm={self.llm!r}, method={self.method!r}, template={self.template.name!r})"

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray):
        n = len(texts)
        if self.method == "likelihood":
            fitted = self.fit(query, texts, 1, self.llm.count_tokens(query.text) + 2,
                              lambda q, t: self.template.render_likelihood(q, t[0])[0])
        else:
            fitted = self.fit(query, texts, 1, 1, lambda q, t: self.template.render_single(q, t[0]))
        size = self.batch_size or n
        values = np.zeros(n)
        failed = False
        for s in range(0, n, size):
            chunk = fitted.texts[s: s + size]
            if self.method == "likelihood":
                pairs = [self.template.render_likelihood(fitted.query, t) for t in chunk]
                try:
                    results = self.llm.continuation_logprobs([p for p, _ in pairs], [c for _, c in pairs])
                except (UnsupportedRequest, EngineConfigurationError):
                    raise
                except Exception as e:  # noqa: BLE001 - recorded, the query keeps its input order
                    message = self._error(e)
                    for _ in chunk:
                        self.costs.add(query.qid, "score", Usage(), error=message)
                    failed = True
                    continue
                self._warn_once(results)
                for k, res in enumerate(results):
                    self.costs.add(query.qid, "score", res.usage, error=res.error)
                    failed |= res.error is not None
                    values[s + k] = res.mean
            else:
                prompts = [self.template.render_single(fitted.query, t) for t in chunk]
                labels = list(self.template.labels)
                for k, res in enumerate(self.label_logprobs(prompts, labels)):
                    self.costs.add(query.qid, "score", res.usage, repaired=bool(res.missing), error=res.error)
                    failed |= res.error is not None
                    values[s + k] = self._value(res, labels)
        if failed:
            for record in self.costs.records:
                if record.qid == query.qid:
                    record.fallback = True
            return list(range(n))
        return scores(values)

    def _value(self, res, labels: list[str]) -> float:
        if res.error is not None:
            return 0.0
        if self.method == "yes-no":
            return float(res.logprobs[labels[0]] - res.logprobs[labels[1]])
        p = res.normalized(labels)
        return float(np.dot(p, [int(label) for label in labels]))
