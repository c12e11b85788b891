"""What the benchmarks share: where the repository and the real collections are, best-of timing, nDCG@10.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path`` and ``import common``
works; importing it also puts the repository's ``src`` first, so a checkout runs without installing.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKWISE_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "src"))


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
