"""The RAG layer with stand-ins whose answers are known (rankwise.testing.ScriptedLLM, StandInDecomposer): context
packing, citations, the Generator stage in pipelines, decomposition, faults, resume, and the evaluation of answers
and evidence (checked against rankwise.evaluate, itself checked against trec_eval)."""
from __future__ import annotations

import json
import re
import warnings

import pytest

from rankwise.datasets import DEMO_PATH, load
from rankwise.evaluate import evaluate, paired_test
from rankwise.io import FormatError
from rankwise.rag import (
    RAG,
    Answers,
    AnswerTemplate,
    AnswerWriter,
    Decompose,
    Generator,
    SuppliedDecomposer,
    compare_answers,
    evaluate_answers,
    merge_pools,
    pack_contexts,
    parse_answer,
    parse_sub_questions,
    read_answers,
    read_gold_answers,
)
from rankwise.rag.metrics import normalize_answer
from rankwise.retrieve import BM25Retriever
from rankwise.testing import ScriptedLLM, StandInDecomposer
from rankwise.types import Dataset, Document, Qrels, Query, Ranking


@pytest.fixture(scope="module")
def demo():
    return load("demo")


@pytest.fixture(scope="module")
def bm25(demo):
    return BM25Retriever().index(demo.documents)


@pytest.fixture(scope="module")
def gold():
    return read_gold_answers(DEMO_PATH / "queries.jsonl")


def reader(gold):
    """A stand-in reader: finds the first numbered passage that contains an accepted answer of the question asked,
    and answers it citing that passage; "unknown" (no citation) when no passage holds one."""
    by_question = {}
    for q in load("demo").queries:
        by_question[q.text] = gold[q.qid]

    def reply(text: str) -> str:
        question = next(q for q in by_question if f"Question: {q}" in text)
        for number, passage in re.findall(r"^\[(\d+)\] (.*)$", text, flags=re.MULTILINE):
            for answer in by_question[question]:
                if normalize_answer(answer) in normalize_answer(passage):
                    return f"{answer} [{number}]"
        return "unknown"

    return reply


# --- packing and parsing ------------------------------------------------------------------------------------------
def ranking(texts, qid="q"):
    return Ranking(qid, [f"d{i}" for i in range(len(texts))], list(range(len(texts), 0, -1)), texts)


def test_packing_dedupes_truncates_and_counts_within_the_budget():
    llm = ScriptedLLM({}, default="x")  # words are tokens
    texts = ["one two three four five six", "ONE two  three four five six", "a b c", "p q r s t u v w x y z"]
    packed = pack_contexts(llm, ranking(texts), k=3, budget=100, max_passage_tokens=4)
    assert packed.docids == ["d0", "d2", "d3"]  # d1 repeats d0 (case and spacing aside)
    assert packed.texts == ["one two three four", "a b c", "p q r s"]
    assert (packed.truncated, packed.duplicates, packed.dropped, packed.tokens) == (2, 1, 0, 11)


def test_packing_cuts_the_last_passage_to_the_budget_and_drops_what_cannot_fit():
    llm = ScriptedLLM({}, default="x")
    texts = [" ".join(f"w{i}_{j}" for j in range(20)) for i in range(5)]
    packed = pack_contexts(llm, ranking(texts), k=4, budget=50, overhead=lambda i: 2)
    # 22 + 22 tokens, then 6 left: fewer than 16, so the third and fourth passages are dropped
    assert packed.docids == ["d0", "d1"] and packed.dropped == 2 and packed.truncated == 0
    packed = pack_contexts(llm, ranking(texts), k=4, budget=62, overhead=lambda i: 2)
    assert packed.docids == ["d0", "d1", "d2"] and packed.texts[2].split() == texts[2].split()[:16]
    assert (packed.truncated, packed.dropped, packed.tokens) == (1, 1, 62)


def test_citations_map_to_the_prompts_passages():
    parsed = parse_answer("Answer: Neil Armstrong [2][1], [2, 3] [9].\nmore text [4]", ["a", "b", "c", "d"])
    assert parsed.answer == "Neil Armstrong ,"
    assert parsed.citations == ["b", "a", "c", "d"] and parsed.invalid == [9]
    assert parse_answer("\n\n  Paris.  ", []).answer == "Paris"
    assert parse_answer("The answer is: 1969 [1]", ["x"]).answer == "1969"


def test_templates_are_checked_when_built():
    with pytest.raises(ValueError, match=r"must contain \{passages\}"):
        AnswerTemplate(name="t", user="Question: {question}")
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{query\}"):
        AnswerTemplate(name="t", user="{query} {passages}")
    closed = AnswerTemplate(name="cb", user="Q: {question}", with_passages=False)
    assert closed.render("why?").messages == (("user", "Q: why?"),)


