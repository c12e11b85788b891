"""LLM query rewriting before retrieval: what the retriever sees, fallbacks, the run's metadata, the CLI."""
from __future__ import annotations

import json

import pytest

import rankwise
from rankwise.cli import main
from rankwise.io import read_run, write_beir
from rankwise.rerank.bm25 import BM25Reranker
from rankwise.retrieve import BM25Retriever
from rankwise.rewrite import TEMPLATES, QueryRewriter, RewriteTemplate
from rankwise.testing import ScriptedLLM
from rankwise.types import Dataset, Document, Qrels, Query

DOCS = [
    Document("d1", "The zebra is a striped horse of the African savanna that grazes on grasses."),
    Document("d2", "Herbivores such as zebras feed on grass, leaves and shrubs."),
    Document("d3", "Stock markets fell as investors worried about rates."),
    Document("d4", "Lions hunt zebras and antelopes at night."),
]
QUERIES = [Query("q1", "what do zebras eat"), Query("q2", "markets")]
ANSWERS = {"what do zebras eat": "Zebras are herbivores: they feed on grass, leaves and shrubs.",
           "markets": ""}  # an empty answer: q2 keeps its text


@pytest.fixture
def bm25():
    return BM25Retriever().index(DOCS)


def test_hyde_query_is_the_query_five_times_then_the_passage(bm25):
    rewriter = QueryRewriter(ScriptedLLM(ANSWERS), "hyde")
    run = (rewriter >> bm25 % 10)(QUERIES)
    expected_q1 = " ".join(["what do zebras eat"] * 5 + [ANSWERS["what do zebras eat"]])
    assert run["q1"] == bm25.search([Query("q1", expected_q1)], k=10)["q1"]  # exactly what BM25 gives that text
    assert run["q1"].docids[0] == "d2" and bm25.search([QUERIES[0]], k=10)["q1"].docids[0] != "d2"
    record = run.meta["rewrites"]["q1"]
    assert record == {"original": "what do zebras eat", "generated": ANSWERS["what do zebras eat"],
                      "query": expected_q1, "method": "hyde", "fallback": False}
    # the prompt is HyDE's instruction with the question in it
    assert "Please write a passage to answer the question.\nQuestion: what do zebras eat\nPassage:" in \
        rewriter.llm.prompts[0]


def test_empty_answer_or_failed_engine_falls_back_to_the_original_query(bm25):
    rewriter = QueryRewriter(ScriptedLLM(ANSWERS), "expand")
    with pytest.warns(RuntimeWarning, match="1 of 2 LLM answer"):
        run = (rewriter >> bm25 % 10)(QUERIES)
    assert rewriter.fallbacks == 1 and run.meta["rewrites"]["q2"]["fallback"] is True
    assert run["q2"] == bm25.search([QUERIES[1]], k=10)["q2"]
    failing = QueryRewriter(ScriptedLLM({}, fail=True), "rewrite")
    with pytest.warns(RuntimeWarning, match="2 of 2"):
        out = failing.rewrite(QUERIES)
    assert [q.text for q in out] == [q.text for q in QUERIES] and failing.fallbacks == 2
    assert "scripted engine failure" in failing.records["q1"]["error"]


def test_rewrite_replaces_the_query_and_cleans_the_answer():
    rewriter = QueryRewriter(ScriptedLLM({"zebras": '"diet of plains zebras"\nExplanation: more words'}), "rewrite")
    assert rewriter.rewrite([QUERIES[0]])[0].text == "diet of plains zebras"
    keywords = QueryRewriter(ScriptedLLM({"zebras": "1. grass\n2. herbivore\n- savanna"}), "expand", query_repeats=1)
    assert keywords.rewrite([QUERIES[0]])[0].text == "what do zebras eat grass herbivore savanna"


