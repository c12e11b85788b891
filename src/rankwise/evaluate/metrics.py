"""Evaluation exactly as trec_eval computes it.

The numbers come from trec_eval's own C code through ``pytrec_eval`` (package ``pytrec-eval-terrier``); this
module only adds what pytrec_eval leaves to its caller, each done the way trec_eval's own main program does it:

* ``depth`` (``trec_eval -M``): each ranking is cut to its first ``depth`` documents in trec_eval order
  (score descending, docid descending) *before* anything else, judged-only filtering included.
* ``complete`` (``trec_eval -c``): every judged query that the run lacks is evaluated as trec_eval does it — on a
  one-document ranking of an unjudged placeholder, with ``num_ret`` reset to 0 — so it scores 0 everywhere
  (``num_rel`` keeps its true count) and averages run over all judged queries.
* Aggregation: arithmetic mean over the evaluated queries, sums for ``num_*`` (``num_q`` counts queries),
  geometric mean for ``gm_*`` (per-query ``gm_map``/``gm_bpref`` values are trec_eval's
  ``log(max(AP, 1e-5))``; trec_eval itself prints no per-query value for them).
* ``MRR@k``: ``recip_rank`` on each ranking cut at ``k`` — after ``depth`` and, with ``judged_only``, after the
  unjudged documents are dropped (the list ``P_k`` counts in) — keyed ``recip_rank_cut_k``: a rankwise name,
  since trec_eval has no cut-off reciprocal rank.

Which queries count (as in trec_eval): those with both judgments and a non-empty ranking. A judged query with no
relevant document at ``relevance_level`` is *not* skipped — trec_eval 9 scores it 0 and averages it in — and
rankwise warns about it. Queries only in the run, and (without ``complete``) queries only in the qrels, are left
out with an :class:`EvaluationWarning` that gives their number and an example.

Version note: ``iprec_at_recall_*`` and ``11pt_avg`` follow the trec_eval 9 code bundled in pytrec_eval, which
turns a recall level into a number of documents as ``(long)(level * num_rel + 0.9)``; trec_eval 10 rounds
instead, so for some queries these differ from trec_eval 10's output in the 3rd-4th decimal. Every other
measure agrees with trec_eval 10 (tests/test_evaluate_trec_eval.py checks them against its own test outputs).
"""
from __future__ import annotations

import heapq
import math
import multiprocessing
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

import numpy as np
import pytrec_eval

from rankwise.checks import positive_int
from rankwise.types import Qrels, Ranking, Run

DEFAULT_METRICS: tuple[str, ...] = ("ndcg_cut_10", "map", "recip_rank", "P_10", "recall_100")

# trec_eval measures whose parameters are a list of cut-offs, one value (and one key, e.g. P_10) per cut-off.
CUTOFF_MEASURES = frozenset(
    {"P", "recall", "relative_P", "ndcg_cut", "map_cut", "success", "iprec_at_recall", "Rprec_mult"}
)
# Measures pytrec_eval knows but that carry no number (run tag, relevance string).
_NOT_NUMERIC = frozenset({"runid", "relstring"})
TREC_MEASURES = frozenset(pytrec_eval.supported_measures) - _NOT_NUMERIC
NICKNAMES = {
    name: tuple(sorted(set(members) - _NOT_NUMERIC))
    for name, members in pytrec_eval.supported_nicknames.items()
    if name in ("official", "set", "all_trec")
}

# trec_eval's placeholder for a judged query missing from the run under -c (trec_eval.c, "bogus_ranking").
_MISSING_QUERY_DOC = "ceci_nest_pas_un_docno"
# Values trec_eval resets after evaluating that placeholder (the ones this pytrec_eval build has).
_RESET_FOR_MISSING = ("num_ret", "utility")

_PARAMS = r"[0-9]+(?:\.[0-9]+)?(?:,[0-9]+(?:\.[0-9]+)?)*"
_TREC_FORM = re.compile(rf"^(?P<base>[A-Za-z0-9_]+?)(?:[._](?P<params>{_PARAMS}))?$")
_RR_CUT_FORM = re.compile(r"^recip_rank_cut[._](?P<k>[0-9]+)$")
_READABLE_FORM = re.compile(r"^(?P<name>[A-Za-z][A-Za-z_-]*?)\s*(?:@\s*(?P<k>[0-9]+))?$")
# readable name (lower case) -> (trec_eval measure without a cut-off, measure with @k)
_READABLE = {
    "ndcg": ("ndcg", "ndcg_cut"),
    "map": ("map", "map_cut"),
    "ap": ("map", "map_cut"),
    "mrr": ("recip_rank", "recip_rank_cut"),
    "rr": ("recip_rank", "recip_rank_cut"),
    "p": (None, "P"),
    "precision": (None, "P"),
    "r": (None, "recall"),
    "recall": (None, "recall"),
    "success": (None, "success"),
    "r-prec": ("Rprec", None),
    "rprec": ("Rprec", None),
    "r-precision": ("Rprec", None),
    "bpref": ("bpref", None),
}

