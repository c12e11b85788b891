"""Every expected failure of the CLI, driven through the real command in a subprocess: one line
`rankwise: error: …` naming the file, line or value and the fix, exit status 2, no traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rankwise.datasets import DEMO_PATH

CANDIDATE = {"qid": "1", "docid": "d1", "content": "Zebras graze on grass.", "score": 3.0, "rank": 1}


def rankwise(*args: str, env: dict | None = None, user: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rankwise", *map(str, args)]
    if user is not None:  # run as another (unprivileged) user: setpriv from util-linux
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    environment.pop("RANKWISE_DEBUG", None)
    environment.update(env or {})
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rankwise: error: ")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0], (text, errors[0])
    return errors[0]


def candidates_file(tmp_path: Path, entries) -> Path:
    path = tmp_path / "candidates.json"
    path.write_text(json.dumps(entries))
    return path


# (case, files to write, arguments, texts the error line must contain). Files: name -> text or bytes; "{tmp}" in an
# argument is the test's folder.
CASES = [
    ("content is null", {"c.json": [{"query": "zebras", "hits": [{**CANDIDATE, "content": None}]}]},
     ["rerank", "{tmp}/c.json", "-o", "{tmp}/out"], ["c.json: entry 0, hit 0: 'content' is null"]),
    ("docid is null", {"c.json": [{"query": "zebras", "hits": [{**CANDIDATE, "docid": None}]}]},
     ["rerank", "{tmp}/c.json", "-o", "{tmp}/out"], ["c.json: entry 0, hit 0: 'docid' is null"]),
    ("query is null", {"c.json": [{"query": None, "hits": [CANDIDATE]}]},
     ["rerank", "{tmp}/c.json", "-o", "{tmp}/out"], ["c.json: entry 0: 'query' is null"]),
    ("empty candidates", {"c.json": ""}, ["rerank", "{tmp}/c.json", "-o", "{tmp}/out"],
     ["c.json: the file is empty"]),
    ("not UTF-8", {"c.json": b'[{"query": "caf\xe9", "hits": []}]'}, ["rerank", "{tmp}/c.json", "-o", "{tmp}/out"],
     ["c.json: not UTF-8 text"]),
    ("top-k 0", {"c.json": [{"query": "zebras", "hits": [CANDIDATE]}]},
     ["rerank", "{tmp}/c.json", "--top-k", "0", "-o", "{tmp}/out"], ["--top-k must be a positive integer, got 0"]),
    ("retrieve top-k 0", {}, ["retrieve", str(DEMO_PATH), "--top-k", "0", "-o", "{tmp}/out"],
     ["--top-k must be a positive integer, got 0"]),
    ("bad template JSON", {"c.json": [{"query": "zebras", "hits": [CANDIDATE]}], "t.json": '{"name": "x",\n oops}'},
     ["rerank", "{tmp}/c.json", "--reranker", "llm:listwise", "--template", "{tmp}/t.json", "-o", "{tmp}/out"],
     ["t.json:2: not valid JSON", "expected a prompt template"]),
    ("queries missing from the split", {"r.run": "nope Q0 d1 1 1.0 x\n"},
     ["rerank", "{tmp}/r.run", "--dataset", str(DEMO_PATH), "-o", "{tmp}/out"],
     ["1 of the 1 queries of", "r.run are not among the test queries of", "'nope'", "--skip-missing-queries"]),
    ("output is a folder", {"c.json": [{"query": "zebras", "hits": [CANDIDATE]}]},
     ["rerank", "{tmp}/c.json", "-o", "{tmp}"], ["is a folder; -o takes the file to write"]),
    ("unknown reranker", {"c.json": [{"query": "zebras", "hits": [CANDIDATE]}]},
     ["rerank", "{tmp}/c.json", "--reranker", "nope", "-o", "{tmp}/out"], ["unknown reranker 'nope'"]),
    ("bad run line", {"r.run": "q1 Q0 d1 1 oops x\n"}, ["evaluate", "{tmp}/r.run", str(DEMO_PATH / "qrels/test.tsv")],
     ["r.run:1: score 'oops'"]),
    ("missing file", {}, ["evaluate", "{tmp}/none.run", str(DEMO_PATH / "qrels/test.tsv")], ["none.run: no such file"]),
]


@pytest.mark.parametrize("case, files, args, expected", CASES, ids=[c[0] for c in CASES])
def test_expected_failures_are_one_line_with_exit_2(tmp_path, case, files, args, expected):
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
    result = rankwise(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert_one_line_error(result, *expected)


def test_skip_missing_queries_reranks_the_others(tmp_path):
    (tmp_path / "r.run").write_text("nope Q0 d1 1 1.0 x\n1 Q0 d001 1 1.0 x\n")
    queries = [json.loads(line) for line in (DEMO_PATH / "queries.jsonl").read_text().splitlines()]
    first = queries[0]["_id"]
    docs = [json.loads(line)["_id"] for line in (DEMO_PATH / "corpus.jsonl").read_text().splitlines()][:2]
    (tmp_path / "r.run").write_text(f"nope Q0 {docs[0]} 1 1.0 x\n{first} Q0 {docs[0]} 1 2.0 x\n"
                                    f"{first} Q0 {docs[1]} 2 1.0 x\n")
    result = rankwise("rerank", tmp_path / "r.run", "--dataset", DEMO_PATH, "--skip-missing-queries",
                      "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "1 of the 3 queries" not in result.stderr and "are not among the test queries" in result.stderr
    lines = (tmp_path / "out").read_text().splitlines()
    assert sorted(line.split()[2] for line in lines) == sorted(docs) and {line.split()[0] for line in lines} == {first}


def test_debug_shows_the_traceback(tmp_path):
    result = rankwise("evaluate", tmp_path, DEMO_PATH / "qrels/test.tsv")
    assert_one_line_error(result, "is a folder")
    shown = rankwise("evaluate", tmp_path, DEMO_PATH / "qrels/test.tsv", env={"RANKWISE_DEBUG": "1"})
    assert shown.returncode != 0 and "Traceback" in shown.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_permission_denied_on_the_output_fails_before_the_work():
    folder = Path(tempfile.mkdtemp(prefix="rankwise-readonly-", dir="/tmp"))
    try:
        folder.chmod(0o555)
        if os.geteuid() == 0:  # root writes anywhere: run the command as an unprivileged user
            probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"],
                                   capture_output=True)
            if probe.returncode != 0:
                pytest.skip("running as root without setpriv: cannot make a folder unwritable")
            result = rankwise("retrieve", DEMO_PATH, "-o", folder / "bm25.run", user="65534")
        else:
            result = rankwise("retrieve", DEMO_PATH, "-o", folder / "bm25.run")
        assert_one_line_error(result, f"cannot write {folder / 'bm25.run'}: Permission denied",
                              "choose another output path")
        assert "indexed" not in result.stderr  # refused before indexing anything
    finally:
        folder.chmod(0o755)
        folder.rmdir()


# --- LLM engines over HTTP ------------------------------------------------------------------------------------
class _NoModels(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"object": "list", "data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_lists_no_model(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoModels)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = candidates_file(tmp_path, [{"query": "zebras", "hits": [CANDIDATE]}])
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        result = rankwise("rerank", path, "--reranker", "llm:listwise", "--llm", url, "-o", tmp_path / "out")
        assert_one_line_error(result, f"{url} lists no model", "--llm-model")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def servers(smol):
    from rankwise.testing import OpenAIServer

    with OpenAIServer(smol) as full, OpenAIServer(smol, logprobs=False) as plain:
        yield full, plain


def test_icr_over_http_says_it_needs_a_local_model(tmp_path, servers):
    path = candidates_file(tmp_path, [{"query": "zebras", "hits": [CANDIDATE]}])
    result = rankwise("rerank", path, "--reranker", "llm:icr", "--llm", servers[0].url, "-o", tmp_path / "out")
    assert_one_line_error(result, "ICR needs attention weights", "use a local transformers model")


def test_pointwise_against_a_server_without_logprobs(tmp_path, servers):
    path = candidates_file(tmp_path, [{"query": "zebras", "hits": [CANDIDATE, {**CANDIDATE, "docid": "d2"}]}])
    result = rankwise("rerank", path, "--reranker", "llm:pointwise", "--llm", servers[1].url, "-o", tmp_path / "out")
    assert_one_line_error(result, servers[1].url, "gives no next-token log-probabilities", "--mode generate")
