"""Reports from evaluate's results: one self-contained HTML page (comparison table with significance marks,
per-query and distribution plots, recall–precision curve, LLM costs, per-query drill-down with rank-biased
overlap and highlighted passages, each run's settings), and the same figures as matplotlib figures for notebooks
(:mod:`rankwise.report.figures`, ``report`` extra).

    report = build_report({"BM25": bm25, "cross-encoder": ce}, qrels, ["nDCG@10", "R@100"], queries=topics)
    report.write("report.html")      # in Jupyter, `report` alone shows the table and figures
"""
from rankwise.report.assemble import Report, RunSource, build_report
from rankwise.report.costs import CostSummary, read_cost_log
from rankwise.report.overlap import rank_biased_overlap

__all__ = ["Report", "RunSource", "build_report", "CostSummary", "read_cost_log", "rank_biased_overlap"]
