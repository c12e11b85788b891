"""In-context reranking (ICR; Chen et al. 2025, *Attention in Large Language Models Yields Efficient Zero-Shot
Re-Rankers*): no generation at all.

All passages and then the query go into one prompt; a passage's score is the attention mass from the query's tokens
to the passage's tokens, summed over every layer and head. The model attends to some passages more whatever the
query (position, length), so the same mass is measured once more with a content-free query (``N/A``) and
subtracted: two forward passes per list. Attention weights are needed, so ICR runs on local transformers models
only (an HTTP engine raises :class:`~rankwise.rerank.llm.backends.UnsupportedRequest` at construction).

The two prompts differ only after the passages, so a local engine runs the passages once (fast attention kernel)
and the two query endings on copies of that KV cache with eager attention: the query rows are all ICR reads.
"""
from __future__ import annotations

import numpy as np

from rankwise.rerank.llm.backends import (
    EngineConfigurationError,
    Prompt,
    UnsupportedRequest,
    Usage,
)
from rankwise.rerank.llm.base import LLMReranker, scores
from rankwise.types import Query


class ICRReranker(LLMReranker):
    """In-context reranking from attention (module docs).

    Args:
        content_free_query: the query of the calibration pass.
        calibrate: subtract the content-free pass (False: one pass, raw attention mass).
    """

    name = "llm:icr"
    kind = "icr"
    strategy = "icr"
    default_template = "icr"

    def __init__(self, llm, template=None, *, content_free_query: str = "N/A", calibrate: bool = True, **options):
        super().__init__(llm, template, **options)
        if not self.llm.supports("attention"):
            raise UnsupportedRequest(f"ICR needs attention weights, which {self.llm.name} does not expose: use a local "
                                     "transformers model (e.g. --llm HuggingFaceTB/SmolLM2-135M-Instruct)")
        self.content_free_query = content_free_query
        self.calibrate = bool(calibrate)

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray):
        n = len(texts)

        def render(q, t):  # for the token budget: the whole list in one prompt
            return Prompt.chat([("user", "".join(s.text for s in self.template.icr_segments(q, t)))])

        fitted = self.fit(query, texts, n, 0, render)
        names = [f"doc:{i}" for i in range(n)]
        passes = [("attention", fitted.query)] + ([("calibration", self.content_free_query)] if self.calibrate else [])
        prompts = [self.template.icr_segments(q, fitted.texts) for _, q in passes]
        try:
            # one call: a local engine computes the shared passages once and only the two query endings apart
            results = self.llm.attention_batch(prompts, "query", chat=self.template.chat)
        except (UnsupportedRequest, EngineConfigurationError):
            raise
        except Exception as e:  # noqa: BLE001 - recorded; the query keeps its input order
            message = self._error(e)
            for step, _ in passes:
                self.costs.add(query.qid, step, Usage(), error=message)
            return list(range(n))
        masses = []
        for (step, _), result in zip(passes, results):
            self.costs.add(query.qid, step, result.usage)
            masses.append(np.array([result.mass[name] for name in names]))
        values = masses[0] - masses[1] if self.calibrate else masses[0]
        return scores(values)
