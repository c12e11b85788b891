"""Paired significance tests over per-query values, and multiple-testing correction.

Each test compares system ``a`` with system ``b`` on the same queries: pass per-query values as
``{qid: value}`` mappings (e.g. ``EvalResult.per_query["ndcg_cut_10"]``), which are aligned by query id, or as two
sequences already in the same query order. Differences are ``a - b``, so a positive ``mean_difference`` means
``a`` scores higher. All tests are two-sided.

* :func:`paired_ttest` — Student's paired t-test (``scipy.stats.ttest_rel``).
* :func:`wilcoxon_test` — Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; zero differences dropped, exact
  distribution for small samples as scipy chooses).
* :func:`permutation_test` — paired randomisation test: the mean difference against its distribution under random
  sign flips of the per-query differences; every one of the ``2**n`` flips when that is at most
  ``n_permutations``, else ``n_permutations`` seeded random ones with p = (hits + 1) / (n_permutations + 1).

Two systems that score the same on every query get p = 1 from every test (scipy would return NaN).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from rankwise.checks import positive_int

TESTS = ("ttest", "wilcoxon", "permutation")
CORRECTIONS = ("holm", "bonferroni", None)
MISMATCH_POLICIES = ("error", "intersect", "zero")


@dataclass(frozen=True)
class PairedTestResult:
    test: str
    statistic: float
    pvalue: float
    n: int  # number of paired queries
    mean_difference: float  # mean of a - b over those queries


PerQuery = Mapping[str, float] | Sequence[float] | np.ndarray


def align(a: PerQuery, b: PerQuery, *, on_mismatch: str = "error") -> tuple[list[str] | None, np.ndarray, np.ndarray]:
    """Pair up per-query values: ``(qids, values_a, values_b)`` (``qids`` is None for sequences).

    Mappings with different query sets raise ``ValueError`` unless ``on_mismatch`` says what to do:
    ``"intersect"`` keeps the common queries (and warns how many were dropped), ``"zero"`` scores a system's
    missing queries 0 (as ``trec_eval -c`` does).
    """
    if on_mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"on_mismatch must be one of {MISMATCH_POLICIES}, got {on_mismatch!r}")
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise TypeError("pass both systems' values as {qid: value} mappings, or both as sequences in one query order")
    if not isinstance(a, Mapping):
        x = np.asarray(a, dtype=np.float64).reshape(-1)
        y = np.asarray(b, dtype=np.float64).reshape(-1)
        if len(x) != len(y):
            raise ValueError(f"the two systems have {len(x)} and {len(y)} values; paired tests need one per query each")
        return None, x, y
    only_a = sorted(a.keys() - b.keys())
    only_b = sorted(b.keys() - a.keys())
    if only_a or only_b:
        counts = (
            f"{len(only_a)} queries only in the first system (e.g. {only_a[:1]}), "
            f"{len(only_b)} only in the second (e.g. {only_b[:1]})"
        )
        if on_mismatch == "error":
            raise ValueError(
                f"the systems were evaluated on different queries: {counts}; pass on_mismatch='intersect' to test "
                "the common queries, or 'zero' to score missing queries 0 (or evaluate with complete=True)"
            )
        if on_mismatch == "intersect":
            warnings.warn(f"testing only the common queries: {counts}", UserWarning, stacklevel=3)
    qids = sorted(a.keys() & b.keys()) if on_mismatch == "intersect" else sorted(a.keys() | b.keys())
    x = np.array([a.get(q, 0.0) for q in qids], dtype=np.float64)
    y = np.array([b.get(q, 0.0) for q in qids], dtype=np.float64)
    return qids, x, y


def _differences(a: PerQuery, b: PerQuery, on_mismatch: str, least: int) -> np.ndarray:
    _, x, y = align(a, b, on_mismatch=on_mismatch)
    if len(x) < least:
        raise ValueError(f"a paired test needs at least {least} queries in common, got {len(x)}")
    d = x - y
    if not np.isfinite(d).all():
        raise ValueError("per-query values must be finite numbers (found NaN or infinity)")
    return d


def paired_ttest(a: PerQuery, b: PerQuery, *, on_mismatch: str = "error") -> PairedTestResult:
    """Paired Student t-test of ``a`` against ``b`` (two-sided)."""
    d = _differences(a, b, on_mismatch, least=2)
    mean = float(d.mean())
    if np.ptp(d) <= 1e-12 * np.abs(d).max():
        # No variance (up to rounding): identical systems are not different (p = 1); a constant shift is the
        # t-test's limit (p = 0), which scipy would reach only through a "catastrophic cancellation" warning.
        if not d.any():
            return PairedTestResult("ttest", 0.0, 1.0, len(d), 0.0)
        return PairedTestResult("ttest", float(np.sign(mean) * np.inf), 0.0, len(d), mean)
    from scipy import stats  # imported on use: scipy.stats takes half a second to load

    result = stats.ttest_rel(d, np.zeros_like(d))
    return PairedTestResult("ttest", float(result.statistic), float(result.pvalue), len(d), mean)


def wilcoxon_test(a: PerQuery, b: PerQuery, *, on_mismatch: str = "error") -> PairedTestResult:
    """Wilcoxon signed-rank test of ``a`` against ``b`` (two-sided; zero differences dropped, scipy's default)."""
    d = _differences(a, b, on_mismatch, least=1)
    mean = float(d.mean())
    if not d.any():
        return PairedTestResult("wilcoxon", 0.0, 1.0, len(d), 0.0)
    from scipy import stats

    result = stats.wilcoxon(d)
    return PairedTestResult("wilcoxon", float(result.statistic), float(result.pvalue), len(d), mean)


def permutation_test(
    a: PerQuery,
    b: PerQuery,
    *,
    n_permutations: int = 10_000,
    seed: int | None = 0,
    on_mismatch: str = "error",
) -> PairedTestResult:
    """Paired randomisation test of the mean difference (two-sided), by sign flips of per-query differences.

    Enumerates all ``2**n`` flips when that is at most ``n_permutations`` (an exact p-value, as
    ``scipy.stats.permutation_test`` gives); otherwise draws ``n_permutations`` flips from ``seed``.
    """
    positive_int("n_permutations", n_permutations)
    d = _differences(a, b, on_mismatch, least=1)
    n = len(d)
    observed = float(d.mean())
    # Work with sums (the mean times n). Flips whose |sum| equals the observed one up to rounding count as
    # "as extreme": the tolerance is far below any real difference but above summation-order noise.
    threshold = abs(float(d.sum())) - 1e-10 * float(np.abs(d).sum())
    exact = n < 63 and 2**n <= n_permutations
    hits = 0
    if exact:
        total = 2**n
        for start in range(0, total, 4096):
            codes = np.arange(start, min(start + 4096, total), dtype=np.int64)
            signs = 1 - 2 * ((codes[:, None] >> np.arange(n)) & 1)
            hits += int((np.abs(signs @ d) >= threshold).sum())
        pvalue = hits / total
    else:
        rng = np.random.default_rng(seed)
        done = 0
        batch = max(1, min(n_permutations, 2_000_000 // n))  # about 16 MB of signs at a time
        while done < n_permutations:
            size = min(batch, n_permutations - done)
            signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
            hits += int((np.abs(signs @ d) >= threshold).sum())
            done += size
        pvalue = (hits + 1) / (n_permutations + 1)
    return PairedTestResult("permutation", observed, min(1.0, pvalue), n, observed)


def paired_test(
    a: PerQuery,
    b: PerQuery,
    test: str = "ttest",
    *,
    on_mismatch: str = "error",
    n_permutations: int = 10_000,
    seed: int | None = 0,
) -> PairedTestResult:
    """Run the paired test named ``test``: ``"ttest"``, ``"wilcoxon"`` or ``"permutation"``."""
    if test == "ttest":
        return paired_ttest(a, b, on_mismatch=on_mismatch)
    if test == "wilcoxon":
        return wilcoxon_test(a, b, on_mismatch=on_mismatch)
    if test == "permutation":
        return permutation_test(a, b, n_permutations=n_permutations, seed=seed, on_mismatch=on_mismatch)
    raise ValueError(f"unknown test {test!r}; choose one of {TESTS}")


# --- multiple testing ---------------------------------------------------------------------------------------
def bonferroni(pvalues: Sequence[float]) -> list[float]:
    """Bonferroni-adjusted p-values: ``min(1, m * p)`` for ``m`` tests."""
    p = _pvalues(pvalues)
    return np.minimum(1.0, p * len(p)).tolist()


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm (step-down Bonferroni) adjusted p-values, in the input order.

    With ``p_(1) <= … <= p_(m)``, the adjusted ``p_(i)`` is ``max_{j<=i} min(1, (m - j + 1) * p_(j))``.
    """
    p = _pvalues(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted.tolist()


def adjust_pvalues(pvalues: Sequence[float], method: str | None) -> list[float]:
    """Adjust a family of p-values with ``"holm"``, ``"bonferroni"`` or ``None`` (unchanged)."""
    if method is None:
        return _pvalues(pvalues).tolist()
    if method == "holm":
        return holm(pvalues)
    if method == "bonferroni":
        return bonferroni(pvalues)
    raise ValueError(f"unknown correction {method!r}; choose one of {CORRECTIONS}")


def _pvalues(pvalues: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    return p
