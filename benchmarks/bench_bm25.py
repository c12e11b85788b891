"""BM25 on SciFact: rankwise vs bm25s used directly vs rank-bm25, measured in the same run.

    python benchmarks/bench_bm25.py [--data ../shared/data/scifact] [--k 1000] [--repeat 3] [--rank-bm25-queries 100]

All three use the same parameters (k1 0.9, b 0.4) and the same analysis (rankwise's default pattern, Lucene's
English stop words, Porter stemming). bm25s gets its own ``bm25s.tokenize`` with those settings, as a bm25s user
would write it; rank-bm25 gets rankwise's token lists (it has no tokenizer) and its own BM25Okapi formula.
Index time = tokenizing the corpus + building the index. Search time = tokenizing the queries + retrieving the
top k (rankwise also builds sorted Rankings with document ids and texts). Times are the best of --repeat runs,
one thread each. rank-bm25 scores every document in Python for every query, so it is timed on the first
--rank-bm25-queries queries and its queries/second extrapolated; its nDCG@10 is computed on all test queries.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bm25s  # noqa: E402
import numpy as np
import Stemmer  # noqa: E402
from common import SHARED_DATA, best_of, machine, ndcg10, record  # noqa: E402  (puts src/ on sys.path)

from rankwise.io import read_beir, read_queries_jsonl  # noqa: E402
from rankwise.retrieve import BM25Retriever, Tokenizer  # noqa: E402
from rankwise.retrieve.tokenize import DEFAULT_TOKEN_PATTERN  # noqa: E402

K1, B = 0.9, 0.4


def main() -> None:
    default_data = SHARED_DATA / "scifact"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data, help="BEIR SciFact folder")
    parser.add_argument("--k", type=int, default=1000, help="documents retrieved per query")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (best counts)")
    parser.add_argument("--queries", choices=["all", "test"], default="all",
                        help="time all 1,109 queries or the 300 test queries (nDCG@10 always on test)")
    parser.add_argument("--rank-bm25-queries", type=int, default=100, help="queries timed for rank-bm25")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} not found: pass --data or set RANKWISE_SHARED_DATA")
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        sys.exit("rank-bm25 is not installed: pip install 'rankwise[bench]'")

    dataset = read_beir(args.data, split="test")
    queries = read_queries_jsonl(args.data / "queries.jsonl") if args.queries == "all" else dataset.queries
    docs = list(dataset.corpus.values())
    docids = [d.docid for d in docs]
    texts = [d.contents for d in docs]
    qtexts = [q.text for q in queries]
    print(machine())
    print(f"SciFact: {len(docs):,} documents, {len(queries):,} timed queries ({args.queries}), k={args.k}, "
          f"best of {args.repeat}, bm25s {bm25s.__version__}\n")
    rows = []

    # --- rankwise -------------------------------------------------------------------------------------------
    retriever, t_index = best_of(args.repeat, lambda: BM25Retriever(k1=K1, b=B).index(docs))
    run, t_search = best_of(args.repeat, lambda: retriever.search(queries, k=args.k))
    rows.append(("rankwise BM25Retriever", t_index, t_search, len(queries), ndcg10(run.to_dict(), dataset.qrels), ""))

    # --- bm25s directly, same analysis ------------------------------------------------------------------------
    stemmer = Stemmer.Stemmer("porter")

    def tok(strings):
        return bm25s.tokenize(strings, stopwords="en", stemmer=stemmer, token_pattern=DEFAULT_TOKEN_PATTERN,
                              show_progress=False)

    def bm25s_index():
        model = bm25s.BM25(k1=K1, b=B, method="lucene")
        model.index(tok(texts), show_progress=False)
        return model

    model, t_index = best_of(args.repeat, bm25s_index)
    (found, scores), t_search = best_of(
        args.repeat, lambda: model.retrieve(tok(qtexts), k=args.k, show_progress=False)
    )

    def to_run(found, scores):  # what a bm25s user writes to get {qid: {docid: score}} for evaluation
        return {q.qid: dict(zip([docids[i] for i in found[n].tolist()], scores[n].tolist()))
                for n, q in enumerate(queries)}

    bm25s_run, t_run = best_of(
        args.repeat, lambda: to_run(*model.retrieve(tok(qtexts), k=args.k, show_progress=False))
    )
    quality = ndcg10(bm25s_run, dataset.qrels)
    rows.append(("bm25s, index arrays", t_index, t_search, len(queries), quality, "bm25s.retrieve output as is"))
    rows.append(("bm25s, + docids", t_index, t_run, len(queries), quality, "plus mapping to {qid: {docid: score}}"))

    # --- rank-bm25 ------------------------------------------------------------------------------------------
    tokenizer = Tokenizer()
    okapi, t_index = best_of(1, lambda: BM25Okapi([tokenizer(t) for t in texts], k1=K1, b=B))
    n_timed = min(args.rank_bm25_queries, len(queries))

    def okapi_search(subset):
        out = {}
        for q in subset:
            s = okapi.get_scores(tokenizer(q.text))
            top = np.argsort(-s)[: args.k]
            out[q.qid] = {docids[i]: float(s[i]) for i in top if s[i] > 0}
        return out

    _, t_subset = best_of(1, lambda: okapi_search(queries[:n_timed]))
    okapi_run = okapi_search([q for q in dataset.queries])  # untimed: quality on all test queries
    note = f"timed on {n_timed} queries, extrapolated" if n_timed < len(queries) else ""
    rows.append(("rank-bm25 BM25Okapi", t_index, t_subset * len(queries) / n_timed, len(queries),
                 ndcg10(okapi_run, dataset.qrels), note))

    # --- report ---------------------------------------------------------------------------------------------
    print(f"{'system':<24}{'index s':>9}{'search s':>10}{'queries/s':>11}{'nDCG@10':>9}  note")
    for name, ti, ts, n, nd, note in rows:
        print(f"{name:<24}{ti:>9.2f}{ts:>10.2f}{n / ts:>11,.0f}{nd:>9.4f}  {note}")
    (_, ri, rs, *_), (_, bi, bs, *_), (_, _, bd, *_), (_, oi, os_, *_) = rows
    print(
        f"\nrankwise vs bm25s:     search throughput x{bs / rs:.2f} bm25s's raw index arrays, x{bd / rs:.2f} bm25s + "
        f"docids (queries/s ratio, >1 = rankwise faster); index time x{ri / bi:.2f}"
    )
    print("                       (rankwise's search returns Rankings: sorted in trec_eval order, non-matching"
          " documents dropped, with ids and texts)")
    print(f"rankwise vs rank-bm25: search {os_ / rs:.0f}x faster; index time x{ri / oi:.2f} (rank-bm25 only counts"
          " terms when indexing and scores every document at query time)")
    print("Reference: Pyserini BM25 flat on SciFact test nDCG@10 = 0.6789")
    n = len(queries)
    record(f"BM25 search, SciFact {n:,} queries, k={args.k}", f"{n / rs:,.0f} q/s vs bm25s raw arrays {n / bs:,.0f} q/s "
           f"(one thread each; nDCG@10 {rows[0][4]:.4f} = {rows[1][4]:.4f})", bs / rs,
           "≥ ×1.0 bm25s raw, ids in trec_eval order", bs / rs >= 1.0, "python benchmarks/bench_bm25.py")


if __name__ == "__main__":
    main()
