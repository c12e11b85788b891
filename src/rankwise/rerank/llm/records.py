"""Cost accounting: one record per LLM invocation, totals and per-query means for a run, and :func:`estimate`,
which predicts calls and tokens for a strategy before anything runs.

A record holds the strategy step that asked (``window``, ``compare``, ``choose``, ``score``, ``full-list``…), prompt
and completion tokens, forward passes, latency, and what went wrong: ``repaired`` (the answer needed repair: duplicate,
unknown or missing identifiers), ``fallback`` (no usable answer: the input order was kept for that step), ``error``
(the engine failed after its retries) and ``retries``. Reasoning strategies keep the model's reasoning text.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from rankwise.rerank.llm.backends import Usage

COUNTERS = ("calls", "prompt_tokens", "completion_tokens", "forward_passes", "cached_tokens", "latency_s",
            "repaired", "fallback", "errors", "retries")


@dataclass
class CallRecord:
    strategy: str
    qid: str
    step: str
    prompt_tokens: int
    completion_tokens: int
    forward_passes: int
    latency_s: float
    cached_tokens: int = 0
    retries: int = 0
    repaired: bool = False
    fallback: bool = False
    error: str | None = None
    reasoning: str | None = None


class CostLog:
    """Every invocation of a reranker's LLM, with per-query wall time and truncation counts.

    ``totals()`` sums a run; ``means()`` averages per query (over the queries reranked, including those that made
    no call); ``table()`` formats both for people (what the CLI prints at the end of a run).
    """

    def __init__(self, strategy: str = "llm"):
        self.strategy = strategy
        self.records: list[CallRecord] = []
        self.query_seconds: dict[str, float] = {}
        self.truncated: dict[str, int] = defaultdict(int)  # passages cut to fit, per query

    def __len__(self) -> int:
        return len(self.records)

    def clear(self) -> None:
        self.records.clear()
        self.query_seconds.clear()
        self.truncated.clear()

    def add(self, qid: str, step: str, usage: Usage, *, repaired: bool = False, fallback: bool = False,
            error: str | None = None, reasoning: str | None = None) -> CallRecord:
        record = CallRecord(
            self.strategy, qid, step, usage.prompt_tokens, usage.completion_tokens, usage.forward_passes,
            usage.latency_s, usage.cached_tokens, usage.retries, repaired, fallback or error is not None, error,
            reasoning,
        )
        self.records.append(record)
        return record

    @contextmanager
    def query(self, qid: str) -> Iterator[None]:
        """Time one query's reranking (wall clock, all its calls together)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.query_seconds[qid] = self.query_seconds.get(qid, 0.0) + time.perf_counter() - start

    # --- summaries ------------------------------------------------------------------------------------------------
    @staticmethod
    def _sum(records) -> dict[str, float]:
        out = dict.fromkeys(COUNTERS, 0)
        for r in records:
            out["calls"] += 1
            out["prompt_tokens"] += r.prompt_tokens
            out["completion_tokens"] += r.completion_tokens
            out["forward_passes"] += r.forward_passes
            out["cached_tokens"] += r.cached_tokens
            out["latency_s"] += r.latency_s
            out["repaired"] += int(r.repaired)
            out["fallback"] += int(r.fallback)
            out["errors"] += int(r.error is not None)
            out["retries"] += r.retries
        return out

    def queries(self) -> list[str]:
        seen = dict.fromkeys(self.query_seconds)
        seen.update(dict.fromkeys(r.qid for r in self.records))
        return list(seen)

    def totals(self) -> dict[str, float]:
        out = self._sum(self.records)
        out["queries"] = len(self.queries())
        out["seconds"] = sum(self.query_seconds.values())
        out["truncated_passages"] = sum(self.truncated.values())
        return out

    def per_query(self) -> dict[str, dict[str, float]]:
        grouped: dict[str, list[CallRecord]] = {q: [] for q in self.queries()}
        for r in self.records:
            grouped[r.qid].append(r)
        out = {}
        for qid, records in grouped.items():
            row = self._sum(records)
            row["seconds"] = self.query_seconds.get(qid, 0.0)
            row["truncated_passages"] = self.truncated.get(qid, 0)
            out[qid] = row
        return out

    def means(self) -> dict[str, float]:
        """Per-query means of every counter (0 for an empty log)."""
        totals = self.totals()
        n = totals.pop("queries")
        return {key: (value / n if n else 0.0) for key, value in totals.items()}

    def by_step(self) -> dict[str, dict[str, float]]:
        grouped: dict[str, list[CallRecord]] = defaultdict(list)
        for r in self.records:
            grouped[r.step].append(r)
        return {step: self._sum(records) for step, records in grouped.items()}

    def table(self) -> str:
        """The cost table: run totals and per-query means."""
        totals, means = self.totals(), self.means()
        columns = [("calls", "calls", "{:,.0f}", "{:,.1f}"), ("prompt_tokens", "prompt tok", "{:,.0f}", "{:,.0f}"),
                   ("completion_tokens", "compl tok", "{:,.0f}", "{:,.1f}"),
                   ("forward_passes", "passes", "{:,.0f}", "{:,.1f}"), ("seconds", "seconds", "{:,.1f}", "{:,.2f}"),
                   ("repaired", "repaired", "{:,.0f}", "{:,.2f}"), ("fallback", "fallback", "{:,.0f}", "{:,.2f}"),
                   ("errors", "errors", "{:,.0f}", "{:,.2f}"), ("retries", "retries", "{:,.0f}", "{:,.2f}"),
                   ("truncated_passages", "truncated", "{:,.0f}", "{:,.1f}")]
        widths = [max(len(title), 10) for _, title, _, _ in columns]
        head = f"{self.strategy} ({totals['queries']} queries)"
        lines = [f"{head:28s}" + " ".join(f"{title:>{w}s}" for (_, title, _, _), w in zip(columns, widths))]
        for label, values, index in (("total", totals, 2), ("per query (mean)", means, 3)):
            cells = [col[index].format(values[col[0]]) for col in columns]
            lines.append(f"{label:28s}" + " ".join(f"{c:>{w}s}" for c, w in zip(cells, widths)))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "totals": self.totals(), "means": self.means(),
                "records": [asdict(r) for r in self.records]}

    def write_jsonl(self, path) -> None:
        """One JSON object per invocation (reasoning included), for later analysis."""
        with open(path, "w", encoding="utf-8") as f:
            for r in self.records:
                f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


