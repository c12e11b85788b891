"""`report`: one self-contained HTML page comparing runs (rankwise.report)."""
from __future__ import annotations

import sys

from rankwise.cli.options import (
    add_metric_options,
    add_test_options,
    check_writable,
    eval_options,
    test_options,
)


def register(sub) -> None:
    p = sub.add_parser("report", help="an HTML report: comparison table, plots, LLM costs, per-query drill-down")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more TREC runs")
    p.add_argument("--qrels", required=True, help="TREC qrels or BEIR qrels TSV")
    p.add_argument("--names", nargs="+", metavar="NAME", help="one name per run, in order (default: file names)")
    p.add_argument("--baseline", metavar="NAME", help="the run the others are tested against: a name, one of the "
                   "RUN files, or another run file (default: the first run)")
    texts = p.add_mutually_exclusive_group()
    texts.add_argument("--dataset", metavar="DIR", help="BEIR folder giving query and passage texts to the drill-down")
    texts.add_argument("--candidates", metavar="JSON", help="RankGPT-style candidates with texts, for the drill-down")
    p.add_argument("--costs", nargs="+", action="extend", default=[], metavar="[NAME=]JSONL",
                   help="LLM cost logs (rankwise rerank --costs): NAME=FILE for a run by name or file; a bare FILE "
                        "goes to the run whose recorded settings name it (those are found without this option)")
    add_metric_options(p)
    add_test_options(p)
    p.add_argument("--drill-down", type=int, default=50, metavar="N",
                   help="queries shown side by side (default: 50; all when there are fewer)")
    p.add_argument("--rows", type=int, default=10, metavar="K", help="documents per run in the drill-down (default: 10)")
    p.add_argument("--rbo-p", type=float, default=0.9, metavar="P", help="rank-biased overlap persistence (default: 0.9)")
    p.add_argument("--title", default="rankwise report", help="the page's title")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="the HTML file to write")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from rankwise.evaluate import resolve_metrics
    from rankwise.evaluate.metrics import DEFAULT_METRICS
    from rankwise.report.inputs import report_files

    resolve_metrics(args.metrics or DEFAULT_METRICS)  # a misspelt metric fails before any file is read
    check_writable(args.output)
    report = report_files(
        args.runs, args.qrels, args.metrics, names=args.names, baseline=args.baseline or 0, dataset=args.dataset,
        candidates=args.candidates, costs=args.costs, lenient=args.lenient, drilldown_rows=args.rows,
        drilldown_queries=args.drill_down, rbo_p=args.rbo_p, title=args.title, **test_options(args),
        **eval_options(args),
    )
    path = report.write(args.output)
    shown = len(report.drilldown.queries)
    print(report.comparison, file=sys.stderr)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {len(report.runs)} runs, "
          f"{report.drilldown.total:,} queries, {shown:,} in the drill-down"
          + (f", LLM costs of {len(report.costs)} run(s)" if report.costs else ""), file=sys.stderr)
    return 0