ACCEPTED_FORMS = (
    "trec_eval names (map, ndcg, ndcg_cut_10, map_cut_100, P_10, recall_100, recip_rank, Rprec, bpref, "
    "success_10, num_rel_ret, num_ret, num_rel, num_q, gm_map, iprec_at_recall_0.10, …; 'P.5,10' or a bare "
    "'P' for trec_eval's default cut-offs; nicknames official, set, all_trec), "
    "readable names (nDCG@10, nDCG, AP, MAP, AP@100, MRR, RR, MRR@10, P@10, R@100, Recall@100, Success@10, "
    "R-Prec, bpref) and recip_rank_cut_10 (= MRR@10)"
)


class EvaluationWarning(UserWarning):
    """Queries that an evaluation leaves out or scores 0 for lack of judgments or rankings."""


@dataclass(frozen=True)
class Measure:
    """One number per query: ``key`` names it in results; ``base``/``param`` are what trec_eval computes;
    ``cut`` (only for ``recip_rank_cut_k``) evaluates each ranking cut at that depth."""

    key: str
    base: str
    param: str | None = None
    cut: int | None = None

    @property
    def trec_key(self) -> str:
        """The name pytrec_eval gives the value."""
        return self.base if self.cut is not None else self.key


# --- metric names -------------------------------------------------------------------------------------------
def resolve_metrics(metrics: str | Iterable[str]) -> list[Measure]:
    """Resolve metric names (trec_eval or readable, see :data:`ACCEPTED_FORMS`) to measures, in the order
    given, without duplicates. Unknown names raise ``ValueError`` listing the accepted forms."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ValueError(f"no metrics given; pass e.g. {list(DEFAULT_METRICS)}")
    out: dict[str, Measure] = {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"metric names are strings, got {name!r}; accepted: {ACCEPTED_FORMS}")
        for measure in _resolve_one(name):
            out.setdefault(measure.key, measure)
    return list(out.values())


def metric_key(name: str) -> str:
    """The result key of a single metric name: ``metric_key("nDCG@10") == "ndcg_cut_10"``."""
    measures = _resolve_one(name)
    if len(measures) != 1:
        raise ValueError(f"metric {name!r} stands for {len(measures)} values; name one of {[m.key for m in measures]}")
    return measures[0].key


@lru_cache(maxsize=None)
def _resolve_one(name: str) -> tuple[Measure, ...]:
    text = name.strip()
    if text in NICKNAMES:
        return tuple(m for base in NICKNAMES[text] for m in _trec_measures(base, None))
    if m := _RR_CUT_FORM.match(text):
        return (_rr_cut(int(m["k"]), name),)
    if (m := _TREC_FORM.match(text)) and m["base"] in TREC_MEASURES:
        return _trec_measures(m["base"], m["params"])
    if m := _READABLE_FORM.match(text):
        bare, with_k = _READABLE.get(m["name"].lower(), (None, None))
        if m["k"] is None and bare is not None:
            return _trec_measures(bare, None)
        if m["k"] is not None and with_k is not None:
            k = int(m["k"])
            if k < 1:
                raise ValueError(f"metric {name!r}: the cut-off after '@' must be at least 1")
            if with_k == "recip_rank_cut":
                return (_rr_cut(k, name),)
            return _trec_measures(with_k, str(k))
    raise ValueError(f"unknown metric {name!r}; accepted: {ACCEPTED_FORMS}")


def _rr_cut(k: int, name: str) -> Measure:
    if k < 1:
        raise ValueError(f"metric {name!r}: the cut-off must be at least 1")
    return Measure(key=f"recip_rank_cut_{k}", base="recip_rank", cut=k)


def _trec_measures(base: str, params: str | None) -> tuple[Measure, ...]:
    if params is None:
        keys = _trec_keys(base)
        if base in CUTOFF_MEASURES:  # bare 'P': trec_eval's default cut-offs, one measure each
            return tuple(Measure(key=k, base=base, param=k[len(base) + 1 :]) for k in keys)
        return (Measure(key=base, base=base),)
    if base not in CUTOFF_MEASURES:
        raise ValueError(
            f"metric '{base}.{params}': rankwise passes parameters only to the cut-off measures "
            f"{sorted(CUTOFF_MEASURES)}; use '{base}' with trec_eval's defaults"
        )
    out = []
    for param in dict.fromkeys(params.split(",")):
        (key,) = _trec_keys(f"{base}.{param}")
        out.append(Measure(key=key, base=base, param=param))
    return tuple(out)


@lru_cache(maxsize=None)
def _trec_keys(measure: str) -> tuple[str, ...]:
    """The keys trec_eval reports for ``measure`` (it canonicalises parameters: 0.1 -> 0.10), found by
    evaluating a one-document toy run."""
    toy = pytrec_eval.RelevanceEvaluator({"q": {"d": 1}}, {measure}).evaluate({"q": {"d": 1.0}})
    return tuple(toy["q"])


# --- evaluation ---------------------------------------------------------------------------------------------
@dataclass
class EvalResult:
    """Aggregate and per-query values of one run, keyed by trec_eval's metric names.

    ``aggregate[metric]`` is the value trec_eval prints in its ``all`` rows; ``per_query[metric][qid]`` the
    per-query values (``-q``), queries in trec_eval's order. ``result["nDCG@10"]`` accepts readable names.
    """

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    run_name: str = "run"
    options: dict = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        return list(self.aggregate)

    @property
    def queries(self) -> list[str]:
        """The queries the aggregate averages over."""
        first = next(iter(self.per_query.values()), {})
        return list(first)

    def __getitem__(self, metric: str) -> float:
        key = metric if metric in self.aggregate else metric_key(metric)
        if key not in self.aggregate:
            raise KeyError(f"metric {metric!r} ({key}) was not evaluated; evaluated: {self.metrics}")
        return self.aggregate[key]

    def to_dict(self) -> dict:
        return {
            "run": self.run_name,
            "options": dict(self.options),
            "aggregate": dict(self.aggregate),
            "per_query": {m: dict(v) for m, v in self.per_query.items()},
        }

    def to_trec_eval(self, per_query: bool = False) -> str:
        """The result in trec_eval's output layout (``-q`` adds the per-query rows before the ``all`` rows)."""
        lines = []
        if per_query:
            for qid in self.queries:
                lines += [_trec_line(m, qid, self.per_query[m][qid]) for m in self.metrics if m != "num_q"]
        lines.append(f"{'runid':<22}\tall\t{self.run_name}")
        lines += [_trec_line(m, "all", v) for m, v in self.aggregate.items()]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_trec_eval()


