"""How long does `rankwise report` take on a large comparison, next to `rankwise compare` on the same files?

Writes a seeded synthetic collection (default 5 runs × 5,000 queries × 100 candidates, rankwise.testing.synthetic)
as TREC runs and qrels, then times, best of ``--repeats``:

* compare: reading the runs and qrels and ``compare_runs`` (what ``rankwise compare`` does);
* report: ``report_files`` (reading, evaluation and tests, recall–precision curve, RBO of every query, drill-down)
  plus rendering and writing the HTML (what ``rankwise report`` does),

and prints the ratio, the time of each step of the report, the page's size and the peak RSS.

    python benchmarks/bench_report.py [--runs 5] [--queries 5000] [--depth 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

from common import cpu_model  # noqa: E402 - also puts src/ first on sys.path

from rankwise.evaluate import compare_runs
from rankwise.io import read_qrels, read_run, write_qrels, write_run
from rankwise.report.assemble import build_report
from rankwise.report.inputs import read_runs, report_files
from rankwise.testing.synthetic import synthetic_collection

METRICS = ["ndcg_cut_10", "map", "recall_100", "recip_rank"]



def best(repeats, fn):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import scipy.stats  # noqa: F401 - imported once before timing, as in a running program

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs, qrels, _, _ = synthetic_collection(args.queries, args.runs, args.depth, seed=0, texts=False)
        paths = []
        for name, run in runs.items():
            paths.append(tmp / f"{name}.run")
            write_run(run, paths[-1])
        write_qrels(qrels, tmp / "qrels.txt")
        lines = sum(run.num_candidates for run in runs.values())
        print(f"{args.runs} runs × {args.queries:,} queries × {args.depth} candidates ({lines:,} run lines), "
              f"metrics {' '.join(METRICS)}; {cpu_model()}, {__import__('os').cpu_count()} cores")

        def compare():
            named = {p.name: read_run(p) for p in paths}
            return compare_runs(named, read_qrels(tmp / "qrels.txt"), METRICS)

        def report():
            out = report_files(paths, tmp / "qrels.txt", METRICS)
            return out, out.write(tmp / "report.html")

        table, t_compare = best(args.repeats, compare)
        (page, path), t_report = best(args.repeats, report)
        assert page.comparison.values == table.values and page.comparison.pvalues == table.pvalues

        # the report's steps, once each
        start = time.perf_counter()
        named, _ = read_runs(paths)
        loaded = read_qrels(tmp / "qrels.txt")
        t_read = time.perf_counter() - start
        start = time.perf_counter()
        built = build_report(named, loaded, METRICS)
        t_build = time.perf_counter() - start
        start = time.perf_counter()
        html = built.to_html()
        t_render = time.perf_counter() - start

    print(f"compare (read + evaluate + tests):  {t_compare:6.2f} s")
    print(f"report  (all of it, HTML written):  {t_report:6.2f} s   = {t_report / t_compare:.2f} × compare")
    print(f"  read runs and qrels {t_read:.2f} s · evaluate, test, RBO, drill-down {t_build:.2f} s · "
          f"render {t_render:.2f} s")
    print(f"page: {len(html.encode()) / 1e6:.2f} MB, drill-down {len(built.drilldown.queries)} of "
          f"{built.drilldown.total:,} queries; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")


if __name__ == "__main__":
    main()
