"""Comparison tables: several runs, several metrics, each run tested against a baseline.

Every non-baseline cell is a paired test of that run against the baseline on that metric's per-query values. The
correction for multiple testing treats **all those comparisons as one family** — (number of runs - 1) × (number
of metrics) p-values — so adding runs or metrics to a table makes each mark harder to earn, as it should.
A cell is marked ``▲`` (better) or ``▼`` (worse) when its adjusted p-value is below ``alpha``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from rankwise.evaluate.metrics import (
    DEFAULT_METRICS,
    EvalResult,
    evaluate,
    format_value,
    metric_key,
)
from rankwise.evaluate.significance import (
    CORRECTIONS,
    TESTS,
    adjust_pvalues,
    paired_test,
)
from rankwise.types import Qrels, Run

BETTER, WORSE = "▲", "▼"
_TEST_NAMES = {
    "ttest": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "permutation": "paired randomisation test",
}


@dataclass
class Comparison:
    """Values, p-values and significance marks of runs against a baseline (see :func:`compare_runs`).

    ``values[run][metric]`` are aggregate values; ``pvalues`` / ``adjusted_pvalues`` / ``mean_differences``
    ``[run][metric]`` exist for every run but the baseline.
    """

    runs: list[str]
    metrics: list[str]
    baseline: str
    test: str
    correction: str | None
    alpha: float
    values: dict[str, dict[str, float]]
    pvalues: dict[str, dict[str, float]]
    adjusted_pvalues: dict[str, dict[str, float]]
    mean_differences: dict[str, dict[str, float]]
    results: dict[str, EvalResult] = field(repr=False, default_factory=dict)

    @property
    def num_comparisons(self) -> int:
        return sum(len(row) for row in self.pvalues.values())

    def significant(self, run: str, metric: str) -> bool:
        if run == self.baseline:
            return False
        return self.adjusted_pvalues[run][self._key(metric)] < self.alpha

    def mark(self, run: str, metric: str) -> str:
        """``▲`` / ``▼`` when ``run`` is significantly better / worse than the baseline on ``metric``, else ""."""
        if not self.significant(run, metric):
            return ""
        return BETTER if self.mean_differences[run][self._key(metric)] > 0 else WORSE

    def _key(self, metric: str) -> str:
        return metric if metric in self.metrics else metric_key(metric)

    def legend(self) -> str:
        if self.correction:
            family = (
                f"{self.correction.capitalize()} correction over {self.num_comparisons} comparisons = "
                f"{len(self.runs) - 1} runs × {len(self.metrics)} metrics"
            )
        else:
            family = "no correction for multiple comparisons"
        return (
            f"{BETTER}/{WORSE}: significantly better/worse than the baseline {self.baseline!r} at p < {self.alpha:g} "
            f"({_TEST_NAMES[self.test]}; {family})"
        )

    def _cells(self) -> list[list[str]]:
        rows = []
        for run in self.runs:
            label = f"{run} (baseline)" if run == self.baseline else run
            rows.append([label] + [format_value(m, self.values[run][m]) + self.mark(run, m) for m in self.metrics])
        return rows

    def __str__(self) -> str:
        header = ["run"] + self.metrics
        rows = self._cells()
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header] + rows]
        return "\n".join(lines + ["", self.legend()])

    def to_markdown(self) -> str:
        header = ["run"] + self.metrics
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(self.metrics)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self._cells()]
        return "\n".join(lines + ["", self.legend()])

    def _repr_html_(self) -> str:
        """The table as HTML, for Jupyter (the table of ``rankwise report``)."""
        from rankwise.report.page import comparison_fragment

        return comparison_fragment(self)

    def to_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "test": self.test,
            "correction": self.correction,
            "alpha": self.alpha,
            "metrics": list(self.metrics),
            "runs": {
                run: {
                    m: {
                        "value": self.values[run][m],
                        **(
                            {}
                            if run == self.baseline
                            else {
                                "mean_difference": self.mean_differences[run][m],
                                "pvalue": self.pvalues[run][m],
                                "adjusted_pvalue": self.adjusted_pvalues[run][m],
                                "significant": self.significant(run, m),
                                "mark": self.mark(run, m),
                            }
                        ),
                    }
                    for m in self.metrics
                }
                for run in self.runs
            },
        }


def compare_runs(
    runs: Sequence[Run] | Mapping[str, Run | Mapping[str, Mapping[str, float]]],
    qrels: Qrels | Mapping[str, Mapping[str, int]],
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    baseline: str | int = 0,
    test: str = "ttest",
    correction: str | None = "holm",
    alpha: float = 0.05,
    relevance_level: int = 1,
    judged_only: bool = False,
    depth: int | None = None,
    complete: bool = False,
    on_mismatch: str = "error",
    n_permutations: int = 10_000,
    seed: int | None = 0,
) -> Comparison:
    """Evaluate ``runs`` (a list of named :class:`Run` s, or ``{name: run}``) and test each against ``baseline``
    (a name or an index; the first run by default) on every metric.

    ``test`` is ``"ttest"``, ``"wilcoxon"`` or ``"permutation"``; ``correction`` ``"holm"``, ``"bonferroni"`` or
    None, applied over all (run, metric) comparisons at once. Evaluation options are :func:`evaluate` 's. Runs
    must cover the same queries unless ``on_mismatch`` (``"intersect"`` / ``"zero"``) or ``complete=True`` says
    how to pair them.
    """
    _check_test_options(test, correction, alpha)
    named = _named_runs(runs)
    options = dict(relevance_level=relevance_level, judged_only=judged_only, depth=depth, complete=complete)
    results = {name: evaluate(run, qrels, metrics, **options) for name, run in named.items()}
    return compare_results(
        results,
        baseline=baseline,
        test=test,
        correction=correction,
        alpha=alpha,
        on_mismatch=on_mismatch,
        n_permutations=n_permutations,
        seed=seed,
    )


def compare_results(
    results: Mapping[str, EvalResult],
    *,
    baseline: str | int = 0,
    test: str = "ttest",
    correction: str | None = "holm",
    alpha: float = 0.05,
    on_mismatch: str = "error",
    n_permutations: int = 10_000,
    seed: int | None = 0,
) -> Comparison:
    """:func:`compare_runs` on runs already evaluated (``{name: EvalResult}``, same metrics in each)."""
    _check_test_options(test, correction, alpha)
    names = list(results)
    if len(names) < 2:
        raise ValueError(f"a comparison needs at least two runs, got {len(names)}")
    base = _baseline_name(baseline, names)
    metrics = results[base].metrics
    for name in names:
        if results[name].metrics != metrics:
            raise ValueError(
                f"run {name!r} was evaluated on {results[name].metrics}, the baseline on {metrics}; "
                "evaluate every run on the same metrics"
            )

    tested = [(name, m) for name in names if name != base for m in metrics]
    outcomes = {
        (name, m): paired_test(
            results[name].per_query[m],
            results[base].per_query[m],
            test,
            on_mismatch=on_mismatch,
            n_permutations=n_permutations,
            seed=seed,
        )
        for name, m in tested
    }
    adjusted = dict(zip(tested, adjust_pvalues([outcomes[k].pvalue for k in tested], correction)))
    others = [name for name in names if name != base]
    return Comparison(
        runs=names,
        metrics=list(metrics),
        baseline=base,
        test=test,
        correction=correction,
        alpha=alpha,
        values={name: dict(results[name].aggregate) for name in names},
        pvalues={name: {m: outcomes[name, m].pvalue for m in metrics} for name in others},
        adjusted_pvalues={name: {m: adjusted[name, m] for m in metrics} for name in others},
        mean_differences={name: {m: outcomes[name, m].mean_difference for m in metrics} for name in others},
        results=dict(results),
    )


def _check_test_options(test: str, correction: str | None, alpha: float) -> None:
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {TESTS}")
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {CORRECTIONS}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _named_runs(runs) -> dict[str, Run | Mapping]:
    if isinstance(runs, Run):
        raise TypeError("compare_runs takes several runs: a list of Run objects or a {name: run} dict")
    if isinstance(runs, Mapping):
        return {str(name): run for name, run in runs.items()}
    named: dict[str, Run] = {}
    for i, run in enumerate(runs):
        name = getattr(run, "name", None)
        if not name:
            raise ValueError(f"run number {i} has no name; pass a {{name: run}} dict")
        if name in named:
            raise ValueError(f"two runs are named {name!r}; pass a {{name: run}} dict to tell them apart")
        named[name] = run
    return named


def _baseline_name(baseline: str | int, names: list[str]) -> str:
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        if not -len(names) <= baseline < len(names):
            raise ValueError(f"baseline index {baseline} is out of range for {len(names)} runs {names}")
        return names[baseline]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the runs {names}")
    return baseline
