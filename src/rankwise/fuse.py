"""Rank fusion: combine the rankings of several systems (or several rerankers) into one.

    fused = fuse_runs([bm25_run, dense_run], "rrf")                 # runs -> run
    hybrid = fuse([bm25, dense], "combsum", norm="minmax", weights=[0.3, 0.7])   # stages -> a pipeline stage
    ensemble = bm25 % 100 >> fuse([cross_encoder, BM25Reranker()], "rrf")         # an ensemble of rerankers
    setting = learn_fusion(train_runs, train_qrels, "rrf")          # weights and RRF's k from training queries
    test_fused = setting.apply(test_runs)

Methods (``w_i`` is run i's weight, 1 by default; sums run over the runs that hold the document):

- ``rrf``     reciprocal rank fusion (Cormack et al., 2009): ``sum w_i / (rrf_k + rank_i)``, ``rrf_k`` = 60
- ``borda``   Borda count: ``sum w_i * (N - rank_i + 1)``, N = the number of distinct documents of the query
- ``combsum`` ``sum w_i * s_i`` over normalised scores ``s_i`` (Fox & Shaw, 1994)
- ``combmnz`` CombSUM times the number of runs that hold the document
- ``combanz`` CombSUM divided by that number
- ``combmax`` ``max w_i * s_i``

Score normalisations for the Comb methods (per query and run, Montague & Aslam, 2001), ``norm=``:
``"minmax"`` (default; ``(s - min) / (max - min)``, a ranking whose scores are all equal maps to 1), ``"zscore"``
(``(s - mean) / std``, population std; all-equal scores map to 0), ``"sum"`` (shift the minimum to 0, then
divide by the sum; all-equal scores map to 1/n), ``"rank"`` (``(n - rank + 1) / n``: rank 1 maps to 1) and
``"none"`` (raw scores).

Semantics, the same in every method:

- **Ranks** are positions in trec_eval order (score descending, then docid descending), so tied scores get
  consecutive ranks decided by document id, exactly as trec_eval would rank them. Ties in the fused scores
  are broken the same way: the output is deterministic and independent of the order of the runs (scores are
  summed in sorted order, so a document's fused score does not depend on which run came first).
- **Missing documents**: a document absent from a run contributes nothing from it (no score, no rank, and it
  does not count towards CombMNZ's / CombANZ's number of runs). A query absent from a run is treated as an
  empty ranking for it.
- **Weights** are >= 0; a run with weight 0 is left out altogether (documents only it retrieved do not appear).
- ``depth`` cuts each input ranking to its first ``depth`` documents before anything else (normalisation
  included); ``top`` cuts the fused ranking.

Why not ranx's fusion (installed): its ranks follow its own sort, in which tied scores keep dictionary order
rather than trec_eval's, it needs every run to hold the same queries, and it compiles with numba on first use.
The tests check these functions against ranx on real runs without ties.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.pipeline import Reranker, Stage, apply
from rankwise.types import Qrels, Query, Ranking, Run, trec_order

METHODS = ("rrf", "borda", "combsum", "combmnz", "combanz", "combmax")
RANK_METHODS = ("rrf", "borda")
NORMALIZATIONS = ("minmax", "zscore", "sum", "rank", "none")
DEFAULT_NORM = "minmax"
DEFAULT_RRF_K = 60
# Searched by learn_fusion for RRF's k (Cormack et al. found 60 near-best; small k trusts the top ranks more).
DEFAULT_RRF_K_GRID = (1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200)
SETTING_FORMAT = "rankwise.fusion"
MAX_GRID_POINTS = 20_000


# --- checks -----------------------------------------------------------------------------------------------------
def _check_method(method: str, norm: str | None) -> str | None:
    """Validate the method and return the normalisation it uses (None for rank-based methods)."""
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")
    if method in RANK_METHODS:
        if norm not in (None, "none"):
            raise ValueError(
                f"{method} fuses ranks, so a score normalisation (norm={norm!r}) has no effect; leave norm unset "
                "or use a Comb method (combsum, combmnz, combanz, combmax)"
            )
        return None
    norm = DEFAULT_NORM if norm is None else norm
    if norm not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {norm!r}; choose one of {', '.join(NORMALIZATIONS)}")
    return norm


def _check_rrf_k(rrf_k: float) -> float:
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float, np.integer, np.floating)):
        raise ValueError(f"rrf_k must be a number >= 0, got {rrf_k!r}")
    if not math.isfinite(rrf_k) or rrf_k < 0:
        raise ValueError(f"rrf_k must be a finite number >= 0 (60 is the usual value), got {rrf_k!r}")
    return float(rrf_k)



def _check_weights(weights, names: list[str]) -> np.ndarray:
    n = len(names)
    if weights is None:
        return np.ones(n)
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ValueError(f"weights name run {unknown[0]!r}, which is not among the runs {names}")
        missing = [name for name in names if name not in weights]
        if missing:
            raise ValueError(f"weights give no weight for run {missing[0]!r}; give one for each of {names}")
        weights = [weights[name] for name in names]
    values = np.asarray(list(weights), dtype=np.float64).reshape(-1)
    if len(values) != n:
        raise ValueError(f"got {len(values)} weights for {n} runs {names}; give one weight per run")
    bad = [w for w in values.tolist() if not math.isfinite(w) or w < 0]
    if bad:
        raise ValueError(f"weights must be finite and >= 0, got {bad[0]!r} in {values.tolist()}")
    if not values.any():
        raise ValueError(f"at least one weight must be > 0, got {values.tolist()}")
    return values


def _named(runs) -> tuple[list[str], list[Run | Mapping]]:
    """Names and runs from a list of runs (their .name) or a {name: run} mapping; names made unique."""
    if isinstance(runs, Run):
        raise TypeError("fusion takes several runs: a list of Run objects or a {name: run} dict, got one Run")
    if isinstance(runs, Mapping):
        names, items = [str(k) for k in runs], list(runs.values())
    else:
        items = list(runs)
        names = [str(getattr(r, "name", None) or f"run{i + 1}") for i, r in enumerate(items)]
        if len(set(names)) != len(names):  # two runs called "bm25": number them rather than fail
            names = [f"{name}#{i + 1}" for i, name in enumerate(names)]
    if not items:
        raise ValueError("fusion needs at least one run, got none")
    return names, items


def _as_ranking(item, qid: str) -> Ranking | None:
    if item is None:
        return None
    if isinstance(item, Ranking):
        return item
    return Ranking(qid, list(item.keys()), list(item.values()))  # {docid: score} from a plain dict run


# --- normalisation ----------------------------------------------------------------------------------------------
def normalize(scores: np.ndarray, norm: str) -> np.ndarray:
    """Normalised scores of one ranking, given in trec_eval order (so position i has rank i + 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n == 0 or norm == "none":
        return scores.copy()
    if norm == "rank":
        return (n - np.arange(n)) / n
    if norm == "minmax":
        low, high = scores.min(), scores.max()
        return np.ones(n) if high == low else (scores - low) / (high - low)
    if norm == "zscore":
        std = scores.std()
        return np.zeros(n) if std == 0 else (scores - scores.mean()) / std
    if norm == "sum":
        shifted = scores - scores.min()
        total = shifted.sum()
        return np.full(n, 1.0 / n) if total == 0 else shifted / total
    raise ValueError(f"unknown normalisation {norm!r}; choose one of {', '.join(NORMALIZATIONS)}")


# --- one query --------------------------------------------------------------------------------------------------
class _QueryInput:
    """One query's documents across the runs: the union of their ids, and per (document, run) the rank and the
    normalised score, with a mask of which runs hold which documents. Built once, fused under many settings
    (learn_fusion tries hundreds of weightings on the same inputs)."""

    __slots__ = ("qid", "docids", "ranks", "values", "present", "texts")

    def __init__(self, qid: str, rankings: list[Ranking | None], norm: str | None, depth: int | None):
        cut = [r.top(depth) if (r is not None and depth is not None) else r for r in rankings]
        present_runs = [r for r in cut if r]
        # The union of the documents, in first-seen order; each document's text from the first run that has one.
        union = dict.fromkeys(itertools.chain.from_iterable(r.docids for r in present_runs))
        index = {d: i for i, d in enumerate(union)}
        texts: dict[str, str] = {}
        for r in reversed(present_runs):
            if r.texts is not None:
                texts.update(zip(r.docids, r.texts))
        n, m = len(index), len(rankings)
        self.qid = qid
        self.docids = np.array(list(index), dtype=object)
        # One row per run, one column per document: reducing over runs then adds whole rows, which numpy does fast.
        self.ranks = np.full((m, n), np.inf)  # a missing document's rank: infinite (RRF then adds 0 by itself)
        self.values = np.zeros((m, n))
        self.present = np.zeros((m, n), dtype=bool)
        for j, r in enumerate(cut):
            if not r:
                continue
            rows = np.array([index[d] for d in r.docids], dtype=np.int64)
            self.present[j, rows] = True
            self.ranks[j, rows] = np.arange(1, len(r) + 1)
            if norm is not None:
                self.values[j, rows] = normalize(r.scores, norm)
        self.texts = texts

    def scores(self, method: str, weights: np.ndarray, rrf_k: float) -> np.ndarray:
        """Fused score of each document (aligned with ``docids``). Runs with weight 0 must be removed before."""
        present, weights = self.present, weights[:, None]
        if method == "rrf":
            contrib = weights / (rrf_k + self.ranks)
        elif method == "borda":
            contrib = weights * (len(self.docids) - self.ranks + 1)
        else:
            contrib = weights * self.values
        if method == "combmax":
            return np.where(present, contrib, -np.inf).max(axis=0)
        contrib = np.where(present, contrib, 0.0)
        if len(contrib) > 2:
            # Sorting each document's contributions first makes the sum independent of the order of the runs, so
            # documents with the same contributions from different runs tie exactly (floating-point addition is not
            # associative; with two runs it is still commutative, so no sort is needed).
            contrib = np.sort(contrib, axis=0)
        total = contrib.sum(axis=0)
        if method == "combmnz":
            return total * present.sum(axis=0)
        if method == "combanz":
            return total / present.sum(axis=0)
        return total

    def ranking(self, scores: np.ndarray, top: int | None) -> Ranking:
        docids = self.docids
        if top is not None and len(scores) > top:
            keep = _top_indices(docids, scores, top)
        else:
            keep = trec_order(docids, scores)
        ids = docids[keep].tolist()
        texts = [self.texts[d] for d in ids] if ids and all(d in self.texts for d in ids) else None
        return Ranking.trusted(self.qid, ids, np.ascontiguousarray(scores[keep], dtype=np.float64), texts)

    def drop_runs(self, keep: np.ndarray) -> "_QueryInput":
        """A view without the runs not in ``keep`` (a boolean mask); documents only they held disappear."""
        out = _QueryInput.__new__(_QueryInput)
        columns = self.present[keep].any(axis=0)
        out.qid, out.texts = self.qid, self.texts
        out.docids = self.docids[columns]
        out.ranks, out.values, out.present = (a[keep][:, columns] for a in (self.ranks, self.values, self.present))
        return out


def _top_indices(docids: np.ndarray, scores: np.ndarray, top: int) -> np.ndarray:
    """Indices of the first ``top`` documents in trec_eval order, without sorting them all."""
    kth = np.partition(scores, len(scores) - top)[len(scores) - top]
    candidates = np.flatnonzero(scores >= kth)  # every document that can be in the top, ties at the cut included
    order = trec_order(docids[candidates], scores[candidates])[:top]
    return candidates[order]


# --- many queries -----------------------------------------------------------------------------------------------
def _query_ids(runs: list, queries: Iterable[str] | None) -> list[str]:
    if queries is not None:
        return [q.qid if isinstance(q, Query) else str(q) for q in queries]
    seen: dict[str, None] = {}
    for run in runs:
        for qid in run:
            seen.setdefault(str(qid), None)
    return list(seen)


def _inputs(runs: list, qids: list[str], norm: str | None, depth: int | None) -> list[_QueryInput]:
    return [_QueryInput(qid, [_as_ranking(run.get(qid), qid) for run in runs], norm, depth) for qid in qids]


def fuse_runs(
    runs: Sequence[Run] | Mapping[str, Run],
    method: str = "rrf",
    *,
    weights: Sequence[float] | Mapping[str, float] | None = None,
    rrf_k: float = DEFAULT_RRF_K,
    norm: str | None = None,
    depth: int | None = None,
    top: int | None = None,
    queries: Iterable[str | Query] | None = None,
    name: str | None = None,
) -> Run:
    """Fuse runs (a list of :class:`Run` or ``{name: run}``; plain ``{qid: {docid: score}}`` dicts work too)
    with ``method`` (see the module docstring). ``weights``: one per run (a list, or ``{name: weight}``).

    Every query of any run gets a fused ranking, or exactly ``queries`` when given (a query no run holds gets
    an empty ranking). Each document's text is kept when every document of the fused ranking has one.
    """
    norm = _check_method(method, norm)
    rrf_k = _check_rrf_k(rrf_k)
    depth, top = positive_int("depth", depth, optional=True), positive_int("top", top, optional=True)
    names, items = _named(runs)
    w = _check_weights(weights, names)
    keep = w > 0
    items = [r for r, k in zip(items, keep) if k]
    qids = _query_ids(items, queries)
    out = Run(name=name or f"{method}({', '.join(n for n, k in zip(names, keep) if k)})")
    for inp in _inputs(items, qids, norm, depth):
        out[inp.qid] = inp.ranking(inp.scores(method, w[keep], rrf_k), top)
    return out


# --- pipeline stages --------------------------------------------------------------------------------------------
class Precomputed(Stage):
    """A stage that returns a fixed run (restricted to the queries asked for), to fuse an external run with the
    project's own stages: ``fuse([bm25 % 100 >> reranker, Precomputed(read_run("rankgpt.trec"))])``."""

    def __init__(self, run: Run | Mapping, name: str | None = None):
        self.fixed = run
        self.name = name or getattr(run, "name", None) or "precomputed"

    def transform(self, queries, run):
        out = Run(name=self.name)
        for q in queries:
            ranking = _as_ranking(self.fixed.get(q.qid), q.qid)
            out[q.qid] = ranking if ranking is not None else Ranking(q.qid, [], [])
        return out


class Fuse(Stage):
    """Runs several stages on the same input and fuses their outputs (:func:`fuse_runs` options).

    With retrievers it is hybrid retrieval (``Fuse([bm25, dense], "rrf")``); with rerankers placed after a
    retriever it is an ensemble of rerankers over the same candidates (``bm25 % 100 >> Fuse([ce, monot5])``).
    Runs and ``{qid: {docid: score}}`` dicts among ``stages`` are wrapped in :class:`Precomputed`.
    """

    def __init__(
        self,
        stages: Sequence[Stage | Run | Mapping],
        method: str = "rrf",
        *,
        weights: Sequence[float] | None = None,
        rrf_k: float = DEFAULT_RRF_K,
        norm: str | None = None,
        depth: int | None = None,
        top: int | None = None,
        name: str | None = None,
    ):
        if isinstance(weights, Mapping):
            raise TypeError("Fuse takes weights as a list, one per stage in order (stage names need not be unique)")
        stages = [s if isinstance(s, Stage) else Precomputed(s) for s in stages]
        if not stages:
            raise ValueError("Fuse needs at least one stage, got none")
        self.stages, self.method = stages, method
        self.options = dict(weights=weights, rrf_k=rrf_k, norm=norm, depth=depth, top=top)
        # Check everything now rather than after the (possibly slow) stages have run.
        _check_method(method, norm)
        _check_rrf_k(rrf_k)
        positive_int("depth", depth, optional=True), positive_int("top", top, optional=True)
        _check_weights(weights, [str(s) for s in stages])
        self._name = name

    def transform(self, queries, run):
        runs = [Run(apply(stage, queries, run), name=f"{stage}#{i + 1}") for i, stage in enumerate(self.stages)]
        return fuse_runs(runs, self.method, queries=[q.qid for q in queries], name=str(self), **self.options)

    def __str__(self):
        if self._name:
            return self._name
        options = "".join(
            f", {k}={v!r}" for k, v in self.options.items()
            if v is not None and not (k == "rrf_k" and (v == DEFAULT_RRF_K or self.method != "rrf"))
        )
        return f"fuse([{', '.join(map(str, self.stages))}], {self.method!r}{options})"


def ensemble(rerankers: Sequence[Reranker], method: str = "rrf", **options) -> Fuse:
    """An ensemble of rerankers: each reranks the same candidates, and their lists are fused.
    ``bm25 % 100 >> ensemble([cross_encoder, BM25Reranker()], "rrf")``. Options are :class:`Fuse`'s."""
    rerankers = list(rerankers)
    for r in rerankers:
        if not isinstance(r, Reranker):
            raise TypeError(
                f"ensemble() takes rerankers; got {type(r).__name__} {r}. To fuse retrievers or runs use fuse()"
            )
    if len(rerankers) < 2:
        raise ValueError(f"an ensemble needs at least two rerankers, got {len(rerankers)}")
    return Fuse(rerankers, method, **options)


def fuse(items, method: str = "rrf", **options):
    """Fuse runs, or build a fusion stage.

    ``fuse([run_a, run_b], "rrf")`` returns the fused :class:`Run` (:func:`fuse_runs`); when any item is a
    pipeline stage, ``fuse([bm25, dense], "rrf")`` returns a :class:`Fuse` stage (runs among the items are
    fixed inputs), to use in a pipeline: ``fuse([bm25, dense]) % 100 >> reranker``.
    """
    if isinstance(items, Run):
        return fuse_runs(items, method, **options)  # raises: one run is not something to fuse
    if isinstance(items, Mapping):
        if any(isinstance(v, Stage) for v in items.values()):
            raise TypeError("to fuse stages pass them as a list; a {name: run} dict is for runs")
        return fuse_runs(items, method, **options)
    items = list(items)
    if any(isinstance(i, Stage) for i in items):
        return Fuse(items, method, **options)
    return fuse_runs(items, method, **options)


# --- learning weights and RRF's k -------------------------------------------------------------------------------
@dataclass
class FusionSetting:
    """Everything needed to redo a fusion: method, normalisation, weights (one per run, in order), RRF's k and
    the input depth, plus how it was learned. ``apply(runs)`` fuses new runs; ``save``/``load`` use JSON."""

    method: str
    weights: list[float]
    runs: list[str]
    norm: str | None = None
    rrf_k: float = DEFAULT_RRF_K
    depth: int | None = None
    learned: dict = field(default_factory=dict)

    def apply(self, runs, *, top: int | None = None, queries=None, name: str | None = None) -> Run:
        names, items = _named(runs)
        if len(items) != len(self.runs):
            raise ValueError(
                f"this fusion setting was learned for {len(self.runs)} runs {self.runs}; got {len(items)} runs {names}"
            )
        return fuse_runs(items, self.method, weights=self.weights, rrf_k=self.rrf_k, norm=self.norm,
                         depth=self.depth, top=top, queries=queries, name=name)

    def describe(self) -> str:
        weights = ", ".join(f"{n}={w:g}" for n, w in zip(self.runs, self.weights))
        parts = [f"method={self.method}"]
        if self.norm is not None:
            parts.append(f"norm={self.norm}")
        if self.method == "rrf":
            parts.append(f"rrf_k={self.rrf_k:g}")
        if self.depth is not None:
            parts.append(f"depth={self.depth}")
        parts.append(f"weights: {weights}")
        text = "; ".join(parts)
        if self.learned:
            ln = self.learned
            text += (f"\nlearned on {ln['train_queries']} training queries: {ln['metric']} {ln['value']:.4f} "
                     f"(uniform weights{', rrf_k=60' if self.method == 'rrf' else ''}: {ln['default_value']:.4f}; "
                     f"{ln['grid_points']} settings tried)")
        return text

    def to_dict(self) -> dict:
        return {"format": SETTING_FORMAT, "version": 1, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FusionSetting":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not a fusion setting (not JSON: {e})") from None
        if not isinstance(data, dict) or data.get("format") != SETTING_FORMAT:
            raise ValueError(f"{path} is not a rankwise fusion setting (no \"format\": \"{SETTING_FORMAT}\")")
        data = {k: v for k, v in data.items() if k not in ("format", "version")}
        setting = cls(**data)
        _check_method(setting.method, setting.norm)
        _check_weights(setting.weights, setting.runs)
        return setting


def weight_grid(n_runs: int, step: float = 0.1) -> list[tuple[float, ...]]:
    """Every weighting of ``n_runs`` runs with weights that are multiples of ``step`` summing to 1 (the
    simplex grid: scaling all weights changes no fused ranking, so only their ratios matter)."""
    if n_runs < 1:
        raise ValueError(f"need at least one run, got {n_runs}")
    steps = round(1 / step)
    if steps < 1 or not math.isclose(steps * step, 1.0):
        raise ValueError(f"weight step must divide 1 (0.5, 0.25, 0.1, 0.05, …), got {step!r}")
    points = math.comb(steps + n_runs - 1, n_runs - 1)
    if points > MAX_GRID_POINTS:
        raise ValueError(
            f"a weight step of {step} over {n_runs} runs makes {points:,} weightings; use a larger step "
            "or pass weight_grid explicitly"
        )
    grid = []
    for cut in itertools.combinations(range(steps + n_runs - 1), n_runs - 1):  # stars and bars
        bounds = (-1,) + cut + (steps + n_runs - 1,)
        grid.append(tuple(round((bounds[i + 1] - bounds[i] - 1) / steps, 10) for i in range(n_runs)))
    return grid


_CUT_METRIC = re.compile(r"^(?:ndcg_cut|P|recall|map_cut|success|recip_rank_cut|relative_P)_(\d+)$")


def _evaluation_depth(key: str) -> int | None:
    """How much of a fused ranking the metric ``key`` looks at (ndcg_cut_10: 10), None when it needs all of it."""
    m = _CUT_METRIC.match(key)
    return int(m.group(1)) if m else None


def learn_fusion(
    runs: Sequence[Run] | Mapping[str, Run],
    qrels: Qrels | Mapping[str, Mapping[str, int]],
    method: str = "rrf",
    *,
    metric: str = "ndcg_cut_10",
    norm: str | None = None,
    depth: int | None = None,
    learn_weights: bool = True,
    weight_step: float = 0.1,
    weights: Sequence[Sequence[float]] | None = None,
    rrf_k_grid: Sequence[float] | None = DEFAULT_RRF_K_GRID,
    relevance_level: int = 1,
    progress: Callable[[str], None] | None = None,
) -> FusionSetting:
    """Choose the fusion weights (and RRF's k) that maximise ``metric`` on the queries judged in ``qrels``.

    Only those queries are used: every other query of the runs is dropped before anything is computed, so
    test queries cannot influence the setting (pass training judgments only). The search is exhaustive over a
    grid: weightings on the simplex with ``weight_step`` (or the explicit ``weights`` list), times ``rrf_k_grid``
    for RRF (``None`` keeps k = 60). ``learn_weights=False`` keeps equal weights. Among settings with the same
    training value the one nearest equal weights, then nearest k = 60, wins, so ties never pick an extreme.
    """
    from rankwise.evaluate import evaluate
    from rankwise.evaluate.metrics import metric_key

    norm = _check_method(method, norm)
    depth = positive_int("depth", depth, optional=True)
    key = metric_key(metric)  # one number per query, e.g. "nDCG@10" -> "ndcg_cut_10"
    names, items = _named(runs)
    judged = {str(q) for q in qrels}
    train = [qid for qid in _query_ids(items, None) if qid in judged]
    if not train:
        raise ValueError(
            f"none of the runs' queries is judged in the training qrels ({len(judged)} queries); "
            "are the qrels from the same collection as the runs?"
        )
    train_qrels = {qid: qrels[qid] for qid in train}
    n = len(items)
    if weights is not None:
        grid = [tuple(float(x) for x in w) for w in weights]
        for w in grid:
            _check_weights(w, names)
    elif learn_weights and n > 1:
        grid = weight_grid(n, weight_step)
    else:
        grid = [tuple([1.0 / n] * n)]
    ks = [DEFAULT_RRF_K] if method != "rrf" or not rrf_k_grid else [_check_rrf_k(k) for k in rrf_k_grid]
    cut = _evaluation_depth(key)
    inputs = _inputs(items, train, norm, depth)
    uniform = np.full(n, 1.0 / n)

    def value(w: tuple[float, ...], k: float) -> float:
        w = np.asarray(w)
        keep = w > 0
        run = Run(name="candidate")
        for inp in inputs:
            part = inp if keep.all() else inp.drop_runs(keep)
            run[inp.qid] = part.ranking(part.scores(method, w[keep], k), cut)
        result = evaluate(run, train_qrels, [key], relevance_level=relevance_level, complete=True)
        return float(result.aggregate[key])

    import warnings

    best, best_key = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "judged query without relevant documents" once per grid point
        default_value = value(tuple(uniform), DEFAULT_RRF_K)
        for i, k in enumerate(ks):
            for w in grid:
                v = value(w, k)
                rank = (v, -float(np.abs(np.asarray(w) / np.sum(w) - uniform).sum()), -abs(k - DEFAULT_RRF_K))
                if best_key is None or rank > best_key:
                    best, best_key = (w, k), rank
            if progress is not None:
                progress(f"rrf_k {k:g} ({i + 1}/{len(ks)}): best {metric} so far {best_key[0]:.4f}")
    (w, k), v = best, best_key[0]
    total = float(sum(w))
    return FusionSetting(
        method=method,
        weights=[round(x / total, 10) for x in w],
        runs=names,
        norm=norm,
        rrf_k=k,
        depth=depth,
        learned={
            "metric": key,
            "value": v,
            "default_value": default_value,
            "train_queries": len(train),
            "relevance_level": relevance_level,
            "grid_points": len(grid) * len(ks),
            "rrf_k_grid": list(ks) if method == "rrf" else None,
            "weight_step": weight_step if weights is None and learn_weights and n > 1 else None,
            "train_query_ids": train,  # which queries the setting has seen: never evaluate it on them
        },
    )


# --- files (the CLI's `rankwise fuse`) --------------------------------------------------------------------------
def read_query_ids(path: str | Path) -> list[str]:
    """Query ids from a file: the first column of each non-empty line (a list of ids, a topics TSV, a BEIR
    qrels TSV with its header, or TREC qrels), without repeats."""
    from rankwise.io import open_text

    ids: dict[str, None] = {}
    with open_text(path) as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] != "query-id" and not fields[0].startswith("#"):
                ids.setdefault(fields[0], None)
    if not ids:
        raise ValueError(f"{path}: no query ids found (expected one per line, in the first column)")
    return list(ids)


