"""The OpenAI-compatible HTTP engine against a real server that the tests start (port 0), serving the offline kit's
SmolLM2 through the project's test server: answers equal the local engine's, and faults are retried, recorded or
raised as they should be. The HTTP layer is not mocked."""
from __future__ import annotations

import socket
import time

import pytest
from conftest import OFF_TOPIC, RELEVANT, ZEBRA, shared_path

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from rankwise.rerank.llm import (  # noqa: E402
    FirstReranker,
    ICRReranker,
    ListwiseReranker,
    PairwiseReranker,
    PointwiseReranker,
    Prompt,
    UnsupportedRequest,
    get_template,
    make_reranker,
)
from rankwise.rerank.llm.backends import EngineConfigurationError  # noqa: E402
from rankwise.rerank.llm.http import HttpLLM, base_url  # noqa: E402


@pytest.fixture(scope="module")
def server(smol):
    from rankwise.testing.openai_server import OpenAIServer

    server = OpenAIServer(smol, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def engine(server, smol):
    server.faults.clear()
    server.delay_s = 0.0
    return HttpLLM(server.url, tokenizer=smol.tokenizer, retries=2, backoff=0.01)


@pytest.fixture(scope="module")
def dl19_query():
    from rankwise.io import read_candidates

    queries, run = read_candidates(shared_path("dl19", "bm25_top100.json"))
    return queries[0], run[queries[0].qid].top(5)


def test_http_answers_equal_the_local_engines(engine, smol):
    prompts = [get_template("yes-no").render_single(ZEBRA, t) for t in (RELEVANT, OFF_TOPIC)]
    remote, local = engine.label_logprobs(prompts, ["Yes", "No"]), smol.label_logprobs(prompts, ["Yes", "No"])
    for r, l in zip(remote, local):
        assert r.logprobs == pytest.approx(l.logprobs, abs=1e-3) and not r.missing
        assert r.usage.prompt_tokens == l.usage.prompt_tokens  # the server's usage, same tokenizer
    pairs = [get_template("upr").render_likelihood(ZEBRA, t) for t in (RELEVANT, OFF_TOPIC)]
    remote = engine.continuation_logprobs([p for p, _ in pairs], [c for _, c in pairs])
    local = smol.continuation_logprobs([p for p, _ in pairs], [c for _, c in pairs])
    for r, l in zip(remote, local):
        assert r.token_logprobs == pytest.approx(l.token_logprobs, abs=1e-3)
    generated, expected = engine.generate(prompts, 8), smol.generate(prompts, 8)
    assert [g.text for g in generated] == [g.text for g in expected]
    assert [g.usage.completion_tokens for g in generated] == [g.usage.completion_tokens for g in expected]


def test_strategies_over_http_rank_as_they_do_locally(engine, smol, dl19_query):
    query, top = dl19_query
    for make in (lambda llm: ListwiseReranker(llm, window=5, step=2, max_passage_tokens=32),
                 lambda llm: FirstReranker(llm, window=5, step=2, max_passage_tokens=32),  # assistant prefix "["
                 lambda llm: PointwiseReranker(llm, method="likelihood", max_passage_tokens=32)):
        remote, local = make(engine), make(smol)
        assert remote.rerank(query, top).docids == local.rerank(query, top).docids
        assert remote.costs.totals()["calls"] == local.costs.totals()["calls"]
        assert remote.costs.totals()["prompt_tokens"] == local.costs.totals()["prompt_tokens"]


# Three candidates, short passages. Listwise, FIRST and query likelihood are compared with the local engine above;
# these cover the other request kinds over the wire (labels after an assistant prefix, reasoning, one long list).
HTTP_OPTIONS = {
    "llm:pointwise": ({"method": "yes-no"}, 3), "llm:pairwise": ({"method": "allpairs"}, 6),
    "llm:setwise": ({"method": "bubble", "set_size": 4, "passes": 1}, 1), "llm:full-list": ({"window": 5}, 1),
    "llm:reasoning": ({"method": "bubble", "set_size": 4, "passes": 1, "reasoning_tokens": 8}, 1),
}


@pytest.mark.parametrize("name", list(HTTP_OPTIONS))
def test_strategies_run_over_http(engine, dl19_query, name):
    query, top = dl19_query
    options, expected_calls = HTTP_OPTIONS[name]
    reranker = make_reranker(name, engine, max_passage_tokens=32, **options)
    result = reranker.rerank(query, top.top(3))
    assert sorted(result.docids) == sorted(top.docids[:3])
    totals = reranker.costs.totals()
    assert totals["calls"] == expected_calls and totals["errors"] == 0 and totals["prompt_tokens"] > 0


def test_icr_is_local_only(engine):
    with pytest.raises(UnsupportedRequest, match="local transformers model"):
        ICRReranker(engine)


def test_unreachable_endpoint_fails_fast_naming_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ConnectionError, match=f"LLM endpoint {url} is unreachable"):
        HttpLLM(url, retries=5)