def format_value(metric: str, value: float) -> str:
    """A value as trec_eval prints it: counts as integers, everything else with 4 decimals."""
    return str(int(round(value))) if metric.startswith("num_") else f"{value:.4f}"


def _trec_line(metric: str, qid: str, value: float) -> str:
    return f"{metric:<22}\t{qid}\t{format_value(metric, value)}"


def evaluate(
    run: Run | Mapping[str, Mapping[str, float]],
    qrels: Qrels | Mapping[str, Mapping[str, int]],
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    relevance_level: int = 1,
    judged_only: bool = False,
    depth: int | None = None,
    complete: bool = False,
    n_jobs: int = 1,
) -> EvalResult:
    """Evaluate ``run`` against ``qrels`` exactly as trec_eval does.

    ``run`` is a :class:`Run` or ``{qid: {docid: score}}``; ``qrels`` a :class:`Qrels` or
    ``{qid: {docid: int}}``. Options mirror trec_eval's: ``relevance_level`` (``-l``, the least grade counted
    relevant by binary measures; nDCG always uses the graded values), ``judged_only`` (``-J``, drop unjudged
    documents before evaluating), ``depth`` (``-M``) and ``complete`` (``-c``).

    ``n_jobs > 1`` splits the queries over that many forked processes (pytrec_eval holds the GIL, so threads
    would not help); it pays off for runs of millions of candidates when the cores are free (see
    benchmarks/bench_evaluate.py). Where ``fork`` is unavailable it runs in one process and warns.
    """
    measures = resolve_metrics(metrics)
    if not isinstance(relevance_level, int) or isinstance(relevance_level, bool) or relevance_level < 1:
        raise ValueError(f"relevance_level must be an integer >= 1 (trec_eval -l), got {relevance_level!r}")
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a positive integer (trec_eval -M) or None, got {depth!r}")
    judged = _judgments(qrels)
    rankings = _rankings(run)
    evaluated, missing = _check_queries(rankings, judged, relevance_level, complete, _run_name(run))
    if not evaluated and not (complete and missing):
        raise ValueError(
            "no query has both judgments and a ranking (trec_eval: 'No queries with both results and relevance "
            f"info'); run queries look like {_examples(rankings)}, qrels queries like {_examples(judged)} — "
            "are the query ids from the same collection, and spelled the same way?"
        )

    # One pytrec_eval pass per ranking depth: the whole ranking (cut at `depth`), and each MRR@k cut-off.
    per_query: dict[str, dict[str, float]] = {m.key: {} for m in measures}
    by_cut: dict[int | None, list[Measure]] = {}
    for m in measures:
        by_cut.setdefault(m.cut, []).append(m)
    for cut, group in by_cut.items():
        task = _Task(rankings, judged, _measure_strings(group), depth, cut, relevance_level, judged_only)
        values = _run_task(task, evaluated, missing if complete else [], n_jobs)
        qids = sorted(values)  # trec_eval's query order, which its sums follow
        for m in group:
            per_query[m.key] = {qid: values[qid][m.trec_key] for qid in qids}

    aggregate = {key: _aggregate(key, column) for key, column in per_query.items()}
    options = {
        "relevance_level": relevance_level,
        "judged_only": judged_only,
        "depth": depth,
        "complete": complete,
    }
    return EvalResult(aggregate, per_query, run_name=_run_name(run), options=options)


