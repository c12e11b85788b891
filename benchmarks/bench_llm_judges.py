"""The algorithms of LLM reranking with stand-in judges on DL19: what each strategy reaches and costs when the judge
is perfect, and when it errs with a set probability (seeded), on the real BM25 candidates and judgments.

    python benchmarks/bench_llm_judges.py [--top 20] [--error-rates 0 0.1 0.3] [--seeds 3]

A perfect judge shows each algorithm's ceiling on these candidates (the ideal reordering of the top-``--top``); a
noisy one (each answer wrong with probability p: a shuffled ranking, a random choice, random label scores) shows how
each algorithm tolerates errors. Calls are per query. No model runs: this takes seconds.
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from common import SHARED_DATA  # noqa: E402  (puts src/ on sys.path)

DATA = SHARED_DATA / "dl19"

CONFIGS = {
    "pointwise yes-no": ("llm:pointwise", {"method": "yes-no"}),
    "pointwise fine-grained": ("llm:pointwise", {"method": "fine-grained"}),
    "pairwise allpairs": ("llm:pairwise", {"method": "allpairs"}),
    "pairwise heapsort k=10": ("llm:pairwise", {"method": "heapsort", "k": 10}),
    "pairwise sliding k=10": ("llm:pairwise", {"method": "sliding", "passes": 10}),
    "setwise heapsort c=4 k=10": ("llm:setwise", {"method": "heapsort", "set_size": 4, "k": 10}),
    "setwise bubble c=4 k=10": ("llm:setwise", {"method": "bubble", "set_size": 4, "passes": 10}),
    "listwise w=10 s=5": ("llm:listwise", {"window": 10, "step": 5}),
    "listwise w=10 s=5, 2 passes": ("llm:listwise", {"window": 10, "step": 5, "passes": 2}),
    "first w=10 s=5": ("llm:first", {"window": 10, "step": 5}),
    "full-list": ("llm:full-list", {}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="LLM reranking algorithms with stand-in judges on DL19")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--error-rates", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--seeds", type=int, default=3, help="noisy runs averaged per error rate")
    args = parser.parse_args(argv)

    from rankwise.evaluate import evaluate
    from rankwise.io import read_candidates, read_qrels
    from rankwise.rerank.llm import make_reranker
    from rankwise.testing import NoisyJudge, OracleJudge
    from rankwise.types import Run

    if not DATA.exists():
        print(f"{DATA} not found: this benchmark needs ../shared/data/dl19", file=sys.stderr)
        return 1
    queries, run = read_candidates(DATA / "bm25_top100.json")
    qrels = read_qrels(DATA / "qrels.txt")
    queries = [q for q in queries if q.qid in qrels]
    top = Run((run[q.qid].top(args.top) for q in queries), name="bm25")

    def ndcg(r) -> float:
        return evaluate(r, qrels, ["ndcg_cut_10"]).aggregate["ndcg_cut_10"]

    print(f"DL19, {len(queries)} queries, BM25 top-{args.top}: BM25 nDCG@10 {ndcg(top):.4f}")
    rates = " | ".join(f"p={p:g}" for p in args.error_rates)
    print(f"\n| strategy | calls/q | {rates} |\n|---|---|" + "---|" * len(args.error_rates))
    for label, (name, options) in CONFIGS.items():
        cells, calls = [], None
        for p in args.error_rates:
            values = []
            for seed in range(1 if p == 0 else args.seeds):
                judge = (OracleJudge(qrels, queries, top) if p == 0
                         else NoisyJudge(qrels, queries, top, error_rate=p, seed=seed))
                reranker = make_reranker(name, judge, **options)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    values.append(ndcg(reranker(queries, top)))
                if calls is None:
                    calls = reranker.costs.means()["calls"]
            cells.append(f"{np.mean(values):.4f}")
        print(f"| {label} | {calls:.1f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
