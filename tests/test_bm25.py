"""BM25Retriever on hand-made collections: exact Lucene BM25 scores, what a ranking holds, save/load, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rankwise.retrieve import BM25Retriever, Tokenizer
from rankwise.types import Dataset, Document, Query

PLAIN = Tokenizer(stemmer=None, stopwords=None)  # terms are the words themselves: easy to count by hand

DOCS = [
    Document("d1", "cat sat mat"),
    Document("d2", "cat cat dog"),
    Document("d3", "dog bird", title="Birds"),
]


def lucene_bm25(tf: int, df: int, n_docs: int, doc_len: int, avg_len: float, k1=0.9, b=0.4) -> float:
    """Lucene's BM25 (no (k1 + 1) factor in the numerator), written out from its definition."""
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * doc_len / avg_len))


@pytest.fixture(scope="module")
def bm25():
    return BM25Retriever(tokenizer=PLAIN).index(DOCS)


def test_scores_are_lucene_bm25(bm25):
    ranking = bm25.search([Query("q", "cat")])["q"]
    # Lengths 3, 3, 3 ("Birds dog bird": the title is indexed with the text); "cat" is in 2 of 3 documents.
    expected = {"d2": lucene_bm25(2, 2, 3, 3, 3.0), "d1": lucene_bm25(1, 2, 3, 3, 3.0)}
    assert ranking.docids == ["d2", "d1"]
    np.testing.assert_allclose(ranking.scores, [expected["d2"], expected["d1"]], rtol=1e-6)


def test_multi_term_query_sums_terms_and_counts_repeats(bm25):
    one = bm25.search([Query("q", "dog bird")])["q"].to_dict()
    avg = 3.0
    assert one["d3"] == pytest.approx(lucene_bm25(1, 2, 3, 3, avg) + lucene_bm25(1, 1, 3, 3, avg), rel=1e-6)
    twice = bm25.search([Query("q", "bird bird")])["q"].to_dict()
    assert twice["d3"] == pytest.approx(2 * lucene_bm25(1, 1, 3, 3, avg), rel=1e-6)


def test_k1_and_b_are_used():
    ranking = BM25Retriever(k1=1.2, b=0.75, tokenizer=PLAIN).index(DOCS).search(["cat"])["1"]
    assert ranking.scores[0] == pytest.approx(lucene_bm25(2, 2, 3, 3, 3.0, k1=1.2, b=0.75), rel=1e-6)


def test_ranking_holds_only_matching_documents_with_ids_and_texts(bm25):
    ranking = bm25.search([Query("q", "bird")], k=1000)["q"]
    assert ranking.docids == ["d3"]  # bm25s would pad to k with zero-score documents; those are dropped
    assert ranking.texts == ["Birds dog bird"]  # title + text, as indexed


def test_k_cuts_and_ties_at_the_cut_follow_trec_eval_order():
    docs = [Document(d, "same words here") for d in ["a", "c", "b", "e", "d"]]
    bm25 = BM25Retriever(tokenizer=PLAIN).index(docs)
    assert bm25.search(["words"], k=2)["1"].docids == ["e", "d"]  # equal scores: docid descending
    assert bm25.search(["words"], k=10)["1"].docids == ["e", "d", "c", "b", "a"]


def test_top_k_equals_the_head_of_the_full_ranking():
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(30)]
    docs = [Document(f"doc{i:03d}", " ".join(rng.choice(words, size=rng.integers(1, 12)))) for i in range(200)]
    bm25 = BM25Retriever(tokenizer=PLAIN).index(docs)
    queries = [Query(str(i), " ".join(rng.choice(words, size=3))) for i in range(20)]
    full = bm25.search(queries, k=1000)
    for k in (1, 5, 17):
        top = bm25.search(queries, k=k)
        for q in queries:
            assert top[q.qid] == full[q.qid].top(k)


@pytest.mark.parametrize("text", ["the of and", "zebra unicorn", "", "   ", "!!!"])
def test_queries_without_known_terms_get_an_empty_ranking(text):
    run = BM25Retriever().index(DOCS).search([Query("q", text), Query("ok", "cat")])
    assert len(run["q"]) == 0
    assert run["ok"].docids == ["d2", "d1"]


def test_robertson_keeps_matching_documents_that_score_zero():
    # Robertson's idf is clipped at 0 for a term in more than half the documents; they still match.
    docs = [Document("x", "cat dog"), Document("y", "cat"), Document("z", "bird")]
    ranking = BM25Retriever(method="robertson", tokenizer=PLAIN).index(docs).search(["cat"])["1"]
    assert sorted(ranking.docids) == ["x", "y"]
    assert np.all(ranking.scores == 0)


