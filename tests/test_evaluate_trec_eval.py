"""rankwise.evaluate against trec_eval's own expected outputs (../shared/data/trec_eval) and published DL19 numbers.

Makefile.quicktest.txt there gives the trec_eval command behind each out.test* file; each case below repeats it
with rankwise's options. Values are compared as trec_eval prints them (4 decimals, counts as integers).
"""
from __future__ import annotations

import math
import warnings

import pytest
from conftest import shared_path

from rankwise.evaluate import evaluate, evaluate_files, format_value
from rankwise.io import read_qrels, read_run
from rankwise.types import Ranking, Run

# Measures in the expected outputs that rankwise does not produce, and why:
ABSENT = {
    "runid", "relstring", "relstring_20",  # not numbers
    "rbp", "rbp_resid", "unj_5", "unj_10", "unj_20",  # newer than the trec_eval 9 inside pytrec_eval
    "11pt_avg_.25,.5,.75", "ndcg_1=3,2=9,4=4.5", "utility_2,-1,0,0",  # parameters rankwise does not pass on
}
# trec_eval 10 turns recall levels into document counts by rounding, trec_eval 9 (in pytrec_eval) by
# (long)(x + 0.9); see test_iprec_at_recall_is_trec_eval_9 below.
VERSION_DEPENDENT = ("iprec_at_recall_", "11pt_avg")

MEAS_PARAMS = [  # out.test.meas_params: -m iprec_at_recall..10,.20,.25,.75,.50 -m P.5,7,3 -m recall.20,2000 …
    "iprec_at_recall.0.10,0.20,0.25,0.75,0.50",
    "P.5,7,3",
    "recall.20,2000",
    "Rprec_mult.5.0,0.2,0.35",
    "ndcg_cut.10,20,23.4",
    "success.2,5,20",
]

CASES = {
    # expected file: (qrels, results, metrics, options)
    "out.test": ("qrels.test", "results.test", "official", {}),
    "out.test (qrels with comments)": ("qrels.test.with-comments", "results.test", "official", {}),
    "out.test.a": ("qrels.test", "results.test", "all_trec", {}),
    "out.test.aq": ("qrels.test", "results.test", "all_trec", {}),
    "out.test.aqc": ("qrels.test", "results.trunc", "all_trec", {"complete": True}),
    "out.test.aqcM": ("qrels.test", "results.trunc", "all_trec", {"complete": True, "depth": 100}),
    "out.test.aql": ("qrels.rel_level", "results.test", "all_trec", {"relevance_level": 2}),
    "out.test.meas_params": ("qrels.test", "results.test", MEAS_PARAMS, {}),
}


