"""BM25 on MLQA-R Chinese with the CJK analyses rankwise offers, and bm25s over the whole text cut into characters
and pairs (the DATA.md reference). Prints the table of docs/results.md.

    python benchmarks/bench_cjk.py
"""
from __future__ import annotations

import re

import bm25s
from common import SHARED_DATA

from rankwise.evaluate import evaluate
from rankwise.io import read_beir
from rankwise.retrieve import BM25Retriever, Tokenizer
from rankwise.types import Ranking, Run

MEASURES = ["ndcg_cut_10", "recip_rank", "recall_100"]


def characters_and_pairs_of_the_whole_text(text: str) -> list[str]:
    """bm25s-style: every run of letters/digits (Latin included) cut into characters and overlapping pairs."""
    terms: list[str] = []
    for run in re.findall(r"\w+", text.lower()):
        terms += list(run) + [run[i: i + 2] for i in range(len(run) - 1)]
    return terms


def main() -> None:
    folder = SHARED_DATA / "mlqa-r-zh"
    if not folder.exists():
        raise SystemExit(f"{folder} not found: this benchmark needs ../shared/data/mlqa-r-zh")
    dataset = read_beir(folder, "test")
    print(f"{dataset}; BM25 k1 0.9, b 0.4, top-100")
    print(f"{'CJK terms':60s} {'nDCG@10':>8s} {'MRR':>8s} {'R@100':>8s}")
    for mode in ("bigram", "unigram+bigram"):
        run = BM25Retriever(tokenizer=Tokenizer(cjk=mode)).index(dataset.documents).search(dataset.queries, k=100)
        values = evaluate(run, dataset.qrels, MEASURES).aggregate
        print(f"{'rankwise cjk=' + mode:60s} " + " ".join(f"{values[m]:8.4f}" for m in MEASURES))
    docids = list(dataset.corpus)
    index = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    index.index([characters_and_pairs_of_the_whole_text(dataset.corpus[d].contents) for d in docids],
                show_progress=False)
    found, scores = index.retrieve([characters_and_pairs_of_the_whole_text(q.text) for q in dataset.queries], k=100,
                                   show_progress=False)
    run = Run(Ranking(q.qid, [docids[i] for i in found[j]], scores[j]) for j, q in enumerate(dataset.queries))
    values = evaluate(run, dataset.qrels, MEASURES).aggregate
    print(f"{'bm25s, whole text as characters + pairs':60s} " + " ".join(f"{values[m]:8.4f}" for m in MEASURES))


if __name__ == "__main__":
    main()
