"""LLM query rewriting before BM25 on SciFact and DL19: the table of docs/seed_methods.md.

    nice -n 10 python benchmarks/experiments_rewrite.py [--llm HuggingFaceTB/SmolLM2-135M-Instruct]
        [--only scifact,dl19] [--methods hyde,expand,rewrite] [--queries N] [--out /tmp/rankwise-rewrite]

- SciFact: BM25 over the 5,183 abstracts, 300 test queries; ``hyde`` uses HyDE's SciFact instruction.
- DL19: there is no MS MARCO corpus here, only each query's BM25 top-100 passages (../shared/data/dl19), so BM25
  runs over the union of those candidate passages (4,3xx passages) for the original and the rewritten queries
  alike; binary measures count grades >= 2 (trec_eval -l 2).

Every rewritten query is kept in --out/rewrites-<collection>-<method>.jsonl and read back on the next run (the LLM is
called only for queries not there yet), so an interrupted run resumes. Prints, per collection, nDCG@10 / R@100 (and
AP@100 on DL19) of each method against BM25 on the original queries, paired t-test with Holm correction, the number
of empty LLM answers (original query used) and the generation cost.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from common import SHARED_DATA  # noqa: E402  (puts src/ on sys.path)

from rankwise.evaluate import compare_runs  # noqa: E402
from rankwise.io import read_beir, read_candidates, read_qrels, write_run  # noqa: E402
from rankwise.retrieve import BM25Retriever  # noqa: E402
from rankwise.rewrite import QueryRewriter  # noqa: E402
from rankwise.types import Document, Query  # noqa: E402

TEMPLATES = {"scifact": {"hyde": "hyde-scifact"}, "dl19": {}}


def rewritten(rewriter: QueryRewriter, queries: list[Query], cache: Path, chunk: int = 16) -> tuple[list[Query], dict]:
    """The rewritten queries, from the cache file where present; new rewrites are appended to it as they come."""
    done: dict[str, dict] = {}
    if cache.is_file():
        for line in cache.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            done[record["qid"]] = record
    todo = [q for q in queries if q.qid not in done]
    start = time.perf_counter()
    with open(cache, "a", encoding="utf-8") as f:
        for i in range(0, len(todo), chunk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # empty answers are counted below
                rewriter.rewrite(todo[i: i + chunk])
            for q in todo[i: i + chunk]:
                done[q.qid] = {"qid": q.qid, **rewriter.records[q.qid]}
                f.write(json.dumps(done[q.qid], ensure_ascii=False) + "\n")
            f.flush()
            print(f"  {rewriter.template.name}: {min(i + chunk, len(todo))}/{len(todo)} queries rewritten "
                  f"({time.perf_counter() - start:.0f}s)", file=sys.stderr)
    cost = {"generated_now": len(todo), "seconds": time.perf_counter() - start, **rewriter.usage,
            "fallbacks": sum(1 for q in queries if done[q.qid]["fallback"])}
    return [Query(q.qid, done[q.qid]["query"], q.date) for q in queries], cost


def collection(name: str, data: Path, limit: int | None):
    if name == "scifact":
        dataset = read_beir(data / "scifact", "test")
        return dataset.corpus, dataset.queries[:limit], dataset.qrels, {}, ["ndcg_cut_10", "recall_100"]
    queries, candidates = read_candidates(data / "dl19" / "bm25_top100.json")
    corpus: dict[str, Document] = {}
    for ranking in candidates.values():
        for docid, text in zip(ranking.docids, ranking.texts):
            corpus.setdefault(docid, Document(docid, text))
    qrels = read_qrels(data / "dl19" / "qrels.txt")
    queries = [q for q in queries if q.qid in qrels][:limit]
    return corpus, queries, qrels, {"relevance_level": 2}, ["ndcg_cut_10", "map_cut_100", "recall_100"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--only", default="scifact,dl19")
    p.add_argument("--methods", default="hyde,expand,rewrite")
    p.add_argument("--queries", type=int, help="only the first N queries of each collection (a quick look)")
    p.add_argument("--out", type=Path, default=Path("/tmp/rankwise-rewrite"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    llm = None
    for name in args.only.split(","):
        corpus, queries, qrels, options, metrics = collection(name, args.data, args.queries)
        bm25 = BM25Retriever().index(corpus)
        runs = {"BM25": bm25.search(queries, k=100)}
        costs = {}
        for method in args.methods.split(","):
            template = TEMPLATES[name].get(method, method)
            if llm is None:
                from rankwise.rerank.llm.backends import get_llm

                llm = get_llm(args.llm)
            rewriter = QueryRewriter(llm, template)
            new, costs[template] = rewritten(rewriter, queries, args.out / f"rewrites-{name}-{template}.jsonl")
            runs[f"BM25 + {template}"] = bm25.search(new, k=100)
        for run_name, run in runs.items():
            write_run(run, args.out / f"{name}-{run_name.replace(' ', '').replace('+', '_')}.run")
        print(f"\n### {name}: {len(queries)} queries, BM25 over {len(corpus):,} documents, rewriting LLM {args.llm}\n")
        table = compare_runs(runs, qrels, metrics, baseline="BM25", test="ttest", correction="holm", **options)
        print(table.to_markdown())
        first = metrics[0]
        print(f"\nHolm-adjusted p ({first}): " + ", ".join(
            f"{r} {table.adjusted_pvalues[r][first]:.3g}" for r in table.runs if r != "BM25"))
        for template, cost in costs.items():
            print(f"- {template}: {cost['fallbacks']} empty answers (original query used); generated now "
                  f"{cost['generated_now']} in {cost['seconds']:.0f}s, {cost['completion_tokens']:,} tokens")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
