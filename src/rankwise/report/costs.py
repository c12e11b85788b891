"""LLM costs of a run, from the cost log ``rankwise rerank --costs FILE`` writes (one JSON object per call,
:meth:`rankwise.rerank.llm.records.CostLog.write_jsonl`)."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Iterable

from rankwise.io.files import FormatError, PathLike
from rankwise.io.jsonl import read_jsonl
from rankwise.rerank.llm.records import CallRecord, CostLog

# What the report shows, in this order: (key, column title, per-query format).
COLUMNS = (
    ("calls", "calls", "{:,.1f}"),
    ("prompt_tokens", "prompt tokens", "{:,.0f}"),
    ("completion_tokens", "completion tokens", "{:,.1f}"),
    ("forward_passes", "forward passes", "{:,.1f}"),
    ("seconds", "seconds", "{:,.2f}"),
    ("repaired", "repaired", "{:,.2f}"),
    ("fallback", "fallback", "{:,.2f}"),
    ("errors", "errors", "{:,.2f}"),
)
_REQUIRED = [f.name for f in fields(CallRecord) if f.default is MISSING and f.default_factory is MISSING]
_KNOWN = {f.name for f in fields(CallRecord)}
_NUMBERS = ("prompt_tokens", "completion_tokens", "forward_passes", "latency_s", "cached_tokens", "retries")


def read_cost_log(path: PathLike) -> CostLog:
    """The calls of a cost log; a line that is not a call record is an error naming the line."""
    log: CostLog | None = None
    for number, obj in read_jsonl(path):
        missing = [name for name in _REQUIRED if name not in obj]
        if missing:
            raise FormatError(path, number, f"not an LLM call record: missing {', '.join(missing)}",
                              "cost logs are written by `rankwise rerank --costs FILE`")
        for key in _NUMBERS:
            if key in obj and (isinstance(obj[key], bool) or not isinstance(obj[key], (int, float))):
                raise FormatError(path, number, f"{key} is {obj[key]!r}, not a number")
        record = CallRecord(**{k: v for k, v in obj.items() if k in _KNOWN})
        if log is None:
            log = CostLog(record.strategy)
        log.records.append(record)
    if log is None:
        raise FormatError(path, None, "no call records (an empty cost log)")
    return log


@dataclass
class CostSummary:
    """A run's LLM costs: ``totals`` and per-query ``means`` of :data:`COLUMNS`, over the run's queries.

    ``seconds`` is the sum of the calls' latencies (a cost log holds no wall time between calls).
    """

    strategy: str
    queries: int
    totals: dict[str, float]
    means: dict[str, float]
    source: str | None = None

    @property
    def tokens_per_query(self) -> float:
        return self.means["prompt_tokens"] + self.means["completion_tokens"]


def summarize_costs(log: CostLog, run_queries: Iterable[str], run_name: str, source: str | None = None) -> CostSummary:
    """Totals and per-query means of ``log`` for a run with queries ``run_queries`` (queries that made no call count
    as zero). A log that names queries the run lacks belongs to another run: that is an error."""
    queries = set(run_queries)
    foreign = sorted({r.qid for r in log.records} - queries)
    if foreign:
        raise ValueError(
            f"the cost log {source or ''} names {len(foreign)} queries that run {run_name!r} does not have "
            f"(e.g. {foreign[0]!r}): is it the log of another run?"
        )
    totals = dict(log.totals())
    totals["seconds"] = totals["latency_s"]
    n = len(queries)
    means = {key: (totals[key] / n if n else 0.0) for key, _, _ in COLUMNS}
    totals = {key: totals[key] for key, _, _ in COLUMNS}
    strategies = sorted({r.strategy for r in log.records}) or [log.strategy]
    return CostSummary(", ".join(strategies), n, totals, means, source)