def read_expected(name: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in shared_path("trec_eval", name).read_text().splitlines():
        measure, qid, value = line.split("\t")
        rows[measure.strip(), qid] = value.strip()
    return rows


def read_trec_eval_run(name: str) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # results.trunc has junk after the run tag, which trec_eval ignores
        return read_run(shared_path("trec_eval", name), strict=False)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_trec_eval_output(case):
    qrels_file, run_file, metrics, options = CASES[case]
    expected = read_expected(case.split(" ")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # -c cases warn about the query missing from results.trunc
        qrels = read_qrels(shared_path("trec_eval", qrels_file))
        result = evaluate(read_trec_eval_run(run_file), qrels, metrics, **options)

    compared, wrong = set(), []
    for (measure, qid), printed in expected.items():
        if measure in ABSENT or measure.startswith(VERSION_DEPENDENT):
            continue
        assert measure in result.aggregate, f"{case}: rankwise did not produce {measure}"
        value = result.aggregate[measure] if qid == "all" else result.per_query[measure][qid]
        if format_value(measure, value) != printed and abs(value - float(printed)) >= 5e-5:
            wrong.append((measure, qid, printed, value))
        compared.add((measure, qid))
    assert not wrong, f"{case}: values differ from trec_eval's: {wrong[:10]}"
    # Every query trec_eval printed was evaluated, and nothing else.
    printed_queries = {qid for _, qid in expected if qid != "all"}
    if printed_queries:
        assert set(result.queries) == printed_queries
    assert len(compared) >= 15  # a guard against comparing (almost) nothing


def test_readable_names_give_trec_eval_values():
    expected = read_expected("out.test.aq")
    result = evaluate(
        read_trec_eval_run("results.test"),
        read_qrels(shared_path("trec_eval", "qrels.test")),
        ["nDCG@10", "AP@100", "R@100", "P@10", "AP", "RR", "nDCG", "R-Prec", "bpref", "Success@10"],
    )
    names = ["ndcg_cut_10", "map_cut_100", "recall_100", "P_10", "map", "recip_rank", "ndcg", "Rprec", "bpref",
             "success_10"]
    assert result.metrics == names
    for name in names:
        assert f"{result.aggregate[name]:.4f}" == expected[name, "all"]
        for qid in ("301", "302", "303"):
            assert f"{result.per_query[name][qid]:.4f}" == expected[name, qid]


def test_evaluate_files():
    expected = read_expected("out.test")
    folder = shared_path("trec_eval")
    result = evaluate_files(folder / "results.test", folder / "qrels.test", "official")
    assert result.run_name == "STANDARD"  # the run tag, as in trec_eval's runid row
    for measure in ("map", "gm_map", "Rprec", "bpref", "recip_rank", "P_10", "num_rel_ret"):
        assert format_value(measure, result[measure]) == expected[measure, "all"]


def test_iprec_at_recall_is_trec_eval_9():
    """iprec_at_recall follows trec_eval 9's recall-level rounding, which trec_eval 10 (the expected files)
    changed; this pins the difference down so that a pytrec_eval upgrade shows up here."""
    run = read_trec_eval_run("results.test")
    qrels = read_qrels(shared_path("trec_eval", "qrels.test"))
    result = evaluate(run, qrels, ["iprec_at_recall_0.10", "iprec_at_recall_0.60"])

    def interpolated(qid: str, level: float, rounding) -> float:
        relevant = {d for d, g in qrels[qid].items() if g >= 1}
        needed = rounding(level * len(relevant))
        best, found = 0.0, 0
        hits = [d in relevant for d in run[qid].docids]
        for rank, hit in enumerate(hits, start=1):
            found += hit
            if found >= needed:
                best = max(best, found / rank)
        return best

    trec_eval_9 = lambda x: int(x + 0.9)  # noqa: E731
    trec_eval_10 = lambda x: int(math.floor(x + 0.5))  # noqa: E731  (lround)
    expected = read_expected("out.test.aq")
    for qid, key, level in [("301", "iprec_at_recall_0.10", 0.1), ("302", "iprec_at_recall_0.60", 0.6)]:
        assert result.per_query[key][qid] == pytest.approx(interpolated(qid, level, trec_eval_9), abs=1e-12)
        assert f"{interpolated(qid, level, trec_eval_10):.4f}" == expected[key, qid]
        assert f"{result.per_query[key][qid]:.4f}" != expected[key, qid]


def test_judged_only_equals_evaluating_without_unjudged_documents():
    run = read_trec_eval_run("results.test")
    qrels = read_qrels(shared_path("trec_eval", "qrels.test"))
    judged_run = Run(
        Ranking(qid, [d for d in r.docids if d in qrels[qid]], [s for d, s in r if d in qrels[qid]])
        for qid, r in run.items()
    )
    assert judged_run.num_candidates < run.num_candidates  # the run does retrieve unjudged documents
    metrics = ["all_trec", "MRR@10"]
    with_flag = evaluate(run, qrels, metrics, judged_only=True)
    without_unjudged = evaluate(judged_run, qrels, metrics)
    plain = evaluate(run, qrels, metrics)
    assert with_flag.metrics == without_unjudged.metrics
    for metric in with_flag.metrics:
        for qid, value in with_flag.per_query[metric].items():
            assert value == pytest.approx(without_unjudged.per_query[metric][qid], abs=1e-12), (metric, qid)
    assert with_flag["map"] != pytest.approx(plain["map"])  # -J does change the numbers here


def test_dl19_bm25_reference_numbers():
    """DL19 BM25 top-100: nDCG@10 0.5058; with trec_eval -l 2, MAP@100 0.2476 and R@100 0.4910 (DATA.md).
    nDCG keeps using the graded judgments under -l 2."""
    qrels = read_qrels(shared_path("dl19", "qrels.txt"))
    run = read_run(shared_path("dl19", "bm25_top100.trec"))
    result = evaluate(run, qrels, ["nDCG@10", "map_cut_100", "recall_100"], relevance_level=2)
    assert len(result.queries) == 43
    assert f"{result['ndcg_cut_10']:.4f}" == "0.5058"
    assert f"{result['map_cut_100']:.4f}" == "0.2476"
    assert f"{result['recall_100']:.4f}" == "0.4910"
    assert f"{evaluate(run, qrels, ['nDCG@10'])['nDCG@10']:.4f}" == "0.5058"


@pytest.mark.parametrize(
    "name, ndcg10", [("rankgpt-gpt35.bm25top100.trec", "0.6938"), ("rankvicuna-7b.bm25top100.trec", "0.6682")]
)
def test_dl19_reference_runs(name, ndcg10):
    qrels = read_qrels(shared_path("dl19", "qrels.txt"))
    run = read_run(shared_path("dl19", "reference_runs", name))
    assert f"{evaluate(run, qrels, 'nDCG@10')['ndcg_cut_10']:.4f}" == ndcg10
