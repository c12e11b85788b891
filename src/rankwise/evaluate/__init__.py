"""Evaluation: trec_eval-exact metrics, paired significance tests and comparison tables."""
from rankwise.evaluate.compare import Comparison, compare_results, compare_runs
from rankwise.evaluate.metrics import (
    ACCEPTED_FORMS,
    DEFAULT_METRICS,
    EvalResult,
    EvaluationWarning,
    Measure,
    evaluate,
    evaluate_files,
    format_value,
    metric_key,
    resolve_metrics,
)
from rankwise.evaluate.significance import (
    PairedTestResult,
    adjust_pvalues,
    align,
    bonferroni,
    holm,
    paired_test,
    paired_ttest,
    permutation_test,
    wilcoxon_test,
)

__all__ = [
    "evaluate", "evaluate_files", "EvalResult", "EvaluationWarning", "DEFAULT_METRICS", "ACCEPTED_FORMS",
    "Measure", "resolve_metrics", "metric_key", "format_value",
    "PairedTestResult", "paired_test", "paired_ttest", "wilcoxon_test", "permutation_test", "align",
    "holm", "bonferroni", "adjust_pvalues",
    "compare_runs", "compare_results", "Comparison",
]
