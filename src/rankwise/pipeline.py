"""Composable stages: retrievers, rerankers and the operators that join them.

Every stage maps ``(queries, run)`` to a new run. Operators follow PyTerrier's algebra:

- ``a >> b``   then: b reranks (or re-retrieves for) what a returned
- ``a % k``    cutoff: keep a's top-k per query
- ``a + b``    score sum: per query, a document's score is the sum of its scores in a and b
               (a document missing from one side contributes nothing from it)
- ``a | b``    union: the documents of both, a's ranking first, then b's unseen documents below it
- ``w * a``    scale a's raw scores by w (``0.3 * bm25 + 0.7 * dense`` = ``fuse(..., "combsum", norm="none",
               weights=[0.3, 0.7])``)

A stage runs over many queries in one call: ``stage(queries)`` or ``stage.run(dataset)``.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
from typing import Iterable, Sequence

import numpy as np

from rankwise.types import Dataset, Query, Ranking, Run


def as_queries(queries: Query | str | Iterable[Query | str] | Dataset) -> list[Query]:
    """Accept a Dataset, one query, a string, or a list of either; strings get qids "1", "2", …"""
    if isinstance(queries, Dataset):
        return list(queries.queries)
    if isinstance(queries, (Query, str)):
        queries = [queries]
    out = []
    for i, q in enumerate(queries, start=1):
        out.append(q if isinstance(q, Query) else Query(str(i), str(q)))
    return out


# While active (inside compare()), stage outputs are remembered per (stage, input run), so pipelines that share a
# prefix (`bm25 % 100` in several of them) compute it once. Keys hold the objects themselves: ids stay unique.
_shared_results: contextvars.ContextVar[dict | None] = contextvars.ContextVar("shared_results", default=None)


@contextlib.contextmanager
def shared_results():
    token = _shared_results.set({})
    try:
        yield
    finally:
        _shared_results.reset(token)


def apply(stage: "Stage", queries: Sequence[Query], run: Run | None) -> Run:
    """``stage.transform``, reusing an earlier result for the same stage and input inside :func:`shared_results`."""
    memo = _shared_results.get()
    if memo is None:
        return stage.transform(queries, run)
    key = (id(stage), id(run))
    if key not in memo:
        memo[key] = (stage, run, stage.transform(queries, run))
    return memo[key][2]


class Stage:
    """A step of a pipeline. Subclasses implement :meth:`transform`."""

    name: str = "stage"

    def transform(self, queries: Sequence[Query], run: Run | None) -> Run:
        raise NotImplementedError

    # --- running -------------------------------------------------------------------------------------------
    def __call__(self, queries, run: Run | None = None) -> Run:
        """Run the stage over many queries at once; returns a :class:`Run` named after the stage (a stage whose
        output is a subclass of Run, such as :class:`rankwise.rag.Answers`, keeps it)."""
        out = apply(self, as_queries(queries), run)
        if type(out) is not Run and isinstance(out, Run):
            out = copy.copy(out)
            out.name, out.meta = str(self), dict(out.meta)
            return out
        return Run(out, name=str(self))

    def run(self, dataset: Dataset | Sequence[Query], run: Run | None = None, *, backend: str | None = None,
            journal: str | None = None, resume: bool = False, settings: dict | None = None, ray=None,
            unit_size: int = 1) -> Run:
        """Run over every query of a dataset (or over the given queries).

        ``backend="local"`` or ``"ray"`` runs every reranker of the pipeline as units of ``unit_size`` queries, in
        this process or on a Ray actor pool (``ray``: :class:`rankwise.distributed.RayOptions`); the output is
        the same either way. ``journal=PATH`` records completed units (``settings``, a JSON-able dict, identifies
        the run); after a kill, ``resume=True`` continues from it. The journal is kept after success (a rerun with
        ``resume=True`` reads it back); delete it with :meth:`rankwise.distributed.Journal.finish` once the
        output is saved. Corpus encoding runs under the same backend when the retriever is indexed inside
        ``rankwise.distributed.executing(...)``. See docs/scaling.md."""
        queries = as_queries(dataset)
        if backend is None and journal is None and ray is None:
            return self(queries, run)
        from rankwise.distributed import executing

        with executing(backend or ("ray" if ray is not None else "local"), journal=journal, resume=resume,
                       settings=settings, ray=ray, unit_size=unit_size):
            return self(queries, run)

    # --- composition ---------------------------------------------------------------------------------------
    def __rshift__(self, other: "Stage") -> "Stage":
        return Then(self, other)

    def __mod__(self, k: int) -> "Stage":
        return Cutoff(self, k)

    def __add__(self, other: "Stage") -> "Stage":
        return ScoreSum(self, other)

    def __or__(self, other: "Stage") -> "Stage":
        return Union(self, other)

    def __rmul__(self, weight: float) -> "Stage":
        return Scaled(self, weight)

    def __mul__(self, weight: float) -> "Stage":
        return Scaled(self, weight)

    def __str__(self) -> str:
        return self.name


class Retriever(Stage):
    """A first-stage retriever: finds candidates for queries in its own index."""

    name = "retriever"
    default_k: int = 1000

    def search(self, queries: Sequence[Query], k: int = 1000) -> Run:
        raise NotImplementedError

    def transform(self, queries: Sequence[Query], run: Run | None) -> Run:
        return self.search(queries, k=self.default_k)


class Reranker(Stage):
    """Reorders a query's candidates. Subclasses implement :meth:`score` (one query's candidate texts ->
    scores) or override :meth:`rerank_batch` to batch across queries.

    Candidates must carry their texts (``Ranking.texts``); retrievers built from a corpus attach them, and
    ``Run.with_texts(corpus)`` attaches them to a run read from disk.
    """

    name = "reranker"

    def score(self, query: Query, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def rerank(self, query: Query | str, candidates: Ranking) -> Ranking:
        """One query: returns the candidates reordered by this reranker's scores."""
        query = query if isinstance(query, Query) else Query(candidates.qid, query)
        texts = require_texts(candidates, self)
        scores = np.asarray(self.score(query, texts), dtype=np.float64)
        return Ranking(candidates.qid, candidates.docids, scores, texts)

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        """Many queries in one call; queries without candidates get an empty ranking."""
        from rankwise.progress import progress

        out = Run(name=self.name)
        for q in progress(queries, desc=f"rerank ({self.name})", unit="q"):
            candidates = run.get(q.qid)
            out[q.qid] = self.rerank(q, candidates) if candidates else Ranking(q.qid, [], [])
        return out

    def transform(self, queries: Sequence[Query], run: Run | None) -> Run:
        if run is None:
            raise ValueError(
                f"{self.name} is a reranker: it needs candidates. Put a retriever before it "
                f"(e.g. `bm25 % 100 >> {self.name}`) or call it with a run: reranker(queries, run)"
            )
        from rankwise.distributed.execution import current_execution

        execution = current_execution()  # active under Stage.run(backend=...) and the CLI: units, journal, Ray
        if execution is not None:
            return execution.rerank(self, queries, run)
        return self.rerank_batch(queries, run)


