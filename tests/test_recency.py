"""Recency-aware reranking (AutoCast++) on a small dated collection written here, and dates read from collections."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from rankwise.cli import main
from rankwise.io import (
    FormatError,
    read_beir,
    read_run,
    read_trec_docs,
    write_beir,
    write_run,
)
from rankwise.io.dates import parse_date
from rankwise.rerank import RERANKERS, get_reranker
from rankwise.rerank.bm25 import BM25Reranker
from rankwise.rerank.recency import RecencyReranker
from rankwise.retrieve import BM25Retriever
from rankwise.types import Dataset, Document, Qrels, Query, Ranking, Run

UTC = dt.timezone.utc
ASKED = "2021-06-01"


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# A forecasting question and news about it: "a" and "b" say the same thing (equal relevance), "a" is newer; "f" is
# the most relevant of all but was published after the question was asked; "u" has no date.
DOCS = [
    Document("a", "central bank raises interest rates to fight inflation", date=day("2021-05-25")),
    Document("b", "central bank raises interest rates to fight inflation", date=day("2021-01-10")),
    Document("c", "interest rates expected to stay flat says analyst", date=day("2021-05-31")),
    Document("d", "football results from the weekend", date=day("2021-05-30")),
    Document("f", "central bank raises interest rates again inflation interest rates", date=day("2021-06-20")),
    Document("u", "inflation worries grow among interest rate watchers"),
]
QUERY = Query("q1", "will the central bank raise interest rates", day(ASKED))


def candidates() -> Run:
    return BM25Retriever().index(DOCS).search([QUERY], k=10)


def test_weight_zero_is_the_plain_reranker_without_future_documents():
    run = candidates()
    later = Query("q1", QUERY.text, day("2021-07-01"))  # asked after every document: nothing is dropped
    got = RecencyReranker(BM25Reranker(stats="query"), DOCS, weight=0)([later], run)["q1"]
    assert got.docids == BM25Reranker(stats="query")([later], run)["q1"].docids
    # asked before "f": the plain reranker over the candidates without it
    keep = [i for i, d in enumerate(run["q1"].docids) if d != "f"]
    past = Run([Ranking("q1", [run["q1"].docids[i] for i in keep], run["q1"].scores[keep],
                        [run["q1"].texts[i] for i in keep])])
    got = RecencyReranker(BM25Reranker(stats="query"), DOCS, weight=0)([QUERY], run)["q1"]
    assert got.docids == BM25Reranker(stats="query")([QUERY], past)["q1"].docids


def test_future_documents_never_appear_and_are_counted():
    for weight in (0.0, 0.5, 1.0, 3.0):
        reranker = RecencyReranker(None, DOCS, weight=weight)
        out = reranker([QUERY], candidates())
        assert "f" not in out["q1"].docids
        assert reranker.counts["future_dropped"] == 1 and reranker.counts["candidates"] == len(candidates()["q1"])
        assert out.meta["recency"]["future_dropped"] == 1
    # "f" is the first-stage favourite: only the date removes it
    assert candidates()["q1"].docids[0] == "f"


def test_newer_evidence_wins_ties():
    run = candidates()
    scores = run["q1"].to_dict()
    assert scores["a"] == scores["b"]  # the same text: the same relevance
    plain = run["q1"].docids
    assert plain.index("b") < plain.index("a")  # trec order breaks the tie by docid: "b" first
    reranked = RecencyReranker(None, DOCS, weight=1.0)([QUERY], run)["q1"].docids
    assert reranked.index("a") < reranked.index("b")


def test_scores_are_relevance_times_recency_to_the_weight():
    run = candidates()
    reranker = RecencyReranker(None, DOCS, weight=2.0, half_life_days=7.0, undated=0.25)
    out = reranker([QUERY], run)["q1"].to_dict()
    kept = {d: s for d, s in run["q1"] if d != "f"}
    lo, hi = min(kept.values()), max(kept.values())
    for docid, score in kept.items():
        relevance = 1e-4 + (1 - 1e-4) * (score - lo) / (hi - lo)
        doc = next(d for d in DOCS if d.docid == docid)
        recency = 0.25 if doc.date is None else 0.5 ** ((day(ASKED) - doc.date).days / 7.0)
        assert out[docid] == pytest.approx(relevance * recency ** 2.0, rel=1e-12)
    assert reranker.counts["undated"] == 1


def test_decays():
    ages = np.array([0.0, 15.0, 30.0, 400.0])
    expected = [1, 2 ** -0.5, 0.5, 0.5 ** (40 / 3)]
    assert RecencyReranker(None, {}, half_life_days=30).decay(ages) == pytest.approx(expected)
    assert RecencyReranker(None, {}, decay="linear", horizon_days=60).decay(ages) == pytest.approx([1, 0.75, 0.5, 0])
    curve = RecencyReranker(None, {}, decay="curve", curve=[(0, 1.0), (10, 0.2), (100, 0.1)]).decay(ages)
    assert curve == pytest.approx([1.0, 0.2 - 0.1 * 5 / 90, 0.2 - 0.1 * 20 / 90, 0.1])
    with pytest.raises(ValueError, match="strictly increasing"):
        RecencyReranker(None, {}, decay="curve", curve=[(10, 1.0), (0, 0.5)])
    with pytest.raises(ValueError, match="decay must be one of"):
        RecencyReranker(None, {}, decay="cubic")


def test_bad_input():
    with pytest.raises(ValueError, match="query 'q2' has no date.*reference_date"):
        RecencyReranker(None, DOCS)([Query("q2", "interest rates")], Run([Ranking("q2", ["a"], [1.0])]))
    # a reference date dates every query that has none
    dated = RecencyReranker(None, DOCS, reference_date=ASKED)
    out = dated([Query("q2", "x")], Run([Ranking("q2", ["a", "f"], [1, 2])]))
    assert out["q2"].docids == ["a"]
    with pytest.raises(ValueError, match="weight must be >= 0"):
        RecencyReranker(None, DOCS, weight=-1)
    with pytest.raises(ValueError, match="undated"):
        RecencyReranker(None, DOCS, undated=2)
    with pytest.raises(ValueError, match="document 'x'.*not a date"):
        RecencyReranker(None, {"x": "yesterday-ish"})


def test_in_a_pipeline_and_the_registry():
    assert "recency" in RERANKERS
    bm25 = BM25Retriever().index(DOCS)
    reranker = get_reranker("recency", relevance="bm25", documents={d.docid: d for d in DOCS})
    run = (bm25 % 10 >> reranker)([QUERY])
    assert "f" not in run["q1"].docids and run.meta["recency"]["future_dropped"] == 1
    assert run["q1"].docids[0] == "a"


def test_dates_are_read_from_beir_and_trec(tmp_path):
    folder = tmp_path / "news"
    write_beir(Dataset("news", {d.docid: d for d in DOCS}, [QUERY], Qrels({"q1": {"a": 1}})), folder)
    back = read_beir(folder)
    assert back.corpus["a"].date == day("2021-05-25") and back.corpus["u"].date is None
    assert back.queries[0].date == day(ASKED)
    # timestamp fields (Unix time) and a bad date
    (folder / "corpus.jsonl").write_text(
        json.dumps({"_id": "t", "text": "x", "timestamp": 1622505600}) + "\n"
        + json.dumps({"_id": "s", "text": "y", "date": "2021-06-01T12:30:00+02:00"}) + "\n", encoding="utf-8")
    corpus = read_beir(folder, None).corpus
    assert corpus["t"].date == day(ASKED) and corpus["s"].date == dt.datetime(2021, 6, 1, 10, 30, tzinfo=UTC)
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "t", "text": "x", "date": "soon"}) + "\n",
                                         encoding="utf-8")
    with pytest.raises(FormatError, match=r"corpus.jsonl:1.*'date'.*not a date"):
        read_beir(folder, None)

    trec = tmp_path / "docs.trec"
    trec.write_text("<DOC>\n<DOCNO>LA010189-0001</DOCNO>\n<DATE>\n<P>\nJanuary 1, 1989, Sunday, Home Edition\n</P>\n"
                    "</DATE>\n<TEXT>rates</TEXT>\n</DOC>\n<DOC>\n<DOCNO>FT911-1</DOCNO>\n<DATE>910514</DATE>\n"
                    "<TEXT>x</TEXT>\n</DOC>\n<DOC>\n<DOCNO>N1</DOCNO>\n<TEXT>no date</TEXT>\n</DOC>\n"
                    "<DOC>\n<DOCNO>B1</DOCNO>\n<DATE>sometime</DATE>\n<TEXT>y</TEXT>\n</DOC>\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="1 document\\(s\\) have a <DATE> that is not a date.*line 19"):
        docs = read_trec_docs(trec)
    assert docs["LA010189-0001"].date == day("1989-01-01") and docs["FT911-1"].date == day("1991-05-14")
    assert docs["N1"].date is None and docs["B1"].date is None
    assert "January 1, 1989" in docs["LA010189-0001"].text  # the date's text stays searchable


def test_parse_date_forms():
    assert parse_date("2021-06-01") == day(ASKED)
    assert parse_date("2021-06-01T00:00:00Z") == day(ASKED)
    assert parse_date("20210601") == day(ASKED) and parse_date("210601") == day(ASKED)
    assert parse_date("06/01/21") == day(ASKED) and parse_date("1 June 2021") == day(ASKED)
    assert parse_date(1622505600000) == day(ASKED)  # milliseconds
    assert parse_date(dt.date(2021, 6, 1)) == day(ASKED)
    assert parse_date("2021-06") == day(ASKED)
    for bad in ("", "later", True):
        with pytest.raises(ValueError):
            parse_date(bad)


def test_cli(tmp_path, capsys):
    folder = tmp_path / "news"
    write_beir(Dataset("news", {d.docid: d for d in DOCS}, [QUERY], Qrels({"q1": {"a": 1}})), folder)
    write_run(candidates(), tmp_path / "bm25.run")
    out = tmp_path / "recency.run"
    assert main(["rerank", str(tmp_path / "bm25.run"), "--dataset", str(folder), "--reranker", "recency",
                 "--relevance", "bm25", "--half-life", "7", "-o", str(out)]) == 0
    run = read_run(out)
    assert "f" not in run["q1"].docids and run["q1"].docids[0] == "a"
    assert "'future_dropped': 1" in capsys.readouterr().err
    # without the corpus there are no dates: an error that says what to pass
    json_candidates = tmp_path / "c.json"
    json_candidates.write_text(json.dumps([{"query": QUERY.text, "hits": [
        {"qid": "q1", "docid": "a", "content": "x", "score": 1.0, "rank": 1}]}]), encoding="utf-8")
    assert main(["rerank", str(json_candidates), "--reranker", "recency", "-o", str(out)]) == 2
    assert "needs document dates: pass --dataset" in capsys.readouterr().err
    # --model is the relevance reranker's model
    base = ["rerank", str(tmp_path / "bm25.run"), "--dataset", str(folder), "--reranker", "recency", "-o", str(out)]
    assert main(base + ["--relevance", "cross-encoder", "--model", "no/such-model"]) == 2
    assert "no/such-model" in capsys.readouterr().err
    assert main(base + ["--relevance", "cross-encoder", "--model", "cross-encoder/ms-marco-MiniLM-L-12-v2"]) == 0
    assert "f" not in read_run(out)["q1"].docids
    assert main(base + ["--relevance", "none", "--model", "x"]) == 2
    assert "--relevance is 'none'" in capsys.readouterr().err
