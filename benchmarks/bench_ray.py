"""The same jobs on one process and on Ray with 1 and 2 workers: throughput ratios, Ray's overhead per unit and per
run, memory per actor. The numbers behind docs/scaling.md.

    python benchmarks/bench_ray.py [--data ../shared/data/scifact] [--docs 1024] [--queries 12] [--top-k 20]

Jobs (every one checked to give the single-process output exactly):

- dense encoding: the first --docs SciFact abstracts through the offline kit's bge-small-en-v1.5 int8 ONNX, shards
  of --shard-size documents;
- cross-encoder reranking: the top --top-k BM25 candidates of the first --queries SciFact test queries through the
  kit's ms-marco-MiniLM-L-12-v2 int8 ONNX, one query per unit;
- overhead: a reranker that does nothing (returns the first-stage scores) over --noop-units units: wall time per
  unit on Ray is Ray's cost of moving one unit (task dispatch, (de)serialisation, the driver's journal commit).

Single process runs with 1 thread and with every usable core; a Ray worker declares 1 CPU and runs 1 thread. On a
2-core machine "2 workers" can at best match "single process, 2 threads": the point is the ratio of Ray to the
in-process path at equal cores, and the fixed costs. Ratios measured in one run hold under load; absolute rates do
not. Prints the CPU model, core count, load average and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
from common import SHARED_DATA, cpu_model  # noqa: E402  (puts src/ on sys.path)

from rankwise.distributed import RayOptions, executing  # noqa: E402
from rankwise.io import read_beir  # noqa: E402
from rankwise.pipeline import Reranker  # noqa: E402


class NoopReranker(Reranker):
    """Keeps the first-stage scores: the work of a unit is nothing, so its wall time is the runner's."""

    name = "noop"

    def rerank_batch(self, queries, run):
        from rankwise.types import Run

        return Run((run[q.qid] for q in queries if q.qid in run), name=self.name)



