"""Run by test_ray.py in a process of its own (a process joins one Ray cluster): on a simulated two-node cluster
(ray.cluster_utils.Cluster), rerank the demo candidates with the cross-encoder on a pool of two actors spread over
both nodes, remove the worker node once a third of the units are back, and write the run. Prints one JSON line."""
from __future__ import annotations

import json
import sys
import time

import ray
from ray.cluster_utils import Cluster

from rankwise.distributed import RayOptions, executing
from rankwise.io import read_beir, read_run
from rankwise.io.trec import format_run
from rankwise.rerank import get_reranker


def main(candidates: str, dataset: str, output: str) -> None:
    store = 80 * 1024 ** 2
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": store,
                                                             "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1, object_store_memory=store)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    data = read_beir(dataset, "test")
    run = read_run(candidates).with_texts(data.corpus)
    queries = [q for q in data.queries if q.qid in run]
    reranker = get_reranker("cross-encoder")
    report = {"units": len(queries), "removed_after": None, "worker_was_busy": None}

    def remove_worker_once(key: str) -> None:
        if report["removed_after"] is None and execution.computed >= len(queries) // 3:
            free = ray._private.state.available_resources_per_node()
            report["worker_was_busy"] = free.get(worker.node_id, {}).get("CPU", 0) == 0
            cluster.remove_node(worker)
            report["removed_after"] = execution.computed

    start = time.perf_counter()
    with executing("ray", ray=RayOptions(workers=2)) as execution:
        execution.on_unit = remove_worker_once
        out = reranker(queries, run)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["computed"] = execution.computed
    report["nodes_alive"] = sum(n["Alive"] for n in ray.nodes())
    with open(output, "w", encoding="utf-8") as f:
        f.writelines(format_run(out, "rankwise-cross-encoder"))
    ray.shutdown()
    cluster.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
