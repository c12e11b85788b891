"""rankwise.evaluate.metrics on small hand-made runs whose values are worked out by hand in the comments."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from rankwise.evaluate import EvaluationWarning, evaluate, metric_key, resolve_metrics
from rankwise.types import Qrels, Ranking, Run

# One query, three judged documents (d1, d3 relevant; d2 judged non-relevant) and two unjudged ones (u1, u2).
QRELS = Qrels({"q1": {"d1": 1, "d2": 0, "d3": 1}})
SCORES = {"q1": {"u1": 0.9, "d1": 0.8, "u2": 0.7, "d2": 0.6, "d3": 0.5}}
HAND_METRICS = ["map", "P_5", "recip_rank", "ndcg", "bpref", "num_ret", "num_rel", "num_rel_ret", "MRR@1", "MRR@2"]


def quiet_evaluate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return evaluate(*args, **kwargs)


# --- metric names -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, key",
    [
        ("nDCG@10", "ndcg_cut_10"),
        ("ndcg@10", "ndcg_cut_10"),
        ("ndcg_cut_10", "ndcg_cut_10"),
        ("ndcg_cut.10", "ndcg_cut_10"),
        ("nDCG", "ndcg"),
        ("MRR@10", "recip_rank_cut_10"),
        ("RR@5", "recip_rank_cut_5"),
        ("recip_rank_cut_10", "recip_rank_cut_10"),
        ("MRR", "recip_rank"),
        ("RR", "recip_rank"),
        ("R@100", "recall_100"),
        ("Recall@100", "recall_100"),
        ("P@10", "P_10"),
        ("AP", "map"),
        ("MAP", "map"),
        ("AP@100", "map_cut_100"),
        ("Success@10", "success_10"),
        ("R-Prec", "Rprec"),
        ("Rprec", "Rprec"),
        ("bpref", "bpref"),
        ("num_rel_ret", "num_rel_ret"),
        ("gm_map", "gm_map"),
        ("iprec_at_recall_0.1", "iprec_at_recall_0.10"),  # trec_eval's own spelling of the parameter
    ],
)
def test_metric_names_resolve_to_trec_eval_keys(name, key):
    assert metric_key(name) == key


def test_parameter_lists_and_defaults_expand():
    assert [m.key for m in resolve_metrics("P.5,10")] == ["P_5", "P_10"]
    # trec_eval's default cut-offs for P
    assert [m.key for m in resolve_metrics("P")] == [f"P_{k}" for k in (5, 10, 15, 20, 30, 100, 200, 500, 1000)]
    assert [m.key for m in resolve_metrics(["map", "AP", "P@10", "P_10"])] == ["map", "P_10"]  # no duplicates


@pytest.mark.parametrize("bad", ["ndcg@", "nDCG@0", "MRR@0", "foo", "precision", "P@ten", "map.5", "runid", ""])
def test_unknown_metric_names_list_the_accepted_forms(bad):
    with pytest.raises(ValueError) as info:
        resolve_metrics([bad])
    message = str(info.value)
    assert repr(bad) in message or "cut-off" in message or "parameters" in message
    if "unknown metric" in message:
        assert "nDCG@10" in message and "recip_rank_cut_10" in message


def test_metric_names_must_be_strings():
    with pytest.raises(TypeError, match="strings"):
        resolve_metrics([10])


# --- values ---------------------------------------------------------------------------------------------------
def test_hand_computed_values():
    # Ranking u1 d1 u2 d2 d3, relevant d1 (rank 2) and d3 (rank 5), R = 2.
    r = quiet_evaluate(SCORES, QRELS, HAND_METRICS).aggregate
    assert r["map"] == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert r["P_5"] == pytest.approx(2 / 5)
    assert r["recip_rank"] == pytest.approx(1 / 2)
    ideal = 1 + 1 / math.log2(3)
    assert r["ndcg"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / ideal)
    # bpref: d1 has no judged non-relevant above it (1), d3 has d2 above it (1 - 1/min(R=2, N=1) = 0)
    assert r["bpref"] == pytest.approx(0.5)
    assert (r["num_ret"], r["num_rel"], r["num_rel_ret"]) == (5, 2, 2)
    assert r["recip_rank_cut_1"] == 0.0  # u1 alone is not relevant
    assert r["recip_rank_cut_2"] == pytest.approx(0.5)


def test_judged_only_hand_computed():
    # -J drops u1 and u2: d1 d2 d3, relevant at ranks 1 and 3.
    r = quiet_evaluate(SCORES, QRELS, HAND_METRICS, judged_only=True).aggregate
    assert r["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert r["P_5"] == pytest.approx(2 / 5)  # trec_eval divides by the cut-off even when fewer are retrieved
    assert r["recip_rank"] == 1.0
    assert r["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert r["bpref"] == pytest.approx(0.5)  # bpref only looks at judged documents anyway
    assert r["num_ret"] == 3
    # MRR@1 counts in the judged list, as P_1 would: d1 is first there
    assert r["recip_rank_cut_1"] == 1.0


def test_judged_only_equals_dropping_unjudged_documents():
    rng = np.random.default_rng(7)
    qrels, run = {}, {}
    for q in range(20):
        docs = [f"d{i}" for i in rng.choice(60, 30, replace=False)]
        qrels[f"q{q}"] = {d: int(rng.integers(-1, 3)) for d in docs[:20]}  # -1: in the pool but not judged
        run[f"q{q}"] = {f"d{i}": float(rng.random()) for i in rng.choice(60, 25, replace=False)}
    judged_run = {q: {d: s for d, s in docs.items() if qrels[q].get(d, -1) >= 0} for q, docs in run.items()}
    metrics = ["all_trec", "MRR@3", "MRR@10"]
    a = quiet_evaluate(run, qrels, metrics, judged_only=True)
    b = quiet_evaluate(judged_run, qrels, metrics)
    for m in a.metrics:
        assert a.per_query[m] == pytest.approx(b.per_query[m], abs=1e-12), m


def test_relevance_level_binarises_but_ndcg_stays_graded():
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 2.0, "b": 1.0}}
    level1 = evaluate(run, qrels, ["map", "P_5", "ndcg"])
    level2 = evaluate(run, qrels, ["map", "P_5", "ndcg"], relevance_level=2)
    assert level1["map"] == 1.0 and level2["map"] == pytest.approx(1 / 2)  # only b (rank 2) counts at level 2
    assert level1["P_5"] == pytest.approx(2 / 5) and level2["P_5"] == pytest.approx(1 / 5)
    assert level1["ndcg"] == level2["ndcg"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_mrr_at_k_is_recip_rank_of_the_cut_run():
    run = {"q1": {"x": 0.9, "y": 0.8, "d1": 0.7}, "q2": {"d1": 0.9}}
    qrels = {"q1": {"d1": 1}, "q2": {"d1": 1}}
    r = evaluate(run, qrels, ["MRR@2", "MRR@3", "MRR"])
    assert r.per_query["recip_rank_cut_2"] == {"q1": 0.0, "q2": 1.0}
    assert r.per_query["recip_rank_cut_3"] == pytest.approx({"q1": 1 / 3, "q2": 1.0})
    assert r["MRR@3"] == r["MRR"] == pytest.approx((1 / 3 + 1) / 2)


# --- trec_eval options ----------------------------------------------------------------------------------------
def test_depth_cuts_in_trec_eval_order():
    # a and b tie: trec_eval ranks the larger docid first, so -M1 keeps b.
    qrels = {"q": {"a": 1}}
    for run in ({"q": {"a": 1.0, "b": 1.0, "c": 0.5}}, Run([Ranking("q", ["a", "b", "c"], [1.0, 1.0, 0.5])])):
        assert evaluate(run, qrels, ["recip_rank", "num_ret"], depth=1).aggregate == {"recip_rank": 0.0, "num_ret": 1}
        assert evaluate(run, qrels, ["recip_rank"], depth=2)["recip_rank"] == pytest.approx(1 / 2)
    # A Ranking built unsorted (sort=False) is still cut by score, as trec_eval would.
    unsorted = Run([Ranking("q", ["c", "a", "b"], [0.5, 2.0, 1.0], sort=False)])
    assert evaluate(unsorted, qrels, ["recip_rank"], depth=1)["recip_rank"] == 1.0


def test_depth_then_judged_only():
    # trec_eval -M2 -J: cut to u1 d1 first, then drop u1: only d1 remains.
    r = quiet_evaluate(SCORES, QRELS, ["num_ret", "map"], depth=2, judged_only=True).aggregate
    assert r == {"num_ret": 1, "map": pytest.approx(1 / 2)}


def test_complete_counts_missing_queries_as_zero():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 1, "d": 1, "e": 0}}
    run = {"q1": {"b": 2.0, "a": 1.0}}  # q1: a at rank 2, AP 1/2
    metrics = ["map", "gm_map", "num_q", "num_ret", "num_rel", "P_5"]
    with pytest.warns(EvaluationWarning, match=r"1 of the 2 judged queries have no ranking .*complete=True.*'q2'"):
        partial = evaluate(run, qrels, metrics)
    assert partial.aggregate["num_q"] == 1 and partial.aggregate["map"] == 0.5
    with pytest.warns(EvaluationWarning, match="scored 0"):
        full = evaluate(run, qrels, metrics, complete=True)
    assert full.queries == ["q1", "q2"]
    assert full.aggregate["num_q"] == 2
    assert full.aggregate["map"] == pytest.approx(0.25)
    assert full.aggregate["num_ret"] == 2 and full.aggregate["num_rel"] == 3  # q2's 2 relevant still count
    assert full.per_query["num_ret"]["q2"] == 0 and full.per_query["map"]["q2"] == 0
    # gm_map: per-query values are log(max(AP, 1e-5)); the aggregate their exp-mean
    assert full.per_query["gm_map"] == pytest.approx({"q1": math.log(0.5), "q2": math.log(1e-5)})
    assert full.aggregate["gm_map"] == pytest.approx(math.sqrt(0.5 * 1e-5))


def test_empty_ranking_counts_as_missing():
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}}
    run = Run([Ranking("q1", ["a"], [1.0]), Ranking("q2", [], [])])
    with pytest.warns(EvaluationWarning, match="no ranking"):
        assert evaluate(run, qrels, ["map"]).queries == ["q1"]


def test_warnings_name_counts_and_examples():
    qrels = {"q1": {"a": 1}, "q2": {"a": 0}}
    run = {"q1": {"a": 1.0}, "q2": {"a": 1.0}, "q9": {"a": 1.0}}
    with pytest.warns(EvaluationWarning) as caught:
        r = evaluate(run, qrels, ["map"])
    messages = [str(w.message) for w in caught]
    assert any("1 of its 3 queries have no judgments" in m and "'q9'" in m for m in messages)
    assert any("no document judged relevant" in m and "'q2'" in m for m in messages)
    # as in trec_eval, the query without relevant documents is scored 0 and averaged in
    assert r.queries == ["q1", "q2"] and r["map"] == 0.5


def test_no_common_queries_is_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        with pytest.raises(ValueError, match="no query has both judgments and a ranking"):
            evaluate({"1": {"a": 1.0}}, {"q1": {"a": 1}})


# --- inputs ---------------------------------------------------------------------------------------------------
def test_run_objects_and_plain_dicts_agree():
    rng = np.random.default_rng(3)
    scores = {f"q{q}": {f"d{i}": float(rng.random()) for i in range(50)} for q in range(10)}
    qrels = {f"q{q}": {f"d{i}": int(rng.integers(0, 3)) for i in range(0, 80, 3)} for q in range(10)}
    as_run = evaluate(Run.from_dict(scores), qrels, ["all_trec", "MRR@10"], depth=20)
    as_dict = evaluate(scores, qrels, ["all_trec", "MRR@10"], depth=20)
    assert as_run.per_query == as_dict.per_query
    # numpy scalars are converted (pytrec_eval itself takes only Python numbers)
    np_scores = {q: {d: np.float32(s) for d, s in docs.items()} for q, docs in scores.items()}
    np_qrels = {q: {d: np.int64(g) for d, g in docs.items()} for q, docs in qrels.items()}
    float32_map = evaluate(np_scores, np_qrels, ["map"])["map"]
    assert float32_map == pytest.approx(evaluate(scores, qrels, ["map"])["map"], abs=1e-6)


@pytest.mark.parametrize(
    "run, qrels, message",
    [
        ({"q": {"a": float("nan")}}, {"q": {"a": 1}}, "NaN"),
        ({"q": {"a": "high"}}, {"q": {"a": 1}}, "not a number"),
        ({"q": {"a": 1.0}}, {"q": {"a": 1.5}}, "not an integer grade"),
    ],
)
def test_bad_values_are_errors(run, qrels, message):
    with pytest.raises(ValueError, match=message):
        evaluate(run, qrels)


@pytest.mark.parametrize("options", [{"relevance_level": 0}, {"depth": 0}, {"depth": 2.5}])
def test_bad_options_are_errors(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        evaluate(SCORES, QRELS, **options)


def test_parallel_evaluation_gives_the_same_numbers():
    rng = np.random.default_rng(11)
    run = {f"q{q}": {f"d{i}": float(rng.random()) for i in range(100)} for q in range(40)}
    qrels = {f"q{q}": {f"d{i}": int(rng.integers(0, 3)) for i in range(0, 150, 4)} for q in range(45)}
    one = quiet_evaluate(run, qrels, ["all_trec", "MRR@10"], complete=True)
    two = quiet_evaluate(run, qrels, ["all_trec", "MRR@10"], complete=True, n_jobs=2)
    assert one.per_query == two.per_query and one.aggregate == two.aggregate


# --- result object --------------------------------------------------------------------------------------------
def test_result_access_and_trec_eval_layout():
    r = quiet_evaluate(SCORES, QRELS, ["num_ret", "map", "nDCG@10"])
    assert r["AP"] == r["map"] == pytest.approx(0.45)
    with pytest.raises(KeyError, match="was not evaluated"):
        r["P@10"]
    lines = r.to_trec_eval(per_query=True).splitlines()
    assert lines[0] == "num_ret               \tq1\t5"
    assert lines[1] == "map                   \tq1\t0.4500"
    assert "map                   \tall\t0.4500" in lines
    assert r.to_dict()["per_query"]["map"] == {"q1": pytest.approx(0.45)}


# --- rankings cut after their last graded document -----------------------------------------------------------
BLIND_MEASURES = ["map", "map_cut_5", "map_cut_100", "gm_map", "P_1", "P_5", "P_30", "recall_5", "recall_100", "ndcg",
                  "ndcg_cut_3", "ndcg_cut_10", "recip_rank", "Rprec", "success_1", "success_10", "num_rel",
                  "num_rel_ret", "iprec_at_recall_0.00", "iprec_at_recall_0.50", "iprec_at_recall_1.00"]


@pytest.mark.parametrize("seed", range(4))
def test_rankings_cut_after_the_last_graded_document_give_pytrec_evals_values_on_the_whole_ranking(seed):
    """For the measures that read only graded documents' ranks, rankwise hands pytrec_eval each ranking only up to
    its last document with a non-zero grade (ties with it kept). Random runs with many score ties (a few distinct
    values), negative grades, graded documents deep in the list, queries with nothing relevant retrieved and
    relevance_level 1 and 2: every per-query value equals pytrec_eval's on the whole rankings."""
    import pytrec_eval

    rng = np.random.default_rng(seed)
    runs, qrels = {}, {}
    for q in range(40):
        n = int(rng.integers(1, 60))
        docids = [f"d{i:03d}" for i in rng.choice(200, n, replace=False)]
        scores = rng.integers(0, 6, n).astype(float)
        if q % 2:  # score order, but ties by ascending id: the reverse of trec_eval's (sort=False keeps it)
            order = sorted(range(n), key=lambda i: (-scores[i], docids[i]))
            runs[f"q{q}"] = Ranking(f"q{q}", [docids[i] for i in order], scores[order], sort=False)
        else:
            runs[f"q{q}"] = Ranking(f"q{q}", docids, scores)
        judged = rng.choice(200, 25, replace=False)
        grades = rng.choice([-1, 0, 0, 1, 2, 3], 25) if q % 7 else np.zeros(25, dtype=int)
        qrels[f"q{q}"] = {f"d{i:03d}": int(g) for i, g in zip(judged, grades)}
        if not any(qrels[f"q{q}"].values()):
            qrels[f"q{q}"]["d999"] = 1  # judged relevant, never retrieved
    run = Run(runs.values())
    for level in (1, 2):
        ours = quiet_evaluate(run, qrels, BLIND_MEASURES, relevance_level=level)
        measures = {m.rsplit("_", 1)[0] + "." + m.rsplit("_", 1)[1] if m[-1].isdigit() else m for m in BLIND_MEASURES}
        direct = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(run.to_dict())
        for m in BLIND_MEASURES:
            for qid, values in direct.items():
                assert ours.per_query[m][qid] == values[m], (level, m, qid)


def test_measures_that_see_the_whole_ranking_are_not_cut():
    # num_ret counts every retrieved document and bpref the judged non-relevant ones: with them the whole ranking goes.
    run = Run([Ranking("q1", ["d1", "u1", "d2", "u2"], [3.0, 2.0, 1.0, 0.5])])
    qrels = {"q1": {"d1": 1, "d2": 0, "d3": 1}}
    assert evaluate(run, qrels, ["num_ret", "map"]).aggregate == {"num_ret": 4, "map": 0.5}
    assert evaluate(run, qrels, ["bpref"]).aggregate == {"bpref": 0.5}