# --- the Generator stage --------------------------------------------------------------------------------------------
def test_generator_ends_a_pipeline_and_cites_the_right_passages(demo, bm25, gold):
    generator = Generator(ScriptedLLM(reader(gold)), contexts=3)
    queries = demo.queries[:8]
    answers = (bm25 % 10 >> generator)(queries)
    assert isinstance(answers, Answers) and answers.name.endswith(f">> {generator}")
    assert set(answers.answers) == {q.qid for q in queries}
    for q in queries:
        answer = answers.answers[q.qid]
        top = bm25.search([q], k=10)[q.qid]
        assert [c["docid"] for c in answer.contexts] == top.docids  # the ranking it answered from
        assert [c["in_prompt"] for c in answer.contexts] == [True] * 3 + [False] * 7
        if answer.citations:  # the reader cited the passage holding the answer: that document holds it
            cited = demo.corpus[answer.citations[0]].contents
            assert any(normalize_answer(g) in normalize_answer(cited) for g in gold[q.qid])
            assert answer.answer in gold[q.qid]
        else:
            assert answer.answer == "unknown"
            assert not any(normalize_answer(g) in normalize_answer(demo.corpus[d].contents)
                           for d in top.docids[:3] for g in gold[q.qid])
    assert generator.costs.totals()["calls"] == 8 and generator.failures == 0
    # the output is a run: its evidence evaluates like any run
    judged = Qrels({q.qid: demo.qrels[q.qid] for q in queries})
    assert evaluate(answers, judged, ["recall_10"]).aggregate == evaluate(
        bm25.search(queries, k=10), judged, ["recall_10"]).aggregate


def test_without_a_run_the_generator_answers_closed_book(demo):
    llm = ScriptedLLM({}, default="Mount Everest")
    answers = Generator(llm)(demo.queries[:2])
    assert "Passages" not in llm.prompts[0] and "Question: why is the sky blue" in llm.prompts[0]
    assert answers.answers["q01"].contexts == [] and answers.answers["q01"].answer == "Mount Everest"


def test_failed_and_empty_generations_are_counted_and_the_run_goes_on(demo, bm25):
    def reply(text):
        if "sky" in text:
            raise RuntimeError("the server went away")
        return "" if "vaccines" in text else "Something [1]"

    generator = Generator(ScriptedLLM(reply))
    with pytest.warns(RuntimeWarning, match="the server went away"):
        answers = (bm25 % 5 >> generator)(demo.queries[:4])
    got = {qid: (a.answer, a.error) for qid, a in answers.answers.items()}
    assert got["q01"] == ("", "RuntimeError: the server went away")
    assert got["q02"] == ("", "the model returned an empty answer")
    assert got["q03"] == ("Something", None) and got["q04"] == ("Something", None)
    assert generator.failures == 2 and generator.costs.totals()["errors"] == 2
    assert answers.answers["q01"].llm == {"calls": 1, "prompt_tokens": 0, "completion_tokens": 0, "errors": 1,
                                          "seconds": 0.0}


def test_a_context_that_does_not_fit_is_truncated_and_counted(demo, bm25):
    llm = ScriptedLLM({}, default="x [1]", context_length=200)
    generator = Generator(llm, contexts=5, max_new_tokens=10)
    answer = generator.answer(demo.queries[0], bm25.search(demo.queries[:1], k=5)["q01"])
    prompt_words = len(llm.prompts[0].split())
    assert prompt_words + 10 <= 200  # it fits the context
    assert answer.truncated + answer.dropped >= 1
    assert generator.costs.truncated["q01"] == answer.truncated + answer.dropped


# --- decomposition ----------------------------------------------------------------------------------------------
TWO_HOP = Dataset("two-hop", {
    "film": Document("film", "Kiss and Tell is a 1945 comedy film starring Shirley Temple as Corliss Archer.",
                     "Kiss and Tell (1945 film)"),
    "temple": Document("temple", "Shirley Temple was an actress who later served as Chief of Protocol of the United "
                                 "States.", "Shirley Temple"),
    "noise": Document("noise", "A government position is an office held in a state administration.", "Government"),
    "other": Document("other", "Corliss Archer is a fictional teenage girl of radio and film.", "Corliss Archer"),
}, [Query("h1", "What government position was held by the woman who portrayed Corliss Archer in the film Kiss "
                "and Tell?")], Qrels({"h1": {"film": 1, "temple": 1}}))


