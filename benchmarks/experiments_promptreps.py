"""PromptReps on SciFact (300 test queries, 5,183 documents) against BM25 and bge-small: the table of
docs/seed_methods.md.

    nice -n 10 python benchmarks/experiments_promptreps.py [--model HuggingFaceTB/SmolLM2-135M-Instruct]
        [--data ../shared/data] [--batch-size 8] [--max-length 512] [--pool judged] [--out /tmp/rankwise-promptreps]

``--pool judged`` searches only the 339 documents judged relevant for the test queries (every system over the same
pool; a quick look, since SmolLM2 encodes an abstract in 1-1.4 s on a 2-core CPU, about 2 hours for the corpus,
and far slower on a loaded one); the default is the whole corpus.

The corpus encoding is cached in $RANKWISE_CACHE/promptreps (and bge-small's in .../dense), so a second run only
encodes the queries. Prints the encoding rate, then nDCG@10 / R@100 / R@1000 of BM25, bge-small, and PromptReps
dense, sparse and hybrid, with paired t-tests against BM25 (Holm-corrected). Runs are written to --out.
"""
from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import SHARED_DATA  # noqa: E402  (puts src/ on sys.path)

from rankwise.evaluate import compare_runs  # noqa: E402
from rankwise.io import read_beir, write_run  # noqa: E402
from rankwise.retrieve import BM25Retriever, DenseRetriever  # noqa: E402
from rankwise.retrieve.promptreps import PromptRepsRetriever  # noqa: E402


def cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import os

    return f"{model}, {os.cpu_count()} cores"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--pool", choices=["all", "judged"], default="all")
    p.add_argument("--out", type=Path, default=Path("/tmp/rankwise-promptreps"))
    args = p.parse_args()
    folder = args.data / "scifact"
    if not folder.is_dir():
        print(f"{folder} not found: this experiment needs the real SciFact collection", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = read_beir(folder, "test")
    if args.pool == "judged":
        judged = {d for judgments in dataset.qrels.values() for d in judgments}
        dataset.corpus = {d: doc for d, doc in dataset.corpus.items() if d in judged}
    print(f"# PromptReps on SciFact test ({len(dataset.queries)} queries, {len(dataset.corpus):,} documents)")
    print(f"machine: {cpu()}; python {platform.python_version()}")

    start = time.perf_counter()
    pr = PromptRepsRetriever(args.model, cache=True, batch_size=args.batch_size, max_length=args.max_length)
    pr.index(dataset.corpus)
    indexed = time.perf_counter() - start
    start = time.perf_counter()
    runs = {"BM25": BM25Retriever().index(dataset.corpus).search(dataset.queries, k=1000)}
    runs["bge-small"] = DenseRetriever("BAAI/bge-small-en-v1.5", cache=True).index(dataset.corpus) \
        .search(dataset.queries, k=1000)
    baselines = time.perf_counter() - start
    start = time.perf_counter()
    for mode, run in pr.search_modes(dataset.queries, k=1000, modes=("dense", "sparse", "hybrid")).items():
        runs[f"PromptReps {mode}"] = run
    searched = time.perf_counter() - start
    print(f"PromptReps ({args.model}): corpus indexed in {indexed:.0f}s (0 s when read from the cache); "
          f"{len(dataset.queries)} queries encoded and searched three ways in {searched:.0f}s; "
          f"BM25 + bge-small {baselines:.0f}s")
    terms = pr.encoder.terms(dataset.queries[0].text)
    print(f"query {dataset.queries[0].qid} {dataset.queries[0].text!r}: sparse terms {terms[:8]}")
    for name, run in runs.items():
        write_run(run, args.out / f"{name.replace(' ', '_')}.run", tag=name.replace(" ", "_"))
    table = compare_runs(runs, dataset.qrels, ["ndcg_cut_10", "recall_100", "recall_1000"], baseline="BM25",
                         test="ttest", correction="holm")
    print()
    print(table.to_markdown())
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