def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def actor_memory(recipe_kind: str) -> dict:
    """RSS of a Ray actor process before and after loading the model (MB)."""
    import ray

    @ray.remote(num_cpus=1)
    class Probe:
        def rss(self):
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))

        def load(self, kind):
            os.environ["RANKWISE_THREADS"] = "1"
            if kind == "cross-encoder":
                from rankwise.rerank import get_reranker

                self.model = get_reranker("cross-encoder")
                self.model.score("what is rain", ["Rain is water falling from clouds."] * 8)
            else:
                from rankwise.retrieve.encoders import load_encoder

                self.model = load_encoder("BAAI/bge-small-en-v1.5")
                self.model.encode_documents(["Rain is water falling from clouds."] * 8)
            return self.rss()

    probe = Probe.remote()
    empty = ray.get(probe.rss.remote())
    loaded = ray.get(probe.load.remote(recipe_kind))
    ray.kill(probe)
    return {"idle_mb": round(empty), "with_model_mb": round(loaded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED_DATA / "scifact"))
    parser.add_argument("--docs", type=int, default=1024)
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--noop-units", type=int, default=200)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import ray

    from rankwise.onnx_runtime import usable_cpus
    from rankwise.rerank import get_reranker
    from rankwise.retrieve import BM25Retriever, DenseRetriever

    cores = usable_cpus()
    dataset = read_beir(args.data, "test")
    docs = dataset.documents[: args.docs]
    texts = [d.contents for d in docs]
    results: dict = {"cpu": cpu_model(), "cores": cores, "load_before": os.getloadavg()}
    print(f"{results['cpu']}, {cores} cores, load average {results['load_before'][0]:.1f}")

    # --- BM25: what sharding would have to beat -------------------------------------------------------------------
    bm25, t_index = timed(lambda: BM25Retriever().index(dataset.corpus))
    _, t_search = timed(lambda: bm25.search(dataset.queries, k=1000))
    results["bm25"] = {"docs": len(dataset.corpus), "index_s": t_index,
                       "search_ms_per_query": 1000 * t_search / len(dataset.queries)}
    print(f"BM25: indexed {len(dataset.corpus):,} docs in {t_index:.2f}s; "
          f"{results['bm25']['search_ms_per_query']:.2f} ms per query (top 1000)")

    # --- single process ------------------------------------------------------------------------------------------
    queries = dataset.queries[: args.queries]
    candidates = bm25.search(queries, k=args.top_k)
    pairs = candidates.num_candidates
    single = {}
    for threads in sorted({1, cores}):
        os.environ["RANKWISE_THREADS"] = str(threads)
        dense = DenseRetriever("BAAI/bge-small-en-v1.5", shard_size=args.shard_size)
        vectors, t_enc = timed(lambda: dense.encode_corpus(texts))
        reranker = get_reranker("cross-encoder")
        with executing("local"):
            reference, t_rr = timed(lambda: reranker(queries, candidates))
        single[threads] = {"encode_docs_per_s": len(texts) / t_enc, "rerank_pairs_per_s": pairs / t_rr}
        print(f"single process, {threads} thread(s): encode {len(texts) / t_enc:,.1f} docs/s; "
              f"rerank {pairs / t_rr:,.1f} pairs/s")
    os.environ.pop("RANKWISE_THREADS")
    results["single"] = single

    # --- Ray ----------------------------------------------------------------------------------------------------------
    from rankwise.distributed.ray_runner import connect

    _, t_init = timed(lambda: connect(RayOptions(init_options={"num_cpus": cores,
                                                               "object_store_memory": 150 * 1024 ** 2})))
    results["ray_init_s"] = t_init
    print(f"ray.init (local cluster, {cores} CPUs): {t_init:.1f}s")
    noop = NoopReranker()
    noop_queries = [q for q in dataset.queries if q.qid in bm25.search(dataset.queries[: args.noop_units], k=5)]
    noop_run = bm25.search(noop_queries, k=5)
    on_ray = {}
    for workers in sorted({1, cores}):
        options = RayOptions(workers=workers)
        dense = DenseRetriever("BAAI/bge-small-en-v1.5", shard_size=args.shard_size)
        with executing("ray", ray=options):
            remote_vectors, t_enc = timed(lambda: dense.encode_corpus(texts))
        assert np.array_equal(remote_vectors, vectors), "Ray's vectors differ from the single process's"
        with executing("ray", ray=options):
            out, t_rr = timed(lambda: get_reranker("cross-encoder")(queries, candidates))
        assert list(out) == list(reference), "Ray's query order differs"
        assert all(out[q] == reference[q] for q in reference), "Ray's scores differ from the single process's"
        arrivals: list[float] = []
        with executing("ray", ray=options) as execution:
            execution.on_unit = lambda key: arrivals.append(time.perf_counter())
            start = time.perf_counter()
            noop(noop_queries, noop_run)
        t_noop = arrivals[-1] - start
        startup = arrivals[0] - start  # pool start-up: actor processes, imports, first unit
        per_unit = (arrivals[-1] - arrivals[0]) / max(1, len(arrivals) - 1)
        on_ray[workers] = {"encode_docs_per_s": len(texts) / t_enc, "rerank_pairs_per_s": pairs / t_rr,
                           "noop_startup_s": startup, "noop_ms_per_unit": 1000 * per_unit, "noop_run_s": t_noop,
                           "encode_s": t_enc, "rerank_s": t_rr}
        print(f"Ray, {workers} worker(s): encode {len(texts) / t_enc:,.1f} docs/s ({t_enc:.1f}s); rerank "
              f"{pairs / t_rr:,.1f} pairs/s ({t_rr:.1f}s); no-op: first of {len(noop_queries)} units after "
              f"{startup:.1f}s (pool start-up), then {1000 * per_unit:.1f} ms per unit")
    results["ray"] = on_ray
    results["actor_memory"] = {kind: actor_memory(kind) for kind in ("dense", "cross-encoder")}
    print(f"memory per actor (RSS): {json.dumps(results['actor_memory'])}")
    ray.shutdown()

    one = single[1]
    print("\nratios (Ray / single process, 1 thread each per worker):")
    for workers, r in on_ray.items():
        print(f"  {workers} worker(s): encode x{r['encode_docs_per_s'] / one['encode_docs_per_s']:.2f}, "
              f"rerank x{r['rerank_pairs_per_s'] / one['rerank_pairs_per_s']:.2f}")
    if cores in single and cores != 1:
        print(f"  single process with {cores} threads: encode "
              f"x{single[cores]['encode_docs_per_s'] / one['encode_docs_per_s']:.2f}, rerank "
              f"x{single[cores]['rerank_pairs_per_s'] / one['rerank_pairs_per_s']:.2f}")
    results["load_after"] = os.getloadavg()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average after: {results['load_after'][0]:.1f}; driver peak RSS {results['peak_rss_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
