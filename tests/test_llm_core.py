"""LLM reranking foundations: templates, answer parsing and repair, truncation, cost records and estimates, judges."""
from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise.rerank.llm import (
    TEMPLATES,
    CostLog,
    Prompt,
    Template,
    Usage,
    estimate,
    get_template,
    parse_choice,
    parse_permutation,
    split_answer,
)
from rankwise.rerank.llm.prompts import make_ids, placeholders
from rankwise.rerank.llm.records import bubble_count, window_count
from rankwise.rerank.llm.truncate import fit
from rankwise.testing import NoisyJudge, OracleJudge
from rankwise.types import Query, Ranking, Run

NUMERIC = [str(i) for i in range(1, 21)]


# --- parsing ------------------------------------------------------------------------------------------------------
def test_clean_permutation_is_read_as_written():
    parsed = parse_permutation("[3] > [1] > [2]", ["1", "2", "3"])
    assert parsed.order == [2, 0, 1] and not parsed.repaired and not parsed.fallback


def test_extra_text_is_ignored():
    parsed = parse_permutation("Sure! The ranking is: [2] > [1] > [3]. Hope this helps.", ["1", "2", "3"])
    assert parsed.order == [1, 0, 2] and not parsed.repaired


def test_duplicates_removed_unknown_dropped_missing_appended_in_previous_order():
    parsed = parse_permutation("[4] > [4] > [9] > [2] > [0]", ["1", "2", "3", "4", "5"])
    assert parsed.order == [3, 1, 0, 2, 4]
    assert (parsed.duplicates, parsed.unknown, parsed.missing) == (1, 2, 3) and parsed.repaired


@pytest.mark.parametrize("answer", ["", "I'm sorry, I cannot rank these passages.", "[] > []", "none"])
def test_answer_without_identifiers_keeps_the_input_order(answer):
    parsed = parse_permutation(answer, ["1", "2", "3", "4"])
    assert parsed.order == [0, 1, 2, 3] and parsed.fallback and not parsed.repaired


def test_bare_numbers_and_letters_are_read_loosely_and_flagged():
    parsed = parse_permutation("2 > 3 > 1", ["1", "2", "3"])
    assert parsed.order == [1, 2, 0] and parsed.loose and parsed.repaired
    letters = parse_permutation("[C] > [a] > [B]", ["A", "B", "C"], r"\[([A-Za-z])\]")
    assert letters.order == [2, 0, 1] and not letters.repaired


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]>0123456789ABCD ,.\nabc<>/", max_size=120), st.integers(min_value=1, max_value=30))
def test_any_answer_repairs_into_a_permutation(answer, n):
    assert sorted(parse_permutation(answer, make_ids(n, "numeric")).order) == list(range(n))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=40), max_size=40), st.integers(min_value=1, max_value=25),
       st.sampled_from([" > ", ">", ", ", " then "]), st.booleans())
def test_model_like_answers_keep_first_mentions_then_the_rest(mentions, n, sep, noise):
    answer = sep.join(f"[{m}]" for m in mentions)
    if noise:
        answer = "Ranking: " + answer + " (done)"
    parsed = parse_permutation(answer, make_ids(n, "numeric"))
    firsts = list(dict.fromkeys(m - 1 for m in mentions if 1 <= m <= n))  # independent: first valid mentions
    expected = firsts + [k for k in range(n) if k not in firsts] if firsts else list(range(n))
    assert parsed.order == expected
    assert sorted(parsed.order) == list(range(n))


def test_choice_takes_the_first_known_identifier():
    assert parse_choice("Passage B", ["A", "B"], r"Passage\s*([AB])\b").index == 1
    assert parse_choice("Passage C is best, then Passage A", ["A", "B"], r"Passage\s*([AB])\b").index == 0
    loose = parse_choice("I would say B.", ["A", "B"], r"Passage\s*([AB])\b")
    assert loose.index == 1 and loose.repaired
    assert parse_choice("no idea", ["A", "B"], r"Passage\s*([AB])\b").fallback