def rerank_in_chunks(queries: Sequence[Query], run: Run, max_candidates: int, rerank_chunk, name: str) -> Run:
    """Batch reranking across queries: ``rerank_chunk(chunk, out)`` gets lists of (query, candidates) holding about
    ``max_candidates`` candidates and writes each query's ranking into ``out``. Queries without candidates get an
    empty ranking; the run keeps the queries' order."""
    out: dict[str, Ranking] = {}
    chunk: list[tuple[Query, Ranking]] = []
    size = 0
    for q in queries:
        candidates = run.get(q.qid)
        if not candidates:
            out[q.qid] = Ranking(q.qid, [], [])
            continue
        chunk.append((q, candidates))
        size += len(candidates)
        if size >= max_candidates:
            rerank_chunk(chunk, out)
            chunk, size = [], 0
    if chunk:
        rerank_chunk(chunk, out)
    return Run((out[qid] for qid in dict.fromkeys(q.qid for q in queries)), name=name)


def score_texts(reranker: Stage, requests: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
    """Scores of plain texts with any reranking stage: for each ``(query, texts)``, the scores of ``texts`` in the
    order given. All requests go through one call (as separate queries), so rerankers that batch across queries
    (the cross-encoder) batch them; used by the HTTP service and the LangChain / LlamaIndex adapters."""
    queries = [Query(str(i), query) for i, (query, _) in enumerate(requests)]
    run = Run(Ranking(str(i), [str(k) for k in range(len(texts))], np.zeros(len(texts)), list(texts), sort=False)
              for i, (_, texts) in enumerate(requests))
    out = reranker(queries, run)
    results = []
    for i, (_, texts) in enumerate(requests):
        ranking = out[str(i)]
        scores = np.full(len(texts), np.nan)
        scores[np.asarray(ranking.docids, dtype=np.int64)] = ranking.scores
        if np.isnan(scores).any():
            raise RuntimeError(f"{reranker} returned {len(ranking)} of the {len(texts)} documents it was given")
        results.append(scores)
    return results


def require_texts(candidates: Ranking, stage: Stage) -> list[str]:
    if candidates.texts is None:
        raise ValueError(
            f"{stage.name}: the candidates of query {candidates.qid!r} carry no document texts. "
            "Attach them with run.with_texts(dataset.corpus) (CLI: --dataset DIR), or retrieve from a corpus."
        )
    return candidates.texts


# --- operators ------------------------------------------------------------------------------------------------
class Then(Stage):
    def __init__(self, first: Stage, second: Stage):
        self.first, self.second = first, second

    def transform(self, queries, run):
        first = apply(self.first, queries, run)
        out = apply(self.second, queries, first)
        # What earlier stages recorded (Run.meta) goes on with the run.
        if getattr(first, "meta", None) and first.meta.keys() - out.meta.keys():
            out = Run(out, name=out.name) if type(out) is Run else copy.copy(out)  # a subclass (Answers) stays one
            out.meta = {**first.meta, **out.meta}
        return out

    def __str__(self):
        return f"{self.first} >> {self.second}"


class Cutoff(Stage):
    def __init__(self, stage: Stage, k: int):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"cutoff must be a positive integer, got {k!r}")
        self.stage, self.k = stage, k

    def transform(self, queries, run):
        # A retriever asked for only k candidates does less work than retrieving its default depth and cutting.
        if isinstance(self.stage, Retriever):
            return self.stage.search(queries, k=self.k)
        return apply(self.stage, queries, run).top(self.k)

    def __str__(self):
        return f"{self.stage} % {self.k}"


