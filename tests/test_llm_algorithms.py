"""Each LLM strategy returns what its algorithm guarantees and costs what it should, proved with stand-in judges
whose answers are known (a perfect judge from relevance labels, and one that errs or answers malformed)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
from conftest import shared_path

from rankwise.rerank.llm import (
    FirstReranker,
    FullListReranker,
    ICRReranker,
    InsertRankReranker,
    ListwiseReranker,
    PairwiseReranker,
    PointwiseReranker,
    ReasoningListwiseReranker,
    ReasoningReranker,
    SetwiseReranker,
    make_reranker,
)
from rankwise.io import read_candidates
from rankwise.rerank.llm import LLM, AttentionScores, Usage, get_template
from rankwise.rerank.llm.backends import UnsupportedRequest
from rankwise.rerank.llm.icr import masked_calibration
from rankwise.rerank.llm.sorting import bubble_passes
from rankwise.testing import NoisyJudge, OracleJudge
from rankwise.types import Query, Ranking, Run

WORDS = ("river stone cloud maple cedar ember frost meadow harbor lantern orbit pebble quartz raven saddle thistle "
         "tundra velvet willow zephyr").split()


def make_case(n: int, seed: int = 0, grades: str = "distinct", best_at: int | None = None):
    """One query with n distinct passages in a shuffled first-stage order; grades distinct (0..n−1) or TREC-like."""
    rng = random.Random(seed)
    docids = [f"d{i:03d}" for i in range(n)]
    texts = [f"passage {i}: " + " ".join(rng.choice(WORDS) for _ in range(10)) for i in range(n)]
    if grades == "distinct":
        values = list(range(n))
        rng.shuffle(values)
    else:
        values = [rng.choice([0, 0, 0, 1, 2, 3]) for _ in range(n)]
    if best_at is not None:  # put the best passage at this input rank
        top = values.index(max(values))
        values[top], values[best_at] = values[best_at], values[top]
    qrels = {"q": dict(zip(docids, values))}
    query = Query("q", "which passage is the most relevant one")
    ranking = Ranking("q", docids, np.arange(n, 0, -1, dtype=float), texts)
    return query, ranking, qrels


def case_with(values: list[int], query_text: str = "which passage is the most relevant one"):
    """One query whose candidates d0, d1, … (in this first-stage order) have the given grades."""
    docids = [f"d{i}" for i in range(len(values))]
    texts = [f"passage {i}: " + " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(8)) for i in range(len(values))]
    ranking = Ranking("q", docids, np.arange(len(values), 0, -1, dtype=float), texts)
    return Query("q", query_text), ranking, {"q": dict(zip(docids, values))}


def judge_for(query, ranking, qrels, **kwargs):
    return OracleJudge(qrels, [query], Run([ranking]), **kwargs)


def grades_of(result: Ranking, qrels) -> list[int]:
    return [qrels["q"][d] for d in result.docids]


def ideal(qrels) -> list[int]:
    return sorted(qrels["q"].values(), reverse=True)


def calls(reranker) -> int:
    return reranker.costs.totals()["calls"]


# --- pairwise -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["logits", "generate"])
def test_allpairs_with_a_perfect_judge_is_ideal_and_asks_every_ordered_pair(mode):
    query, ranking, qrels = make_case(12, seed=1)
    reranker = PairwiseReranker(judge_for(query, ranking, qrels), method="allpairs", mode=mode)
    result = reranker.rerank(query, ranking)
    assert grades_of(result, qrels) == ideal(qrels)
    assert calls(reranker) == 12 * 11
    assert reranker.estimate(12).calls == 12 * 11


def test_heapsort_returns_the_true_top_k_in_n_log_n_comparisons():
    n, k = 64, 10
    query, ranking, qrels = make_case(n, seed=2)
    reranker = PairwiseReranker(judge_for(query, ranking, qrels), method="heapsort", k=k)
    result = reranker.rerank(query, ranking)
    assert grades_of(result, qrels)[:k] == ideal(qrels)[:k]
    comparisons = calls(reranker) // 2  # every comparison asks both orders
    assert calls(reranker) % 2 == 0
    # binary heap: heapify ≤ 2n comparisons, each of the k−1 later sifts ≤ 2·⌊log2 n⌋
    assert comparisons <= 2 * n + 2 * (k - 1) * math.floor(math.log2(n))
    assert calls(reranker) <= reranker.estimate(n).calls
    assert comparisons < n * (n - 1) / 2 / 4  # far fewer than all pairs


def test_heapsort_on_an_input_that_is_already_a_heap_compares_each_edge_once():
    n = 20
    query, ranking, qrels = make_case(n, seed=3)
    order = sorted(ranking.docids, key=lambda d: -qrels["q"][d])  # ideal order is a max-heap
    ranked = Ranking("q", order, np.arange(n, 0, -1, dtype=float), [ranking.texts[ranking.docids.index(d)] for d in order])
    reranker = PairwiseReranker(judge_for(query, ranked, qrels), method="heapsort", k=1)
    assert reranker.rerank(query, ranked).docids[0] == order[0]
    assert calls(reranker) == 2 * (n - 1) == reranker.estimate(n, k=1).calls_min


@pytest.mark.parametrize("passes", [1, 3, 5])
def test_sliding_passes_settle_the_top_and_cost_exactly(passes):
    n = 15
    query, ranking, qrels = make_case(n, seed=4)
    reranker = PairwiseReranker(judge_for(query, ranking, qrels), method="sliding", passes=passes)
    result = reranker.rerank(query, ranking)
    assert grades_of(result, qrels)[:passes] == ideal(qrels)[:passes]
    settled = set(result.docids[:passes])
    assert result.docids[passes:] == [d for d in ranking.docids if d not in settled]  # the rest: input order
    assert calls(reranker) == 2 * sum(n - 1 - p for p in range(passes)) == reranker.estimate(n).calls


def test_bubble_passes_return_the_settled_top_then_the_rest_in_input_order():
    values = {0: 0, 1: 10, 2: 1, 3: 5}

    def best_of(group):
        return max(range(len(group)), key=lambda k: (values[group[k]], -k))

    # one pass of pairs bubbles 1 to the top and leaves [1, 0, 3, 2]; the Setwise paper's code returns [1, 0, 2, 3]
    assert bubble_passes(range(4), 1, 2, best_of) == [1, 0, 2, 3]
    assert bubble_passes(range(4), 2, 2, best_of) == [1, 3, 0, 2]
    assert bubble_passes(range(4), 9, 3, best_of) == [1, 3, 2, 0]  # passes stop at n − 1; all settled


@pytest.mark.parametrize("make", [
    lambda judge: PairwiseReranker(judge, method="sliding", passes=1),
    lambda judge: SetwiseReranker(judge, method="bubble", set_size=2, passes=1),
], ids=["pairwise-sliding", "setwise-bubble"])
def test_one_pass_settles_rank_one_and_keeps_the_rest_in_input_order(make):
    query, ranking, qrels = case_with([0, 10, 1, 5])
    reranker = make(judge_for(query, ranking, qrels))
    assert reranker.rerank(query, ranking).docids == ["d1", "d0", "d2", "d3"]


def test_reused_verdicts_save_calls_but_not_quality():
    query, ranking, qrels = make_case(15, seed=4)
    plain = PairwiseReranker(judge_for(query, ranking, qrels), method="sliding", passes=5)
    reuse = PairwiseReranker(judge_for(query, ranking, qrels), method="sliding", passes=5, reuse_verdicts=True)
    assert plain.rerank(query, ranking).docids == reuse.rerank(query, ranking).docids
    assert calls(reuse) < calls(plain)


def test_pairwise_cancels_position_bias():
    """A judge that always answers "Passage A" gives split verdicts on every pair: all ties, input order kept."""

    class AlwaysA(OracleJudge):
        def _generated(self, text):
            return "Passage A"

    query, ranking, qrels = make_case(6, seed=5)
    reranker = PairwiseReranker(AlwaysA(qrels, [query], Run([ranking])), method="allpairs", mode="generate")
    assert reranker.rerank(query, ranking).docids == ranking.docids


# --- listwise and FIRST ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ListwiseReranker, FirstReranker])
@pytest.mark.parametrize("n,window,step", [(100, 20, 10), (30, 10, 5), (25, 20, 10), (47, 8, 3)])
@pytest.mark.parametrize("where", ["bottom", "middle"])
def test_one_bottom_up_pass_carries_the_best_to_rank_one(cls, n, window, step, where):
    best_at = n - 1 if where == "bottom" else n // 2
    query, ranking, qrels = make_case(n, seed=n + window, best_at=best_at)
    reranker = cls(judge_for(query, ranking, qrels), window=window, step=step)
    result = reranker.rerank(query, ranking)
    got = grades_of(result, qrels)
    assert got[0] == n - 1  # the best document
    assert got[: window - step] == ideal(qrels)[: window - step]  # one pass settles the top w − s
    assert calls(reranker) == math.ceil((n - window) / step) + 1 == reranker.estimate(n).calls


def test_first_costs_one_forward_pass_per_window_and_writes_nothing():
    query, ranking, qrels = make_case(40, seed=6)
    reranker = FirstReranker(judge_for(query, ranking, qrels), window=20, step=10, passes=2)
    reranker.rerank(query, ranking)
    totals = reranker.costs.totals()
    assert totals["calls"] == 2 * 3 and totals["forward_passes"] == 6 and totals["completion_tokens"] == 0


def test_several_passes_sort_more():
    query, ranking, qrels = make_case(30, seed=7)
    reranker = ListwiseReranker(judge_for(query, ranking, qrels), window=10, step=5, passes=4)
    got = grades_of(reranker.rerank(query, ranking), qrels)
    assert got[:20] == ideal(qrels)[:20] and calls(reranker) == 4 * 5


def test_rankgpt_template_gives_the_same_order():
    query, ranking, qrels = make_case(30, seed=8)
    a = ListwiseReranker(judge_for(query, ranking, qrels), window=10, step=5)
    b = ListwiseReranker(judge_for(query, ranking, qrels), template="rankgpt", window=10, step=5)
    assert a.rerank(query, ranking).docids == b.rerank(query, ranking).docids


def test_full_list_is_one_call_when_it_fits_and_windows_otherwise():
    query, ranking, qrels = make_case(40, seed=9)
    roomy = FullListReranker(judge_for(query, ranking, qrels), window=10, step=5)
    assert grades_of(roomy.rerank(query, ranking), qrels) == ideal(qrels)
    assert calls(roomy) == 1 and roomy.costs.records[0].step == "full-list"
    tight = FullListReranker(judge_for(query, ranking, qrels, context_length=400), window=10, step=5)
    tight.rerank(query, ranking)
    assert calls(tight) == math.ceil((40 - 10) / 5) + 1 and {r.step for r in tight.costs.records} == {"window"}


class Recording(OracleJudge):
    """A perfect judge that keeps every prompt it generates for, and every generation limit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen, self.limits = [], []

    def generate(self, prompts, max_tokens, stop=()):
        self.seen += [p.plain() for p in prompts]
        self.limits.append(max_tokens)
        return super().generate(prompts, max_tokens, stop)