def evaluate_files(run_path, qrels_path, metrics: str | Iterable[str] = DEFAULT_METRICS, **options) -> EvalResult:
    """:func:`evaluate` on a TREC run file and a qrels file (read with :mod:`rankwise.io`)."""
    from rankwise.io import read_qrels, read_run

    return evaluate(read_run(run_path), read_qrels(qrels_path), metrics, **options)


@dataclass(frozen=True)
class _Task:
    """One pytrec_eval pass: the inputs shared by every chunk of queries."""

    rankings: Mapping
    judged: Mapping[str, Mapping[str, int]]
    measures: set[str]
    depth: int | None  # trec_eval -M: cut before anything else
    cut: int | None  # MRR@k: cut of the list that trec_eval evaluates (after -J drops unjudged documents)
    relevance_level: int
    judged_only: bool

    def __call__(self, qids: Sequence[str], missing: Sequence[str]) -> dict[str, dict[str, float]]:
        if self.cut is not None and self.judged_only:
            # -J first condenses the list to judged documents; the @k cut applies to that list, as P_k does.
            scores = {}
            for qid, ranked in _to_scores(self.rankings, qids, self.depth).items():
                judged = self.judged[qid]
                condensed = {d: s for d, s in ranked.items() if judged.get(d, -1) >= 0}
                scores[qid] = _top_of_dict(condensed, self.cut) if len(condensed) > self.cut else condensed
        else:
            limits = [x for x in (self.depth, self.cut) if x is not None]
            graded = self.judged if {m.split(".")[0] for m in self.measures} <= _BLIND_AFTER_LAST_GRADED else None
            scores = _to_scores(self.rankings, qids, min(limits) if limits else None, graded)
        for qid in missing:  # trec_eval -c: a judged query without ranking gets a placeholder ranking
            scores[qid] = {_MISSING_QUERY_DOC: 1.0}
        if not scores:
            return {}
        evaluator = pytrec_eval.RelevanceEvaluator(
            {qid: self.judged[qid] for qid in scores},
            self.measures,
            relevance_level=self.relevance_level,
            judged_docs_only_flag=self.judged_only,
        )
        values = evaluator.evaluate(scores)
        for qid in missing:
            for name in _RESET_FOR_MISSING:
                if name in values[qid]:
                    values[qid][name] = 0.0
        return values


# Set in the parent just before forking so that workers inherit the run instead of unpickling it.
_FORKED: tuple[_Task, list[tuple[list[str], list[str]]]] | None = None


def _run_forked_chunk(index: int) -> dict[str, dict[str, float]]:
    task, chunks = _FORKED
    return task(*chunks[index])