# --- estimates ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Predicted cost for one query. ``calls`` is exact when ``exact`` is true; for adaptive algorithms (heapsort)
    it is the worst case and ``calls_min`` the best case. Tokens assume every passage has ``doc_tokens`` tokens."""

    strategy: str
    n: int
    calls: int
    calls_min: int
    exact: bool
    prompt_tokens: int
    completion_tokens: int
    forward_passes: int
    notes: str = ""

    def __str__(self) -> str:
        calls = f"{self.calls}" if self.exact else f"{self.calls_min}–{self.calls}"
        return (f"{self.strategy} on {self.n} candidates: {calls} calls, ~{self.prompt_tokens:,} prompt tokens, "
                f"~{self.completion_tokens:,} completion tokens, ~{self.forward_passes:,} forward passes"
                + (f" ({self.notes})" if self.notes else ""))


def window_count(n: int, window: int, step: int) -> int:
    """Calls of one bottom-up sliding-window pass: ⌈(n−w)/s⌉ + 1 (one call when everything fits one window)."""
    if n <= 1:
        return 0
    if n <= window:
        return 1
    return math.ceil((n - window) / step) + 1


def bubble_count(n: int, set_size: int, passes: int) -> int:
    """Calls of ``passes`` bottom-up bubble passes comparing ``set_size`` items at a time (pass p covers ranks
    p..n-1, since the first p are settled): Σ_p ⌈(n−p−1)/(set_size−1)⌉."""
    return sum(math.ceil((n - p - 1) / (set_size - 1)) for p in range(min(passes, n - 1)))


def heap_bounds(n: int, k: int, arity: int) -> tuple[int, int]:
    """(fewest, most) best-of-set selections of a top-k heapsort on an ``arity``-ary heap of n items.

    Fewest: the input is already a heap and only the heapify pass runs (k = 1): one per internal node. Most: every
    sift goes to the bottom: heapify ≤ Σ over internal nodes of their height, then one sift per extraction but the
    last, each ≤ the heap's height."""
    if n <= 1 or k <= 0:
        return 0, 0
    internal = math.ceil((n - 1) / arity)
    height, size = 0, 1
    while size < n:  # levels below the root
        height += 1
        size = size * arity + 1
    most = internal * height + (min(k, n) - 1) * height  # a loose but safe bound
    return internal, most


