"""``rankwise demo``: the main job on its built-in default.

BM25 retrieves from the collection, the best available reranker reorders BM25's top-k, and each stage is
evaluated (with a paired significance test of the reranker against BM25) and timed.
"""
from __future__ import annotations

import sys
import time

from rankwise.datasets import load
from rankwise.rerank import best_available_reranker, get_reranker

DEMO_METRICS = ["ndcg_cut_10", "map_cut_100", "recall_100", "recip_rank"]


def run_demo(dataset_dir: str | None = None, split: str = "test", reranker: str | None = None, top_k: int = 100,
             out=sys.stdout) -> dict:
    """Run the demo and print its report; returns ``{stage: {metric: value, "seconds": s}}``."""
    from rankwise.evaluate import compare_runs
    from rankwise.retrieve.bm25 import BM25Retriever

    dataset = load(dataset_dir or "demo", split)
    if not dataset.qrels:
        raise ValueError(f"{dataset.path}: the demo needs judgments (qrels/{split}.tsv) to evaluate")
    print(f"collection: {dataset.name} — {len(dataset.corpus):,} documents, {len(dataset.queries):,} judged queries",
          file=out)

    start = time.perf_counter()
    bm25 = BM25Retriever().index(dataset.documents)
    first = bm25 % top_k
    first_run = first(dataset.queries)
    bm25_seconds = time.perf_counter() - start

    second_stage = get_reranker(reranker) if reranker else best_available_reranker()
    start = time.perf_counter()
    second_run = second_stage(dataset.queries, first_run)
    rerank_seconds = time.perf_counter() - start

    names = {f"BM25 top-{top_k}": first_run, f"{second_stage.name} reranker": second_run}
    table = compare_runs(names, dataset.qrels, DEMO_METRICS, test="ttest", correction="holm")
    print(table, file=out)
    print(f"\ntime: BM25 index + search {bm25_seconds:.2f}s; {second_stage.name} reranking of "
          f"{first_run.num_candidates:,} candidates {rerank_seconds:.2f}s", file=out)
    runs = table.to_dict()["runs"]
    return {
        name: {**{m: cell["value"] for m, cell in runs[name].items()}, "seconds": seconds}
        for name, seconds in zip(names, (bm25_seconds, rerank_seconds))
    }