def test_insertrank_names_the_first_stage_in_the_prompt():
    query, ranking, qrels = make_case(5, seed=10)
    judge = Recording(qrels, [query], Run([ranking]))

    def prompt(run=None, **options):
        reranker = InsertRankReranker(judge, window=5, step=2, **options)
        reranker([query], run) if run is not None else reranker.rerank(query, ranking)
        return judge.seen[-1]

    # rankwise's BM25 retriever names its run "bm25"; a cutoff (% 100) is left out of the name
    assert "[1] (BM25 score: 5.00) passage" in prompt(Run([ranking], name="bm25"))
    assert "[5] (BM25 score: 1.00) passage" in prompt(Run([ranking], name="bm25 % 100"))
    assert "[1] (dense(bge-small-en-v1.5) score: 5.00)" in prompt(Run([ranking], name="dense(bge-small-en-v1.5)"))
    assert "[1] (SPLADE score: 5.00)" in prompt(Run([ranking], name="bm25"), score_name="SPLADE")  # the user's
    assert "[1] (first-stage score: 5.00)" in prompt()  # one ranking, no run: the stage is unknown
    assert "BM25" not in prompt(Run([ranking], name="candidates"))  # read from a file: unknown


def test_insertrank_never_shows_made_up_scores(tmp_path):
    query, ranking, qrels = make_case(5, seed=10)
    entries = [{"query": query.text, "qid": "q", "hits": [{"docid": d, "content": t}
                                                          for d, t in zip(ranking.docids, ranking.texts)]}]
    (tmp_path / "unscored.json").write_text(__import__("json").dumps(entries))
    queries, run = read_candidates(tmp_path / "unscored.json")  # rankwise numbers such hits by rank
    assert run["q"].pseudo_scores and run.top(3)["q"].pseudo_scores and not ranking.pseudo_scores
    judge = Recording(qrels, [query], Run([ranking]))
    with pytest.warns(UserWarning, match="carry no first-stage scores"):
        inserted = InsertRankReranker(judge, window=5, step=2)(queries, run)
    plain = ListwiseReranker(judge, window=5, step=2)(queries, run)
    assert judge.seen[0] == judge.seen[1] and "score" not in judge.seen[0]  # plain listwise (RankZephyr)
    assert inserted["q"].docids == plain["q"].docids
    # an LLM reranker's order carries no scores either: InsertRank after it is plain listwise too
    assert plain["q"].pseudo_scores
    with pytest.warns(UserWarning, match="carry no first-stage scores"):
        InsertRankReranker(judge, window=5, step=2).rerank(query, plain["q"])
    assert "score" not in judge.seen[-1]


