"""How fast is rankwise.evaluate on a large run, next to pytrec_eval used directly and ranx?

Generates a seeded synthetic run (default 5,000 queries × 1,000 documents) with graded qrels, evaluates it on
ndcg_cut_10, map, recall_100, recip_rank and P_10 with

* rankwise.evaluate on a Run (what a pipeline hands it), in one process and with n_jobs=2;
* rankwise.evaluate on a plain {qid: {docid: score}} dict;
* pytrec_eval.RelevanceEvaluator(...).evaluate(...) on that dict (the Run -> dict conversion timed apart);
* ranx.evaluate on the same dicts (numba compilation excluded: warmed up on a toy run first, timed apart),

checks that all agree, and prints the best of ``--repeats`` timings with ratios to rankwise. It also measures
whether pytrec_eval releases the GIL (two threads on two halves of the run against one thread on all of it).

    python benchmarks/bench_evaluate.py [--queries 5000] [--docs 1000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings

import numpy as np
import pytrec_eval
from common import SHARED_DATA, machine, record  # noqa: E402  (puts src/ on sys.path)

from rankwise.evaluate import evaluate
from rankwise.types import Ranking, Run

METRICS = ["ndcg_cut_10", "map", "recall_100", "recip_rank", "P_10"]
PYTREC_MEASURES = {"ndcg_cut.10", "map", "recall.100", "recip_rank", "P.10"}
RANX_METRICS = {"ndcg@10": "ndcg_cut_10", "map": "map", "recall@100": "recall_100", "mrr": "recip_rank",
                "precision@10": "P_10"}


def synthetic(num_queries: int, num_docs: int, seed: int) -> tuple[Run, dict[str, dict[str, int]]]:
    """Each query: 60 judged documents (grades 0-3), 40 of them retrieved, higher grades scoring higher on
    average; the rest of the ranking is unjudged filler. Scores are continuous, so no ties."""
    rng = np.random.default_rng(seed)
    pool = np.array([f"doc{i:07d}" for i in range(200_000)])
    run, qrels = [], {}
    for q in range(num_queries):
        qid = f"q{q}"
        picked = pool[rng.choice(len(pool), num_docs + 20, replace=False)]
        judged, grades = picked[:60], rng.choice(4, 60, p=[0.5, 0.25, 0.15, 0.1])
        qrels[qid] = {str(d): int(g) for d, g in zip(judged, grades)}
        docids = np.concatenate([judged[:40], picked[60 : 60 + num_docs - 40]])
        scores = rng.normal(0.0, 1.0, num_docs)
        scores[:40] += grades[:40] * 0.8
        run.append(Ranking(qid, docids.tolist(), scores))
    return Run(run, name="synthetic"), qrels


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def pytrec_means(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: statistics.fmean(v[m] for v in per_query.values()) for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ranx", action="store_true", help="skip ranx (for a machine without it)")
    args = parser.parse_args()

    start = time.perf_counter()
    run, qrels = synthetic(args.queries, args.docs, args.seed)
    print(f"synthetic run: {args.queries} queries x {args.docs} docs = {run.num_candidates:,} candidates, "
          f"{sum(map(len, qrels.values())):,} judgments (built in {time.perf_counter() - start:.1f} s); "
          f"{machine()}; best of {args.repeats}\n")
    warnings.simplefilter("ignore")

    rows: list[tuple[str, float]] = []
    t_rankwise, ours = best_of(args.repeats, lambda: evaluate(run, qrels, METRICS))
    rows.append(("rankwise.evaluate(Run)", t_rankwise))
    t, ours_parallel = best_of(args.repeats, lambda: evaluate(run, qrels, METRICS, n_jobs=2))
    rows.append(("rankwise.evaluate(Run, n_jobs=2)", t))

    t_convert, scores = best_of(args.repeats, run.to_dict)
    rows.append(("  Run.to_dict() alone", t_convert))
    t, ours_dict = best_of(args.repeats, lambda: evaluate(scores, qrels, METRICS))
    rows.append(("rankwise.evaluate(dict)", t))

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES)
    t_pytrec, direct = best_of(args.repeats, lambda: evaluator.evaluate(scores))
    rows.append(("pytrec_eval.evaluate(dict)", t_pytrec))
    rows.append(("pytrec_eval incl. Run.to_dict()", t_pytrec + t_convert))

    agree = {m: abs(ours.aggregate[m] - v) for m, v in pytrec_means(direct).items()}
    assert ours.per_query == ours_parallel.per_query == ours_dict.per_query, "rankwise paths disagree"
    assert all(ours.per_query[m][q] == direct[q][m] for m in METRICS for q in direct), "rankwise != pytrec_eval"

    ranx_note = ""
    if not args.no_ranx:
        import ranx

        start = time.perf_counter()  # numba compiles on first use: warm up on a toy run
        toy_q, toy_r = ranx.Qrels.from_dict({"q": {"d": 1}}), ranx.Run.from_dict({"q": {"d": 1.0, "e": 0.5}})
        ranx.evaluate(toy_q, toy_r, list(RANX_METRICS))
        ranx_note = f"(ranx's one-off numba compilation, not in the table: {time.perf_counter() - start:.1f} s)"

        def with_ranx():
            return ranx.evaluate(ranx.Qrels.from_dict(qrels), ranx.Run.from_dict(scores), list(RANX_METRICS))

        t_ranx, theirs = best_of(args.repeats, with_ranx)
        rows.append(("ranx.evaluate (incl. Qrels/Run.from_dict)", t_ranx))
        rq, rr = ranx.Qrels.from_dict(qrels), ranx.Run.from_dict(scores)
        t, _ = best_of(args.repeats, lambda: ranx.evaluate(rq, rr, list(RANX_METRICS)))
        rows.append(("  ranx.evaluate on ready ranx objects", t))
        for name, key in RANX_METRICS.items():
            agree[f"ranx {key}"] = abs(ours.aggregate[key] - theirs[name])

    width = max(len(name) for name, _ in rows)
    print(f"{'':{width}}  {'seconds':>8}  {'x rankwise':>10}")
    for name, seconds in rows:
        print(f"{name:{width}}  {seconds:8.2f}  {seconds / t_rankwise:10.2f}")
    if ranx_note:
        print(ranx_note)

    # Does pytrec_eval release the GIL? Two threads on two halves, against one call on everything.
    halves = [dict(list(scores.items())[i :: 2]) for i in range(2)]
    t_one, _ = best_of(1, lambda: evaluator.evaluate(scores))
    threads = [threading.Thread(target=evaluator.evaluate, args=(h,)) for h in halves]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t_two = time.perf_counter() - start
    print(f"\npytrec_eval with 2 threads: {t_two:.2f} s against {t_one:.2f} s in one "
          f"(speed-up {t_one / t_two:.2f}; ~1 means it holds the GIL, so rankwise splits work over processes)")

    print("\nagreement (largest |difference| of aggregates; rankwise and pytrec_eval per-query values are identical):")
    for name, diff in agree.items():
        print(f"  {name:<20} {diff:.2e}")
    assert all(d < 1e-9 for d in agree.values()), "the three implementations disagree"
    print("\nall agree:", ", ".join(f"{m}={ours.aggregate[m]:.4f}" for m in METRICS))
    ratio = (t_pytrec + t_convert) / t_rankwise
    print(f"\nrankwise handed pytrec_eval {kept_share(run, qrels):.1%} of the synthetic run's candidates (each ranking "
          "up to its last graded document)")
    real = real_run(args.repeats)
    record(f"evaluation, {args.queries:,} × {args.docs:,}, 5 measures, one core",
           f"{t_rankwise:.2f} s vs pytrec_eval {t_pytrec + t_convert:.2f} s incl. Run → dict ({t_pytrec:.2f} s "
           f"without); same values" + (f"; SciFact BM25 top-1000 run: ×{real:.2f}" if real else ""),
           ratio, "≥ ×1.0 pytrec_eval, same values", ratio >= 1.0, "python benchmarks/bench_evaluate.py")


def kept_share(run: Run, qrels) -> float:
    """The share of the candidates rankwise hands pytrec_eval for these measures: each ranking up to its last
    document with a non-zero grade (ties aside)."""
    kept = 0
    for qid, ranking in run.items():
        graded = {d for d, g in qrels.get(qid, {}).items() if g}
        flags = [d in graded for d in ranking.docids]
        kept += len(flags) - flags[::-1].index(True) if True in flags else 1
    return kept / run.num_candidates


def real_run(repeats: int) -> float | None:
    """The same comparison on a real run, where relevant documents sit near the top: BM25's top 1,000 for all
    1,109 SciFact queries against their train + test judgments. Returns pytrec_eval's time / rankwise's."""
    folder = SHARED_DATA / "scifact"
    if not folder.is_dir():
        print(f"\n({folder} not found: the real-run comparison is skipped)")
        return None
    from rankwise.io import read_beir, read_qrels, read_queries_jsonl
    from rankwise.retrieve import BM25Retriever

    dataset = read_beir(folder, "test")
    qrels = {**read_qrels(folder / "qrels" / "train.tsv"), **read_qrels(folder / "qrels" / "test.tsv")}
    run = BM25Retriever().index(dataset.corpus).search(read_queries_jsonl(folder / "queries.jsonl"), k=1000)
    run = Run(r for q, r in run.items() if q in qrels)
    t_ours, ours = best_of(repeats, lambda: evaluate(run, qrels, METRICS))
    t_convert, scores = best_of(repeats, run.to_dict)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES)
    t_theirs, direct = best_of(repeats, lambda: evaluator.evaluate(scores))
    assert all(ours.per_query[m][q] == direct[q][m] for m in METRICS for q in direct), "rankwise != pytrec_eval"
    print(f"\nreal run: SciFact BM25 top-1000, {len(run):,} queries, {run.num_candidates:,} candidates: rankwise "
          f"{t_ours:.3f} s, pytrec_eval {t_theirs:.3f} s + Run.to_dict() {t_convert:.3f} s "
          f"(×{(t_theirs + t_convert) / t_ours:.2f}; same values); rankwise handed pytrec_eval "
          f"{kept_share(run, qrels):.1%} of the candidates (each ranking up to its last graded document)")
    return (t_theirs + t_convert) / t_ours


if __name__ == "__main__":
    main()
