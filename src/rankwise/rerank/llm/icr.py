"""In-context reranking (ICR; Chen et al. 2025, *Attention in Large Language Models Yields Efficient Zero-Shot
Re-Rankers*), as the authors' code (github.com/OSU-NLP-Group/In-Context-Reranking) computes it: no generation.

All passages and then the query go into one prompt (``Here are some paragraphs: [1] … [N] … Please find
information that are relevant to the following query in the paragraphs above. Query: …``), the passage ranked
first by the first stage last, nearest the query. The *query span* is everything after the passages: the closing
instruction, the query and the chat template's end of turn. For each passage token, the attention from the query
span is summed over every layer and head and averaged over the span's tokens.

The model attends to some passages and tokens more whatever the query (position, length, attention sinks), so the
same is measured with the content-free query ``N/A`` (calibration), and by default (*masked calibration*, the
paper's method) a passage's score is the sum over its tokens of (query − N/A) attention, leaving out the tokens
whose calibrated value falls below the passage's mean − 2σ. Two forward passes per list; they differ only after
the passages, so a local engine runs the passages once (fast attention kernel) and the two endings on copies of
that KV cache with eager attention. Attention weights are needed, so ICR runs on local transformers models only
(an HTTP engine raises :class:`~rankwise.rerank.llm.backends.UnsupportedRequest` at construction).
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
        content_free_query: the query of the calibration pass (the paper's ``N/A``).
        calibrate: masked calibration with the content-free query (the paper's default); False: one pass, the raw
            attention (the paper's ``query_last`` ablation).
        reverse_order: show the passages in reverse first-stage order, the first-stage best nearest the query
            (the paper's ``--reverse_doc_order``, used in all its runs); False: in first-stage order.
    """

    name = "llm:icr"
    kind = "icr"
    strategy = "icr"
    default_template = "icr"

    def __init__(self, llm, template=None, *, content_free_query: str = "N/A", calibrate: bool = True,
                 reverse_order: bool = True, **options):
        super().__init__(llm, template, **options)
        if not self.llm.supports("attention"):
            raise UnsupportedRequest(f"ICR needs attention weights, which {self.llm.name} does not expose: use a local "
                                     "transformers model (e.g. --llm HuggingFaceTB/SmolLM2-135M-Instruct)")
        self.content_free_query = content_free_query
        self.calibrate = bool(calibrate)
        self.reverse_order = bool(reverse_order)

    def order(self, query: Query, texts: list[str], first_stage: np.ndarray):
        n = len(texts)

        def render(q, t):  # for the token budget: the whole list in one prompt
            return Prompt.chat([("user", "".join(s.text for s in self.template.icr_segments(q, t)))])

        fitted = self.fit(query, texts, n, 0, render)
        shown = list(range(n))[::-1] if self.reverse_order else list(range(n))  # shown[k]: candidate at place k
        passes = [("attention", fitted.query)] + ([("calibration", self.content_free_query)] if self.calibrate else [])
        prompts = [self.template.icr_segments(q, [fitted.texts[i] for i in shown]) for _, q in passes]
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
        for (step, _), result in zip(passes, results):
            self.costs.add(query.qid, step, result.usage)
        # per passage token: attention averaged over the query span's tokens (summed over layers and heads)
        per_token = [{name: values / result.source_tokens for name, values in result.tokens.items()}
                     for result in results]
        values = np.zeros(n)
        for k, i in enumerate(shown):
            attention = per_token[0][f"doc:{k}"]
            values[i] = masked_calibration(attention, per_token[1][f"doc:{k}"]) if self.calibrate else attention.sum()
        return scores(values)


def masked_calibration(attention: np.ndarray, content_free: np.ndarray) -> float:
    """ICR's score of one passage from its tokens' attention under the query and under the content-free query: the
    sum of the calibrated values (query − content-free) over the tokens whose calibrated value is above
    mean − 2σ (σ with n − 1, as ``torch.std``). A passage of fewer than two tokens, or whose calibrated values are
    all equal (σ = 0), keeps every token (the paper's strict comparison would drop them all)."""
    calibrated = np.asarray(attention, dtype=np.float64) - np.asarray(content_free, dtype=np.float64)
    if calibrated.size < 2:
        return float(calibrated.sum())
    sigma = calibrated.std(ddof=1)
    if not sigma > 0:
        return float(calibrated.sum())
    keep = calibrated > calibrated.mean() - 2.0 * sigma
    return float(calibrated[keep].sum())
