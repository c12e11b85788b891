"""LLM reranking speed, each comparison measured in the same run with the same model and windows:

1. FIRST (one forward pass per window, identifiers ranked by the first token's logits) against generating the
   permutation with the same prompt and window (the FIRST paper reports about half the latency);
2. ICR: forward passes and seconds per list, with the two passes sharing the passages' KV cache and without;
3. pointwise yes/no scoring with and without prefix reuse (the query's shared prompt prefix computed once, KV cache);
4. batched prompts (the engine's default) against one prompt per forward pass, pointwise and PRP all pairs.

    python benchmarks/bench_llm.py [--queries 5] [--top 20] [--window 20] [--step 10] [--threads N]
                                   [--only first icr pointwise batching]

Uses the offline kit's SmolLM2-135M-Instruct on DL19 BM25 candidates. Times are wall-clock; on a shared machine
they are noisy, so each comparison alternates its two sides query by query.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

from common import SHARED_DATA  # noqa: E402  (puts src/ on sys.path)

DATA = SHARED_DATA / "dl19"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="LLM reranking speed: FIRST vs generation, ICR, prefix reuse")
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--only", nargs="+", choices=["first", "icr", "pointwise", "batching"],
                        default=["first", "icr", "pointwise", "batching"],
                        help="run only these comparisons (default: all four)")
    args = parser.parse_args(argv)

    import torch

    from rankwise.io import read_candidates
    from rankwise.rerank.llm import (
        FirstReranker,
        ICRReranker,
        ListwiseReranker,
        LocalLLM,
        PointwiseReranker,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    if not DATA.exists():
        print(f"{DATA} not found: this benchmark needs ../shared/data/dl19", file=sys.stderr)
        return 1
    queries, run = read_candidates(DATA / "bm25_top100.json")
    queries = queries[: args.queries]
    tops = {q.qid: run[q.qid].top(args.top) for q in queries}
    llm = LocalLLM(args.llm)
    print(f"{args.llm} on {llm.device} ({torch.get_num_threads()} threads), {len(queries)} DL19 queries, "
          f"BM25 top-{args.top}, window {args.window}, step {args.step}")

    def timed(reranker, q) -> float:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reranker.rerank(q, tops[q.qid])
        return time.perf_counter() - start

    def compare(label_a, a, label_b, b):
        ta = tb = 0.0
        timed(a, queries[0]), timed(b, queries[0])  # warm-up (not counted)
        a.costs.clear(), b.costs.clear()
        for q in queries:  # alternate, so that load on a shared machine hits both sides alike
            ta += timed(a, q)
            tb += timed(b, q)
        n = len(queries)
        for label, r, t in ((label_a, a, ta), (label_b, b, tb)):
            m = r.costs.means()
            print(f"  {label:34s} {t / n:7.2f} s/query  calls {m['calls']:5.1f}  forward passes {m['forward_passes']:6.1f}"
                  f"  prompt tok {m['prompt_tokens']:7.0f}  completion tok {m['completion_tokens']:6.1f}"
                  f"  cached tok {m['cached_tokens']:6.0f}")
        return ta, tb

    if "first" in args.only:
        print("\n1. FIRST vs generating the permutation (same 'first' prompt, same windows)")
        generate = ListwiseReranker(llm, template="first", window=args.window, step=args.step)
        first = FirstReranker(llm, window=args.window, step=args.step)
        tg, tf = compare("generate the permutation", generate, "FIRST (single token)", first)
        print(f"  FIRST latency / generation latency = {tf / tg:.3f}  (FIRST paper: about 0.5)")

    plain_llm = LocalLLM(args.llm, prefix_reuse=False)
    if "icr" in args.only:
        print("\n2. ICR (attention from the query span; a content-free query calibrates): passages computed once, or "
              "twice")
        ts, tt = compare("ICR, shared passages", ICRReranker(llm), "ICR, two full passes", ICRReranker(plain_llm))
        print(f"  shared / two full passes = {ts / tt:.3f}")

    if "pointwise" in args.only:
        print("\n3. pointwise yes/no with and without prefix reuse (same batch size)")
        reuse = PointwiseReranker(llm, method="yes-no")
        plain = PointwiseReranker(plain_llm, method="yes-no")
        tr, tp = compare("with prefix reuse", reuse, "without prefix reuse", plain)
        print(f"  with reuse / without = {tr / tp:.3f}")

    if "batching" in args.only:
        batching(llm, LocalLLM(args.llm, batch_size=1, prefix_reuse=False), queries, run)
    return 0


def batching(batched_llm, single_llm, queries, run) -> None:
    """Pointwise yes/no (BM25 top 20) and PRP all pairs (top 8: 56 ordered pairs per query), the engine's default
    (length-sorted batches of 8, right padding, the query's shared prefix computed once) against one prompt per
    forward pass; prompts (calls) per second and whether the scores and rankings are the same."""
    import numpy as np
    from common import record

    from rankwise.rerank.llm import PairwiseReranker, PointwiseReranker

    print("\n4. batched prompts (default engine: batches of 8, length-sorted, prefix reuse) vs one prompt per pass")
    ratios = []
    for label, make, depth in (("pointwise yes/no, top 20", lambda e: PointwiseReranker(e, method="yes-no"), 20),
                               ("PRP all pairs, top 8", lambda e: PairwiseReranker(e, method="allpairs"), 8)):
        sides = {"batched": make(batched_llm), "one per pass": make(single_llm)}
        seconds = dict.fromkeys(sides, 0.0)
        outputs: dict[str, list] = {name: [] for name in sides}
        for name, reranker in sides.items():  # warm-up
            reranker.rerank(queries[0], run[queries[0].qid].top(depth))
            reranker.costs.clear()
        for q in queries:  # alternate, so that load on a shared machine falls on both alike
            for name, reranker in sides.items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    outputs[name].append(reranker.rerank(q, run[q.qid].top(depth)))
                seconds[name] += time.perf_counter() - start
        calls = {name: len(r.costs.records) for name, r in sides.items()}
        rate = {name: calls[name] / seconds[name] for name in sides}
        same_order = all(a.docids == b.docids for a, b in zip(*outputs.values()))
        diff = max(float(np.max(np.abs(a.scores - b.scores))) for a, b in zip(*outputs.values()))
        ratio = rate["batched"] / rate["one per pass"]
        ratios.append((label, ratio, same_order, diff, rate))
        print(f"  {label:26s} batched {rate['batched']:6.1f} calls/s, one per pass {rate['one per pass']:6.1f} "
              f"calls/s: x{ratio:.2f}; same rankings: {same_order}; max |score diff| {diff:.1e}")
    worst = min(ratios, key=lambda r: r[1])
    record("LLM pointwise / PRP all pairs, SmolLM2 local", "; ".join(
        f"{label}: {rate['batched']:.1f} vs {rate['one per pass']:.1f} calls/s (×{ratio:.2f}), "
        f"{'same rankings' if same else 'RANKINGS DIFFER'}, largest score difference {diff:.0e}"
        for label, ratio, same, diff, rate in ratios), worst[1],
        "≥ ×1.5 calls/s at equal scores", all(r[1] >= 1.5 and r[2] for r in ratios),
        f"python benchmarks/bench_llm.py --only batching --queries {len(queries)}")


if __name__ == "__main__":
    raise SystemExit(main())