def test_search_accepts_strings_and_runs_as_a_pipeline_stage(bm25):
    assert bm25.search("cat")["1"].docids == ["d2", "d1"]
    run = (bm25 % 1)(["cat", "dog"])
    assert {qid: r.docids for qid, r in run.items()} == {"1": ["d2"], "2": ["d3"]}


def test_from_dataset_indexes_the_corpus():
    dataset = Dataset("tiny", {d.docid: d for d in DOCS}, [Query("q", "mat")])
    bm25 = BM25Retriever.from_dataset(dataset, tokenizer=PLAIN)
    assert len(bm25) == 3 and bm25.run(dataset)["q"].docids == ["d1"]


def test_get_scores_covers_every_document(bm25):
    scores = bm25.get_scores("dog")
    assert dict(zip(bm25.docids, scores > 0)) == {"d1": False, "d2": True, "d3": True}


# --- saving and loading -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip_gives_identical_rankings(tmp_path, mmap):
    docs = [*DOCS, Document("d4", "Straße café naïve 东京塔", title="ünïcode"), Document("d5", "")]
    original = BM25Retriever(k1=1.1, b=0.6, tokenizer=Tokenizer(stemmer="english")).index(docs)
    original.save(tmp_path / "index")
    loaded = BM25Retriever.load(tmp_path / "index", mmap=mmap)
    queries = [Query("a", "cats"), Query("b", "dog birds"), Query("c", "東京 café"), Query("d", "the")]
    before, after = original.search(queries), loaded.search(queries)
    for q in queries:
        assert after[q.qid] == before[q.qid]
        assert after[q.qid].texts == before[q.qid].texts
    assert (loaded.k1, loaded.b, loaded.method, loaded.tokenizer) == (1.1, 0.6, "lucene", original.tokenizer)
    assert loaded.docids == original.docids and list(loaded.texts) == list(original.texts)
    assert loaded.texts[-1] == "" and loaded.texts[-2] == "ünïcode Straße café naïve 东京塔"


def test_save_over_an_existing_index_replaces_it(tmp_path):
    BM25Retriever(tokenizer=PLAIN).index(DOCS).save(tmp_path)
    BM25Retriever(tokenizer=PLAIN).index([Document("only", "cat")]).save(tmp_path)
    assert BM25Retriever.load(tmp_path).search(["cat"])["1"].docids == ["only"]


def test_loading_a_folder_that_is_not_an_index(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is not a rankwise BM25 index"):
        BM25Retriever.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BM25Retriever.load(tmp_path / "missing")


def test_loading_another_format_version(tmp_path):
    BM25Retriever(tokenizer=PLAIN).index(DOCS).save(tmp_path)
    meta = tmp_path / "rankwise.json"
    meta.write_text(meta.read_text().replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(ValueError, match="version 99"):
        BM25Retriever.load(tmp_path)


def test_saving_onto_a_file_fails(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError):
        BM25Retriever(tokenizer=PLAIN).index(DOCS).save(target)


# --- errors -----------------------------------------------------------------------------------------------------
def test_searching_without_an_index():
    with pytest.raises(RuntimeError, match="no index yet"):
        BM25Retriever().search(["cat"])
    with pytest.raises(RuntimeError, match="no index yet"):
        BM25Retriever().save("/tmp/never-written")


@pytest.mark.parametrize("k", [0, -3, 2.5, "10", True])
def test_k_must_be_a_positive_integer(bm25, k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        bm25.search(["cat"], k=k)


def test_indexing_errors():
    with pytest.raises(ValueError, match="empty collection"):
        BM25Retriever().index([])
    with pytest.raises(ValueError, match="'d1' appears more than once"):
        BM25Retriever().index([Document("d1", "a"), Document("d1", "b")])
    with pytest.raises(ValueError, match="none of the 2 documents has an indexable term"):
        BM25Retriever().index([Document("a", "the of"), Document("b", "")])
    with pytest.raises(TypeError, match="takes rankwise Documents"):
        BM25Retriever().index(["just a string"])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"method": "bm99"}, "method must be one of"), ({"b": 1.5}, "0 <= b <= 1"), ({"backend": "gpu"}, "backend")],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BM25Retriever(**kwargs)
