"""What a report shows, assembled from evaluate's results: :class:`Report` and :func:`build_report`.

Every number comes from :func:`rankwise.evaluate.evaluate` and :func:`rankwise.evaluate.compare_results`, the code
behind ``rankwise evaluate`` and ``rankwise compare``: the table in the report is the table ``compare`` prints.
The recall–precision curve is trec_eval's interpolated precision at its 11 recall levels (``iprec_at_recall``),
evaluated in the same pass as the table's metrics.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.evaluate import EvalResult, compare_results, evaluate, resolve_metrics
from rankwise.evaluate.compare import Comparison, _named_runs
from rankwise.evaluate.metrics import DEFAULT_METRICS
from rankwise.evaluate.significance import align
from rankwise.io.files import PathLike
from rankwise.report.costs import CostSummary, read_cost_log, summarize_costs
from rankwise.report.drilldown import Drilldown, build_drilldown, overlaps
from rankwise.rerank.llm.records import CostLog
from rankwise.types import Document, Query, Run

RECALL_LEVELS = tuple(round(0.1 * i, 1) for i in range(11))
_CURVE_KEYS = tuple(m.key for m in resolve_metrics("iprec_at_recall"))


@dataclass
class RunSource:
    """Where a run came from: its file and, when rankwise wrote it, the recorded settings
    (:func:`rankwise.io.read_run_info`)."""

    path: str | None = None
    settings: dict | None = None


@dataclass
class Report:
    """Everything the HTML report shows; ``to_html()`` renders it, ``write(path)`` saves it, and in Jupyter it
    displays itself (table and figures). :mod:`rankwise.report.figures` draws the same figures with matplotlib."""

    comparison: Comparison
    primary: str  # the metric of the delta plot, the drill-down and the cost scatter (the first one)
    win_tie_loss: dict[str, dict[str, tuple[int, int, int]]]  # run -> metric -> (wins, ties, losses)
    deltas: dict[str, list[tuple[str, float]]]  # run -> (qid, run - baseline) on the primary metric, largest first
    mean_overlap: dict[str, float]  # run -> mean RBO with the baseline over the evaluated queries
    curves: dict[str, list[float]]  # run -> interpolated precision at RECALL_LEVELS
    drilldown: Drilldown
    costs: dict[str, CostSummary] = field(default_factory=dict)
    sources: dict[str, RunSource] = field(default_factory=dict)
    num_candidates: dict[str, tuple[int, int]] = field(default_factory=dict)  # run -> (queries, candidates)
    title: str = "rankwise report"
    qrels_name: str | None = None
    notes: list[str] = field(default_factory=list)  # evaluation warnings, shown in the page
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def runs(self) -> list[str]:
        return self.comparison.runs

    @property
    def baseline(self) -> str:
        return self.comparison.baseline

    @property
    def results(self) -> dict[str, EvalResult]:
        return self.comparison.results

    def to_html(self) -> str:
        from rankwise.report.page import render_page

        return render_page(self)

    def write(self, path: PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        from rankwise.report.page import render_fragment

        return render_fragment(self)


def build_report(
    runs: Sequence[Run] | Mapping[str, Run | Mapping[str, Mapping[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    baseline: str | int = 0,
    test: str = "ttest",
    correction: str | None = "holm",
    alpha: float = 0.05,
    relevance_level: int = 1,
    judged_only: bool = False,
    depth: int | None = None,
    complete: bool = False,
    on_mismatch: str = "error",
    n_permutations: int = 10_000,
    seed: int | None = 0,
    queries: Mapping[str, str] | Iterable[Query] | None = None,
    documents: Mapping[str, str | Document] | None = None,
    costs: Mapping[str, CostLog | PathLike] | None = None,
    sources: Mapping[str, RunSource] | None = None,
    drilldown_queries: int = 50,
    drilldown_rows: int = 10,
    rbo_p: float = 0.9,
    title: str = "rankwise report",
    qrels_name: str | None = None,
) -> Report:
    """Evaluate and compare ``runs`` as :func:`rankwise.evaluate.compare_runs` does (same arguments, same
    numbers), and gather what the report shows around the table.

    ``queries`` (``{qid: text}`` or Query objects) and ``documents`` (``{docid: text or Document}``; candidates
    that carry texts need none) give the drill-down its texts. ``costs`` maps run names to LLM cost logs
    (:class:`CostLog` or the JSONL ``rankwise rerank --costs`` writes); ``sources`` to each run's file and recorded
    settings. The drill-down shows ``drilldown_queries`` queries (all when there are fewer), ``drilldown_rows``
    documents per run, and rank-biased overlap with persistence ``rbo_p``.
    """
    positive_int("drilldown_queries", drilldown_queries)
    positive_int("drilldown_rows", drilldown_rows)
    if not 0 < rbo_p < 1:
        raise ValueError(f"rbo_p must lie strictly between 0 and 1, got {rbo_p!r}")
    named = {name: run if isinstance(run, Run) else Run.from_dict(run, name=name)
             for name, run in _named_runs(runs).items()}
    keys = [m.key for m in resolve_metrics(metrics)]
    options = dict(relevance_level=relevance_level, judged_only=judged_only, depth=depth, complete=complete)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        full = {name: evaluate(run, qrels, keys + list(_CURVE_KEYS), **options) for name, run in named.items()}
        results = {name: _only(result, keys) for name, result in full.items()}
        comparison = compare_results(results, baseline=baseline, test=test, correction=correction, alpha=alpha,
                                     on_mismatch=on_mismatch, n_permutations=n_permutations, seed=seed)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    for w in caught:  # still said where they would have been said
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    base = comparison.baseline
    primary = keys[0]
    win_tie_loss: dict[str, dict[str, tuple[int, int, int]]] = {}
    deltas: dict[str, list[tuple[str, float]]] = {}
    for name in named:
        if name == base:
            continue
        win_tie_loss[name] = {}
        for key in keys:
            qids, x, y = align(results[name].per_query[key], results[base].per_query[key], on_mismatch=on_mismatch)
            win_tie_loss[name][key] = (int(np.sum(x > y)), int(np.sum(x == y)), int(np.sum(x < y)))
            if key == primary:
                diff = (x - y).tolist()
                deltas[name] = sorted(zip(qids, diff), key=lambda item: (-item[1], item[0]))

    evaluated = results[base].queries
    rbo = overlaps(named, base, evaluated, rbo_p)
    query_texts = _query_texts(queries)
    drilldown = build_drilldown(
        named, qrels, {name: results[name].per_query[primary] for name in named}, rbo, base, primary,
        limit=drilldown_queries, depth=drilldown_rows, p=rbo_p, relevance_level=relevance_level,
        queries=query_texts, documents=documents,
    )
    summaries = {}
    for name, log in (costs or {}).items():
        if name not in named:
            raise ValueError(f"costs given for {name!r}, which is not one of the runs {list(named)}")
        source = None
        if not isinstance(log, CostLog):
            source, log = str(log), read_cost_log(log)
        summaries[name] = summarize_costs(log, named[name].keys(), name, source)
    return Report(
        comparison=comparison,
        primary=primary,
        win_tie_loss=win_tie_loss,
        deltas=deltas,
        mean_overlap={name: float(np.mean(list(v.values()))) if v else 0.0 for name, v in rbo.items()},
        curves={name: [full[name].aggregate[k] for k in _CURVE_KEYS] for name in named},
        drilldown=drilldown,
        costs=summaries,
        sources={name: (sources or {}).get(name) or RunSource() for name in named},
        num_candidates={name: (len(run), run.num_candidates) for name, run in named.items()},
        title=title,
        qrels_name=qrels_name,
        notes=notes,
    )


def _only(result: EvalResult, keys: list[str]) -> EvalResult:
    """``result`` restricted to ``keys`` (the table's metrics, without the curve's)."""
    return EvalResult({k: result.aggregate[k] for k in keys}, {k: result.per_query[k] for k in keys},
                      run_name=result.run_name, options=result.options)


def _query_texts(queries) -> dict[str, str] | None:
    if queries is None:
        return None
    if isinstance(queries, Mapping):
        return {str(k): str(v) for k, v in queries.items()}
    return {q.qid: q.text for q in queries}
