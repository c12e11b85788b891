"""The performance summary of `make bench`: one row per benchmark, read from the JSON lines the benchmarks append to
$RANKWISE_BENCH_SUMMARY (benchmarks/common.record), printed, and with --docs written into docs/performance.md between
its `<!-- bench:start -->` and `<!-- bench:end -->` markers (so the docs table is the table of that run).

    python benchmarks/bench_summary.py runs/bench/summary.jsonl [--docs docs/performance.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def table(rows: list[dict]) -> str:
    machines = sorted({r["machine"].split(", load average")[0] for r in rows})
    lines = ["| what | measured | ratio | goal | met | peak RSS | command |", "|---|---|---:|---|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['measured']} | ×{r['ratio']:.2f} | {r['goal']} | "
                     f"{'yes' if r['met'] else '**no**'} | {r['peak_rss_mb']} MB | `{r['command']}` |")
    loads = ", ".join(r["machine"].rsplit("load average ", 1)[-1] for r in rows if "load average" in r["machine"])
    return "\n".join(lines) + f"\n\nMachine: {'; '.join(machines)}; load average at each row's end: {loads}.\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summary", type=Path, help="the JSON lines the benchmarks appended")
    parser.add_argument("--docs", type=Path, help="a Markdown file whose marked table is replaced")
    args = parser.parse_args()
    if not args.summary.is_file():
        print(f"{args.summary}: no such file; run the benchmarks with RANKWISE_BENCH_SUMMARY={args.summary}",
              file=sys.stderr)
        return 1
    rows = [json.loads(line) for line in args.summary.read_text(encoding="utf-8").splitlines() if line.strip()]
    text = table(rows)
    print(text)
    if args.docs:
        doc = args.docs.read_text(encoding="utf-8")
        if START not in doc or END not in doc:
            print(f"{args.docs}: no {START} … {END} markers to write the table between", file=sys.stderr)
            return 1
        head, rest = doc.split(START, 1)
        args.docs.write_text(head + START + "\n" + text + END + rest.split(END, 1)[1], encoding="utf-8")
        print(f"wrote the table into {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
