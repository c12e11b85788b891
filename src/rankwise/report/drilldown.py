"""Per-query drill-down: the queries where runs differ most, their rankings side by side.

Each query shown gets every run's top documents with their relevance grades (or an "unjudged" marker) and, when
texts are known, a snippet with the query's terms highlighted. Which queries: all of them when there are at most
``limit``; otherwise, alternately, those with the largest change of the primary metric against the baseline (over
all runs) and those whose rankings overlap least with the baseline's (lowest rank-biased overlap), until ``limit``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from rankwise.report.overlap import rank_biased_overlap
from rankwise.report.text import query_terms, snippet_html
from rankwise.types import Document, Run


@dataclass
class Row:
    rank: int
    docid: str
    grade: int | None  # None: not judged
    snippet: str | None  # HTML, query terms in <mark>; None when the text is unknown


@dataclass
class QueryView:
    qid: str
    text: str | None
    reason: str  # why it was chosen ("" when every query is shown)
    values: dict[str, float]  # primary metric per run
    overlap: dict[str, float]  # RBO against the baseline, per other run
    relevant: int  # documents judged relevant at the relevance level
    judged: int
    rows: dict[str, list[Row]]


@dataclass
class Drilldown:
    queries: list[QueryView]
    total: int  # queries evaluated
    limit: int
    depth: int
    p: float
    metric: str

    @property
    def limited(self) -> bool:
        return len(self.queries) < self.total


def overlaps(runs: Mapping[str, Run], baseline: str, qids, p: float) -> dict[str, dict[str, float]]:
    """RBO of every run's ranking with the baseline's, per query (0 where one of them has no ranking)."""
    base = runs[baseline]
    out = {}
    for name, run in runs.items():
        if name == baseline:
            continue
        out[name] = {
            qid: rank_biased_overlap(base[qid].docids, run[qid].docids, p) if qid in base and qid in run else 0.0
            for qid in qids
        }
    return out


def select(per_query: Mapping[str, Mapping[str, float]], rbo: Mapping[str, Mapping[str, float]], baseline: str,
           metric: str, limit: int) -> list[tuple[str, str]]:
    """``(qid, reason)`` of the queries to show, most different first (see the module's docstring)."""
    base = per_query[baseline]
    others = [name for name in per_query if name != baseline]

    def biggest_change(qid):
        return max(((abs(per_query[n].get(qid, 0.0) - base[qid]), n) for n in others), default=(0.0, ""))

    def least_overlap(qid):
        return min(((rbo[n][qid], n) for n in others), default=(1.0, ""))

    by_change = sorted(base, key=lambda q: (-biggest_change(q)[0], least_overlap(q)[0], q))
    if len(base) <= limit:
        return [(qid, "") for qid in by_change]
    by_overlap = sorted(base, key=lambda q: (least_overlap(q)[0], -biggest_change(q)[0], q))
    chosen: dict[str, str] = {}
    for changed, apart in zip(by_change, by_overlap):
        for qid, kind in ((changed, "change"), (apart, "overlap")):
            if len(chosen) < limit and qid not in chosen:
                if kind == "change":
                    size, name = biggest_change(qid)
                    delta = per_query[name].get(qid, 0.0) - base[qid] if name else 0.0
                    chosen[qid] = f"large change of {metric}: {delta:+.4f} ({name})"
                else:
                    value, name = least_overlap(qid)
                    chosen[qid] = f"low overlap with the baseline: RBO {value:.3f} ({name})"
        if len(chosen) >= limit:
            break
    return list(chosen.items())


def build_drilldown(runs: Mapping[str, Run], qrels: Mapping[str, Mapping[str, int]],
                    per_query: Mapping[str, Mapping[str, float]], rbo: Mapping[str, Mapping[str, float]],
                    baseline: str, metric: str, *, limit: int, depth: int, p: float, relevance_level: int = 1,
                    queries: Mapping[str, str] | None = None,
                    documents: Mapping[str, str | Document] | None = None) -> Drilldown:
    """The drill-down of :func:`select` 's queries: ``depth`` rows per run."""
    views = []
    for qid, reason in select(per_query, rbo, baseline, metric, limit):
        text = (queries or {}).get(qid)
        terms = query_terms(text) if text else frozenset()
        judged = qrels.get(qid, {})
        rows = {}
        for name, run in runs.items():
            ranking = run.get(qid)
            rows[name] = []
            if ranking is None:
                continue
            for i, docid in enumerate(ranking.docids[:depth]):
                passage = ranking.texts[i] if ranking.texts is not None else (documents or {}).get(docid)
                if isinstance(passage, Document):
                    passage = passage.contents
                rows[name].append(Row(i + 1, docid, judged.get(docid),
                                      None if passage is None else snippet_html(passage, terms)))
        views.append(QueryView(
            qid, text, reason,
            values={name: per_query[name].get(qid, 0.0) for name in runs},
            overlap={name: rbo[name][qid] for name in rbo},
            relevant=sum(g >= relevance_level for g in judged.values()),
            judged=len(judged),
            rows=rows,
        ))
    return Drilldown(views, total=len(per_query[baseline]), limit=limit, depth=depth, p=p, metric=metric)
