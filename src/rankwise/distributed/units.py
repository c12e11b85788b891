"""Units of work: how a long step is cut into pieces that a journal records and a Ray actor pool runs.

A *task* says what one unit computes — by calling the library's own functions, never a copy of them — and how its
result becomes a journal record and back. Two tasks exist:

- :class:`EncodeTask`: a shard of a corpus (``shard_size`` consecutive documents) through a dense encoder
  (``Encoder.encode_documents``) or a SPLADE encoder (``SpladeEncoder.encode``);
- :class:`RerankTask`: a group of ``unit_size`` queries through ``Reranker.rerank_batch``.

Every backend runs the same units through the same task, and every result goes through ``dump`` and ``load`` (a
lossless round trip: float32 vectors as ``.npy`` bytes, float64 scores as JSON ``repr`` floats), so a run on one
process, a run on Ray and a run resumed from a journal all assemble the same bytes.

A task carries a :class:`Recipe` — how to build its model in another process (a Ray actor loads it once) — and,
when the caller already holds the model in this process, the model itself for local runs.
"""
from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any, Callable, Sequence

import numpy as np

from rankwise.types import Query, Ranking, Run


class Recipe:
    """``factory(*args, **kwargs)``: how to build a model or stage in another process. Picklable when the factory
    is a module-level function or class and the arguments are plain data."""

    def __init__(self, factory: Callable[..., Any], *args, **kwargs):
        self.factory, self.args, self.kwargs = factory, args, kwargs

    def __call__(self, **overrides) -> Any:
        return self.factory(*self.args, **{**self.kwargs, **overrides})

    def __repr__(self) -> str:
        name = getattr(self.factory, "__qualname__", repr(self.factory))
        return f"Recipe({name}, {self.args!r}, {self.kwargs!r})"


def _identity(obj):
    return obj


def recipe_of(obj: Any, what: str) -> Recipe:
    """How to rebuild ``obj`` elsewhere: its ``recipe`` attribute (set by :func:`rankwise.rerank.get_reranker` and
    the retrievers' encoders), else the object itself when it pickles (models without open sessions: BM25, stand-in
    judges)."""
    recipe = getattr(obj, "recipe", None)
    if isinstance(recipe, Recipe):
        return recipe
    try:
        import cloudpickle
    except ImportError:  # Ray ships its own copy
        from ray import cloudpickle
    try:
        cloudpickle.dumps(obj)
    except Exception as e:  # noqa: BLE001 - any pickling failure means the same thing here
        fix = ("build it by name with rankwise.rerank.get_reranker(NAME, ...) so that each worker can load its own "
               "copy" if what == "reranker" else "give it in a form that pickles, or run without Ray")
        raise ValueError(f"{what} {obj!r:.80} cannot be sent to Ray workers (it holds {type(e).__name__}: "
                         f"{str(e)[:80]}); {fix}") from None
    return Recipe(_identity, obj)