def fuse_files(
    run_paths: Sequence[str | Path],
    output: str | Path,
    method: str = "rrf",
    *,
    weights: Sequence[float] | None = None,
    rrf_k: float | None = None,
    norm: str | None = None,
    depth: int | None = None,
    top: int | None = 1000,
    train_qrels: str | Path | None = None,
    train_queries: str | Path | None = None,
    metric: str = "ndcg_cut_10",
    relevance_level: int = 1,
    rrf_k_grid: Sequence[float] | None = DEFAULT_RRF_K_GRID,
    weight_step: float = 0.1,
    setting: str | Path | None = None,
    save_setting: str | Path | None = None,
    keep_train_queries: bool = False,
    run_tag: str | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    info: dict | None = None,
) -> tuple[Run, FusionSetting]:
    """Fuse TREC run files into ``output`` (what ``rankwise fuse`` does); returns the fused run and the setting.
    With ``info`` (the command and its options) the run's settings sidecar is written too, with the setting used.

    Three ways to get the setting: given (``weights``, ``rrf_k``, ``norm``), learned on ``train_qrels`` (optionally
    only on the ids in ``train_queries``), or loaded from a saved ``setting`` JSON. A learned setting is logged
    and saved (to ``save_setting``, default ``OUTPUT.fusion.json``); the training queries are left out of the
    output unless ``keep_train_queries`` (a run scored on the queries it was tuned on overstates its quality).
    """
    from rankwise.io import read_qrels, read_run, write_run

    if len(run_paths) < 2:
        raise ValueError(f"fusion needs at least two runs, got {len(run_paths)}")
    if setting is not None and (train_qrels is not None or weights is not None):
        raise ValueError("give either a saved setting or weights/--train-qrels, not both")
    runs = {str(p): read_run(p) for p in run_paths}
    if len(runs) != len(run_paths):
        raise ValueError(f"the same run file is given twice: {list(map(str, run_paths))}")
    train_ids: set[str] = set()
    if setting is not None:
        chosen = FusionSetting.load(setting)
        train_ids = set(chosen.learned.get("train_query_ids", ()))
        log(f"fusion setting from {setting}: {chosen.describe()}")
    elif train_qrels is not None:
        if weights is not None:
            raise ValueError("weights are learned from --train-qrels; do not give them too")
        qrels = read_qrels(train_qrels)
        if train_queries is not None:
            wanted = set(read_query_ids(train_queries))
            qrels = Qrels({q: j for q, j in qrels.items() if q in wanted})
        chosen = learn_fusion(
            runs, qrels, method, metric=metric, norm=norm, depth=depth, weight_step=weight_step,
            rrf_k_grid=[rrf_k] if rrf_k is not None else rrf_k_grid, relevance_level=relevance_level, progress=log,
        )
        train_ids = {q for q in qrels}
        log(chosen.describe())
        saved = chosen.save(save_setting or f"{output}.fusion.json")
        log(f"setting saved to {saved} (reuse it with --setting {saved})")
    else:
        norm = _check_method(method, norm)
        chosen = FusionSetting(
            method=method, weights=_check_weights(weights, list(runs)).tolist(), runs=list(runs), norm=norm,
            rrf_k=DEFAULT_RRF_K if rrf_k is None else _check_rrf_k(rrf_k), depth=depth,
        )
        if save_setting is not None:
            chosen.save(save_setting)
    qids = [q for q in _query_ids(list(runs.values()), None) if keep_train_queries or q not in train_ids]
    left_out = len(_query_ids(list(runs.values()), None)) - len(qids)
    fused = chosen.apply(runs, top=top, queries=qids, name=run_tag or f"fuse-{chosen.method}")
    write_run(fused, output, info=None if info is None else {**info, "setting": chosen.to_dict()})
    note = f"; {left_out} training queries left out (--keep-train-queries keeps them)" if left_out else ""
    log(f"wrote {len(fused)} queries to {output}{note}")
    return fused, chosen


__all__ = [
    "METHODS", "NORMALIZATIONS", "DEFAULT_RRF_K", "DEFAULT_RRF_K_GRID",
    "normalize", "fuse_runs", "fuse", "Fuse", "Precomputed", "ensemble",
    "FusionSetting", "learn_fusion", "weight_grid", "fuse_files", "read_query_ids",
]