# --- setwise ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["logits", "generate"])
@pytest.mark.parametrize("set_size", [2, 3, 4, 5])
def test_setwise_heapsort_returns_the_true_top_k(mode, set_size):
    n, k = 50, 10
    query, ranking, qrels = make_case(n, seed=set_size)
    reranker = SetwiseReranker(judge_for(query, ranking, qrels), method="heapsort", set_size=set_size, k=k, mode=mode)
    assert grades_of(reranker.rerank(query, ranking), qrels)[:k] == ideal(qrels)[:k]
    estimate = reranker.estimate(n)
    assert estimate.calls_min <= calls(reranker) <= estimate.calls


@pytest.mark.parametrize("set_size", [2, 4])
def test_setwise_heapify_of_a_heap_asks_once_per_internal_node(set_size):
    n = 30
    query, ranking, qrels = make_case(n, seed=11)
    order = sorted(ranking.docids, key=lambda d: -qrels["q"][d])
    ranked = Ranking("q", order, np.arange(n, 0, -1, dtype=float), [ranking.texts[ranking.docids.index(d)] for d in order])
    reranker = SetwiseReranker(judge_for(query, ranked, qrels), method="heapsort", set_size=set_size, k=1)
    reranker.rerank(query, ranked)
    assert calls(reranker) == math.ceil((n - 1) / (set_size - 1))


