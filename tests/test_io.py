"""Readers and writers: round trips, real files, and an error naming file and line for every kind of bad input."""
from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest
from conftest import shared_path

from rankwise import Document, Qrels, Query, Ranking, Run
from rankwise.io import (
    FormatError,
    read_beir,
    read_candidates,
    read_jsonl,
    read_qrels,
    read_run,
    read_topics,
    read_trec_docs,
    write_beir,
    write_candidates,
    write_qrels,
    write_run,
    write_topics,
)
from rankwise.types import Dataset


def write(tmp_path, name, text, gz=False):
    path = tmp_path / name
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- runs ---------------------------------------------------------------------------------------------------
RUN_TEXT = "q1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 1.5 sys\nq2 Q0 d3 1 0.7 sys\nq1 Q0 d3 3 1.5 sys\n"


def test_run_is_sorted_in_trec_eval_order(tmp_path):
    run = read_run(write(tmp_path, "r.txt", RUN_TEXT))
    assert run.name == "sys"
    # d2 and d3 tie at 1.5: trec_eval puts the larger docid first.
    assert run["q1"].docids == ["d1", "d3", "d2"]
    assert run["q1"].scores.tolist() == [2.5, 1.5, 1.5]
    assert run["q2"].docids == ["d3"]


def test_run_round_trip_keeps_full_score_precision(tmp_path):
    run = Run([Ranking("q", ["a", "b"], [0.1 + 0.2, 0.30000000000000004 - 1e-16])], name="x")
    path = tmp_path / "out.run.gz"
    write_run(run, path)
    back = read_run(path)
    assert back["q"] == run["q"]
    assert gzip.open(path, "rt").readline().split()[5] == "x"


def test_gzip_is_detected_from_bytes(tmp_path):
    path = write(tmp_path, "run_without_suffix", RUN_TEXT, gz=True)
    assert read_run(path)["q1"].docids == ["d1", "d3", "d2"]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("q1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 sys\n", 2, "expected 6 columns"),
        ("q1 Q0 d1 1 high sys\n", 1, "score 'high' (column 5) is not a number"),
        ("q1 Q0 d1 1 nan sys\n", 1, "not a finite number"),
        ("q1 Q0 d1 2.5 1 sys\n", 1, "rank '2.5' (column 4) is not an integer"),
        ("q1 Q0 d1 1 2 sys\nq2 Q0 d1 1 2 sys\nq1 Q0 d1 2 1 sys\n", 3, "'d1' appears twice in the ranking of query 'q1' (first on line 1)"),
        ("q1 Q0 d1 1 2 sys extra\n", 1, "strict=False"),
    ],
)
def test_run_errors_name_file_line_and_problem(tmp_path, text, line, message):
    path = write(tmp_path, "bad.run", text)
    with pytest.raises(FormatError) as err:
        read_run(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert message in str(err.value)


def test_empty_files_are_rejected(tmp_path):
    for reader in (read_run, read_qrels, read_topics, read_trec_docs):
        with pytest.raises(FormatError, match="the file is empty"):
            reader(write(tmp_path, "empty", ""))
    with pytest.raises(FormatError, match="no run lines"):
        read_run(write(tmp_path, "comments", "# only a comment\n\n"))


def test_lenient_run_warns_how_many_lines_had_extra_text(tmp_path):
    path = write(tmp_path, "r", "q1 Q0 d1 1 2 sys junk\nq1 Q0 d2 2 1 sys\n")
    with pytest.warns(UserWarning, match="1 line"):
        run = read_run(path, strict=False)
    assert run["q1"].docids == ["d1", "d2"]


def test_missing_file_and_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_run(tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        read_run(tmp_path)


# --- qrels --------------------------------------------------------------------------------------------------
def test_qrels_trec_and_beir_forms(tmp_path):
    trec = read_qrels(write(tmp_path, "q.txt", "# c\nq1 0 d1 2\nq1 0 d2 0\nq2 0 d9 -1\n"))
    assert trec == {"q1": {"d1": 2, "d2": 0}, "q2": {"d9": -1}}
    beir = read_qrels(write(tmp_path, "q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n"))
    assert beir == {"q1": {"d1": 2, "d2": 0}}
    assert trec.relevant("q1", level=2) == {"d1"}
    path = tmp_path / "out.qrels"
    write_qrels(trec, path)
    assert read_qrels(path) == trec


def test_beir_qrels_ids_with_spaces(tmp_path):
    # HotpotQA's corpus ids are Wikipedia titles; split on whitespace, "Ed Wood" would become two columns.
    text = "query-id\tcorpus-id\tscore\ndev000\tEd Wood\t1\ndev000\tScott Derrickson\t1\n"
    assert read_qrels(write(tmp_path, "q.tsv", text)) == {"dev000": {"Ed Wood": 1, "Scott Derrickson": 1}}
    no_header = "dev000\tEd Wood (film)\t1\n"
    assert read_qrels(write(tmp_path, "n.tsv", no_header)) == {"dev000": {"Ed Wood (film)": 1}}
    assert read_qrels(write(tmp_path, "t.qrels", "q1\t0\td1\t2\n")) == {"q1": {"d1": 2}}  # tabbed TREC qrels


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("q1 0 d1 1\nq1 0 d2\n", 2, "expected 4 columns"),
        ("q1 0 d1 yes\n", 1, "relevance 'yes' is not an integer"),
        ("q1 0 d1 1\nq1 0 d1 0\n", 2, "judges document 'd1' twice (first on line 1)"),
    ],
)
def test_qrels_errors(tmp_path, text, line, message):
    with pytest.raises(FormatError) as err:
        read_qrels(write(tmp_path, "bad.qrels", text))
    assert err.value.line == line and message in str(err.value)