def test_reasoning_answer_section():
    s = split_answer("<think>passage 2 mentions it</think> <answer>[2]</answer>", r"<answer>(.*?)(?:</answer>|$)")
    assert (s.answer, s.reasoning, s.marked) == ("[2]", "<think>passage 2 mentions it</think>", True)
    unmarked = split_answer("<think>hmm</think> [3] > [1]", r"<answer>(.*?)</answer>")
    assert unmarked.answer == "[3] > [1]" and not unmarked.marked


# --- templates ----------------------------------------------------------------------------------------------------
def test_builtin_templates_name_their_paper_and_render():
    for template in TEMPLATES.values():
        assert template.paper, template.name
    # the expected value over graded labels is "Beyond Yes and No"'s (ProRank is an RL-trained prompt warm-up)
    assert "Beyond Yes and No" in TEMPLATES["fine-grained"].paper and "ProRank" not in TEMPLATES["fine-grained"].paper
    prompt, ids = get_template("rankzephyr").render_list("cats", ["a cat", "a dog"])
    assert ids == ["1", "2"] and prompt.is_chat
    user = dict(prompt.messages)["user"]
    assert "[1] a cat\n[2] a dog\n" in user and "Search Query: cats." in user and "Rank the 2 passages" in user


def test_rankgpt_writes_each_passage_as_a_turn():
    prompt, _ = get_template("rankgpt").render_list("cats", ["a cat", "a dog", "a bird"])
    roles = [r for r, _ in prompt.messages]
    # system, intro, reply, 3 × (passage, acknowledgement), final instruction
    assert roles == ["system", "user", "assistant"] + ["user", "assistant"] * 3 + ["user"]
    assert prompt.messages[3][1] == "[1] a cat" and prompt.messages[4][1] == "Received passage [1]."


def test_template_errors_name_the_placeholder():
    with pytest.raises(ValueError, match=r"\{doc\}"):
        Template("mine", "pointwise", user="Q: {query} D: {doc}", labels=("Yes", "No"))
    with pytest.raises(ValueError, match=r"must contain \{passage\}"):
        Template("mine", "pointwise", user="Q: {query}", labels=("Yes", "No"))
    with pytest.raises(ValueError, match="unknown template field"):
        Template.from_dict({"name": "x", "kind": "listwise", "user": "{passages}", "colour": "red"})
    with pytest.raises(ValueError, match="kind must be one of"):
        Template("mine", "groupwise", user="{passages}")
    with pytest.raises(ValueError, match="at most 26"):
        make_ids(27, "alpha")
    with pytest.raises(ValueError, match="pairwise template"):
        get_template("rankzephyr", "pairwise")


def test_user_template_from_dict_is_used():
    mine = Template.from_dict({"name": "mine", "kind": "pointwise", "user": "{query}||{passage}",
                               "labels": ["Y", "N"], "chat": False})
    assert mine.render_single("q", "p").text == "q||p" and placeholders(mine.user) == {"query", "passage"}


def test_icr_segments_are_the_papers_prompt_and_spans():
    segments = get_template("icr").icr_segments("what is x", ["first doc", "second doc"])
    # the prompt of ICR's code (retrieval type IE), and its spans: a passage from its identifier to its end, the
    # query span from the closing instruction on (the chat template's end follows it)
    assert "".join(s.text for s in segments) == (
        "Here are some paragraphs:\n\n[1] first doc\n\n[2] second doc\n\nPlease find information that are relevant "
        "to the following query in the paragraphs above.\n\nQuery: what is x")
    assert {s.name: s.text for s in segments if s.name} == {
        "doc:0": "[1] first doc", "doc:1": "[2] second doc",
        "query": "Please find information that are relevant to the following query in the paragraphs above.\n\n"
                 "Query: what is x"}


def test_icr_templates_must_put_the_query_after_the_passages():
    with pytest.raises(ValueError, match="followed by"):
        Template("mine", "icr", user="Query: {query}\n{passages}")
    mine = Template("mine", "icr", user="Query: {query}\n{passages}\nQuery again: {query}\nAnswer:",
                    passage="<p>{text}</p>\n")
    segments = {s.name: s.text for s in mine.icr_segments("q", ["a"]) if s.name}
    assert segments == {"doc:0": "<p>a", "query": "Query again: q\nAnswer:"}


