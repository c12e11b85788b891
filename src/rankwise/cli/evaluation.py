"""`evaluate` and `compare`."""
from __future__ import annotations

import json
import os

from rankwise.cli.options import (
    add_metric_options,
    add_test_options,
    check_writable,
    eval_options,
    test_options,
)
from rankwise.evaluate.metrics import DEFAULT_METRICS


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="trec_eval-exact metrics of a run")
    p.add_argument("run", metavar="RUN", help="TREC run")
    p.add_argument("qrels", metavar="QRELS", help="TREC qrels or BEIR qrels TSV")
    add_metric_options(p)
    p.add_argument("--per-query", action="store_true", help="also print each query's values")
    p.add_argument("--json", action="store_true", help="print one JSON object {metric: value}")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="compare runs against a baseline with paired significance tests")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more TREC runs")
    p.add_argument("--qrels", required=True, help="TREC qrels or BEIR qrels TSV")
    add_metric_options(p)
    p.add_argument("--baseline", metavar="RUN", help="the run the others are tested against (default: the first)")
    add_test_options(p)
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", action="store_true", help="print values and p-values as JSON")
    p.add_argument("--html", metavar="FILE", help="also write the HTML report (as `rankwise report` does)")
    p.set_defaults(func=cmd_compare)


def cmd_evaluate(args) -> int:
    from rankwise.evaluate import evaluate, resolve_metrics
    from rankwise.io import read_qrels, read_run

    resolve_metrics(args.metrics or DEFAULT_METRICS)  # a misspelt metric fails before any file is read
    result = evaluate(read_run(args.run, strict=not args.lenient), read_qrels(args.qrels),
                      args.metrics or DEFAULT_METRICS, **eval_options(args))
    if args.json:
        payload = dict(result.aggregate)
        if args.per_query:
            payload = {"aggregate": payload, "per_query": result.per_query}
        print(json.dumps(payload, indent=None if not args.per_query else 1))
    else:
        print(result.to_trec_eval(per_query=args.per_query), end="")
    return 0


def cmd_compare(args) -> int:
    from rankwise.evaluate import compare_runs, resolve_metrics
    from rankwise.io import read_qrels

    resolve_metrics(args.metrics or DEFAULT_METRICS)
    if len(args.runs) < 2 and not args.baseline:
        raise ValueError("compare needs at least two runs (or one run and --baseline RUN)")
    # One run per file, however it is spelled (`--baseline ./a.run a.run b.run` compares two runs).
    by_file: dict[str, str] = {}
    for path in ([args.baseline] if args.baseline else []) + args.runs:
        by_file.setdefault(os.path.realpath(path), path)
    paths = list(by_file.values())
    if len(paths) < 2:
        raise ValueError(f"compare needs two different runs; {' and '.join(args.runs)} are the same file")
    if args.html:  # the report's table is compare's table: compute it once
        from rankwise.report.inputs import report_files

        check_writable(args.html)
        report = report_files(paths, args.qrels, args.metrics, lenient=args.lenient, **test_options(args),
                              **eval_options(args))
        table = report.comparison
        report.write(args.html)
    else:
        from rankwise.report.inputs import read_runs

        runs, _ = read_runs(paths, lenient=args.lenient)  # named by file, with folders where two files share a name
        table = compare_runs(runs, read_qrels(args.qrels), args.metrics or DEFAULT_METRICS,
                             baseline=next(iter(runs)), **test_options(args), **eval_options(args))
    if args.json:
        print(json.dumps(table.to_dict(), indent=1))
    else:
        print(table.to_markdown() if args.markdown else table)
    return 0
