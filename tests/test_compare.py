"""Comparison tables over hand-made runs whose significant cells are known in advance."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rankwise.evaluate import compare_runs, holm
from rankwise.types import Ranking, Run

N = 12
QRELS = {f"q{i:02d}": {"rel": 1, "junk": 0} for i in range(N)}


def run_with_ranks(name: str, ranks: list[int]) -> Run:
    """A run where query i has its one relevant document at rank ranks[i] (among 5 candidates)."""
    rankings = []
    for i, rank in enumerate(ranks):
        docids = [f"other{j}" for j in range(4)]
        docids.insert(rank - 1, "rel")
        rankings.append(Ranking(f"q{i:02d}", docids, [5.0, 4.0, 3.0, 2.0, 1.0]))
    return Run(rankings, name=name)


RANKS = {
    "base": [2] * N,  # RR 0.5 everywhere, P@1 0
    "better": [1] * 11 + [2],  # RR +0.5 on 11 queries, P@1 +1 on 11: clearly better on both
    "worse": [3] * 10 + [2] * 2,  # RR -1/6 on 10 queries: clearly worse; P@1 unchanged
    "mixed": [1, 3] + [2] * 10,  # one up, one down: no difference
    "slight": [1] * 4 + [2] * 8,  # RR +0.5 on 4 of 12: raw t-test p = 0.039, not after correcting for 8 tests
}
RUNS = [run_with_ranks(name, ranks) for name, ranks in RANKS.items()]
METRICS = ["MRR", "P@1"]


def per_query(name: str) -> dict[str, np.ndarray]:
    ranks = np.array(RANKS[name])
    return {"recip_rank": 1 / ranks, "P_1": (ranks == 1).astype(float)}


def test_significant_cells_are_the_known_ones():
    table = compare_runs(RUNS, QRELS, METRICS)  # t-test, Holm, alpha 0.05, baseline = first run
    assert table.baseline == "base" and table.metrics == ["recip_rank", "P_1"]
    marks = {(run, m): table.mark(run, m) for run in RANKS for m in table.metrics}
    assert marks == {
        ("base", "recip_rank"): "", ("base", "P_1"): "",
        ("better", "recip_rank"): "▲", ("better", "P_1"): "▲",
        ("worse", "recip_rank"): "▼", ("worse", "P_1"): "",
        ("mixed", "recip_rank"): "", ("mixed", "P_1"): "",
        ("slight", "recip_rank"): "", ("slight", "P_1"): "",
    }
    assert table.values["better"]["recip_rank"] == pytest.approx((11 * 1 + 0.5) / 12)


def test_correction_is_over_all_runs_and_metrics():
    table = compare_runs(RUNS, QRELS, METRICS)
    family = [(run, m) for run in RANKS if run != "base" for m in ("recip_rank", "P_1")]
    assert table.num_comparisons == len(family) == 8
    raw = []
    for run, m in family:
        a, b = per_query(run)[m], per_query("base")[m]
        raw.append(1.0 if np.array_equal(a, b) else stats.ttest_rel(a, b).pvalue)
    assert [table.pvalues[run][m] for run, m in family] == pytest.approx(raw, rel=1e-9)
    assert [table.adjusted_pvalues[run][m] for run, m in family] == pytest.approx(holm(raw), rel=1e-9)
    # "slight" is significant on its own (p = 0.039) but not after Holm or Bonferroni over the 8 tests
    assert table.pvalues["slight"]["recip_rank"] == pytest.approx(0.0388, abs=1e-4)
    assert compare_runs(RUNS, QRELS, METRICS, correction=None).mark("slight", "MRR") == "▲"
    assert compare_runs(RUNS, QRELS, METRICS, correction="bonferroni").mark("slight", "MRR") == ""


@pytest.mark.parametrize("test", ["wilcoxon", "permutation"])
def test_other_tests_find_the_clear_cells(test):
    table = compare_runs(RUNS, QRELS, METRICS, test=test)
    assert table.mark("better", "recip_rank") == "▲" and table.mark("better", "P_1") == "▲"
    assert table.mark("worse", "recip_rank") == "▼"
    assert table.mark("mixed", "recip_rank") == "" and table.mark("worse", "P_1") == ""


def test_baseline_by_name_or_index():
    by_name = compare_runs(RUNS, QRELS, METRICS, baseline="better")
    by_index = compare_runs(RUNS, QRELS, METRICS, baseline=1)
    assert by_name.baseline == by_index.baseline == "better"
    assert by_name.mark("base", "P_1") == "▼"  # seen from "better", the old baseline is worse
    assert by_name.to_dict() == by_index.to_dict()


def test_text_table_markdown_and_dict():
    table = compare_runs({r.name: r for r in RUNS}, QRELS, METRICS)
    text = str(table).splitlines()
    assert text[0].split() == ["run", "recip_rank", "P_1"]
    assert text[1].startswith("base (baseline)")
    better = next(line for line in text if line.startswith("better"))
    assert better.split() == ["better", "0.9583▲", "0.9167▲"]
    # columns line up: every value of a column starts where its header does
    column = text[0].index("P_1")
    assert all(line[column - 1] == " " and line[column] != " " for line in text[1:6])
    assert "paired t-test" in text[-1] and "Holm correction over 8 comparisons" in text[-1] and "'base'" in text[-1]

    markdown = table.to_markdown().splitlines()
    assert markdown[0] == "| run | recip_rank | P_1 |"
    assert markdown[1] == "|---|---:|---:|"
    assert "| worse | 0.3611▼ | 0.0000 |" in markdown

    data = table.to_dict()
    assert data["runs"]["worse"]["recip_rank"]["mark"] == "▼"
    assert data["runs"]["worse"]["recip_rank"]["significant"] is True
    assert "pvalue" not in data["runs"]["base"]["recip_rank"]


def test_runs_on_different_queries_need_a_policy():
    partial = Run(list(run_with_ranks("partial", [1] * N).values())[:-2], name="partial")
    with pytest.warns(UserWarning):  # evaluate warns that two judged queries have no ranking
        with pytest.raises(ValueError, match="on_mismatch"):
            compare_runs([RUNS[0], partial], QRELS, METRICS)
    with pytest.warns(UserWarning):
        table = compare_runs([RUNS[0], partial], QRELS, METRICS, complete=True)
    assert table.values["partial"]["P_1"] == pytest.approx(10 / 12)  # the two missing queries count 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"runs": RUNS[:1]}, "at least two runs"),
        ({"runs": [RUNS[0], RUNS[0]]}, "two runs are named 'base'"),
        ({"baseline": "bm25"}, "not one of the runs"),
        ({"baseline": 7}, "out of range"),
        ({"test": "sign"}, "unknown test"),
        ({"correction": "fdr"}, "unknown correction"),
        ({"alpha": 5}, "alpha"),
    ],
)
def test_bad_arguments_are_errors(kwargs, message):
    arguments = {"runs": RUNS, "qrels": QRELS, "metrics": METRICS, **kwargs}
    with pytest.raises(ValueError, match=message):
        compare_runs(**arguments)
