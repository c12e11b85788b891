"""The Ray backend gives the single-process output exactly (same scores, same order, same TREC bytes): corpus encoding
(dense, SPLADE) and reranking (cross-encoder, ColBERT, LLM strategies through a pool of OpenAI-compatible endpoints),
from Python and from the CLI, on a local 2-CPU cluster started once for the whole test session."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

ray = pytest.importorskip("ray", reason="the Ray backend needs: pip install 'rankwise[ray]'")

from rankwise.cli import main  # noqa: E402
from rankwise.distributed import RayOptions, executing  # noqa: E402
from rankwise.io import read_beir  # noqa: E402

DEMO = REPO_ROOT / "src" / "rankwise" / "demo_data"


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster for the session: 2 CPUs, a small object store (the machine is shared)."""
    from rankwise.distributed.ray_runner import connect

    connect(RayOptions(init_options={"num_cpus": 2, "object_store_memory": 150 * 1024 ** 2}))
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def demo():
    return read_beir(DEMO, "test")


def ray_backend(workers=2):
    return executing("ray", ray=RayOptions(workers=workers))


def test_dense_encoding_on_ray_gives_the_same_vectors(cluster, demo):
    from rankwise.retrieve import DenseRetriever

    local = DenseRetriever("BAAI/bge-small-en-v1.5", shard_size=50).index(demo.corpus)
    with ray_backend() as execution:
        remote = DenseRetriever("BAAI/bge-small-en-v1.5", shard_size=50).index(demo.corpus)
    assert execution.computed == 5  # 228 documents in shards of 50
    assert remote.vectors.dtype == np.float32 and np.array_equal(local.vectors, remote.vectors)
    assert local.search(demo.queries, k=10) == remote.search(demo.queries, k=10)


@pytest.mark.slow
def test_splade_encoding_on_ray_gives_the_same_matrix(cluster, demo):
    pytest.importorskip("torch")
    from rankwise.retrieve import SpladeRetriever

    docs = demo.documents[:60]
    local = SpladeRetriever("splade-tiny", shard_size=25).index(docs)
    with ray_backend():
        remote = SpladeRetriever("splade-tiny", shard_size=25).index(docs)
    assert (local.doc_terms != remote.doc_terms).nnz == 0 and local.doc_terms.nnz > 0


def bm25_candidates(path, top_k: int, queries: int = 30):
    """A TREC run of BM25's top-k for the first ``queries`` demo queries."""
    assert main(["retrieve", str(DEMO), "-o", str(path), "--top-k", str(top_k)]) == 0
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: queries * top_k]))
    return path


