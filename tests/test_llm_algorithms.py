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
from rankwise.rerank.llm.backends import UnsupportedRequest
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
    assert calls(reranker) == 2 * sum(n - 1 - p for p in range(passes)) == reranker.estimate(n).calls


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


def test_insertrank_writes_first_stage_scores_into_the_prompt():
    seen = []

    class Recording(OracleJudge):
        def _generated(self, text):
            seen.append(text)
            return super()._generated(text)

    query, ranking, qrels = make_case(5, seed=10)
    reranker = InsertRankReranker(Recording(qrels, [query], Run([ranking])), window=5, step=2)
    reranker.rerank(query, ranking)
    assert "[1] (BM25 score: 5.00) passage" in seen[0] and "[5] (BM25 score: 1.00) passage" in seen[0]


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
    assert grades_of(reranker.rerank(query, ranking), qrels)[:passes] == ideal(qrels)[:passes]
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


def test_icr_calibration_removes_the_position_bias():
    query, ranking, qrels = make_case(20, seed=14)
    calibrated = ICRReranker(judge_for(query, ranking, qrels))
    assert grades_of(calibrated.rerank(query, ranking), qrels) == ideal(qrels)
    assert calls(calibrated) == 2 and [r.step for r in calibrated.costs.records] == ["attention", "calibration"]
    raw = ICRReranker(judge_for(query, ranking, qrels), calibrate=False)
    assert grades_of(raw.rerank(query, ranking), qrels) != ideal(qrels)  # the judge's position bias shows through
    assert calls(raw) == 1


# --- reasoning ------------------------------------------------------------------------------------------------------
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