@pytest.mark.parametrize("set_size,passes", [(3, 1), (4, 3), (5, 10)])
def test_setwise_bubble_settles_the_top_and_costs_exactly(set_size, passes):
    n = 31
    query, ranking, qrels = make_case(n, seed=12)
    reranker = SetwiseReranker(judge_for(query, ranking, qrels), method="bubble", set_size=set_size, passes=passes)
    result = reranker.rerank(query, ranking)
    assert grades_of(result, qrels)[:passes] == ideal(qrels)[:passes]
    settled = set(result.docids[:passes])
    assert result.docids[passes:] == [d for d in ranking.docids if d not in settled]  # the rest: input order
    assert calls(reranker) == sum(math.ceil((n - p - 1) / (set_size - 1)) for p in range(passes))
    assert calls(reranker) == reranker.estimate(n).calls


# --- pointwise and ICR ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["yes-no", "fine-grained", "likelihood"])
def test_pointwise_scores_follow_the_grades_with_one_call_per_passage(method):
    query, ranking, qrels = make_case(25, seed=13, grades="trec")
    reranker = PointwiseReranker(judge_for(query, ranking, qrels), method=method, batch_size=7)
    result = reranker.rerank(query, ranking)
    assert grades_of(result, qrels) == ideal(qrels)
    assert calls(reranker) == 25 and reranker.costs.totals()["forward_passes"] == 25


