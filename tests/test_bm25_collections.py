"""BM25 with default settings against published numbers on real collections (../shared/data; skipped when absent).

Measured (rankwise 0.1.0, bm25s 0.3.16, PyStemmer 3.1.0):
    SciFact test   nDCG@10 0.6776, R@100 0.9253   (Pyserini "flat" BM25: nDCG@10 0.6789)
    Vaswani        MAP 0.2858                      (Anserini BM25: 0.2856)
The small gap on SciFact most likely comes from Lucene storing document lengths lossily (one byte per norm)
and from the regular-expression approximation of Lucene's StandardTokenizer.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rankwise.evaluate import evaluate
from rankwise.io import read_beir, read_qrels, read_topics, read_trec_docs
from rankwise.retrieve import BM25Retriever


def mean_measure(run, qrels, measure: str) -> float:
    """trec_eval's value with -c: a judged query without results counts 0 instead of being left out."""
    return evaluate(run, qrels, [measure], complete=True)[measure]


@pytest.fixture(scope="module")
def scifact():
    return read_beir(shared_path("scifact"), split="test")


@pytest.fixture(scope="module")
def scifact_run(scifact):
    return BM25Retriever.from_dataset(scifact).search(scifact.queries, k=1000)


def test_scifact_ndcg_matches_pyserini(scifact, scifact_run):
    assert len(scifact.corpus) == 5183 and len(scifact.queries) == 300
    ndcg = mean_measure(scifact_run, scifact.qrels, "ndcg_cut_10")
    assert ndcg >= 0.670, f"SciFact nDCG@10 {ndcg:.4f} fell below 0.670 (Pyserini flat: 0.6789)"
    assert ndcg == pytest.approx(0.6789, abs=0.005), f"SciFact nDCG@10 {ndcg:.4f} drifted from Pyserini's 0.6789"


def test_scifact_rankings_carry_real_ids_and_texts(scifact, scifact_run):
    for ranking in scifact_run.values():
        assert 0 < len(ranking) <= 1000
        assert np.all(ranking.scores > 0)
        for docid, text in zip(ranking.docids[:5], ranking.texts[:5]):
            assert text == scifact.corpus[docid].contents


def test_vaswani_map_matches_anserini():
    folder = shared_path("vaswani")
    docs = read_trec_docs(folder / "doc-text.trec")
    queries = read_topics(folder / "query-text.trec")
    qrels = read_qrels(folder / "qrels")
    assert (len(docs), len(queries)) == (11429, 93)
    run = BM25Retriever().index(docs).search(queries, k=1000)
    map_ = mean_measure(run, qrels, "map")
    assert map_ >= 0.2856 - 0.01, f"Vaswani MAP {map_:.4f} is more than 0.01 below Anserini's 0.2856"


def test_mlqa_r_zh_unigrams_and_bigrams_beat_bigrams_only():
    """Chinese: every character plus overlapping pairs (the default) against Lucene CJKAnalyzer's pairs only.
    Measured values (docs/results.md, benchmarks/bench_cjk.py): 0.6667 and 0.6333; either moving means the CJK analysis changed."""
    from rankwise.retrieve import Tokenizer

    dataset = read_beir(shared_path("mlqa-r-zh"), split="test")
    assert (len(dataset.corpus), len(dataset.queries)) == (2322, 504)
    ndcg = {}
    for mode in ("unigram+bigram", "bigram"):
        run = BM25Retriever(tokenizer=Tokenizer(cjk=mode)).index(dataset.documents).search(dataset.queries, k=100)
        ndcg[mode] = mean_measure(run, dataset.qrels, "ndcg_cut_10")
    assert round(ndcg["unigram+bigram"], 4) == 0.6667
    assert round(ndcg["bigram"], 4) == 0.6333
    default = BM25Retriever().index(dataset.documents).search(dataset.queries, k=100)
    assert mean_measure(default, dataset.qrels, "ndcg_cut_10") == ndcg["unigram+bigram"]


def test_scifact_search_equals_bm25s_full_scores_sorted_in_trec_eval_order(scifact):
    """The batched sparse search against an oracle: bm25s's score of every document for the query (its own
    get_scores_from_ids), the positive ones sorted by score then document id descending — same documents, same
    float32 scores bit for bit, same order, for k = 1000 and at a cut (k = 10) where ties must break by id."""
    bm25 = BM25Retriever.from_dataset(scifact)
    queries = list(read_beir(shared_path("scifact"), split="train").queries) + list(scifact.queries)
    docids = np.asarray(bm25.docids)
    for k in (1000, 10):
        run = bm25.search(queries, k=k)
        for q in queries:
            scores = bm25.get_scores(q.text)
            hit = np.flatnonzero(scores > 0)
            order = sorted(hit.tolist(), key=lambda i: (scores[i], docids[i]), reverse=True)[:k]
            got = run.get(q.qid)
            assert (got.docids if got else []) == docids[order].tolist(), q.qid
            if got:
                assert np.array_equal(got.scores, scores[order]), q.qid