def _run_task(task: _Task, qids: list[str], missing: list[str], n_jobs: int) -> dict[str, dict[str, float]]:
    global _FORKED
    positive_int("n_jobs", n_jobs)
    n_jobs = min(n_jobs, max(1, len(qids) + len(missing)))
    if n_jobs == 1:
        return task(qids, missing)
    if "fork" not in multiprocessing.get_all_start_methods():
        warnings.warn(
            f"n_jobs={n_jobs} needs the 'fork' start method, which this platform lacks; evaluating in one process",
            EvaluationWarning,
            stacklevel=3,
        )
        return task(qids, missing)
    chunks = [(qids[i::n_jobs], missing[i::n_jobs]) for i in range(n_jobs)]
    _FORKED = (task, chunks)
    try:
        with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
            parts = pool.map(_run_forked_chunk, range(n_jobs))
    finally:
        _FORKED = None
    values: dict[str, dict[str, float]] = {}
    for part in parts:
        values.update(part)
    return values


def _aggregate(key: str, column: Mapping[str, float]) -> float:
    # Sum in trec_eval's query order (sorted ids) so that the floating-point result is trec_eval's.
    values = list(column.values())
    n = len(values)
    if key == "num_q":
        return float(n)
    if key.startswith("num_"):
        return float(sum(values))
    if key.startswith("gm_"):
        return math.exp(sum(values) / n) if n else 0.0
    return sum(values) / n if n else 0.0


def _measure_strings(group: Sequence[Measure]) -> set[str]:
    params: dict[str, list[str]] = {}
    for m in group:
        params.setdefault(m.base, [])
        if m.param is not None:
            params[m.base].append(m.param)
    return {f"{base}.{','.join(dict.fromkeys(p))}" if p else base for base, p in params.items()}


def _run_name(run) -> str:
    return getattr(run, "name", None) or "run"


def _examples(mapping: Mapping, n: int = 3) -> list:
    return [k for _, k in zip(range(n), mapping)]