def test_icr_orders_by_grade_from_calibrated_mean_attention():
    query, ranking, qrels = make_case(20, seed=14)
    judge = judge_for(query, ranking, qrels)
    icr = ICRReranker(judge)
    assert grades_of(icr.rerank(query, ranking), qrels) == ideal(qrels)
    assert calls(icr) == 2 and [r.step for r in icr.costs.records] == ["attention", "calibration"]
    raw = ICRReranker(judge, calibrate=False)
    assert grades_of(raw.rerank(query, ranking), qrels) != ideal(qrels)  # the judge's position bias shows through
    assert calls(raw) == 1
    # The judge's attention, like a model's, is paid by every token of the query span, so its totals grow with the
    # span: the query's span is longer than N/A's, and totals calibrated by subtraction (summed over the query
    # tokens instead of averaged) would keep the position bias.
    shown = ranking.docids[::-1]  # the paper's order: the first-stage best last, nearest the query
    prompts = [get_template("icr").icr_segments(q, [ranking.texts[ranking.docids.index(d)] for d in shown])
               for q in (query.text, "N/A")]
    real, content_free = judge.attention_batch(prompts, "query")
    assert real.source_tokens > content_free.source_tokens
    summed = {d: real.mass[f"doc:{k}"] - content_free.mass[f"doc:{k}"] for k, d in enumerate(shown)}
    assert [qrels["q"][d] for d in sorted(shown, key=lambda d: -summed[d])] != ideal(qrels)


def test_masked_calibration_drops_the_tokens_below_mean_minus_two_sigma():
    # calibrated values: nine tokens at +0.05 and one at −0.9 (mean −0.045, σ 0.3004): the −0.9 token is dropped
    assert masked_calibration([0.1] * 10, [0.05] * 9 + [1.0]) == pytest.approx(0.45)
    assert masked_calibration([0.1] * 4, [0.05] * 3 + [1.0]) == pytest.approx(-0.75)  # 4 tokens: never 2σ away
    assert masked_calibration([0.3] * 5, [0.1] * 5) == pytest.approx(1.0)  # σ = 0: every token kept
    assert masked_calibration([0.5], [0.2]) == pytest.approx(0.3)


class FixedAttention(LLM):
    """An engine whose attention is given per prompt position: (span length, {segment: per-token totals})."""

    capabilities = frozenset({"attention"})

    def __init__(self, passes):
        self.passes, self.prompts = passes, []

    def count_tokens(self, text):
        return len(text.split())

    def truncate_text(self, text, max_tokens):
        return text

    def attention_batch(self, prompts, source, chat=True):
        self.prompts += prompts
        return [AttentionScores({name: np.asarray(v, dtype=float) for name, v in tokens.items()}, n, Usage(1, 0, 1))
                for n, tokens in self.passes[: len(prompts)]]