def test_decomposition_finds_the_second_hop_the_question_misses():
    bm25 = BM25Retriever().index(TWO_HOP.documents)
    question = TWO_HOP.queries[0]
    assert "temple" not in bm25.search([question], k=2)["h1"].docids
    decomposer = StandInDecomposer({"h1": ["Who portrayed Corliss Archer in Kiss and Tell?",
                                           "What government position did Shirley Temple hold?", question.text]})
    stage = Decompose(decomposer, bm25, k=2)
    pool = stage([question])["h1"]
    assert {"film", "temple"} <= set(pool.docids)
    assert stage.sub_questions["h1"] == decomposer.source["h1"][:2]  # the question itself is not a sub-question
    assert set(stage.seconds["h1"]) == {"decompose", "retrieve"}
    # through RAG: recorded in the answer, and the generator reads the merged pool
    llm = ScriptedLLM({}, default="Chief of Protocol [2]")
    answer = RAG(Generator(llm), bm25, decomposer=decomposer, k=2).answer(question)
    assert answer.sub_questions == stage.sub_questions["h1"] and "temple" in [c["docid"] for c in answer.contexts]
    assert set(answer.seconds) == {"decompose", "retrieve", "generate", "total"}


def test_merged_pools_are_the_union_in_rrf_order():
    a = Ranking("q", ["x", "y", "z"], [3, 2, 1], ["X", "Y", "Z"])
    b = Ranking("q", ["w", "x"], [9, 8], ["W", "X"])
    merged = merge_pools("q", [a, b])
    # RRF: x = 1/61 + 1/62, w = 1/61, y = 1/62, z = 1/63
    assert merged.docids == ["x", "w", "y", "z"] and merged.texts == ["X", "W", "Y", "Z"]


def test_sub_questions_are_parsed_from_messy_model_output():
    text = ("Sure! Here are the sub-questions:\n1. Who played Corliss Archer?\n2) What position did she hold?\n"
            "- Who played Corliss Archer?\n* Why?\nSub-question 3: Where is the film set?\nThe end.\n"
            "Question: Is the original question here?\n1. Q2: When was the film made?")
    assert parse_sub_questions(text, "Is the original question here?") == [
        "Who played Corliss Archer?", "What position did she hold?", "Where is the film set?",
        "When was the film made?"]
    assert parse_sub_questions(text, "Original?", 1) == ["Who played Corliss Archer?"]
    assert parse_sub_questions("I cannot help with that.", "Q?") == []


def test_supplied_sub_questions_file_errors_name_the_line(tmp_path):
    path = tmp_path / "subs.jsonl"
    path.write_text('{"id": "h1", "sub_questions": ["A b c?"]}\n{"id": "h2", "sub_questions": "nope"}\n')
    with pytest.raises(FormatError, match=r"subs.jsonl:2: field 'sub_questions' must be a list"):
        SuppliedDecomposer(path)
    path.write_text('{"id": "h1", "question": "Another question?", "sub_questions": ["A b c?"]}\n')
    with pytest.raises(FormatError, match=r"subs.jsonl:1: question 'h1' reads 'Another question\?'"):
        SuppliedDecomposer(path).decompose(TWO_HOP.queries[0])
    with pytest.raises(LookupError, match="no sub-questions for question 'zz'"):
        SuppliedDecomposer(path).decompose(Query("zz", "x"))
    lenient = SuppliedDecomposer(path, missing="original")
    assert lenient.decompose(Query("zz", "x")) == [] and lenient.unusable == 1


# --- runs, files and resume ------------------------------------------------------------------------------------------
def test_rag_run_writes_one_line_per_question_and_resumes(demo, bm25, gold, tmp_path):
    out = tmp_path / "answers.jsonl"
    llm = ScriptedLLM(reader(gold))
    rag = RAG(Generator(llm, contexts=3), bm25, k=10)
    rag.run(demo, out, limit=5)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and len(llm.prompts) == 5
    first = json.loads(lines[0])
    assert set(first) >= {"id", "question", "answer", "citations", "contexts", "sub_questions", "seconds", "llm"}
    assert first["pipeline"] == str(rag) and first["llm"]["calls"] == 1
    # an interruption tore the last line: it is removed and its question answered again
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:30], encoding="utf-8")
    with pytest.warns(RuntimeWarning, match=r"answers.jsonl:5: the last line is incomplete"):
        again = rag.run(demo, out, limit=7)
    assert rag.skipped == 4 and list(again.answers) == ["q05", "q06", "q07"] and len(llm.prompts) == 8
    records = read_answers(out)
    assert [r["id"] for _, r in records] == [f"q{i:02d}" for i in range(1, 8)]
    assert json.loads(lines[4])["answer"] == records[4][1]["answer"]  # the same answer as before the tear
    # another configuration must not append to this file
    with pytest.raises(ValueError, match="written by another configuration"):
        RAG(Generator(llm, contexts=2), bm25, k=10).run(demo, out)
    RAG(Generator(llm, contexts=2), bm25, k=10).run(demo, out, resume=False, limit=1)
    assert len(read_answers(out)) == 1


