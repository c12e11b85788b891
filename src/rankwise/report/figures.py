"""The report's figures as matplotlib figures, for notebooks and papers (``pip install 'rankwise[report]'``).

Each function takes a :class:`rankwise.report.Report` and returns a ``matplotlib.figure.Figure`` drawn from the same
numbers as the HTML page::

    report = build_report(runs, qrels, ["nDCG@10", "AP"])
    delta_figure(report).savefig("deltas.pdf")
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rankwise.report.assemble import RECALL_LEVELS
from rankwise.report.svg import BETTER_COLOR, WORSE_COLOR, run_colors

if TYPE_CHECKING:
    from rankwise.report.assemble import Report


def _pyplot():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("rankwise.report.figures draws with matplotlib: pip install 'rankwise[report]'") from None
    return Figure


def delta_figure(report: Report, runs: list[str] | None = None):
    """Per-query differences against the baseline on the primary metric, sorted, one panel per run."""
    Figure = _pyplot()
    runs = runs or list(report.deltas)
    fig = Figure(figsize=(9, 2.4 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs):
        values = np.array([d for _, d in report.deltas[run]])
        ax.bar(np.arange(len(values)), values, width=1.0,
               color=[BETTER_COLOR if v > 0 else WORSE_COLOR for v in values])
        ax.axhline(0, color="#333", linewidth=0.8)
        wins, ties, losses = report.win_tie_loss[run][report.primary]
        ax.set_title(f"{run} − {report.baseline}: {report.primary} per query ({wins} better, {ties} tied, "
                     f"{losses} worse)", fontsize=10, loc="left")
        ax.set_ylabel(f"Δ {report.primary}")
        ax.set_xlim(-0.5, len(values) - 0.5)
        ax.set_xticks([])
    return fig


def distribution_figure(report: Report, metrics: list[str] | None = None):
    """Box plots of the per-query values of each metric (box: quartiles; whiskers: minimum to maximum; ◆ mean)."""
    Figure = _pyplot()
    metrics = metrics or report.comparison.metrics
    colors = run_colors(report.runs)
    fig = Figure(figsize=(4 * len(metrics), 0.5 * len(report.runs) + 1.2), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        data = [list(report.results[run].per_query[metric].values()) for run in report.runs]
        boxes = ax.boxplot(data, orientation="horizontal", whis=(0, 100), showmeans=True, patch_artist=True,
                           tick_labels=report.runs, meanprops={"marker": "D"})
        for patch, run in zip(boxes["boxes"], report.runs):
            patch.set_facecolor(colors[run])
            patch.set_alpha(0.35)
        ax.invert_yaxis()
        ax.set_title(metric, fontsize=10)
    return fig


def recall_precision_figure(report: Report):
    """Interpolated precision at trec_eval's 11 recall levels, one line per run."""
    Figure = _pyplot()
    colors = run_colors(report.runs)
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    for run, ys in report.curves.items():
        ax.plot(RECALL_LEVELS, ys, marker="o", color=colors[run], label=run)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def cost_quality_figure(report: Report):
    """The primary metric against LLM tokens per query, for the runs with a cost log; the baseline dashed."""
    Figure = _pyplot()
    if not report.costs:
        raise ValueError("the report has no LLM costs: give build_report(costs={run: log}) or --costs")
    colors = run_colors(report.runs)
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    for run, cost in report.costs.items():
        y = report.comparison.values[run][report.primary]
        ax.scatter([cost.tokens_per_query], [y], color=colors[run], s=40, zorder=3)
        ax.annotate(run, (cost.tokens_per_query, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axhline(report.comparison.values[report.baseline][report.primary], color="#777", linestyle="--",
               label=report.baseline)
    ax.set(xlabel="tokens per query (prompt + completion)", ylabel=report.primary)
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    return fig


__all__ = ["delta_figure", "distribution_figure", "recall_precision_figure", "cost_quality_figure"]