def test_icr_averages_over_the_query_span_masks_and_maps_the_reversed_passages_back():
    ranking = Ranking("q", ["A", "B"], [2.0, 1.0], ["alpha text", "beta text"])
    # shown in reverse first-stage order: doc:0 is B, doc:1 is A. Query span 4 tokens, N/A span 2 tokens.
    engine = FixedAttention([
        (4, {"doc:0": 4 * np.array([0.06, 0.07] * 5), "doc:1": 4 * np.full(10, 0.1), "query": np.zeros(3)}),
        (2, {"doc:0": 2 * np.full(10, 0.04), "doc:1": 2 * np.array([0.05] * 9 + [1.0]), "query": np.zeros(3)}),
    ])
    result = ICRReranker(engine).rerank(Query("q", "what is alpha"), ranking)
    assert [s.text for s in engine.prompts[0] if s.name == "doc:0"] == ["[1] beta text"]
    # A: calibrated mean attention 0.05 × 9 (its −0.9 token masked) = 0.45; B: 0.02/0.03 × 5 = 0.25. Summing over
    # the span's tokens instead of averaging, or not masking, would put B first.
    assert result.docids == ["A", "B"] and result.scores == pytest.approx([0.45, 0.25])
    engine.prompts.clear()
    in_order = ICRReranker(engine, reverse_order=False).rerank(Query("q", "what is alpha"), ranking)
    assert [s.text for s in engine.prompts[0] if s.name == "doc:0"] == ["[1] alpha text"]
    assert in_order.docids == ["B", "A"]


# --- reasoning ------------------------------------------------------------------------------------------------------
def test_rank_r1_generates_up_to_2048_tokens():
    query, ranking, qrels = make_case(8, seed=15)
    judge = Recording(qrels, [query], Run([ranking]))
    reranker = ReasoningReranker(judge, k=1)
    reranker.rerank(query, ranking)
    assert set(judge.limits) == {2048 + 8}  # Rank-R1's limit, plus room for the answer
    assert reranker.estimate(8).completion_tokens == reranker.estimate(8).calls * 2048


def test_reasoning_rerankers_read_the_answer_section_and_keep_the_reasoning():
    query, ranking, qrels = make_case(20, seed=15)
    setwise = ReasoningReranker(judge_for(query, ranking, qrels), k=5)
    assert grades_of(setwise.rerank(query, ranking), qrels)[:5] == ideal(qrels)[:5]
    assert all(r.reasoning and "<think>" in r.reasoning for r in setwise.costs.records)
    listwise = ReasoningListwiseReranker(judge_for(query, ranking, qrels), window=10, step=5)
    assert grades_of(listwise.rerank(query, ranking), qrels)[:5] == ideal(qrels)[:5]
    assert setwise.mode == "generate" and listwise.costs.totals()["repaired"] == 0


# --- faults ---------------------------------------------------------------------------------------------------------
def test_malformed_answers_are_repaired_or_fall_back_and_are_all_counted():
    query, ranking, qrels = make_case(60, seed=16)
    judge = NoisyJudge(qrels, [query], Run([ranking]), error_rate=0.0, malformed_rate=1.0, seed=3)
    reranker = ListwiseReranker(judge, window=20, step=10, passes=2)
    result = reranker.rerank(query, ranking)
    assert sorted(result.docids) == sorted(ranking.docids)  # nothing lost, nothing duplicated
    totals = reranker.costs.totals()
    assert totals["calls"] == 2 * 5
    assert totals["repaired"] + totals["fallback"] == totals["calls"]  # every answer was malformed
    assert totals["fallback"] >= 1 and totals["repaired"] >= 1


def test_engine_failures_are_recorded_and_the_run_goes_on():
    class Flaky(OracleJudge):
        count = 0

        def generate(self, prompts, max_tokens, stop=()):
            Flaky.count += 1
            if Flaky.count % 2 == 0:
                raise TimeoutError("the engine timed out")
            return super().generate(prompts, max_tokens, stop)

    query, ranking, qrels = make_case(50, seed=17)
    reranker = ListwiseReranker(Flaky(qrels, [query], Run([ranking])), window=10, step=5)
    with pytest.warns(RuntimeWarning, match="timed out"):
        result = reranker.rerank(query, ranking)
    assert sorted(result.docids) == sorted(ranking.docids)
    totals = reranker.costs.totals()
    assert totals["errors"] == totals["calls"] // 2 == 4 and totals["fallback"] == 4