# --- topics -------------------------------------------------------------------------------------------------
def test_topics_tsv_and_sgml(tmp_path):
    tsv = read_topics(write(tmp_path, "t.tsv", "1\tfirst query\n2\tsecond  one\n"))
    assert tsv == [Query("1", "first query"), Query("2", "second  one")]
    sgml = (
        "<top>\n<num> Number: 301\n<title> Topic: International Organized Crime\n\n"
        "<desc> Description:\nIdentify organizations.\n\n<narr> Narrative:\nA relevant document...\n</top>\n"
        "<top>\n<num>2</num><title>\nSECOND TOPIC\n</title>\n</top>\n"
    )
    path = write(tmp_path, "t.sgml", sgml)
    assert read_topics(path) == [Query("301", "International Organized Crime"), Query("2", "SECOND TOPIC")]
    with pytest.raises(FormatError, match="topic 2 has no <desc>"):
        read_topics(path, field="desc")
    out = tmp_path / "back.tsv"
    write_topics(tsv, out)
    assert read_topics(out) == tsv


def test_topics_errors(tmp_path):
    with pytest.raises(FormatError, match=r":2: expected 'qid<TAB>text'"):
        read_topics(write(tmp_path, "t.tsv", "1\tok\n2 no tab here\n"))
    with pytest.raises(FormatError, match="query id '1' appears twice"):
        read_topics(write(tmp_path, "t2.tsv", "1\ta\n1\tb\n"))
    with pytest.raises(FormatError, match="no closing </top>"):
        read_topics(write(tmp_path, "t3", "<top>\n<num>1</num><title>x</title>\n"))


# --- TREC documents -----------------------------------------------------------------------------------------
def test_trec_docs(tmp_path):
    text = (
        "<DOC>\n<DOCNO>1</DOCNO>\nfirst line\nsecond line\n</DOC>\n"
        "<DOC><DOCNO> AP-2 </DOCNO><HEADLINE>A Title</HEADLINE><TEXT>\nbody words\n</TEXT></DOC>\n"
    )
    docs = read_trec_docs(write(tmp_path, "d.trec", text))
    assert docs["1"] == Document("1", "first line second line", "")
    assert docs["AP-2"] == Document("AP-2", "body words", "A Title")


@pytest.mark.parametrize(
    "text, message",
    [
        ("<DOC>\n<DOCNO>1</DOCNO>\ntext\n", ":1: <DOC> is never closed"),
        ("<DOC>\ntext\n</DOC>\n", ":1: document has no <DOCNO>"),
        ("<DOC>\n<DOCNO>1</DOCNO>\n<DOC>\n", ":3: <DOC> opened before"),
        ("stray\n", ":1: text outside a <DOC>"),
        ("<DOC><DOCNO>1</DOCNO>a</DOC>\n<DOC><DOCNO>1</DOCNO>b</DOC>\n", "DOCNO '1' appears twice"),
    ],
)
def test_trec_docs_errors(tmp_path, text, message):
    with pytest.raises(FormatError, match=message):
        read_trec_docs(write(tmp_path, "d", text))


# --- BEIR and JSONL -----------------------------------------------------------------------------------------
def make_beir(tmp_path):
    folder = tmp_path / "mini"
    ds = Dataset(
        "mini",
        {"d1": Document("d1", "cats purr", "Cats"), "d2": Document("d2", "dogs bark")},
        [Query("q1", "cat"), Query("q2", "dog")],
        Qrels({"q1": {"d1": 1}}),
    )
    write_beir(ds, folder)
    return folder


def test_beir_round_trip_keeps_only_judged_queries(tmp_path):
    folder = make_beir(tmp_path)
    ds = read_beir(folder)
    assert [q.qid for q in ds.queries] == ["q1"]  # BEIR: the split's queries are the judged ones
    assert ds.corpus["d1"].contents == "Cats cats purr"
    assert len(read_beir(folder, split=None).queries) == 2
    with pytest.raises(FileNotFoundError, match="no split 'dev'; available: test"):
        read_beir(folder, split="dev")