class Scaled(Stage):
    def __init__(self, stage: Stage, weight: float):
        self.stage, self.weight = stage, float(weight)

    def transform(self, queries, run):
        inner = apply(self.stage, queries, run)
        return Run(
            (Ranking(r.qid, r.docids, r.scores * self.weight, r.texts, sort=self.weight < 0) for r in inner.values()),
            name=inner.name,
        )

    def __str__(self):
        return f"{self.weight:g} * {self.stage}"


class ScoreSum(Stage):
    """``a + b``: CombSUM of raw scores, computed by :func:`rankwise.fuse.fuse_runs` (one implementation)."""

    def __init__(self, left: Stage, right: Stage):
        self.left, self.right = left, right

    def transform(self, queries, run):
        from rankwise.fuse import fuse_runs  # fuse builds on this module

        a, b = apply(self.left, queries, run), apply(self.right, queries, run)
        return fuse_runs([a, b], "combsum", norm="none", queries=queries, name=str(self))

    def __str__(self):
        return f"({self.left} + {self.right})"


class Union(Stage):
    def __init__(self, left: Stage, right: Stage):
        self.left, self.right = left, right

    def transform(self, queries, run):
        a, b = apply(self.left, queries, run), apply(self.right, queries, run)
        out = Run()
        for q in queries:
            ra, rb = a.get(q.qid), b.get(q.qid)
            # Ranks, not raw scores, decide the order: a's documents first, then b's documents not in a.
            docids = list(ra.docids) if ra else []
            seen = set(docids)
            docids += [d for d in (rb.docids if rb else []) if d not in seen]
            n = len(docids)
            texts_by_doc = {}
            for r in (rb, ra):
                if r is not None and r.texts is not None:
                    texts_by_doc.update(zip(r.docids, r.texts))
            texts = [texts_by_doc[d] for d in docids] if all(d in texts_by_doc for d in docids) and n else None
            out[q.qid] = Ranking(q.qid, docids, np.arange(n, 0, -1, dtype=np.float64), texts, sort=False)
        return out

    def __str__(self):
        return f"({self.left} | {self.right})"


def compare(
    pipelines: Sequence[Stage],
    dataset: Dataset,
    metrics: Sequence[str] = ("ndcg_cut_10", "map", "recall_100"),
    *,
    baseline: int | str = 0,
    names: Sequence[str] | None = None,
    test: str = "ttest",
    correction: str | None = "holm",
    alpha: float = 0.05,
    **eval_options,
):
    """Run each pipeline over the dataset's queries (shared prefixes run once) and compare them against the
    baseline with a paired significance test; returns the comparison table (see
    :func:`rankwise.evaluate.compare_runs`). ``baseline`` is an index into ``pipelines`` or a name."""
    from rankwise.evaluate import compare_runs

    if dataset.qrels is None:
        raise ValueError(f"{dataset.name}: compare needs judgments, and this dataset has no qrels")
    names = list(names) if names is not None else [str(p) for p in pipelines]
    if len(names) != len(pipelines) or len(set(names)) != len(names):
        raise ValueError(f"need one distinct name per pipeline, got {names}")
    runs: dict[str, Run] = {}
    queries = as_queries(dataset)
    with shared_results():
        for name, pipeline in zip(names, pipelines):
            runs[name] = Run(apply(pipeline, queries, None), name=name)
    baseline_name = names[baseline] if isinstance(baseline, int) else baseline
    return compare_runs(runs, dataset.qrels, list(metrics), baseline=baseline_name, test=test,
                        correction=correction, alpha=alpha, **eval_options)