# --- truncation ---------------------------------------------------------------------------------------------------
def _judge(context_length=1_000_000):
    q = Query("q", "the query")
    run = Run([Ranking("q", ["a"], [1.0], ["unused text"])])
    return OracleJudge({"q": {"a": 1}}, [q], run, context_length=context_length)


def test_fit_cuts_passages_to_the_share_of_the_context_and_keeps_their_start():
    judge = _judge(context_length=100)
    texts = [" ".join(f"w{i}_{k}" for k in range(50)) for i in range(4)]
    fitted = fit(judge, "one two three", texts, passages_per_prompt=4, overhead_tokens=20, answer_tokens=12,
                 max_passage_tokens=300)
    # (100 − 20 − 3 − 12) // 4 = 16 tokens per passage
    assert fitted.passage_budget == 16 and fitted.truncated == 4 and not fitted.overflow
    for original, cut in zip(texts, fitted.texts):
        assert original.startswith(cut) and judge.count_tokens(cut) == 16


def test_fit_never_raises_when_nothing_fits():
    judge = _judge(context_length=10)
    fitted = fit(judge, "a " * 100, ["x " * 100] * 3, passages_per_prompt=3, overhead_tokens=50, answer_tokens=5,
                 max_passage_tokens=300, max_query_tokens=4)
    assert fitted.overflow and judge.count_tokens(fitted.query) == 4
    assert all(judge.count_tokens(t) == fitted.passage_budget for t in fitted.texts)


# --- records and estimates ----------------------------------------------------------------------------------------
def test_cost_log_totals_and_per_query_means():
    log = CostLog("s")
    log.add("q1", "window", Usage(100, 10, 10, 0.5))
    log.add("q1", "window", Usage(200, 20, 20, 1.5, retries=2), repaired=True)
    log.add("q2", "window", Usage(50, 0, 1, 0.25), error="HTTPError: 503")
    totals = log.totals()
    assert (totals["calls"], totals["prompt_tokens"], totals["completion_tokens"]) == (3, 350, 30)
    assert (totals["repaired"], totals["fallback"], totals["errors"], totals["retries"]) == (1, 1, 1, 2)
    assert totals["queries"] == 2
    means = log.means()
    assert means["calls"] == 1.5 and means["prompt_tokens"] == 175 and means["latency_s"] == pytest.approx(1.125)
    per_query = log.per_query()
    assert per_query["q1"]["calls"] == 2 and per_query["q2"]["errors"] == 1
    table = log.table()
    assert "per query (mean)" in table and "350" in table and "175" in table


@pytest.mark.parametrize("n,w,s,calls", [(100, 20, 10, 9), (20, 20, 10, 1), (21, 20, 10, 2), (25, 20, 10, 2),
                                         (30, 10, 5, 5), (5, 20, 10, 1), (1, 20, 10, 0)])
def test_window_count_is_the_formula(n, w, s, calls):
    assert window_count(n, w, s) == calls
    if n > w:
        assert calls == math.ceil((n - w) / s) + 1


def test_estimates():
    e = estimate("listwise", 100, window=20, step=10, doc_tokens=100, query_tokens=10, overhead_tokens=100,
                 id_tokens=4)
    assert e.exact and e.calls == 9
    assert e.prompt_tokens == 9 * (100 + 10 + 20 * 104) and e.completion_tokens == 9 * 20 * 4
    first = estimate("first", 100)
    assert first.calls == 9 and first.completion_tokens == 0 and first.forward_passes == 9
    assert estimate("pairwise", 20, method="allpairs").calls == 380
    assert estimate("pairwise", 20, method="sliding", passes=3).calls == 2 * (19 + 18 + 17)
    assert estimate("setwise", 20, method="bubble", set_size=4, passes=2).calls == math.ceil(19 / 3) + math.ceil(18 / 3)
    heap = estimate("setwise", 100, method="heapsort", set_size=4, k=10)
    assert not heap.exact and heap.calls_min == 33 and heap.calls > heap.calls_min
    assert estimate("full-list", 100, context_length=4096).calls == 9  # 100 passages do not fit 4k tokens
    assert estimate("full-list", 100, context_length=32768).calls == 1
    assert estimate("icr", 100).calls == 2 and estimate("icr", 100).forward_passes == 3
    assert bubble_count(10, 2, 20) == sum(range(1, 10))  # full bubble sort: passes stop at n−1
    with pytest.raises(ValueError, match="unknown strategy"):
        estimate("groupwise", 10)