def test_beir_errors(tmp_path):
    folder = make_beir(tmp_path)
    with open(folder / "corpus.jsonl", "a") as f:
        f.write('{"_id": "d1", "text": "again"}\n')
    with pytest.raises(FormatError, match=r"corpus.jsonl:3: document id 'd1' appears twice"):
        read_beir(folder)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"title": "no id"}\n')
    with pytest.raises(FormatError, match=r":2: missing field '_id'"):
        read_beir(folder)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"_id": "d2", "text": "y",}\n')
    with pytest.raises(FormatError, match=r":2: not valid JSON"):
        read_beir(folder)


def test_jsonl_rejects_non_objects(tmp_path):
    with pytest.raises(FormatError, match=r":2: expected a JSON object, found list"):
        list(read_jsonl(write(tmp_path, "x.jsonl", '{"a": 1}\n[1, 2]\n')))


# --- RankGPT-style candidates -------------------------------------------------------------------------------
def test_candidates_round_trip(tmp_path):
    queries = [Query("7", "what is x")]
    run = Run([Ranking("7", ["a", "b"], [2.0, 1.0], ["text a", "text b"])])
    path = tmp_path / "c.json"
    write_candidates(queries, run, path)
    q2, run2 = read_candidates(path)
    assert q2 == queries and run2["7"] == run["7"] and run2["7"].texts == ["text a", "text b"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"query": "x"}, "expected a JSON list"),
        ([], "empty"),
        ([{"query": "x", "hits": [{"qid": 1, "content": "t"}]}], "entry 0, hit 0: missing 'docid'"),
        ([{"query": "x", "hits": [{"qid": 1, "docid": "a", "content": "t", "score": "9"}]}], "not a finite number"),
        ([{"query": "x", "hits": [{"qid": 1, "docid": "a", "content": "t"}, {"qid": 1, "docid": "a", "content": "u"}]}],
         "entry 0: query '1': document 'a' appears more than once"),
        ([{"query": "x", "hits": []}], "entry 0: no query id"),
    ],
)
def test_candidates_errors(tmp_path, data, message):
    with pytest.raises(FormatError, match=message):
        read_candidates(write(tmp_path, "c.json", json.dumps(data)))


def test_candidates_without_scores_keep_their_order(tmp_path):
    data = [{"query": "x", "hits": [{"qid": 1, "docid": d, "content": d} for d in ["z", "a", "m"]]}]
    _, run = read_candidates(write(tmp_path, "c.json", json.dumps(data)))
    assert run["1"].docids == ["z", "a", "m"]


# --- types --------------------------------------------------------------------------------------------------
def test_ranking_rejects_duplicates_and_nan():
    with pytest.raises(ValueError, match="'a' appears more than once"):
        Ranking("q", ["a", "a"], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        Ranking("q", ["a"], [np.nan])
    with pytest.raises(ValueError, match="2 docids but 1 scores"):
        Ranking("q", ["a", "b"], [1])


def test_run_with_texts_names_missing_documents():
    run = Run([Ranking("q", ["a", "zz"], [2, 1])])
    with pytest.raises(KeyError, match="1 candidate"):
        run.with_texts({"a": Document("a", "t")})


# --- the real collections -----------------------------------------------------------------------------------
def test_real_collections_read_completely():
    vaswani = shared_path("vaswani")
    assert len(read_trec_docs(vaswani / "doc-text.trec")) == 11429
    topics = read_topics(vaswani / "query-text.trec")
    assert len(topics) == 93 and topics[0].text.startswith("MEASUREMENT OF DIELECTRIC")
    assert sum(len(v) for v in read_qrels(vaswani / "qrels").values()) == 2083

    scifact = read_beir(shared_path("scifact"))
    assert (len(scifact.corpus), len(scifact.queries)) == (5183, 300)
    assert sum(len(v) for v in scifact.qrels.values()) == 339

    dl19 = shared_path("dl19")
    queries, candidates = read_candidates(dl19 / "bm25_top100.json")
    run = read_run(dl19 / "bm25_top100.trec")
    assert len(queries) == 43 and candidates.num_candidates == 4300
    # The JSON and the TREC file hold the same ranking of the same documents.
    assert all(candidates[q].docids == run[q].docids for q in run)
    assert len(read_topics(dl19 / "topics.tsv")) == 43


def test_trec_eval_qrels_with_comments():
    folder = shared_path("trec_eval")
    plain, commented = read_qrels(folder / "qrels.test"), read_qrels(folder / "qrels.test.with-comments")
    # Only '#' at the start of a line is a comment: a '#' inside a docno is part of the id.
    assert commented["301"]["CR#93E-1860"] == 0 and "CR#93E-1860" not in plain["301"]
    assert sum(map(len, plain.values())) == sum(map(len, commented.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_run(folder / "results.trunc", strict=False).num_candidates == 584