def test_noisy_judges_degrade_quality_reproducibly():
    from rankwise.evaluate import evaluate
    from rankwise.types import Qrels

    query, ranking, qrels = make_case(30, seed=18, grades="trec")

    def ndcg(error_rate, seed):
        judge = NoisyJudge(qrels, [query], Run([ranking]), error_rate=error_rate, seed=seed)
        reranker = PairwiseReranker(judge, method="allpairs")
        return evaluate(reranker([query], Run([ranking])), Qrels(qrels), ["ndcg_cut_10"]).aggregate["ndcg_cut_10"]

    assert ndcg(0.0, 1) == pytest.approx(1.0)
    assert ndcg(0.4, 1) == ndcg(0.4, 1)  # same seed, same run
    assert ndcg(0.4, 1) < 1.0


# --- construction errors ------------------------------------------------------------------------------------------
def test_bad_options_are_named():
    query, ranking, qrels = make_case(5)
    judge = judge_for(query, ranking, qrels)
    with pytest.raises(ValueError, match="step .* must not exceed window"):
        ListwiseReranker(judge, window=5, step=10)
    with pytest.raises(ValueError, match="at most 26"):
        FirstReranker(judge, window=30, step=10)
    with pytest.raises(ValueError, match="method must be one of"):
        PairwiseReranker(judge, method="quicksort")
    with pytest.raises(ValueError, match="does not take option"):
        make_reranker("llm:listwise", judge, windw=5)
    with pytest.raises(ValueError, match="unknown LLM reranker"):
        make_reranker("llm:groupwise", judge)
    assert make_reranker("llm:setwise", judge, method="bubble", k=None).method == "bubble"


def test_pointwise_likelihood_needs_an_engine_that_scores_continuations():
    query, ranking, qrels = make_case(5)

    class NoContinuation(OracleJudge):
        capabilities = frozenset({"generate", "labels"})

    with pytest.raises(UnsupportedRequest, match="continuation"):
        PointwiseReranker(NoContinuation(qrels, [query], Run([ranking])), method="likelihood")


# --- many queries, real judgments ---------------------------------------------------------------------------------
def test_perfect_judge_on_dl19_reaches_the_ideal_ndcg():
    """On real DL19 candidates and judgments (all 43 queries), listwise windows, setwise heapsort and pointwise scoring
    with the oracle reach the ndcg@10 of the ideal reordering of the same top-20 (computed independently, by sorting
    on the judgments). Real passages quote queries and each other: the judge must still read them right."""
    from rankwise.evaluate import evaluate
    from rankwise.io import read_candidates, read_qrels
    from rankwise.types import Qrels

    folder = shared_path("dl19")
    queries, run = read_candidates(folder / "bm25_top100.json")
    qrels = read_qrels(folder / "qrels.txt")
    queries = [q for q in queries if q.qid in qrels]
    qrels = Qrels({q.qid: qrels[q.qid] for q in queries})
    top = Run((run[q.qid].top(20) for q in queries), name="bm25")
    ideal_run = Run(Ranking(q.qid, top[q.qid].docids, [qrels[q.qid].get(d, 0) for d in top[q.qid].docids])
                    for q in queries)
    target = evaluate(ideal_run, qrels, ["ndcg_cut_10"]).aggregate["ndcg_cut_10"]
    judge = OracleJudge(qrels, queries, top)
    for reranker in (ListwiseReranker(judge, window=20, step=10), SetwiseReranker(judge, k=10),
                     PointwiseReranker(judge, method="yes-no"), PointwiseReranker(judge, method="likelihood")):
        reranked = reranker(queries, top)
        assert evaluate(reranked, qrels, ["ndcg_cut_10"]).aggregate["ndcg_cut_10"] == pytest.approx(target)
        assert reranker.costs.totals()["queries"] == 43
    bm25 = evaluate(top, qrels, ["ndcg_cut_10"]).aggregate["ndcg_cut_10"]
    assert target > bm25