# --- results as journal records -----------------------------------------------------------------------------------
def pack_arrays(**arrays: np.ndarray) -> bytes:
    """Arrays as ``.npz`` bytes (no pickle): exact, and what a journal payload holds."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


class EncodeTask:
    """One shard of documents -> its vectors (dense: float32 matrix; SPLADE: CSR matrix)."""

    def __init__(self, kind: str, recipe: Recipe, encoder=None):
        if kind not in ("dense", "splade"):
            raise ValueError(f"kind must be 'dense' or 'splade', got {kind!r}")
        self.kind, self.recipe, self.local = kind, recipe, encoder

    def __getstate__(self):  # the loaded encoder stays in this process
        return {"kind": self.kind, "recipe": self.recipe, "local": None}

    def build(self):
        return self.local if self.local is not None else self.recipe()

    def compute(self, encoder, texts: Sequence[str]):
        if self.kind == "dense":
            return encoder.encode_documents(list(texts))
        return encoder.encode(list(texts), desc="splade encode documents")

    def dump(self, result) -> tuple[Any, bytes]:
        if self.kind == "dense":
            return None, pack_arrays(vectors=np.asarray(result, dtype=np.float32))
        csr = result.tocsr()
        return None, pack_arrays(data=csr.data, indices=csr.indices, indptr=csr.indptr,
                                 shape=np.asarray(csr.shape, dtype=np.int64))

    def load(self, value, payload: bytes, texts):
        arrays = unpack_arrays(payload)
        if self.kind == "dense":
            return arrays["vectors"]
        import scipy.sparse as sp

        return sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"]))


class RerankTask:
    """A group of queries with their candidates -> their reranked rankings (and, for LLM rerankers, the cost
    records of their calls). ``endpoints``: OpenAI-compatible URLs serving the same model; unit ``i`` goes to
    ``endpoints[i % len(endpoints)]`` (an LLM reranker is rebuilt per endpoint with ``llm=URL``)."""

    def __init__(self, recipe: Recipe, reranker=None, endpoints: Sequence[str] | None = None):
        self.recipe, self.local = recipe, reranker
        self.endpoints = list(endpoints or [])

    def __getstate__(self):
        return {"recipe": self.recipe, "local": None, "endpoints": self.endpoints}

    def build(self):
        if self.endpoints:
            return _EndpointPool(self.recipe, self.endpoints, self.local)
        return self.local if self.local is not None else self.recipe()

    def compute(self, reranker, unit: tuple[int, list[Query], Run]):
        index, queries, run = unit
        if isinstance(reranker, _EndpointPool):
            reranker = reranker.get(index)
        costs = getattr(reranker, "costs", None)
        if costs is not None:
            costs.clear()
        out = reranker.rerank_batch(queries, run)
        return out, cost_state(costs)

    def dump(self, result) -> tuple[Any, None]:
        out, costs = result
        rankings = [[qid, r.docids, r.scores.tolist()] for qid, r in out.items()]
        return {"rankings": rankings, "costs": costs}, None

    def load(self, value, payload, unit: tuple[int, list[Query], Run]):
        _, queries, run = unit
        rankings = []
        for qid, docids, scores in value["rankings"]:
            texts = None
            source = run.get(qid)
            if source is not None and source.texts is not None:
                by_id = dict(zip(source.docids, source.texts))
                texts = [by_id[d] for d in docids] if all(d in by_id for d in docids) else None
            # Stored in the order the reranker returned: trec_eval order, kept as it is.
            rankings.append(Ranking.trusted(qid, list(docids), np.asarray(scores, dtype=np.float64), texts))
        return rankings, value["costs"]


class _EndpointPool:
    """One reranker per endpoint, built on first use."""

    def __init__(self, recipe: Recipe, endpoints: list[str], first=None):
        self.recipe, self.endpoints = recipe, endpoints
        self.rerankers = {0: first} if first is not None else {}

    def get(self, index: int):
        slot = index % len(self.endpoints)
        if slot not in self.rerankers:
            self.rerankers[slot] = self.recipe(llm=self.endpoints[slot])
        return self.rerankers[slot]


def cost_state(costs) -> dict | None:
    if costs is None:
        return None
    return {"records": [asdict(r) for r in costs.records], "query_seconds": dict(costs.query_seconds),
            "truncated": dict(costs.truncated)}


def merge_costs(target, states: Sequence[dict | None]) -> None:
    """Add the cost records of units (as :class:`RerankTask` returns them) to a reranker's ``CostLog``."""
    from rankwise.rerank.llm.records import CallRecord

    for state in states:
        if not state:
            continue
        target.records.extend(CallRecord(**r) for r in state["records"])
        for qid, seconds in state["query_seconds"].items():
            target.query_seconds[qid] = target.query_seconds.get(qid, 0.0) + seconds
        for qid, n in state["truncated"].items():
            target.truncated[qid] += n


# --- cutting work into units ----------------------------------------------------------------------------------------
def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + shard_size, n)) for start in range(0, n, shard_size)]


def rerank_units(queries: Sequence[Query], run: Run, unit_size: int) -> list[tuple[str, tuple[int, list[Query], Run]]]:
    """(journal key, unit) per group of ``unit_size`` queries that have candidates, in query order."""
    with_candidates = [q for q in dict((q.qid, q) for q in queries).values() if run.get(q.qid)]
    units = []
    for i, start in enumerate(range(0, len(with_candidates), unit_size)):
        group = with_candidates[start:start + unit_size]
        key = "rerank/" + "\x1f".join(q.qid for q in group)
        units.append((key, (i, group, Run(run[q.qid] for q in group))))
    return units



__all__ = ["Recipe", "recipe_of", "EncodeTask", "RerankTask", "merge_costs", "pack_arrays", "unpack_arrays",
           "shard_bounds", "rerank_units", "cost_state"]