def test_cli_rerank_ray_auto_joins_ray_address_and_writes_the_same_bytes(cluster, tmp_path):
    candidates = bm25_candidates(tmp_path / "bm25.run", 8)
    args = ["rerank", str(candidates), "--dataset", str(DEMO), "--reranker", "cross-encoder", "--top-k", "8"]
    assert main(args + ["-o", str(tmp_path / "local.run")]) == 0
    env = {**os.environ, "RAY_ADDRESS": cluster, "RANKWISE_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "rankwise", *args, "-o", str(tmp_path / "ray.run"), "--ray",
                           "--workers", "2", "--unit-size", "3"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    local, remote = (tmp_path / "local.run").read_bytes(), (tmp_path / "ray.run").read_bytes()
    assert remote == local and local.count(b"\n") == 30 * 8
    assert not (tmp_path / "ray.run.journal").exists()  # a finished run leaves no journal


@pytest.mark.slow
def test_pipeline_run_on_ray_with_colbert(cluster, demo):
    from rankwise.rerank import get_reranker
    from rankwise.retrieve import BM25Retriever

    threadpoolctl = pytest.importorskip("threadpoolctl")
    pipeline = BM25Retriever().index(demo.corpus) % 5 >> get_reranker(
        "colbert", model="answerai-colbert-small-v1-backbone")
    # MaxSim is a BLAS product, whose last bits depend on the BLAS thread count: compare with the 1 CPU an actor has.
    with threadpoolctl.threadpool_limits(1):
        local = pipeline.run(demo, backend="local")
    remote = pipeline.run(demo, backend="ray", ray=RayOptions(workers=2))
    assert list(remote) == list(local) and all(remote[q] == local[q] for q in local)


def test_cli_rag_on_ray_writes_what_one_process_writes_and_resumes(cluster, smol, tmp_path):
    """BM25 → cross-encoder → SmolLM2 answers: the actors load their own models (the driver loads no reranker); the
    answers file holds what a single-process run writes, all but the timings, in question order, even when an
    interrupted run had left a later question's answer before the earlier ones."""
    import json

    torch = pytest.importorskip("torch")

    def records(path):
        out = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            del record["seconds"], record["llm"]["seconds"]
            out.append(record)
        return out

    common = ["rag", "demo", "--reranker", "cross-encoder", "--top-k", "8", "--contexts", "2", "--max-new-tokens",
              "10", "--limit", "5"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in an actor with one CPU: greedy decoding then sees the same logits
    try:
        assert main(common + ["-o", str(tmp_path / "local.jsonl")]) == 0
    finally:
        torch.set_num_threads(threads)
    local = records(tmp_path / "local.jsonl")
    assert [r["id"] for r in local] == ["q01", "q02", "q03", "q04", "q05"] and all(r["answer"] for r in local)

    third = (tmp_path / "local.jsonl").read_text().splitlines(keepends=True)[2]
    (tmp_path / "ray.jsonl").write_text(third)  # a killed Ray run had finished q03 first
    assert main(common + ["-o", str(tmp_path / "ray.jsonl"), "--ray", cluster, "--workers", "2", "--unit-size", "2",
                          "--costs", str(tmp_path / "costs.jsonl")]) == 0
    assert records(tmp_path / "ray.jsonl") == local
    assert len((tmp_path / "costs.jsonl").read_text().splitlines()) == 4  # the 4 new calls' costs reached the driver


@pytest.mark.slow
def test_llm_strategy_through_a_pool_of_endpoints(cluster, smol, tmp_path):
    from rankwise.testing.openai_server import OpenAIServer

    candidates = bm25_candidates(tmp_path / "bm25.run", 2, queries=4)
    servers = [OpenAIServer(smol).start() for _ in range(2)]
    try:
        urls = ",".join(s.url for s in servers)
        common = ["rerank", str(candidates), "--dataset", str(DEMO), "--reranker", "llm:pointwise", "--top-k", "2",
                  "--llm", urls, "--max-passage-tokens", "40"]
        assert main(common + ["-o", str(tmp_path / "local.run")]) == 0
        before = [s.requests for s in servers]
        assert main(common + ["-o", str(tmp_path / "ray.run"), "--ray", cluster, "--workers", "2",
                              "--costs", str(tmp_path / "costs.jsonl")]) == 0
        served = [s.requests - b for s, b in zip(servers, before)]
    finally:
        for s in servers:
            s.stop()
    assert (tmp_path / "ray.run").read_bytes() == (tmp_path / "local.run").read_bytes()
    assert served[0] > 0 and served[1] > 0  # both endpoints did work (and each engine's one-token probe)
    assert sum(1 for _ in open(tmp_path / "costs.jsonl")) == 4 * 2  # every call's cost came back to the driver


def test_user_errors_inside_actors_reach_the_user(cluster, tmp_path, capsys):
    candidates = bm25_candidates(tmp_path / "bm25.run", 2, queries=2)
    # The endpoint is first reached inside the actors (the driver loads no model): their error is the user's.
    code = main(["rerank", str(candidates), "--dataset", str(DEMO), "--reranker", "llm:pointwise",
                 "--llm", "http://127.0.0.1:9/v1", "-o", str(tmp_path / "x.run"), "--ray", cluster])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "rankwise: error: LLM endpoint http://127.0.0.1:9/v1 is unreachable" in err
    assert not (tmp_path / "x.run").exists()


@pytest.mark.slow
def test_a_two_node_cluster_losing_a_node_finishes_with_the_same_output(tmp_path):
    """ray.cluster_utils.Cluster in a process of its own (tests/ray_node_loss.py): the worker node is removed after a
    third of the units; the run still ends, and its output equals the single-process run's."""
    import json

    from rankwise.io import read_run
    from rankwise.io.trec import format_run
    from rankwise.rerank import get_reranker

    candidates = bm25_candidates(tmp_path / "bm25.run", 6, queries=18)
    data = read_beir(DEMO, "test")
    run = read_run(candidates).with_texts(data.corpus)
    with executing("local"):
        local = get_reranker("cross-encoder")([q for q in data.queries if q.qid in run], run)
    env = {**os.environ, "RANKWISE_PROGRESS": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "ray_node_loss.py"), str(candidates), str(DEMO),
                           str(tmp_path / "ray.run")], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["removed_after"] is not None and report["removed_after"] < report["units"], report
    assert report["worker_was_busy"] and report["nodes_alive"] == 1, report  # an actor was on the lost node
    assert (tmp_path / "ray.run").read_text() == "".join(format_run(local, "rankwise-cross-encoder"))


@pytest.mark.slow
def test_a_ray_run_killed_again_and_again_resumes_to_the_same_bytes(cluster, tmp_path):
    from test_resume import kill_and_resume

    candidates = bm25_candidates(tmp_path / "bm25.run", 6, queries=12)
    command = ["rerank", str(candidates), "--dataset", str(DEMO), "--reranker", "cross-encoder", "--top-k", "6"]
    assert main(command + ["-o", str(tmp_path / "reference.run")]) == 0
    seen = kill_and_resume(command + ["--ray", "--workers", "2"], tmp_path / "resumed.run", units=12, kills=3,
                           seed=5, ray=cluster, timeout=600)
    assert (tmp_path / "resumed.run").read_bytes() == (tmp_path / "reference.run").read_bytes()
    assert seen["mid_run"] >= 1, seen