@pytest.mark.parametrize("text, line, message", [
    ('{"id": "q01", "answer": "x"}\n{"id": "q02", "answer": \n', 2, "not valid JSON"),
    ('{"id": "q01", "answer": "x"}\n{"answer": "y"}\n', 2, "missing field 'id'"),
    ('{"id": "q01", "answer": "x"}\n{"id": "q01", "answer": "y"}\n', 2, "answered twice (first on line 1)"),
    ('{"id": "q01", "answer": "x", "contexts": [{"docid": "d1"}]}\n', 1, "contexts[0] must be an object"),
    ('{"id": "q01", "answer": ["x"]}\n', 1, "field 'answer' must be a string"),
])
def test_malformed_answers_files_fail_naming_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError) as err:
        evaluate_answers(path, "demo")
    assert err.value.line == line and message in str(err.value) and "bad.jsonl" in str(err.value)


def test_answers_for_another_dataset_fail_naming_the_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "q01", "question": "why is the sky blue", "answer": "x"}\n'
                    '{"id": "dev000", "question": "Were Scott Derrickson and Ed Wood of the same nationality?", '
                    '"answer": "yes"}\n', encoding="utf-8")
    with pytest.raises(FormatError, match=r"a.jsonl:2: question id 'dev000' is not among the 30 test questions"):
        evaluate_answers(path, "demo")
    path.write_text('{"id": "q01", "question": "why is the sea blue", "answer": "x"}\n', encoding="utf-8")
    with pytest.raises(FormatError, match=r"a.jsonl:1: question 'q01' reads 'why is the sea blue' here"):
        evaluate_answers(path, "demo")


# --- evaluation --------------------------------------------------------------------------------------------------
def test_evaluation_of_known_answers_and_evidence(demo, bm25, gold):
    answers = RAG(Generator(ScriptedLLM(reader(gold)), contexts=3), bm25, k=10).run(demo)
    result = evaluate_answers(answers, demo)
    em = [float(a.answer != "unknown") for a in answers.answers.values()]  # the reader answers exactly or not at all
    assert result["em"] == pytest.approx(sum(em) / len(em)) and result["em"] == result["accuracy"]
    expected = evaluate(bm25.search(demo.queries, k=10), demo.qrels, ["recall_5", "recall_10", "MRR@10", "success_10"])
    for key in ("recall_5", "recall_10", "recip_rank_cut_10", "success_10"):
        assert result[key] == expected.aggregate[key]
        assert result.per_query[key] == expected.per_query[key]
    assert result["MRR@10"] == expected["MRR@10"] and result["Hits@10"] == expected["success_10"]
    # citation recall: the reader cites one passage holding the answer; it is relevant (grade >= 1) or not
    for qid, a in answers.answers.items():
        relevant = demo.qrels.relevant(qid)
        expected_recall = len(set(a.citations) & relevant) / len(relevant)
        assert result.per_query["citation_recall"][qid] == expected_recall
    assert result.counts["num_questions"] == 30 and result.counts["num_unscored"] == 0
    assert result.counts["llm_calls_per_q"] == 1


def test_unscored_and_missing_questions_are_counted_with_a_warning(demo, tmp_path):
    records = [{"id": "q01", "question": demo.queries[0].text, "answer": "Rayleigh scattering."},
               {"id": "q02", "question": demo.queries[1].text, "answer": "no idea"}]
    gold = {"q01": ["Rayleigh scattering"], "q02": None}
    with pytest.warns(UserWarning) as caught:
        result = evaluate_answers(records, demo, gold=gold)
    messages = " ".join(str(w.message) for w in caught)
    assert "28 of the 30 questions" in messages and "1 answered question(s) have no gold answer" in messages
    assert (result["em"], result["f1"], result.counts["num_unscored"], result.counts["num_missing"]) == (1, 1, 1, 28)
    assert result["recall_10"] is None  # closed-book: no evidence


