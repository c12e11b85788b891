"""Load on `rankwise serve`: requests/s and p50/p99 latency for 1, 8 and 32 concurrent clients sending 20 and 100
documents per request, and the service's throughput as a ratio of in-process reranking of the same pairs.

    python benchmarks/bench_serve.py [--clients 1 8 32] [--docs 20 100] [--pairs 2000] [--rounds 3] [--seconds 300]

The service runs as a subprocess on a free loopback port (the offline kit's int8 cross-encoder, default settings
except ``--timeout 600`` so that a slow shared machine shows up as latency, not as timeouts); clients are threads
of this process, each with its own keep-alive connection, sending TEI-shaped requests (``POST /rerank``) one after
another. Nothing leaves the machine, and every run is bounded: per configuration at most
``max(rounds x clients, pairs / docs)`` requests, and no new request after ``--seconds`` seconds.

Pairs: DL19's BM25 top-100 passages (``../shared/data/dl19``; else the built-in demo collection), each request a
query with ``docs`` of its passages. No (query, passage) pair repeats within a configuration (later rounds over the
queries mark the query with a round number), so neither side gains from scoring a repeated pair once.

In-process baseline, measured right before each configuration (so both see the same machine load): the same
reranker (``CrossEncoderReranker(long_documents="maxp")``, as the service builds it) scoring the same requests' pairs
in one call (pooled across queries: its fastest use; ``--baseline-pairs N``: the first N of them). "errors" counts every answer that was not 200; with fewer
clients than the queue bound (64) there should be none.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import resource
import threading
import time
from pathlib import Path

import numpy as np
from common import SHARED_DATA, cpu_model  # noqa: E402  (puts src/ on sys.path)

from rankwise.onnx_runtime import usable_cpus  # noqa: E402
from rankwise.pipeline import score_texts  # noqa: E402
from rankwise.rerank.cross_encoder import CrossEncoderReranker  # noqa: E402
from rankwise.testing.serve_process import ServeProcess  # noqa: E402



def load_pairs() -> tuple[str, list[tuple[str, list[str]]]]:
    """(source, [(query, passages)]) with texts."""
    dl19 = SHARED_DATA / "dl19" / "bm25_top100.json"
    if dl19.exists():
        from rankwise.io import read_candidates

        queries, run = read_candidates(dl19)
        return "DL19 BM25 top-100 passages", [(q.text, list(run[q.qid].texts)) for q in queries if q.qid in run]
    from rankwise.datasets import load

    demo = load("demo")
    texts = [d.contents for d in demo.corpus.values()]
    return "the built-in demo collection", [(q.text, texts) for q in demo.queries]


def make_requests(pool, docs: int, count: int) -> list[tuple[str, list[str]]]:
    """``count`` requests of ``docs`` passages, no (query, passage) pair twice."""
    chunks = [(q, texts[i:i + docs]) for q, texts in pool for i in range(0, len(texts) - docs + 1, docs)]
    out = []
    for k in range(count):
        query, texts = chunks[k % len(chunks)]
        rounds = k // len(chunks)
        out.append((f"{query} #{rounds}" if rounds else query, texts))
    return out


def in_process(reranker, requests) -> float:
    """Pairs per second scoring the requests' pairs in one call."""
    start = time.perf_counter()
    score_texts(reranker, requests)
    return sum(len(t) for _, t in requests) / (time.perf_counter() - start)


def load_run(url: str, requests, clients: int, seconds: float) -> dict:
    import httpx

    latencies, statuses = [], []
    todo = iter(range(len(requests)))
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=900) as http:
            while time.monotonic() < deadline:
                with lock:
                    k = next(todo, None)
                if k is None:
                    return
                query, texts = requests[k]
                start = time.perf_counter()
                try:
                    status = http.post("/rerank", json={"query": query, "texts": texts}).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    latencies.append(time.perf_counter() - start)
                    statuses.append((status, len(texts)))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    elapsed = time.perf_counter() - start
    ok = [n for s, n in statuses if s == 200]
    codes = collections.Counter(s for s, _ in statuses if s != 200)
    return {"requests": len(statuses), "errors": len(statuses) - len(ok), "elapsed": elapsed,
            "codes": ", ".join(f"{c or 'no answer'}: {n}" for c, n in sorted(codes.items())),
            "rps": len(ok) / elapsed, "pairs_per_s": sum(ok) / elapsed,
            "p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--docs", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs per configuration at least (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="requests per client at least (default 3)")
    parser.add_argument("--seconds", type=float, default=300, help="no new request after this (default 300)")
    parser.add_argument("--baseline-pairs", type=int, help="in-process baseline on the first N of those pairs only "
                        "(default: all; a sample is enough for a rate, and saves time on a slow machine)")
    parser.add_argument("--serve-args", nargs="*", default=[], help="more `rankwise serve` flags")
    args = parser.parse_args()

    source, pool = load_pairs()
    print(f"machine: {cpu_model()}, {usable_cpus()} usable cores ({os.cpu_count()} online); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"pairs: {source}; model: the offline kit's int8 cross-encoder/ms-marco-MiniLM-L-12-v2")
    reranker = CrossEncoderReranker(long_documents="maxp")
    in_process(reranker, make_requests(pool, 20, 2))  # warm up

    rows = []
    with ServeProcess("--timeout", "600", *args.serve_args) as server:
        import httpx

        for docs in args.docs:
            for clients in args.clients:
                count = max(args.rounds * clients, -(-args.pairs // docs))
                requests = make_requests(pool, docs, count)
                sample = requests[:-(-args.baseline_pairs // docs)] if args.baseline_pairs else requests
                baseline = in_process(reranker, sample)
                httpx.post(server.url + "/rerank", json={"query": "warm up", "texts": requests[0][1]}, timeout=900)
                result = load_run(server.url, requests, clients, args.seconds)
                rows.append((clients, docs, result, baseline))
                print(f"  {clients:3d} clients x {docs:3d} docs: {result['rps']:.2f} req/s, "
                      f"{result['pairs_per_s']:.1f} pairs/s (in-process {baseline:.1f}), p50 {result['p50']:.2f} s, "
                      f"p99 {result['p99']:.2f} s, {result['requests']} requests, {result['errors']} errors "
                      f"{('(' + result['codes'] + ')') if result['codes'] else ''}", flush=True)
        server_rss = _vm_hwm(server.process.pid)
    print()
    print("| clients | docs/request | requests/s | pairs/s | p50 latency | p99 latency | errors | in-process pairs/s "
          "| x in-process |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clients, docs, r, baseline in rows:
        print(f"| {clients} | {docs} | {r['rps']:.2f} | {r['pairs_per_s']:.1f} | {r['p50']:.2f} s | "
              f"{r['p99']:.2f} s | {r['errors']} / {r['requests']}{' (' + r['codes'] + ')' if r['codes'] else ''} | "
              f"{baseline:.1f} | "
              f"{r['pairs_per_s'] / baseline:.2f} |")
    print()
    print(f"peak RSS: service {server_rss} MB, this process (clients + in-process model) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB; "
          f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _vm_hwm(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return str(int(line.split()[1]) // 1024)
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    main()
