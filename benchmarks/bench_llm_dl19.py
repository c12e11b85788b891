"""Every LLM reranking strategy end to end with a real model on DL19 BM25 candidates: nDCG@10, calls, tokens and
seconds per query (the table in docs/llm_rerankers.md).

    python benchmarks/bench_llm_dl19.py [--queries 10] [--top 20] [--llm HuggingFaceTB/SmolLM2-135M-Instruct]
                                        [--only llm:first llm:icr] [--json results.json] [--threads N]
                                        [--runs DIR]
    python benchmarks/bench_llm_dl19.py --report a.json b.json    # merge runs into one table, with p-values

Queries are the first ``--queries`` of DL19's 43 (file order); each strategy reranks their BM25 top-``--top``. The
model is the offline kit's SmolLM2-135M-Instruct unless ``--llm`` names another (a URL runs over HTTP). SmolLM2 is far
too small to rerank well: the table shows that every method runs end to end and what it costs, not how good the
methods are (the stand-in-judge tests prove the algorithms). Seconds are wall-clock on this machine.

``--json`` is rewritten after every strategy (with each query's nDCG@10), and ``--runs`` keeps every reranked run, so
that a long run cut short keeps what it finished and strategies can be run in separate processes and merged.
``--report`` merges such files into one table (in the order above) with a paired t-test of each strategy against
the BM25 order on the same queries, Holm-corrected over the strategies.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from common import SHARED_DATA  # noqa: E402  (puts src/ on sys.path)

DATA = SHARED_DATA / "dl19"

# name -> options used for the table (chosen so that 2 CPU cores finish in minutes; the docs state them)
CONFIGS = {
    "llm:pointwise yes-no": ("llm:pointwise", {"method": "yes-no"}),
    "llm:pointwise fine-grained": ("llm:pointwise", {"method": "fine-grained"}),
    "llm:pointwise likelihood": ("llm:pointwise", {"method": "likelihood"}),
    "llm:pairwise heapsort k=10": ("llm:pairwise", {"method": "heapsort", "k": 10}),
    "llm:pairwise sliding k=2": ("llm:pairwise", {"method": "sliding", "passes": 2}),
    "llm:setwise heapsort c=4 k=10": ("llm:setwise", {"method": "heapsort", "set_size": 4, "k": 10}),
    "llm:setwise bubble c=4 k=3": ("llm:setwise", {"method": "bubble", "set_size": 4, "passes": 3}),
    "llm:listwise w=10 s=5": ("llm:listwise", {"window": 10, "step": 5}),
    "llm:first w=10 s=5": ("llm:first", {"window": 10, "step": 5}),
    "llm:full-list": ("llm:full-list", {"window": 10, "step": 5}),
    "llm:insertrank w=10 s=5": ("llm:insertrank", {"window": 10, "step": 5, "score_name": "BM25"}),
    "llm:icr": ("llm:icr", {}),
    "llm:reasoning bubble c=4 k=1": ("llm:reasoning", {"method": "bubble", "set_size": 4, "passes": 1,
                                                       "reasoning_tokens": 128}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10, help="first N DL19 queries (default 10; 43 = all)")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip this many queries first (to split a strategy's queries across processes)")
    parser.add_argument("--top", type=int, default=20, help="BM25 candidates reranked per query (default 20)")
    parser.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"a subset of: {', '.join(CONFIGS)}")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--runs", help="write each reranked run here as a TREC run file")
    parser.add_argument("--report", nargs="+", metavar="JSON", help="print the table of earlier --json files")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    if args.queries < 1 or args.offset < 0 or args.top < 1:
        parser.error(f"--queries and --top must be >= 1 and --offset >= 0; got {args.queries}, {args.top}, "
                     f"{args.offset}")
    selected = list(CONFIGS)
    if args.only:  # in the order given, so that cheap strategies can go first
        unknown = [o for o in args.only if o not in CONFIGS and all(o != n for n, _ in CONFIGS.values())]
        if unknown:
            parser.error(f"unknown --only {unknown}; choose from {list(CONFIGS)}")
        selected = [label for o in args.only for label in CONFIGS if o in (label, CONFIGS[label][0])]

    from rankwise.evaluate import evaluate
    from rankwise.io import read_candidates, read_qrels, write_run
    from rankwise.rerank.llm import get_llm, make_reranker
    from rankwise.types import Qrels, Run

    if not DATA.exists():
        print(f"{DATA} not found: this benchmark needs ../shared/data/dl19", file=sys.stderr)
        return 1
    queries, run = read_candidates(DATA / "bm25_top100.json")
    qrels_all = read_qrels(DATA / "qrels.txt")
    judged = [q for q in queries if q.qid in qrels_all]
    if args.offset >= len(judged):
        parser.error(f"--offset {args.offset}: DL19 has only {len(judged)} judged queries")
    queries = judged[args.offset: args.offset + args.queries]
    qrels = Qrels({q.qid: qrels_all[q.qid] for q in queries})
    top = Run((run[q.qid].top(args.top) for q in queries), name="bm25")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    llm = get_llm(args.llm)
    print(f"# {args.llm}: loaded in {time.perf_counter() - start:.1f}s; {len(queries)} DL19 queries, BM25 top-{args.top}",
          flush=True)

    def ndcg(r) -> tuple[float, dict[str, float]]:
        with warnings.catch_warnings():  # a partial run lacks the queries still to come
            warnings.simplefilter("ignore")
            result = evaluate(r, qrels, ["ndcg_cut_10"])
        return result.aggregate["ndcg_cut_10"], result.per_query["ndcg_cut_10"]

    def save(rows) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps({"llm": args.llm, "queries": len(queries), "top": args.top,
                                                   "threads": args.threads, "rows": rows}, indent=1))

    def summarize(label, options, costs, reranked) -> dict:
        means, totals = costs.means(), costs.totals()
        value, per_query = ndcg(reranked)
        return {"strategy": label, "options": options, "queries": len(reranked), "ndcg@10": value,
                "per_query": per_query, "calls": means["calls"], "prompt_tokens": means["prompt_tokens"],
                "completion_tokens": means["completion_tokens"], "forward_passes": means["forward_passes"],
                "seconds": means["seconds"], "repaired": int(totals["repaired"]), "fallback": int(totals["fallback"])}

    if args.runs:
        Path(args.runs).mkdir(parents=True, exist_ok=True)
    value, per_query = ndcg(top)
    rows = [{"strategy": "BM25 (input order)", "ndcg@10": value, "per_query": per_query}]
    header = ("| strategy | nDCG@10 | calls/q | prompt tok/q | compl tok/q | passes/q | s/q | repaired | fallback |\n"
              "|---|---|---|---|---|---|---|---|---|")
    print(header)
    print(f"| BM25 (input order) | {rows[0]['ndcg@10']:.4f} | 0 | 0 | 0 | 0 | 0 | 0 | 0 |", flush=True)
    for label in selected:
        name, options = CONFIGS[label]
        reranker = make_reranker(name, llm, **options)
        rows.append({"strategy": label, "options": options})
        rankings = []
        for query in queries:  # one query at a time, saved after each: a run cut short keeps what it finished
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rankings.append(reranker.rerank(query, top[query.qid]))
            reranked = Run(rankings, name=label)
            rows[-1] = row = summarize(label, options, reranker.costs, reranked)
            save(rows)
            if args.runs:
                path = Path(args.runs) / (label.replace(" ", "_").replace(":", "-") + ".run")
                write_run(reranked, path, tag=label.split()[0])
        print(f"| {label} | {row['ndcg@10']:.4f} | {row['calls']:.1f} | {row['prompt_tokens']:,.0f} | "
              f"{row['completion_tokens']:,.1f} | {row['forward_passes']:.1f} | {row['seconds']:.2f} | "
              f"{row['repaired']} | {row['fallback']} |", flush=True)
    save(rows)
    return 0


def merge(a: dict, b: dict) -> dict:
    """One row from two rows of the same strategy on disjoint queries (split with --offset)."""
    overlap = set(a["per_query"]) & set(b["per_query"])
    if overlap:
        raise SystemExit(f"{a['strategy']}: queries {sorted(overlap)} appear in two files; split with --offset")
    n, m = a["queries"], b["queries"]
    out = dict(a, queries=n + m, per_query={**a["per_query"], **b["per_query"]})
    for key in ("ndcg@10", "calls", "prompt_tokens", "completion_tokens", "forward_passes", "seconds"):
        out[key] = (a[key] * n + b[key] * m) / (n + m)
    for key in ("repaired", "fallback"):
        out[key] = a[key] + b[key]
    return out


def report(paths: list[str]) -> int:
    """One table from several ``--json`` files: rows in CONFIGS order, each tested against BM25 on its queries."""
    from rankwise.evaluate.significance import holm, paired_ttest

    rows: dict[str, dict] = {}
    bm25 = {"per_query": {}}
    settings = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        setting = {"llm": data["llm"], "top": data["top"]}
        if settings and setting != settings:
            raise SystemExit(f"{path}: ran {setting}, the files before it {settings}; only runs of the same model "
                             "and candidate depth make one table")
        settings = setting
        for row in data["rows"]:
            if row["strategy"].startswith("BM25"):
                bm25["per_query"].update(row["per_query"])
            elif "per_query" in row:
                rows[row["strategy"]] = merge(rows[row["strategy"]], row) if row["strategy"] in rows else row
    if not bm25["per_query"]:
        print("no BM25 row in the files given", file=sys.stderr)
        return 1
    ordered = [rows[label] for label in CONFIGS if label in rows]
    tests = [paired_ttest(r["per_query"], {q: bm25["per_query"][q] for q in r["per_query"]}) for r in ordered]
    adjusted = holm([t.pvalue for t in tests]) if tests else []
    print(f"| strategy | queries | nDCG@10 | BM25 on them | p (Holm) | calls/q | prompt tok/q | compl tok/q | "
          f"passes/q | s/q | repaired | fallback |\n|{'---|' * 12}")
    for row, test, p in zip(ordered, tests, adjusted):
        base = sum(bm25["per_query"][q] for q in row["per_query"]) / len(row["per_query"])
        mark = "" if p >= 0.05 else (" ▲" if test.mean_difference > 0 else " ▼")
        print(f"| {row['strategy']} | {row['queries']} | {row['ndcg@10']:.4f}{mark} | {base:.4f} | {p:.3f} | "
              f"{row['calls']:.1f} | {row['prompt_tokens']:,.0f} | {row['completion_tokens']:,.1f} | "
              f"{row['forward_passes']:.1f} | {row['seconds']:.2f} | {row['repaired']} | {row['fallback']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
