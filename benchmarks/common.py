"""What the benchmarks share: where the repository and the real collections are, the CPU they ran on, best-of
timing, nDCG@10.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path`` and ``import common``
works; importing it also puts the repository's ``src`` first, so a checkout runs without installing.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKWISE_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "src"))


def cpu_model() -> str:
    """The CPU's model name and the vector extensions int8 kernels depend on (the same VM type has been seen with
    and without AVX-512 VNNI, which changes int8 throughput about threefold)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == (platform.processor() or "unknown CPU"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = ("AVX-512 VNNI" if {"avx512_vnni", "avx512vnni"} & flags else "AVX-512" if "avx512f" in flags
           else "AVX2" if "avx2" in flags else "")
    return f"{model} ({isa})" if isa else model


def machine(load: bool = True) -> str:
    """``cpu_model()``, the cores this process may use and, with ``load``, the load average: beside every figure."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {cores} cores" + (f", load average {os.getloadavg()[0]:.1f}" if load else "")


def best_of(repeat: int, fn):
    """(result of the last call, fastest wall time in seconds over ``repeat`` calls)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def ndcg10(run, qrels) -> float:
    """nDCG@10 over the judged queries; queries of the run without judgments are ignored."""
    from rankwise.evaluate import evaluate

    judged = {qid: ranking for qid, ranking in run.items() if qid in qrels}
    return evaluate(judged, qrels, ["ndcg_cut_10"], complete=True)["ndcg_cut_10"]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def record(row: str, measured: str, ratio: float, goal: str, met: bool, command: str) -> None:
    """One row of the performance summary that `make bench` prints and writes into docs/performance.md
    (benchmarks/bench_summary.py): appended as a JSON line to $RANKWISE_BENCH_SUMMARY when that is set."""
    import json

    line = {"row": row, "measured": measured, "ratio": round(ratio, 2), "goal": goal, "met": bool(met),
            "command": command, "machine": machine(), "peak_rss_mb": round(peak_rss_mb())}
    print(f"\nsummary row: {row}: {measured} — ratio {ratio:.2f} (goal {goal}: {'met' if met else 'NOT met'})")
    path = os.environ.get("RANKWISE_BENCH_SUMMARY")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