def test_metadata_goes_on_and_later_stages_see_the_original_query(bm25):
    rewriter = QueryRewriter(ScriptedLLM(ANSWERS), "hyde")
    reranker = BM25Reranker(stats="query")
    run = (rewriter >> bm25 % 10 >> reranker)(QUERIES[:1])
    assert run.meta["rewrites"]["q1"]["fallback"] is False
    candidates = (rewriter >> bm25 % 10)(QUERIES[:1])
    assert run["q1"] == reranker([QUERIES[0]], candidates)["q1"]  # reranked against "what do zebras eat"


def test_compare_does_not_reuse_results_of_the_original_queries(bm25):
    dataset = Dataset("zoo", {d.docid: d for d in DOCS}, QUERIES, Qrels({"q1": {"d2": 1}, "q2": {"d3": 1}}))
    rewriter = QueryRewriter(ScriptedLLM({**ANSWERS, "markets": "Stock markets fell."}), "hyde")
    table = rankwise.compare([bm25 % 10, rewriter >> bm25 % 10], dataset, ["recip_rank"], names=["bm25", "hyde"],
                             test="ttest")
    assert table.values["hyde"]["recip_rank"] == 1.0 and table.values["bm25"]["recip_rank"] < 1.0


def test_templates_are_data():
    assert {"hyde", "hyde-scifact", "expand", "rewrite"} <= set(TEMPLATES)
    custom = RewriteTemplate.from_dict({"name": "mine", "method": "expand", "user": "Synonyms of: {query}",
                                        "query_repeats": 2})
    rewriter = QueryRewriter(ScriptedLLM({"markets": "bourse"}), custom)
    assert rewriter.rewrite([QUERIES[1]])[0].text == "markets markets bourse"
    with pytest.raises(ValueError, match="may use only \\{query\\}"):
        RewriteTemplate("bad", "hyde", "Question: {question}")
    with pytest.raises(ValueError, match="must contain \\{query\\}"):
        RewriteTemplate("bad", "hyde", "Write a passage.")
    with pytest.raises(ValueError, match="method must be one of"):
        RewriteTemplate("bad", "summarise", "{query}")
    with pytest.raises(ValueError, match="unknown rewrite template 'nope'"):
        QueryRewriter(ScriptedLLM({}), "nope")


def test_smollm2_rewrites_for_real(smol, bm25):
    """The plumbing on a real model: chat template, greedy generation, cleaning, BM25 on the result."""
    rewriter = QueryRewriter(smol, "expand", max_tokens=12)
    run = (rewriter >> bm25 % 10)(QUERIES[:1])
    record = run.meta["rewrites"]["q1"]
    assert record["generated"].strip() and not record["fallback"]
    assert record["query"].startswith(" ".join(["what do zebras eat"] * 5))
    assert run["q1"] == bm25.search([Query("q1", record["query"])], k=10)["q1"]
    assert rewriter.usage["completion_tokens"] <= 12 and rewriter.usage["calls"] == 1


def test_cli_writes_the_run_and_the_rewrites(tmp_path, smol, capsys):
    folder = tmp_path / "zoo"
    write_beir(Dataset("zoo", {d.docid: d for d in DOCS}, QUERIES, Qrels({"q1": {"d2": 1}, "q2": {"d3": 1}})), folder)
    template = tmp_path / "short.json"
    short = {**TEMPLATES["expand"].__dict__, "name": "short", "max_tokens": 8}
    template.write_text(json.dumps(short), encoding="utf-8")
    out = tmp_path / "rewritten.run"
    assert main(["retrieve", str(folder), "--rewrite", str(template), "-o", str(out)]) == 0
    assert "rewrote 2 queries with short" in capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "rewritten.run.rewrites.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in records] == ["q1", "q2"]
    run = read_run(out)
    bm25 = BM25Retriever().index(DOCS)
    for r in records:
        assert run[r["qid"]].docids == bm25.search([Query(r["qid"], r["query"])], k=1000)[r["qid"]].docids
    assert main(["retrieve", str(folder), "--rewrite", "nope", "-o", str(out)]) == 2
    assert "unknown rewrite template 'nope'" in capsys.readouterr().err
