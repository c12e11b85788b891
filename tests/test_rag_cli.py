"""`rankwise rag`, `evaluate-answers` and `compare-answers` end to end, offline: the kit's SmolLM2 answers (served
over the OpenAI protocol on loopback by the project's test server, with injected faults, or loaded locally)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT, shared_path

from rankwise.cli import main
from rankwise.datasets import load
from rankwise.rag import RAG, Generator, read_answers
from rankwise.retrieve import BM25Retriever
from rankwise.testing import ScriptedLLM

SUB_QUESTIONS = REPO_ROOT / "benchmarks" / "data" / "hotpotqa_sub_questions.jsonl"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def server(smol):
    from rankwise.testing.openai_server import OpenAIServer

    server = OpenAIServer(smol, port=0).start()
    yield server
    server.stop()


def test_rag_on_the_demo_counts_a_failed_call_goes_on_and_resumes(server, tmp_path, capsys):
    out = tmp_path / "answers.jsonl"
    server.faults.extend([503] * 4)  # the first question's call and its 3 retries
    with pytest.warns(RuntimeWarning, match="HTTP 503"):
        code, _, err = run_cli(capsys, "rag", "demo", "--llm", server.url, "--reranker", "cross-encoder",
                               "--limit", 3, "--top-k", 10, "--contexts", 2, "--max-new-tokens", 12, "-o", out)
    assert code == 0 and "answered 3 questions" in err and "failed LLM calls: 1" in err
    records = [r for _, r in read_answers(out)]
    assert [r["id"] for r in records] == ["q01", "q02", "q03"]
    assert records[0]["answer"] == "" and "503" in records[0]["error"] and records[0]["llm"]["errors"] == 1
    for r in records[1:]:
        assert r["error"] is None and r["raw"] and len(r["contexts"]) == 10
        assert sum(c["in_prompt"] for c in r["contexts"]) == 2 and r["llm"]["calls"] == 1
        assert r["llm"]["prompt_tokens"] > 100 and set(r["seconds"]) == {"retrieve", "rerank", "generate", "total"}
    # the reranked contexts are the cross-encoder's order of BM25's top 10
    scores = [c["score"] for c in records[1]["contexts"]]
    assert scores == sorted(scores, reverse=True)

    code, _, err = run_cli(capsys, "rag", "demo", "--llm", server.url, "--reranker", "cross-encoder", "--limit", 4,
                           "--top-k", 10, "--contexts", 2, "--max-new-tokens", 12, "-o", out)
    assert code == 0 and "answered 1 questions" in err and "3 were already in" in err
    assert [r["id"] for _, r in read_answers(out)] == ["q01", "q02", "q03", "q04"]

    with pytest.warns(UserWarning, match="26 of the 30 questions"):
        code, text, _ = run_cli(capsys, "evaluate-answers", out, "demo", "--json")
    result = json.loads(text)
    assert code == 0 and {"em", "f1", "accuracy", "recall_10", "recip_rank_cut_10", "success_10"} <= set(result)
    assert result["counts"]["num_failed"] == 1 and result["counts"]["num_questions"] == 4
    assert 0 <= result["f1"] <= 1 and result["recall_10"] > 0


def test_rag_on_hotpotqa_with_supplied_sub_questions(server, tmp_path, capsys):
    data = shared_path("hotpotqa")
    out = tmp_path / "hotpot.jsonl"
    code, _, err = run_cli(capsys, "rag", data, "--llm", server.url, "--sub-questions", SUB_QUESTIONS, "--limit", 2,
                           "--top-k", 5, "--contexts", 3, "--max-new-tokens", 12, "-o", out)
    assert code == 0 and "supplied(hotpotqa_sub_questions.jsonl)" in err and ">> cross-encoder" in err
    supplied = {json.loads(line)["id"]: json.loads(line)["sub_questions"] for line in SUB_QUESTIONS.open()}
    for _, r in read_answers(out):
        assert r["sub_questions"] == supplied[r["id"]]
        assert 5 <= len(r["contexts"]) <= 15  # the merged pool of 3 top-5 lists, reranked
        assert set(r["seconds"]) == {"decompose", "retrieve", "rerank", "generate", "total"}
    with pytest.warns(UserWarning, match="98 of the 100 questions"):
        code, text, _ = run_cli(capsys, "evaluate-answers", out, data, "--per-query")
    assert code == 0
    rows = {}
    for line in text.splitlines():
        metric, qid, value = line.split("\t")
        rows[f"{metric.strip()}|{qid}"] = value
    assert {"em|dev000", "em|dev001", "f1|all", "recall_10|all", "num_with_sub_questions|all"} <= set(rows)
    assert rows["num_with_sub_questions|all"] == "2"


def test_rag_answers_closed_book_with_the_local_kit_model_by_default(smol, tmp_path, capsys):
    out = tmp_path / "zs.jsonl"
    code, _, err = run_cli(capsys, "rag", "--zero-shot", "--limit", 1, "--max-new-tokens", 8, "-o", out)
    assert code == 0 and "closed-book >> generate(HuggingFaceTB/SmolLM2-135M-Instruct" in err
    (_, record), = read_answers(out)
    assert record["id"] == "q01" and record["contexts"] == [] and record["raw"]
    assert record["llm"]["completion_tokens"] <= 8


def test_compare_answers_prints_paired_tests(tmp_path, capsys):
    demo = load("demo")
    bm25 = BM25Retriever().index(demo.documents)
    for name, contexts in (("a.jsonl", 3), ("b.jsonl", 1)):
        llm = ScriptedLLM(lambda text: "Mount Everest [1]" if "tallest" in text else "no")
        RAG(Generator(llm, contexts=contexts), bm25, k=10).run(demo, tmp_path / name)
    code, text, _ = run_cli(capsys, "compare-answers", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "--dataset", "demo",
                            "-m", "em", "f1", "MRR@10", "citation_precision", "--json")
    table = json.loads(text)
    assert code == 0 and table["baseline"] == "a.jsonl" and table["correction"] == "holm"
    cells = table["runs"]["b.jsonl"]
    assert cells["em"]["pvalue"] == 1.0 and cells["em"]["value"] == table["runs"]["a.jsonl"]["em"]["value"]
    assert set(cells) == {"em", "f1", "recip_rank_cut_10", "citation_precision"}


@pytest.mark.parametrize("argv, message", [
    (["rag", "demo", "--zero-shot", "--decompose", "-o", "x.jsonl"], "--zero-shot answers without retrieval"),
    (["rag", "demo", "--decompose", "--sub-questions", "s.jsonl", "-o", "x.jsonl"], "choose one"),
    (["rag", "nowhere", "-o", "x.jsonl"], "'nowhere' is neither an existing folder nor a known collection"),
    (["rag", "demo", "--unit-size", "4", "-o", "x.jsonl"], "--unit-size sets the questions per Ray task: add --ray"),
    (["rag", "demo", "--workers", "2", "-o", "x.jsonl"], "--workers sets up Ray workers: add --ray"),
])
def test_bad_options_are_one_line_errors(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith("rankwise: error:") and message in err and not Path("x.jsonl").exists()


def test_a_malformed_answers_file_is_an_error_naming_the_line(tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"id": "q01", "answer": "x"}\n{"id": "q02"}\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "evaluate-answers", path, "demo")
    assert code == 2 and f"{path}:2: missing field 'answer'" in err


def test_rag_killed_again_and_again_resumes_to_the_answers_of_an_uninterrupted_run(server, tmp_path):
    """SIGKILL at random points (after a random number of answers, or a random delay), sometimes with the last line
    torn as a crash mid-write leaves it; the same command continues each time, and the final file holds the answers
    of an uninterrupted run (all but the timings), once each, in question order."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    def lines(path):
        return path.read_bytes().count(b"\n") if path.exists() else 0

    def answers(path):
        out = []
        for _, record in read_answers(path):
            del record["seconds"], record["llm"]["seconds"]
            out.append(record)
        return out

    command = ["rag", "demo", "--llm", server.url, "--reranker", "cross-encoder", "--limit", "6", "--top-k", "6",
               "--contexts", "2", "--max-new-tokens", "8"]
    assert main(command + ["-o", str(tmp_path / "reference.jsonl")]) == 0
    out, rng = tmp_path / "resumed.jsonl", random.Random(3)
    env = {**os.environ, "RANKWISE_PROGRESS": "0"}
    torn = mid_run = 0
    for _ in range(4):
        target = rng.randint(lines(out) + 1, 5) if lines(out) < 5 and rng.random() < 0.7 else None
        delay = rng.uniform(0.5, 4.0)
        process = subprocess.Popen([sys.executable, "-m", "rankwise", *command, "-o", str(out)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.monotonic()
        while process.poll() is None and time.monotonic() - start < 120:
            if (lines(out) >= target) if target is not None else (time.monotonic() - start > delay):
                break
            time.sleep(0.005)
        if process.poll() is not None:  # finished first: start the next round afresh
            assert process.returncode == 0
            out.unlink()
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        mid_run += 0 < lines(out) < 6
        if lines(out) and (not torn or rng.random() < 0.5):
            data = out.read_bytes()
            last = data.rstrip(b"\n").rfind(b"\n") + 1
            out.write_bytes(data[: rng.randint(last + 1, len(data) - 1)])
            torn += 1
    final = subprocess.run([sys.executable, "-m", "rankwise", *command, "-o", str(out)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert answers(out) == answers(tmp_path / "reference.jsonl")
    assert mid_run >= 1 and torn >= 1, (mid_run, torn)