def test_compare_answers_runs_the_paired_tests_of_compare(demo, bm25, gold):
    with_answer = RAG(Generator(ScriptedLLM(reader(gold)), contexts=3), bm25, k=10).run(demo)
    shallow = RAG(Generator(ScriptedLLM(reader(gold)), contexts=1), bm25, k=10).run(demo)
    table = compare_answers({"top3": with_answer, "top1": shallow}, demo, ["em", "f1", "MRR@10"],
                            test="permutation")
    a, b = evaluate_answers(with_answer, demo), evaluate_answers(shallow, demo)
    for metric in ("em", "f1"):
        expected = paired_test(b.per_query[metric], a.per_query[metric], "permutation")
        assert table.pvalues["top1"][metric] == expected.pvalue
        assert table.mean_differences["top1"][metric] == pytest.approx(expected.mean_difference)
    assert table.values["top1"]["recip_rank_cut_10"] == table.values["top3"]["recip_rank_cut_10"]
    with pytest.raises(ValueError, match="evidence metrics need retrieval"):
        compare_answers({"cb": Generator(ScriptedLLM({}, default="x"))(demo.queries), "rag": shallow}, demo, ["recall_10"])


# --- the demo's gold answers --------------------------------------------------------------------------------------
def test_every_demo_answer_is_stated_by_a_passage_judged_relevant(demo, gold):
    """Each accepted answer of each demo query occurs (normalised) in one of its passages judged 2 (answers it)."""
    assert set(gold) == {q.qid for q in demo.queries} and all(gold.values())
    for q in demo.queries:
        answering = [demo.corpus[d].contents for d, grade in demo.qrels[q.qid].items() if grade == 2]
        for answer in gold[q.qid]:
            assert any(f" {normalize_answer(answer)} " in f" {normalize_answer(p)} " for p in answering), (q, answer)


def test_gold_answers_file_errors(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "1", "text": "a", "answer": "x"}\n{"_id": "2", "text": "b"}\n'
                    '{"_id": "3", "text": "c", "answer": ["y", "z"]}\n', encoding="utf-8")
    assert read_gold_answers(path) == {"1": ["x"], "2": None, "3": ["y", "z"]}
    path.write_text('{"_id": "1", "text": "a", "answer": 3}\n', encoding="utf-8")
    with pytest.raises(FormatError, match=r"queries.jsonl:1: field 'answer' must be a string or a non-empty list"):
        read_gold_answers(path)


def test_answer_writer_refuses_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "1", "answer": "x"}\nnot json\n{"id": "2", "answer": "y"}\n', encoding="utf-8")
    with pytest.raises(FormatError, match=r"a.jsonl:2: not valid JSON"):
        AnswerWriter(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnswerWriter(path, resume=False).close()  # replacing it is fine
    assert path.read_text() == ""


def test_rag_objects_are_stages_compared_on_their_evidence(demo, bm25):
    from rankwise.pipeline import compare

    llm = ScriptedLLM({}, default="x")
    shallow, deep = RAG(Generator(llm), bm25, k=3), RAG(Generator(llm), bm25, k=10)
    table = compare([shallow, deep], demo, ["recall_10"], names=["k3", "k10"])
    expected = evaluate(bm25.search(demo.queries, k=3), demo.qrels, ["recall_10"])["recall_10"]
    assert table.values["k3"]["recall_10"] == expected < table.values["k10"]["recall_10"]
    assert isinstance(deep(demo.queries[:2]), Answers)
    with pytest.raises(ValueError, match="takes no input run"):
        (bm25 % 5 >> deep)(demo.queries[:1])


def test_llm_decomposer_parses_counts_unusable_answers_and_failures():
    from rankwise.rag import LLMDecomposer

    def reply(text):
        if "Kiss and Tell" in text:
            return "1. Who portrayed Corliss Archer in Kiss and Tell?\n2. What position did that actress hold?"
        if "nationality" in text:
            raise TimeoutError("no answer in 120 s")
        return "The answer is Paris."

    llm = ScriptedLLM(reply)
    decomposer = LLMDecomposer(llm, max_sub_questions=2)
    assert decomposer.decompose(TWO_HOP.queries[0]) == ["Who portrayed Corliss Archer in Kiss and Tell?",
                                                        "What position did that actress hold?"]
    assert "at most 2 simpler sub-questions" in llm.prompts[0] and TWO_HOP.queries[0].text in llm.prompts[0]
    assert decomposer.decompose(Query("x", "What is the capital of France?")) == []
    with pytest.warns(RuntimeWarning, match="no answer in 120 s"):
        assert decomposer.decompose(Query("y", "Were A and B of the same nationality?")) == []
    assert (decomposer.unusable, decomposer.failures, decomposer.costs.totals()["errors"]) == (2, 1, 1)
    assert decomposer.outputs["x"] == "The answer is Paris."
