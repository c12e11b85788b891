"""Model folders: the base a training starts from, the trained folder (written atomically, with a record of how it
was made), and its int8 ONNX export for the fast ONNX paths.

**Base models.** A name resolves as everywhere in rankwise (:func:`rankwise.models.resolve`: local folder, offline
kit, Hugging Face hub). A folder with transformers weights is used as it is. An ONNX-only model — the kit's int8
cross-encoder and bge-small — is rebuilt as fp32 transformers weights by
:func:`rankwise.onnx_runtime.dequantize_onnx_bert` (once; cached under ``$RANKWISE_CACHE/models``), and that fp32
model is what training starts from. A cross-encoder base must be a one-score sequence classifier; a bi-encoder base
is a sentence-transformers folder, or a plain encoder given the pooling, normalisation and query prefix the model is
known to use (:func:`rankwise.retrieve.encoders.known_settings`; mean pooling otherwise).

**The trained folder** loads wherever a model name does (``rankwise rerank --model DIR``, ``retrieve --model DIR``,
``CrossEncoderReranker(DIR)``, ``DenseRetriever(DIR)``). It is assembled in a temporary folder next to the target
and renamed into place when complete, so a folder at the target path is never half-written. ``rankwise_training.json``
records the training settings, a hash of the training rows, the base model (name, where it came from, SHA-256 of
its weights), the rankwise, sentence-transformers, transformers and torch versions, and the measured time and rate.

**ONNX export** (:func:`export_onnx_int8`): the fp32 cross-encoder (or bi-encoder) is exported with
``torch.onnx.export`` (opset 14, dynamic batch and sequence axes) and quantised with
``onnxruntime.quantization.quantize_dynamic`` (int8 weights, activations quantised at run time; each kind in the
format of the kit's graph of that kind, :data:`QUANTIZATION`) into ``DIR/onnx/model.onnx`` — the same kind of graph
as the kit's cross-encoder, which :class:`rankwise.rerank.cross_encoder.CrossEncoderReranker` then runs on its
deterministic fast path (``backend="auto"`` picks the graph; ``backend="torch"`` keeps the fp32 weights). A bi-encoder's graph puts out the
token states, which :class:`rankwise.retrieve.encoders.OnnxEncoder` pools as the folder's pooling module says; the
dense path, too, prefers the graph when onnxruntime is installed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from rankwise.models import require, resolve

RECORD_FILE = "rankwise_training.json"
RECORD_FORMAT = "rankwise.trained-model"


@dataclass(frozen=True)
class BaseModel:
    name: str  # what the user asked for
    path: Path  # a transformers / sentence-transformers folder training can start from
    source: str  # local, kit:<package>, hub; "+dequantised" when rebuilt from ONNX
    sha256: str  # of the original weights file(s)


def _models_cache() -> Path:
    from rankwise.datasets import cache_dir

    return cache_dir() / "models"


def _weights(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())


def _digest(files: list[Path]) -> str:
    import hashlib

    from rankwise.rerank.cache import sha256_file

    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}={sha256_file(f)};".encode())
    return h.hexdigest()


def _dequantised(onnx_file: Path, name: str, digest: str) -> Path:
    """The fp32 transformers folder rebuilt from an ONNX BERT graph, converted once and cached by content."""
    from rankwise.onnx_runtime import dequantize_onnx_bert

    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-")
    target = _models_cache() / f"{safe}--fp32-{digest[:16]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dequantise-", dir=target.parent))
    try:
        dequantize_onnx_bert(onnx_file, tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():  # another process finished it first: fine
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _architectures(folder: Path) -> list[str]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(config.get("architectures") or [])


def _num_labels(folder: Path) -> int:
    transformers = require("transformers", "train", "reading a model's configuration")
    return int(transformers.AutoConfig.from_pretrained(str(folder)).num_labels)  # 2 when config.json omits it


def prepare_cross_encoder_base(name: str | os.PathLike) -> BaseModel:
    """A one-score cross-encoder folder to start from (module docs); anything else is refused with the reason."""
    from rankwise.onnx_runtime import find_onnx_file

    resolved = resolve(name, family="cross-encoder")
    path = resolved.path
    if resolved.family not in (None, "cross-encoder"):
        raise ValueError(f"{str(name)!r} is a {resolved.family} model, not a cross-encoder; start from a cross-encoder "
                         "(e.g. cross-encoder/ms-marco-MiniLM-L-12-v2) or train a bi-encoder with "
                         "`rankwise train bi-encoder`")
    folder = path if path.is_dir() else path.parent
    source = resolved.source
    if path.is_dir() and (path / "config.json").is_file() and _weights(path):
        digest = _digest(_weights(path))
    else:
        onnx_file = resolved.file if resolved.file is not None and resolved.file.suffix == ".onnx" \
            else find_onnx_file(path)
        if onnx_file is None:
            raise ValueError(f"{str(name)!r} ({path}) holds neither transformers weights (config.json with "
                             "*.safetensors / *.bin) nor an ONNX graph to start training from")
        from rankwise.rerank.cache import sha256_file

        digest = sha256_file(onnx_file)
        folder = _dequantised(onnx_file, str(name), digest)
        source += "+dequantised"
    kinds = _architectures(folder)
    if (folder / "modules.json").is_file() and not any(k.endswith("ForSequenceClassification") for k in kinds):
        raise ValueError(f"{str(name)!r} is a sentence-transformers bi-encoder (it has modules.json and no "
                         "classification head), not a cross-encoder; train it with `rankwise train bi-encoder`")
    if not any(k.endswith("ForSequenceClassification") for k in kinds):
        what = ", ".join(kinds) or "no architecture in config.json"
        raise ValueError(f"{str(name)!r} is not a cross-encoder: its model is {what}, without a sequence "
                         "classification head. Start from a cross-encoder (e.g. cross-encoder/ms-marco-MiniLM-L-12-v2)")
    labels = _num_labels(folder)
    if labels != 1:
        raise ValueError(f"{str(name)!r} gives {labels} scores per pair; rankwise trains one-score cross-encoders "
                         "(num_labels = 1)")
    return BaseModel(str(name), folder, source, digest)


def prepare_bi_encoder_base(name: str | os.PathLike) -> tuple[BaseModel, dict]:
    """(base, settings): a sentence-transformers folder, or an encoder folder with the pooling / normalisation /
    query prefix to build one with (module docs)."""
    from rankwise.onnx_runtime import find_onnx_file
    from rankwise.retrieve.encoders import known_settings, read_folder_config

    resolved = resolve(name, family="dense")
    path = resolved.path
    if resolved.family not in (None, "dense"):
        raise ValueError(f"{str(name)!r} is a {resolved.family} model, not a bi-encoder")
    folder = path if path.is_dir() else path.parent
    source = resolved.source
    config = read_folder_config(folder)
    if config.has_st_files and _weights(config.transformer_path):
        base = BaseModel(str(name), folder, source, _digest(_weights(config.transformer_path)))
    elif path.is_dir() and (path / "config.json").is_file() and _weights(path):
        base = BaseModel(str(name), folder, source, _digest(_weights(path)))
    else:
        onnx_file = resolved.file if resolved.file is not None and resolved.file.suffix == ".onnx" \
            else find_onnx_file(path)
        if onnx_file is None:
            raise ValueError(f"{str(name)!r} ({path}) holds no transformers weights and no ONNX graph")
        from rankwise.rerank.cache import sha256_file

        digest = sha256_file(onnx_file)
        base = BaseModel(str(name), _dequantised(onnx_file, str(name), digest), source + "+dequantised", digest)
    if any(k.endswith("ForSequenceClassification") for k in _architectures(base.path)):
        raise ValueError(f"{str(name)!r} is a cross-encoder (a sequence classifier); train it with "
                         "`rankwise train cross-encoder`")
    settings = {"pooling": "mean", "normalize": True, "query_prefix": "", "max_length": 512}
    settings.update(known_settings(str(name)))
    settings.update(config.settings)
    return base, settings


def load_bi_encoder(base: BaseModel, settings: dict, max_length: int | None, device: str | None):
    """A SentenceTransformer from the base: its own folder when it is one, else Transformer + Pooling (+ Normalize)."""
    st = require("sentence_transformers", "train", "training a bi-encoder")
    from sentence_transformers.sentence_transformer import modules

    if (base.path / "modules.json").is_file():
        model = st.SentenceTransformer(str(base.path), device=device)
        if max_length:
            model.max_seq_length = max_length
        return model
    transformer = modules.Transformer(str(base.path), max_seq_length=max_length or settings.get("max_length", 512))
    parts = [transformer, modules.Pooling(transformer.get_embedding_dimension(), pooling_mode=settings["pooling"])]
    if settings.get("normalize", True):
        parts.append(modules.Normalize())
    prompts = {"query": settings["query_prefix"]} if settings.get("query_prefix") else None
    return st.SentenceTransformer(modules=parts, device=device, prompts=prompts,
                                  similarity_fn_name="cosine" if settings.get("normalize", True) else "dot")


# --- the trained folder ---------------------------------------------------------------------------------------------
def check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; choose another -o MODEL_DIR or pass --overwrite to replace it")
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"{output} exists and is not a folder")


def finish_folder(staged: Path, output: Path, record: dict) -> Path:
    """Write the record into the staged folder, then move it to ``output`` in one rename (an existing ``output`` is
    moved aside first and removed after), so ``output`` is never a half-written model."""
    (staged / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(staged, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return output


def read_record(folder: str | os.PathLike) -> dict:
    """The training record of a folder written by rankwise (FileNotFoundError when it has none)."""
    path = Path(folder) / RECORD_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{path} is not a rankwise training record")
    return record


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for package in ("rankwise", "sentence-transformers", "transformers", "torch", "onnxruntime"):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return out


# --- ONNX export ----------------------------------------------------------------------------------------------------
# How export_onnx_int8 quantises each kind (written into the training record).
QUANTIZATION = {
    "cross-encoder": "dynamic int8 (onnxruntime quantize_dynamic, QInt8, one scale per weight tensor)",
    "bi-encoder": "dynamic int8 (onnxruntime quantize_dynamic, QInt8, one scale per output column, 7-bit weights)",
}


def export_onnx_int8(folder: str | os.PathLike, *, quantize: bool = True, opset: int = 14) -> Path:
    """Export a trained folder's fp32 weights to ``folder/onnx/model.onnx``, dynamically quantised to int8 (module
    docs); returns the graph's path. A cross-encoder (a sequence classifier) becomes a graph with ``logits`` out; a
    bi-encoder (a sentence-transformers folder or a plain encoder) a graph with ``last_hidden_state`` out, pooled by
    the dense encoder as the folder's pooling module says. Written under a temporary name and renamed."""
    torch = require("torch", "train", "exporting to ONNX")
    transformers = require("transformers", "train", "exporting to ONNX")
    require("onnx", "train", "exporting to ONNX")
    from rankwise.retrieve.encoders import read_folder_config

    folder = Path(folder)
    weights = read_folder_config(folder).transformer_path
    cross = any(k.endswith("ForSequenceClassification") for k in _architectures(weights))
    # Eager attention: plain MatMul/Softmax operators, the layout of the kit's graphs (and what the tracer follows).
    auto = transformers.AutoModelForSequenceClassification if cross else transformers.AutoModel
    model = auto.from_pretrained(str(weights), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    model.config.return_dict = False  # plain tuples out: (logits,) or (last_hidden_state, pooler_output)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(weights))
    sample = tokenizer(["what is a query"], ["a passage that answers it"], return_tensors="pt") if cross \
        else tokenizer(["a passage to represent"], return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    inputs = tuple(sample[n] for n in names)
    by_name = model.forward  # the tracer passes inputs by position; forward's order and decorators differ by model
    model.forward = lambda *args: by_name(**dict(zip(names, args)))
    with torch.no_grad():
        produced = len(model(*inputs))
    # (logits,) or (last_hidden_state[, pooler_output]): the dense encoder reads last_hidden_state by name
    outputs = ["logits"] if cross else ["last_hidden_state", "pooler_output"][:produced]

    out_dir = folder / "onnx"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        fp32 = Path(tmp) / "model_fp32.onnx"
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes[outputs[0]] = {0: "batch"} if cross else {0: "batch", 1: "sequence"}
        if len(outputs) > 1:
            axes[outputs[1]] = {0: "batch"}
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter (dynamo=False) needs no onnxscript; its deprecation notice and the tracer's
            # notes on shape-dependent Python branches of transformers' mask code are not for users.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            torch.onnx.export(model, inputs, str(fp32), input_names=names, output_names=outputs, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
        target = Path(tmp) / "model.onnx"
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Each kind is quantised as the kit's graph of that kind. bi-encoders as bge-small's: one scale per output
            # column, 7-bit weights (reduce_range), so that AVX2's u8 x s8 pair sums cannot saturate int16. Full-range,
            # one-scale weights cost bge-small 0.016 nDCG@10 on SciFact on an AVX2 CPU (vectors at mean cosine 0.98 to fp32;
            # docs/training.md). Cross-encoders keep the kit MiniLM's one-scale full-range format, the format the
            # training table's starting model and trained rows were all measured in.
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=not cross,
                             reduce_range=not cross)
        else:
            os.replace(fp32, target)
        os.replace(target, out_dir / "model.onnx")
    if not cross and weights != folder:  # the dense encoder reads tokenizer.json beside the graph or one level up
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (weights / name).is_file() and not (folder / name).is_file():
                shutil.copy2(weights / name, folder / name)
    return out_dir / "model.onnx"


__all__ = ["BaseModel", "QUANTIZATION", "RECORD_FILE", "check_output", "export_onnx_int8", "finish_folder",
           "load_bi_encoder", "prepare_bi_encoder_base", "prepare_cross_encoder_base", "read_record", "versions"]