# --- judges -------------------------------------------------------------------------------------------------------
def _toy():
    query = Query("q1", "what do zebras eat")
    texts = ["Zebras eat grass on the savanna.", "Stock markets fell on Monday.", "Zebras sometimes eat bark too."]
    run = Run([Ranking("q1", ["d1", "d2", "d3"], [3.0, 2.0, 1.0], texts)])
    return query, texts, run, {"q1": {"d1": 2, "d2": 0, "d3": 1}}


def test_oracle_reads_identifiers_and_answers_in_the_prompts_style():
    query, texts, run, qrels = _toy()
    judge = OracleJudge(qrels, [query], run)
    prompt, _ = get_template("rankzephyr").render_list(query.text, texts)
    assert judge.generate([prompt], 100)[0].text == "[1] > [3] > [2]"
    pair = get_template("prp").render_pair(query.text, texts[1], texts[2])
    assert judge.generate([pair], 100)[0].text == "Passage B > Passage A"
    scored = judge.label_logprobs([get_template("prp").render_pair(query.text, texts[1], texts[0], for_logits=True)],
                                  ["A", "B"])[0]
    assert scored.logprobs["B"] > scored.logprobs["A"]
    yes = judge.label_logprobs([get_template("yes-no").render_single(query.text, texts[0])], ["Yes", "No"])[0]
    assert yes.logprobs["Yes"] - yes.logprobs["No"] == pytest.approx(3.0)  # log-odds 2·grade − 1


def test_oracle_finds_truncated_passages():
    query, texts, run, qrels = _toy()
    judge = OracleJudge(qrels, [query], run, key_chars=12)
    prompt, _ = get_template("rankzephyr").render_list(query.text, [t[:14] for t in texts])
    assert judge.generate([prompt], 100)[0].text == "[1] > [3] > [2]"


def test_noisy_judge_is_deterministic_per_prompt_and_errs_at_its_rate():
    query, texts, run, qrels = _toy()
    template = get_template("prp")
    variants = [f"{query.text} (variant {k})." for k in range(400)]  # 400 distinct prompts, none inside another
    prompts = [template.render_pair(v, texts[0], texts[1]) for v in variants]
    queries = [Query("q1", v) for v in variants]
    noisy = NoisyJudge(qrels, queries, corpus=dict(zip(["d1", "d2", "d3"], texts)), error_rate=0.3, seed=7)
    answers = [g.text for g in noisy.generate(prompts, 10)]
    again = [g.text for g in NoisyJudge(qrels, queries, corpus=dict(zip(["d1", "d2", "d3"], texts)), error_rate=0.3,
                                        seed=7).generate(prompts[::-1], 10)][::-1]
    assert answers == again  # the same prompt gets the same answer whatever the order of calls
    wrong = sum(a.startswith("Passage B") for a in answers) / len(answers)
    assert 0.08 < wrong < 0.22  # a shuffled pair is wrong half the time: 0.3 / 2 = 0.15 expected
    oracle = NoisyJudge(qrels, queries, corpus=dict(zip(["d1", "d2", "d3"], texts)), error_rate=0.0)
    assert all(g.text == "Passage A > Passage B" for g in oracle.generate(prompts[:20], 10))


def test_judge_needs_texts():
    query, texts, run, qrels = _toy()
    with pytest.raises(ValueError, match="carry no texts"):
        OracleJudge(qrels, [query], Run([Ranking("q1", ["d1"], [1.0])]))
    with pytest.raises(ValueError, match="probability"):
        NoisyJudge(qrels, [query], run, error_rate=1.5)


def test_prompt_needs_content():
    with pytest.raises(ValueError, match="messages or a raw text"):
        Prompt()
    assert re.search("user text", Prompt.chat([("user", "user text")]).plain())