def test_transient_faults_are_retried(engine, server):
    server.faults.extend([503, 502])
    result = engine.generate([Prompt.chat([("user", "Say hi.")])], 4)[0]
    assert result.error is None and result.text and result.usage.retries == 2


def test_a_request_that_keeps_failing_falls_back_and_is_counted(engine, server, dl19_query):
    query, top = dl19_query
    server.faults.extend([503, 503, 503])  # the first try and both retries
    reranker = ListwiseReranker(engine, window=5, step=2, max_passage_tokens=48)
    with pytest.warns(RuntimeWarning, match="HTTP 503"):
        result = reranker.rerank(query, top)
    assert result.docids == top.docids  # the window kept its input order
    totals = reranker.costs.totals()
    assert (totals["calls"], totals["errors"], totals["fallback"], totals["retries"]) == (1, 1, 1, 2)


def test_timeouts_are_retried_then_recorded(server, smol):
    server.delay_s = 1.0
    try:
        engine = HttpLLM(server.url, tokenizer=smol.tokenizer, timeout=0.2, retries=1, backoff=0.01)
        result = engine.generate([Prompt.chat([("user", "Say hi.")])], 2)[0]
    finally:
        server.delay_s = 0.0
    assert result.text == "" and "timed out" in result.error and "after 1 retries" in result.error
    time.sleep(1.0)  # let the abandoned requests finish before the next test


def test_unknown_model_is_raised_at_once(server):
    engine = HttpLLM(server.url, model="nobody/no-such-model", retries=3, backoff=0.01)
    with pytest.raises(EngineConfigurationError, match="no-such-model"):
        PointwiseReranker(engine, method="likelihood").rerank(ZEBRA, _two())


def test_a_server_without_logprobs_is_detected(smol):
    from rankwise.testing.openai_server import OpenAIServer

    with OpenAIServer(smol, logprobs=False) as plain:
        engine = HttpLLM(plain.url, tokenizer=smol.tokenizer)
        assert PairwiseReranker(engine, mode="auto").mode == "generate"
        with pytest.raises(UnsupportedRequest, match="mode='generate'"):
            engine.label_logprobs([get_template("yes-no").render_single(ZEBRA, RELEVANT)], ["Yes", "No"])


def test_concurrency_limit_is_respected(server, smol):
    server.delay_s = 0.3
    server.max_in_flight = 0
    try:
        engine = HttpLLM(server.url, tokenizer=smol.tokenizer, concurrency=2)
        results = engine.generate([Prompt.chat([("user", f"Count to {k}.")]) for k in range(6)], 1)
    finally:
        server.delay_s = 0.0
    assert all(r.error is None for r in results) and server.max_in_flight == 2


def test_base_url_forms():
    assert base_url("http://localhost:8000") == "http://localhost:8000/v1"
    assert base_url("http://localhost:8000/v1/chat/completions") == "http://localhost:8000/v1"
    assert base_url("https://api.example.com/openai/v1/") == "https://api.example.com/openai/v1"
    with pytest.raises(ValueError, match="not an HTTP URL"):
        base_url("localhost:8000")


def _two():
    from rankwise.types import Ranking

    return Ranking("z", ["a", "b"], [2.0, 1.0], [RELEVANT, OFF_TOPIC])
