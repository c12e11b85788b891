"""Pipeline algebra: exact outputs of each operator on hand-made stages, shared prefixes, and errors."""
from __future__ import annotations

import numpy as np
import pytest

from rankwise import Query, Ranking, Run
from rankwise.pipeline import Reranker, Retriever, apply, as_queries, shared_results


class FixedRetriever(Retriever):
    """Returns the same scored documents (with texts) for every query; counts its calls."""

    def __init__(self, name, scores):
        self.name, self.scores, self.calls = name, scores, 0

    def search(self, queries, k=1000):
        self.calls += 1
        items = sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]
        return Run(Ranking(q.qid, [d for d, _ in items], [s for _, s in items], [f"text of {d}" for d, _ in items])
                   for q in queries)


class LengthReranker(Reranker):
    """Scores a candidate by the number of characters of its text that also occur in the query."""

    name = "overlap"

    def score(self, query, texts):
        return np.array([sum(ch in query.text for ch in t) for t in texts], dtype=float)


A = {"x": 3.0, "y": 2.0, "z": 1.0}
B = {"z": 5.0, "w": 1.0}


def test_cutoff_asks_the_retriever_for_k():
    a = FixedRetriever("a", A)
    run = (a % 2)(["q"])
    assert run["1"].docids == ["x", "y"] and run.name == "a % 2"


def test_score_sum_counts_a_missing_document_as_zero():
    run = (FixedRetriever("a", A) + FixedRetriever("b", B))("q")
    assert run["1"].to_dict() == {"z": 6.0, "x": 3.0, "y": 2.0, "w": 1.0}
    assert run["1"].docids == ["z", "x", "y", "w"]
    assert run["1"].texts == ["text of z", "text of x", "text of y", "text of w"]


def test_weighted_sum():
    run = (0.5 * FixedRetriever("a", A) + 2 * FixedRetriever("b", B))("q")
    assert run["1"].to_dict() == {"z": 10.5, "x": 1.5, "y": 1.0, "w": 2.0}


def test_plus_is_combsum_of_raw_scores_and_fuse_combsum_normalises():
    """One meaning per operator: `a + b` = fuse(…, "combsum", norm="none"); fuse's default CombSUM is min-max first,
    which changes the order when the two sides score on different scales."""
    from rankwise.fuse import fuse

    a, b = FixedRetriever("a", {"x": 30.0, "y": 10.0}), FixedRetriever("b", {"y": 0.9, "x": 0.1})
    plus = (a + b)("q")["1"]
    assert plus.docids == ["x", "y"] and plus.to_dict() == {"x": 30.1, "y": 10.9}
    assert fuse([a, b], "combsum", norm="none")("q")["1"].to_dict() == plus.to_dict()
    normalised = fuse([a, b], "combsum")("q")["1"]  # min-max: x = 1 + 0, y = 0 + 1, tie broken by docid
    assert normalised.to_dict() == {"x": 1.0, "y": 1.0} and normalised.docids == ["y", "x"]
    weighted = (0.3 * a + 0.7 * b)("q")["1"].to_dict()
    expected = fuse([a, b], "combsum", norm="none", weights=[0.3, 0.7])("q")["1"].to_dict()
    assert weighted == pytest.approx(expected, abs=1e-12)


def test_union_puts_left_first_then_unseen_right():
    run = (FixedRetriever("a", A) | FixedRetriever("b", B))("q")
    assert run["1"].docids == ["x", "y", "z", "w"]
    assert run["1"].scores.tolist() == [4.0, 3.0, 2.0, 1.0]


def test_then_reranks_the_cut_candidates():
    pipeline = FixedRetriever("a", {"ab": 3.0, "abc": 2.0, "zzz": 1.0}) % 2 >> LengthReranker()
    run = pipeline([Query("q1", "abc")])
    # Only the top-2 were reranked; "text of abc" shares more characters with "abc" than "text of ab".
    assert run["q1"].docids == ["abc", "ab"]
    assert str(pipeline) == "a % 2 >> overlap"


def test_reranker_without_candidates_or_texts_says_what_to_do():
    with pytest.raises(ValueError, match="needs candidates"):
        LengthReranker()(["q"])
    bare = Run([Ranking("1", ["d"], [1.0])])
    with pytest.raises(ValueError, match="carry no document texts.*with_texts"):
        LengthReranker()(["q"], bare)


def test_rerank_single_query_interface():
    ranking = Ranking("7", ["a", "b"], [2.0, 1.0], ["zz", "query"])
    out = LengthReranker().rerank("query", ranking)
    assert out.docids == ["b", "a"] and out.qid == "7"


def test_shared_prefix_runs_once():
    a = FixedRetriever("a", A)
    first = a % 2
    queries = as_queries(["q1", "q2"])
    with shared_results():
        r1 = apply(first >> LengthReranker(), queries, None)
        r2 = apply(first, queries, None)
    assert a.calls == 1 and r1.keys() == r2.keys()
    first(queries)
    first(queries)
    assert a.calls == 3  # outside compare() nothing is cached


def test_bad_cutoff():
    with pytest.raises(ValueError, match="positive integer"):
        FixedRetriever("a", A) % 0
