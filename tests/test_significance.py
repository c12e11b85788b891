"""Paired tests against scipy and hand-worked examples; Holm and Bonferroni by hand."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rankwise.evaluate import (
    adjust_pvalues,
    align,
    bonferroni,
    holm,
    paired_test,
    paired_ttest,
    permutation_test,
    wilcoxon_test,
)

RNG = np.random.default_rng(2024)
BASE = RNG.random(40)
SYSTEM = np.clip(BASE + RNG.normal(0.04, 0.12, 40), 0, 1)


def mean_difference(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def test_ttest_matches_scipy():
    ours = paired_ttest(SYSTEM, BASE)
    theirs = stats.ttest_rel(SYSTEM, BASE)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-12)
    assert ours.n == 40 and ours.mean_difference == pytest.approx(np.mean(SYSTEM - BASE))


@pytest.mark.parametrize("n", [12, 40, 300])  # exact distribution (small n) and normal approximation
def test_wilcoxon_matches_scipy(n):
    rng = np.random.default_rng(n)
    a = np.round(rng.random(n), 2)  # rounding makes ties and zero differences
    b = np.round(np.clip(a + rng.normal(0.03, 0.1, n), 0, 1), 2)
    ours = wilcoxon_test(a, b)
    theirs = stats.wilcoxon(a, b)
    assert ours.statistic == pytest.approx(theirs.statistic)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-12)


def test_permutation_test_hand_computed():
    # differences 1, 2, 3: the 8 sign flips give sums ±6, ±4, ±2, 0, 0; |sum| >= 6 twice -> p = 2/8
    assert permutation_test([1, 2, 3], [0, 0, 0]).pvalue == 0.25
    # four equal differences: only all-plus and all-minus reach |sum| = 4 -> 2/16
    assert permutation_test([1, 1, 1, 1], [0, 0, 0, 0]).pvalue == 0.125
    # 0.1 + 0.2 - 0.3 is 0 in exact arithmetic, 5.6e-17 in floating point: every flip is as extreme
    assert permutation_test([0.1, 0.2, 0.0], [0.0, 0.0, 0.3]).pvalue == 1.0


def test_exact_permutation_test_matches_scipy():
    a, b = SYSTEM[:13], BASE[:13]  # 2**13 = 8192 flips <= 10,000: enumerated
    ours = permutation_test(a, b)
    theirs = stats.permutation_test(
        (a, b), mean_difference, permutation_type="samples", vectorized=True, n_resamples=10**6
    )
    assert ours.pvalue == theirs.pvalue
    assert ours.statistic == pytest.approx(theirs.statistic)


def test_random_permutation_test_agrees_with_scipy_and_is_seeded():
    ours = permutation_test(SYSTEM, BASE, n_permutations=20_000, seed=1)
    theirs = stats.permutation_test(
        (SYSTEM, BASE), mean_difference, permutation_type="samples", vectorized=True, n_resamples=20_000, rng=5
    )
    assert 0.001 < theirs.pvalue < 0.5  # a p-value in the range where the comparison says something
    assert ours.pvalue == pytest.approx(theirs.pvalue, abs=0.01)  # both have standard error < 0.004 here
    assert permutation_test(SYSTEM, BASE, n_permutations=2000, seed=9) == permutation_test(
        SYSTEM, BASE, n_permutations=2000, seed=9
    )


def test_identical_systems_are_not_different():
    for test in ("ttest", "wilcoxon", "permutation"):
        result = paired_test(BASE, BASE.copy(), test)
        assert result.pvalue == 1.0 and result.mean_difference == 0.0


def test_constant_shift_has_ttest_p_zero():
    result = paired_ttest(BASE + 0.1, BASE)
    assert result.pvalue == 0.0 and result.statistic == np.inf


def test_mappings_are_aligned_by_query_id():
    a = {f"q{i}": float(v) for i, v in enumerate(SYSTEM)}
    b = {f"q{i}": float(v) for i, v in reversed(list(enumerate(BASE)))}  # another order
    assert paired_ttest(a, b).pvalue == pytest.approx(stats.ttest_rel(SYSTEM, BASE).pvalue, rel=1e-12)


def test_mismatched_queries_need_a_policy():
    a = {"q1": 0.5, "q2": 0.7, "q3": 0.1}
    b = {"q1": 0.4, "q2": 0.3, "q4": 0.9}
    with pytest.raises(ValueError, match=r"1 queries only in the first.*on_mismatch='intersect'"):
        paired_ttest(a, b)
    with pytest.warns(UserWarning, match="common queries"):
        qids, x, y = align(a, b, on_mismatch="intersect")
    assert qids == ["q1", "q2"] and x.tolist() == [0.5, 0.7] and y.tolist() == [0.4, 0.3]
    qids, x, y = align(a, b, on_mismatch="zero")
    assert qids == ["q1", "q2", "q3", "q4"]
    assert x.tolist() == [0.5, 0.7, 0.1, 0.0] and y.tolist() == [0.4, 0.3, 0.0, 0.9]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: paired_ttest([0.1], [0.2]), "at least 2"),
        (lambda: paired_ttest([0.1, 0.2], [0.2]), "2 and 1 values"),
        (lambda: paired_ttest([0.1, np.nan], [0.2, 0.3]), "finite"),
        (lambda: paired_test([0.1, 0.2], [0.2, 0.3], "sign"), "unknown test"),
        (lambda: permutation_test([0.1, 0.2], [0.2, 0.3], n_permutations=0), "n_permutations"),
        (lambda: align({"q": 1.0}, {"q": 1.0}, on_mismatch="drop"), "on_mismatch"),
    ],
)
def test_bad_input_is_an_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- multiple testing -----------------------------------------------------------------------------------------
def test_holm_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # Bonferroni: 4p, capped at 1
    assert bonferroni(p) == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm, sorted 0.005, 0.01, 0.03, 0.04: 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(1*0.04, 0.06)=0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capping and monotonicity: sorted 0.2, 0.5 -> 2*0.2 = 0.4, max(0.5, 0.4) = 0.5
    assert holm([0.5, 0.2]) == pytest.approx([0.5, 0.4])
    assert bonferroni([0.5, 0.2]) == pytest.approx([1.0, 0.4])
    # ties: 3*0.01 = 0.03 for both, then 0.2
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])


def test_adjust_pvalues_dispatch():
    p = [0.01, 0.04]
    assert adjust_pvalues(p, None) == p
    assert adjust_pvalues(p, "holm") == holm(p)
    assert adjust_pvalues(p, "bonferroni") == bonferroni(p)
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_pvalues(p, "fdr")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])