def _judgments(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Qrels as pytrec_eval takes them (str ids, int grades); queries with no judgment at all are dropped,
    since a qrels file cannot hold them. Converts only when needed."""
    if not isinstance(qrels, Mapping):
        raise TypeError(f"qrels must be a Qrels or a {{qid: {{docid: grade}}}} dict, got {type(qrels).__name__}")
    out: dict[str, dict[str, int]] = {}
    for qid, judged in qrels.items():
        if not isinstance(judged, Mapping):
            raise TypeError(f"qrels[{qid!r}] must be a {{docid: grade}} dict, got {type(judged).__name__}")
        if not judged:
            continue
        if type(qid) is str and type(judged) is dict and all(type(g) is int for g in judged.values()):
            out[qid] = judged
            continue
        out[str(qid)] = {str(d): _grade(qid, d, g) for d, g in judged.items()}
    if not out:
        raise ValueError("qrels hold no judgments")
    return out


def _grade(qid, docid, grade) -> int:
    try:
        as_int = int(grade)
    except (TypeError, ValueError):
        as_int = None
    if as_int is None or as_int != grade:
        raise ValueError(f"qrels: query {qid!r}, document {docid!r}: relevance {grade!r} is not an integer grade")
    return as_int


def _rankings(run) -> dict[str, Ranking | Mapping[str, float]]:
    if isinstance(run, Run):
        return run
    if not isinstance(run, Mapping):
        raise TypeError(f"run must be a Run or a {{qid: {{docid: score}}}} dict, got {type(run).__name__}")
    for qid, ranking in run.items():
        if not isinstance(ranking, (Ranking, Mapping)):
            raise TypeError(f"run[{qid!r}] must be a Ranking or a {{docid: score}} dict, got {type(ranking).__name__}")
    return {str(qid): ranking for qid, ranking in run.items()}


def _check_queries(rankings, judged, relevance_level: int, complete: bool, name: str):
    """The evaluated queries (judged, non-empty ranking) in trec_eval order, and the judged queries the run
    lacks; warns about every query left out or scored 0 for lack of data."""
    ranked = {qid for qid, r in rankings.items() if len(r)}
    evaluated = sorted(ranked & judged.keys())
    unjudged = sorted(ranked - judged.keys())
    missing = sorted(judged.keys() - ranked)
    if unjudged:
        _warn(
            f"run {name!r}: {len(unjudged)} of its {len(ranked)} queries have no judgments and are not evaluated "
            f"(e.g. {unjudged[0]!r})"
        )
    if missing:
        effect = (
            "are scored 0 and counted in the averages (complete=True, trec_eval -c)"
            if complete
            else "are left out of the averages; pass complete=True (trec_eval -c) to count them as 0"
        )
        _warn(
            f"run {name!r}: {len(missing)} of the {len(judged)} judged queries have no ranking and {effect} "
            f"(e.g. {missing[0]!r})"
        )
    counted = evaluated + (missing if complete else [])
    no_relevant = [q for q in counted if not any(g >= relevance_level for g in judged[q].values())]
    if no_relevant:
        _warn(
            f"run {name!r}: {len(no_relevant)} evaluated queries have no document judged relevant at level "
            f">= {relevance_level}; as in trec_eval they score 0 and count in the averages (e.g. {no_relevant[0]!r})"
        )
    return evaluated, missing


def _warn(message: str) -> None:
    warnings.warn(message, EvaluationWarning, stacklevel=4)


# Measures whose value for a query does not change when the ranking loses the documents ranked after its last
# document with a non-zero grade: they read only the ranks of graded documents, and the judgments themselves (not
# num_ret, set_*, bpref, infAP, utility…). For these the rankings handed to pytrec_eval stop there, which on real
# runs (relevant documents near the top of a 1,000-deep list) removes most of the work; tests/test_evaluate_metrics.py
# checks every one of them against pytrec_eval on the whole rankings, ties and negative grades included.
_BLIND_AFTER_LAST_GRADED = {"map", "map_cut", "gm_map", "P", "recall", "ndcg", "ndcg_cut", "recip_rank", "Rprec",
                            "success", "num_rel", "num_rel_ret", "iprec_at_recall"}


def _to_scores(rankings, qids: Sequence[str], limit: int | None,
               graded: Mapping[str, Mapping[str, int]] | None = None) -> dict[str, dict[str, float]]:
    """``{qid: {docid: score}}`` for pytrec_eval, each ranking cut at ``limit`` in trec_eval order, and with
    ``graded`` (the judgments) after its last document with a non-zero grade (ties with it kept)."""
    out = {}
    for qid in qids:
        ranking = rankings[qid]
        if isinstance(ranking, Ranking):
            if limit is not None and len(ranking) > limit:
                out[qid] = _top_of_ranking(ranking, limit)
            elif graded is not None:
                out[qid] = _through_last_graded(ranking, graded[qid])
            else:
                out[qid] = dict(zip(ranking.docids, ranking.scores.tolist()))
        else:
            scores = _checked_scores(qid, ranking)
            out[qid] = scores if limit is None or len(scores) <= limit else _top_of_dict(scores, limit)
    return out


def _through_last_graded(ranking: Ranking, judged: Mapping[str, int]) -> dict[str, float]:
    scores, docids = ranking.scores, ranking.docids
    if len(docids) < 2 or not (scores[:-1] >= scores[1:]).all():  # not in score order: hand it over whole
        return dict(zip(docids, scores.tolist()))
    nonzero = {d for d, g in judged.items() if g}
    flags = list(map(nonzero.__contains__, docids))
    if True not in flags:  # every such measure is 0 (or read from the judgments): one document keeps the query
        return {docids[0]: float(scores[0])}
    last = len(flags) - 1 - flags[::-1].index(True)
    # Every document tied with the last graded one stays: trec_eval orders ties by docid, not by our order.
    stop = int(np.searchsorted(-scores, -scores[last], side="right"))
    return dict(zip(docids[:stop], scores[:stop].tolist()))


def _top_of_ranking(ranking: Ranking, limit: int) -> dict[str, float]:
    # A Ranking is kept in trec_eval order, so its head is the top set — unless a score tie straddles the cut,
    # or the ranking was built unsorted; then choose as trec_eval does.
    scores = ranking.scores
    if scores[limit - 1] > scores[limit] and (scores[:-1] >= scores[1:]).all():
        return dict(zip(ranking.docids[:limit], scores[:limit].tolist()))
    return _top_of_dict(dict(zip(ranking.docids, scores.tolist())), limit)


def _top_of_dict(scores: Mapping[str, float], limit: int) -> dict[str, float]:
    # trec_eval order: score descending, then docid descending (strcmp; code-point order for UTF-8 ids).
    return dict(heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], item[0])))


def _checked_scores(qid: str, scores: Mapping[str, float]) -> dict[str, float]:
    # Fast path: a plain dict of finite-or-infinite floats goes to pytrec_eval as it is (s == s rejects NaN).
    if type(scores) is dict and all(type(s) is float and s == s for s in scores.values()):
        return scores
    out = {}
    for docid, score in scores.items():
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise ValueError(f"run: query {qid!r}, document {docid!r}: score {score!r} is not a number") from None
        if value != value:
            raise ValueError(f"run: query {qid!r}, document {docid!r} has a NaN score")
        out[str(docid)] = value
    return out
