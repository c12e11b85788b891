"""Where and how the long steps of a pipeline run: in this process or on Ray, journalled or not.

An :class:`Execution` is made active with :func:`executing` (a context manager); while it is active,

- every reranker's ``transform`` (``bm25 % 100 >> reranker``, ``reranker(queries, run)``) runs its queries as units
  of ``unit_size`` queries, each through the reranker's own ``rerank_batch``;
- dense and SPLADE corpus encoding (``DenseRetriever.index``, ``SpladeRetriever.index``) runs shard by shard (it always
  does; the execution decides where).

Each unit is looked up in the journal first (done before a kill: its recorded result is used), else computed — here
or by a Ray actor pool — and committed to the journal before the run goes on. Without an active execution, encoding
runs its shards in this process without a journal, and rerankers take all queries in one ``rerank_batch`` call.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from rankwise.checks import positive_int
from rankwise.distributed.journal import Journal
from rankwise.distributed.units import (
    EncodeTask,
    Recipe,
    RerankTask,
    merge_costs,
    recipe_of,
    rerank_units,
    shard_bounds,
)
from rankwise.pipeline import Reranker
from rankwise.types import Query, Ranking, Run


@dataclass
class RayOptions:
    """How work runs on Ray.

    Args:
        address: ``None`` or ``"auto"``: join ``$RAY_ADDRESS`` when it is set, else start a local cluster (or use the
            one this process already started); otherwise a cluster address (``HOST:PORT``, ``ray://HOST:10001``).
        workers: actors in each pool (default: as many as the cluster's CPUs (GPUs when ``num_gpus``) allow).
        num_cpus, num_gpus: resources one actor declares (one model load per actor).
        units_per_task: units an actor takes per Ray Data batch (larger: less overhead, coarser journal commits).
        init_options: extra ``ray.init`` keyword arguments for a local cluster (``object_store_memory``…).
    """

    address: str | None = None
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    units_per_task: int = 1
    init_options: dict = field(default_factory=dict)


class Execution:
    """See the module docs. ``backend``: ``"local"`` or ``"ray"``; ``journal``: a :class:`Journal` or None."""

    def __init__(self, backend: str = "local", journal: Journal | None = None, ray: RayOptions | None = None,
                 unit_size: int = 1):
        if backend not in ("local", "ray"):
            raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
        self.backend, self.journal = backend, journal
        self.ray = ray or RayOptions()
        self.unit_size = positive_int("unit_size", unit_size, hint="queries per unit")
        self.computed = 0  # units computed (not read from the journal) by this execution
        self.reused = 0
        self.on_unit: Callable[[str], None] | None = None  # called with each computed unit's key, once committed
        self.steps = 0  # steps run so far: the n-th step's journal keys start with "n/", so two rerankers of one
        #                 pipeline (or two encoders) never read each other's units

    # --- the general step ---------------------------------------------------------------------------------------
    def map(self, task, units: Sequence[tuple[str, Any]]) -> list[Any]:
        """The results of ``units`` ((journal key, input) pairs), in their order."""
        journal = self.journal
        results: dict[str, Any] = {}
        pending = []
        for key, unit in units:
            if journal is not None and key in journal:
                results[key] = task.load(journal[key], journal.payload(key), unit)
                self.reused += 1
            else:
                pending.append((key, unit))

        def done(key: str, unit, value, payload) -> None:
            if journal is not None:
                journal.commit(key, value, payload)
            results[key] = task.load(value, payload, unit)
            self.computed += 1
            if self.on_unit is not None:
                self.on_unit(key)

        if pending:
            if self.backend == "ray":
                from rankwise.distributed.ray_runner import run_on_ray

                run_on_ray(task, pending, self.ray, done)
            else:
                worker = task.build()
                for key, unit in pending:
                    value, payload = task.dump(task.compute(worker, unit))
                    done(key, unit, value, payload)
        return [results[key] for key, _ in units]

    # --- the steps stages call ----------------------------------------------------------------------------------
    def rerank(self, reranker, queries: Sequence[Query], run: Run) -> Run:
        endpoints = getattr(reranker, "endpoints", None)
        deferred = isinstance(reranker, DeferredReranker)
        if deferred:
            recipe = reranker.recipe
        else:  # a local run builds nothing, unless other endpoints need their own copies
            recipe = recipe_of(reranker, "reranker") if self.backend == "ray" or endpoints else None
        task = RerankTask(recipe, None if deferred else reranker, endpoints)
        self.steps += 1
        units = [(f"{self.steps}/{reranker.name}/{key}", unit) for key, unit in
                 rerank_units(queries, run, self.unit_size)]
        found: dict[str, Ranking] = {}
        cost_states = []
        for rankings, costs in self.map(task, units):
            for ranking in rankings:
                found[ranking.qid] = ranking
            cost_states.append(costs)
        if getattr(reranker, "costs", None) is not None:
            reranker.costs.clear()
            merge_costs(reranker.costs, cost_states)
        order = dict.fromkeys(q.qid for q in queries)
        return Run((found.get(qid) or Ranking(qid, [], []) for qid in order), name=reranker.name)

    def encode(self, kind: str, encoder, texts: Sequence[str], shard_size: int, name: str) -> list[Any]:
        """Shard results (dense: float32 matrices; SPLADE: CSR matrices) in corpus order."""
        recipe = encoder_recipe(kind, encoder) if self.backend == "ray" else None
        task = EncodeTask(kind, recipe, encoder)
        self.steps += 1
        units = [(f"{self.steps}/encode/{kind}/{name}/{start}-{stop}", texts[start:stop])
                 for start, stop in shard_bounds(len(texts), shard_size)]
        return self.map(task, units)


class DeferredReranker(Reranker):
    """A reranker known by name and options, built only where it runs: in a Ray actor, or here on first local use
    (a driver that sends work to GPU workers never loads the model itself). Its ``costs`` gather the LLM cost
    records of all units."""

    def __init__(self, name: str, *, endpoints: Sequence[str] = (), **options):
        from rankwise.rerank import RERANKERS, get_reranker, reranker_for_model
        from rankwise.rerank.llm.records import CostLog

        if name not in RERANKERS:
            reranker_for_model(name)  # a name that is neither a reranker nor a model fails here, not in every actor
        self.name = name
        self.recipe = Recipe(get_reranker, name, **options)
        self.endpoints = list(endpoints)
        self.costs = CostLog(name) if name.startswith("llm:") else None

    def __repr__(self) -> str:
        return f"DeferredReranker({self.recipe!r})"

    def rerank_batch(self, queries, run):
        raise RuntimeError("a DeferredReranker runs under an active execution (rankwise.distributed.executing)")


def encoder_recipe(kind: str, encoder):
    """How a worker rebuilds a retriever's encoder: from its saved settings (what an index stores)."""
    config = encoder.config()
    if kind == "dense":
        from rankwise.retrieve.encoders import load_encoder

        return Recipe(load_encoder, config["model"], backend=config["backend"], settings=config["settings"],
                      batch_size=config["batch_size"])
    from rankwise.retrieve.splade import SpladeEncoder

    return Recipe(SpladeEncoder, config["model"], max_length=config["max_length"], batch_size=config["batch_size"])


_current: contextvars.ContextVar[Execution | None] = contextvars.ContextVar("rankwise_execution", default=None)
_LOCAL = Execution()


def current_execution() -> Execution | None:
    """The active execution, or None."""
    return _current.get()


def encode_in_shards(kind: str, encoder, texts: Sequence[str], shard_size: int, name: str) -> list[Any]:
    """What the retrievers call: shard results under the active execution (else in this process, no journal)."""
    return (_current.get() or _LOCAL).encode(kind, encoder, texts, shard_size, name)


@contextlib.contextmanager
def executing(backend: str = "local", *, journal: str | None = None, resume: bool = False,
              settings: dict | None = None, ray: RayOptions | None = None, unit_size: int = 1,
              ) -> Iterator[Execution]:
    """Make an :class:`Execution` active. With ``journal=PATH`` completed units are recorded there (``settings``
    identify the run; ``resume=True`` continues a journal left by a killed run). On success the journal stays open
    for the caller, who calls ``execution.journal.finish()`` once the output is written."""
    opened = Journal.open(journal, settings or {}, resume=resume) if journal is not None else None
    execution = Execution(backend, opened, ray, unit_size)
    token = _current.set(execution)
    try:
        yield execution
    finally:
        _current.reset(token)
        if opened is not None:
            opened.close()


__all__ = ["Execution", "RayOptions", "current_execution", "encode_in_shards", "executing"]