def estimate(strategy: str, n: int, *, window: int = 20, step: int = 10, passes: int = 1, k: int = 10,
             set_size: int = 4, method: str | None = None, mode: str = "generate", doc_tokens: int = 100,
             query_tokens: int = 12, overhead_tokens: int = 120, id_tokens: int = 4,
             reasoning_tokens: int = 256, context_length: int | None = None) -> Estimate:
    """Predict the calls and tokens a strategy spends on one query with ``n`` candidates.

    Strategies: ``listwise`` (sliding window), ``first``, ``insertrank``, ``full-list``, ``pairwise`` (method
    ``allpairs``/``heapsort``/``sliding``), ``setwise`` (``heapsort``/``bubble``), ``pointwise``, ``icr``, ``reasoning``
    (setwise heapsort with a reasoning answer). ``mode`` is ``generate`` or ``logits`` for pairwise/setwise.
    Token counts are estimates from ``doc_tokens`` per passage, ``query_tokens``, ``overhead_tokens`` (template) and
    ``id_tokens`` (tokens per identifier in a written permutation, "[12] > " = 4–5).
    """
    per_doc = doc_tokens + id_tokens
    if strategy in ("listwise", "first", "insertrank", "full-list"):
        notes = ""
        w = window
        if strategy == "full-list":
            full_prompt = overhead_tokens + query_tokens + n * per_doc + n * id_tokens  # prompt + answer
            if context_length is None or full_prompt <= context_length:
                w, notes = n, "all candidates in one prompt"
            else:
                notes = f"{full_prompt} tokens exceed the context of {context_length}: sliding windows"
        calls = window_count(n, w, step) * passes
        docs_per_call = min(w, n)
        score_tokens = 8 if strategy == "insertrank" else 0  # "(BM25 score: 12.34)"
        prompt = calls * (overhead_tokens + query_tokens + docs_per_call * (per_doc + score_tokens))
        completion = 0 if strategy == "first" else calls * docs_per_call * id_tokens
        forward = calls if strategy == "first" else completion
        return Estimate(strategy, n, calls, calls, True, prompt, completion, forward, notes)
    if strategy == "pointwise":
        prompt = n * (overhead_tokens + query_tokens + doc_tokens)
        return Estimate(strategy, n, n, n, True, prompt, 0, n)
    if strategy == "icr":
        prompt = 2 * (overhead_tokens + query_tokens + n * per_doc)
        return Estimate(strategy, n, 2, 2, True, prompt, 0, 3,
                        "a local engine runs the passages once, then the query and the content-free endings")
    answer_tokens = 3 if mode == "generate" else 0
    if strategy == "pairwise":
        method = method or "allpairs"
        per_call = overhead_tokens + query_tokens + 2 * doc_tokens
        if method == "allpairs":
            lo = hi = n * (n - 1)
        elif method == "sliding":
            lo = hi = 2 * bubble_count(n, 2, passes)
        elif method == "heapsort":
            # fewest: a heap already (k = 1): each of the n−1 parent–child edges compared once; most: every
            # selection compares the parent with 2 children. Each comparison asks both orders.
            _, most = heap_bounds(n, k, 2)
            lo, hi = 2 * (n - 1), 2 * 2 * most
        else:
            raise ValueError(f"unknown pairwise method {method!r}: allpairs, heapsort or sliding")
        forward = hi * max(answer_tokens, 1)
        return Estimate(strategy, n, hi, lo, lo == hi, hi * per_call, hi * answer_tokens, forward,
                        f"{method}, both orders")
    if strategy in ("setwise", "reasoning"):
        method = method or "heapsort"
        per_call = overhead_tokens + query_tokens + set_size * per_doc
        if method == "bubble":
            lo = hi = bubble_count(n, set_size, passes)
        elif method == "heapsort":
            lo, hi = heap_bounds(n, k, set_size - 1)
        else:
            raise ValueError(f"unknown setwise method {method!r}: heapsort or bubble")
        if strategy == "reasoning":
            answer_tokens = reasoning_tokens
        forward = hi * max(answer_tokens, 1)
        return Estimate(strategy, n, hi, lo, lo == hi, hi * per_call, hi * answer_tokens, forward, method)
    raise ValueError(
        f"unknown strategy {strategy!r}; known: listwise, first, insertrank, full-list, pairwise, setwise, "
        "pointwise, icr, reasoning"
    )
