"""Shared helpers for transformer models run with onnxruntime: sessions, tokenizers, threads, and a converter from
a (quantised) ONNX BERT graph back to a transformers model.

Used by retrieval and reranking alike: the cross-encoder (:mod:`rankwise.rerank.cross_encoder`), dense encoders
(:mod:`rankwise.retrieve.encoders`) and late interaction (:mod:`rankwise.retrieve.colbert`).

- :func:`usable_cpus` — the cores this process may run on (affinity and cgroup limits respected).
- :func:`create_session` — an onnxruntime CPU session with a fixed number of intra-op threads.
- :func:`run_parallel` — run many independent inputs through one session from several threads at once.
  onnxruntime allows concurrent ``run`` calls on one session; with one intra-op thread each call computes on the
  calling thread, so N threads keep N cores busy with one copy of the weights and no thread-pool handshakes
  between the graph's ~500 small operators (on 2 cores this is ~2x faster than one call with 2 intra-op threads).
- :func:`load_tokenizer` — a ``tokenizers.Tokenizer`` with padding and truncation switched off (callers truncate
  and pad themselves), from ``tokenizer.json`` or, failing that, through transformers.
- :func:`dequantize_onnx_bert` — rebuild fp32 transformers weights from a (dynamic int8) ONNX export of a BERT
  model: the way to compare an ONNX-only model with its torch counterpart, or to run it on a GPU.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from rankwise.models import require

# Files that describe a tokenizer; copied next to converted weights so the folder loads as one model.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json", "added_tokens.json")


def usable_cpus() -> int:
    """Cores this process may use: ``$RANKWISE_THREADS`` when set (a Ray actor sets it to the CPUs it declared),
    else CPU affinity, then a cgroup CPU quota when one is set (containers)."""
    forced = os.environ.get("RANKWISE_THREADS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no limit) or "200000 100000" (2 CPUs)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def find_onnx_file(path: Path) -> Path | None:
    """The ONNX graph of a model: the path itself, ``model.onnx`` in the folder (or in its ``onnx/`` subfolder, the
    hub's layout), or the folder's only ``.onnx`` file."""
    path = Path(path)
    if path.is_file():
        return path if path.suffix == ".onnx" else None
    for candidate in (path / "model.onnx", path / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(path.glob("*.onnx"))
    return found[0] if len(found) == 1 else None


def create_session(path: Path, threads: int = 1):
    """An onnxruntime CPU session with ``threads`` intra-op threads and all graph optimisations."""
    ort = require("onnxruntime", "onnx", "running ONNX models")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's business
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable or invalid graphs
        raise ValueError(f"onnxruntime cannot load {path}: {e}") from None


def run_parallel(jobs: int, work: Callable[[int], None], threads: int) -> None:
    """Call ``work(i)`` for ``i`` in ``range(jobs)`` from ``threads`` threads, each taking the next undone ``i``
    (so give the longest jobs the smallest ``i``). ``work`` must release the GIL for the threads to overlap, as
    ``InferenceSession.run`` does. The first exception raised by any job is re-raised here."""
    threads = max(1, min(int(threads), jobs))
    if threads == 1:
        for i in range(jobs):
            work(i)
        return
    lock = threading.Lock()
    state = {"next": 0, "error": None}

    def loop() -> None:
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
                if i >= jobs or state["error"] is not None:
                    return
            try:
                work(i)
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                with lock:
                    if state["error"] is None:
                        state["error"] = e
                return

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if state["error"] is not None:
        raise state["error"]


def load_tokenizer(folder: Path):
    """A fast tokenizer with padding and truncation off, from ``tokenizer.json`` (no transformers needed) or
    through ``transformers.AutoTokenizer`` for folders that only hold ``vocab.txt`` / sentencepiece files."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    tokenizers = require("tokenizers", "onnx", "tokenizing text for a transformer model")
    files = [folder / "tokenizer.json", folder.parent / "tokenizer.json"]  # hub layout: onnx/model.onnx
    found = next((f for f in files if f.is_file()), None)
    if found is not None:
        tokenizer = tokenizers.Tokenizer.from_file(str(found))
    else:
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise FileNotFoundError(
                f"no tokenizer in {folder}: expected tokenizer.json (or vocab.txt / sentencepiece files with "
                "tokenizer_config.json); copy the model's tokenizer files into that folder"
            )
        transformers = require("transformers", "torch", f"reading the tokenizer files in {folder}")
        auto = transformers.AutoTokenizer.from_pretrained(str(folder), use_fast=True)
        if not getattr(auto, "is_fast", False):
            raise ValueError(f"the tokenizer in {folder} has no fast (Rust) version; rankwise needs one")
        tokenizer = auto.backend_tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def model_max_length(folder: Path) -> int | None:
    """The longest input the model takes, from ``config.json`` (``max_position_embeddings``, less the two
    reserved positions of RoBERTa-style models) or ``tokenizer_config.json`` (``model_max_length``)."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    limits = []
    for base in (folder, folder.parent):
        config = _read_json(base / "config.json")
        if config and isinstance(config.get("max_position_embeddings"), int):
            offset = 2 if config.get("model_type") in ("roberta", "xlm-roberta", "camembert") else 0
            limits.append(config["max_position_embeddings"] - offset)
        tok_config = _read_json(base / "tokenizer_config.json")
        value = tok_config.get("model_max_length") if tok_config else None
        if isinstance(value, int) and 0 < value < 1_000_000:  # transformers writes 1e30 for "unknown"
            limits.append(value)
        if limits:
            break
    return min(limits) if limits else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- ONNX BERT -> transformers ---------------------------------------------------------------------------------
_LAYER = re.compile(r"layer\.(\d+)\.")


def dequantize_onnx_bert(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                         num_attention_heads: int | None = None, layer_norm_eps: float | None = None) -> Path:
    """Rebuild a BERT model from its ONNX export (fp32, or dynamically quantised to int8 by
    ``onnxruntime.quantization``) as a transformers folder with fp32 safetensors weights and the tokenizer files.

    Quantised weights are dequantised exactly as the graph does (``(q - zero_point) * scale``), so the result is
    the graph's own weights in fp32; what it does not reproduce is the graph's quantisation of *activations*.
    A graph with a ``classifier`` (a cross-encoder) becomes ``BertForSequenceClassification``; one without becomes
    ``BertModel``. Attention heads and layer-norm epsilon are read from the graph unless given.

    Needs the ``onnx`` package (graph reading) and torch + transformers. Returns ``out_dir``.
    """
    onnx = require("onnx", "onnx", "reading ONNX graph weights")
    numpy_helper = onnx.numpy_helper
    torch = require("torch", "torch", "writing converted weights")
    transformers = require("transformers", "torch", "building the converted model")
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    graph = onnx.load(str(onnx_path)).graph

    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    params: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if name.endswith(("_scale", "_zero_point")):
            continue
        users = consumers.get(name, [])
        # A projection weight is the second input (B) of a MatMul / MatMulInteger / Gemm; a Gemm's third is its bias.
        matmul = next((n for n in users if n.op_type in ("MatMul", "MatMulInteger", "Gemm")
                       and len(n.input) > 1 and n.input[1] == name), None)
        if name.endswith("_quantized"):
            base = name[: -len("_quantized")]
            weight = _dequantize(array, arrays.get(base + "_scale"), arrays.get(base + "_zero_point"), name)
            base = base.removesuffix("_Transposed")  # the quantiser stores a Gemm's B transposed, as for a MatMul
        elif np.issubdtype(array.dtype, np.floating):
            base, weight = name, array.astype(np.float32, copy=False)
        else:
            continue  # integer constants stored as initialisers (shapes, indices, position ids)
        if matmul is not None:
            # A projection: ONNX stores [in, out]; nn.Linear holds [out, in]. Its module comes from the
            # initialiser's name when the exporter kept it, else from the MatMul node's output path.
            module = base[: -len(".weight")] if base.endswith(".weight") else _module_of(matmul.output[0])
            if module is None:
                raise ValueError(f"{onnx_path}: cannot tell which layer the weight {name!r} belongs to")
            if matmul.op_type == "Gemm" and any(a.name == "transB" and a.i for a in matmul.attribute):
                params[module + ".weight"] = weight
            else:
                params[module + ".weight"] = weight.T.copy()
        elif "." in base:
            params[base] = weight
    params = {key: value for key, value in params.items() if not key.startswith("onnx::")}

    prefix = "bert." if any(k.startswith("bert.") for k in params) else ""
    word = params.get(f"{prefix}embeddings.word_embeddings.weight")
    if word is None:
        raise ValueError(f"{onnx_path} holds no BERT word embeddings ({prefix}embeddings.word_embeddings.weight); "
                         "only BERT-style encoders can be converted")
    hidden = word.shape[1]
    layers = 1 + max(int(m.group(1)) for k in params if (m := _LAYER.search(k)))
    intermediate = params[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0]
    heads = num_attention_heads or _attention_heads(graph, constants, hidden)
    if heads is None:
        raise ValueError(f"{onnx_path}: cannot read the number of attention heads from the graph; pass "
                         "num_attention_heads=…")
    eps = layer_norm_eps if layer_norm_eps is not None else _layer_norm_eps(constants)
    ops = {node.op_type for node in graph.node}
    config = transformers.BertConfig(
        vocab_size=word.shape[0], hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate, hidden_act="gelu" if "Erf" in ops or "Gelu" in ops else "gelu_new",
        max_position_embeddings=params[f"{prefix}embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=params[f"{prefix}embeddings.token_type_embeddings.weight"].shape[0]
        if f"{prefix}embeddings.token_type_embeddings.weight" in params else 2,
        layer_norm_eps=eps,
    )
    if "classifier.weight" in params:
        config.num_labels = params["classifier.weight"].shape[0]
        model = transformers.BertForSequenceClassification(config)
    else:
        model = transformers.BertModel(config, add_pooling_layer=f"{prefix}pooler.dense.weight" in params)
    state = model.state_dict()
    loaded = {}
    for key, value in params.items():
        if key not in state:
            raise ValueError(f"{onnx_path}: weight {key!r} has no place in {type(model).__name__}")
        if tuple(state[key].shape) != value.shape:
            raise ValueError(f"{onnx_path}: weight {key!r} has shape {value.shape}, the model expects "
                             f"{tuple(state[key].shape)}")
        loaded[key] = torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
    missing = [k for k in state if k not in loaded and not k.endswith("position_ids")]
    if missing:
        raise ValueError(f"{onnx_path}: the graph lacks {len(missing)} weight(s) of the model, e.g. {missing[:3]}")
    model.load_state_dict(loaded, strict=False)
    model.eval()

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    for name in TOKENIZER_FILES:
        for base in (onnx_path.parent, onnx_path.parent.parent):
            if (base / name).is_file() and not (out_dir / name).exists():
                shutil.copyfile(base / name, out_dir / name)
                break
    return out_dir


def _dequantize(q: np.ndarray, scale, zero_point, name: str) -> np.ndarray:
    if scale is None:
        raise ValueError(f"quantised weight {name!r} has no scale in the graph")
    zero = np.zeros((), np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.ndim == 1 and q.ndim == 2 and scale.size > 1:  # per-channel: one scale per output column
        axis = 1 if scale.size == q.shape[1] else 0
        shape = (1, -1) if axis == 1 else (-1, 1)
        scale, zero = scale.reshape(shape), (zero.reshape(shape) if zero.ndim else zero)
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def _module_of(output_name: str) -> str | None:
    """'/bert/encoder/layer.0/attention/self/query/MatMul_output_0…' -> 'bert.encoder.layer.0.attention.self.query'."""
    match = re.match(r"^/?(.+?)/(?:MatMul|Gemm)[^/]*$", output_name)
    return match.group(1).replace("/", ".") if match else None


def _attention_heads(graph, constants: dict, hidden: int) -> int | None:
    """Heads from the shape that the first self-attention reshape builds: [batch, seq, heads, head_dim] with
    constant heads and head_dim (older exports), or [batch, seq, -1, head_dim] (newer transformers)."""
    for node in graph.node:
        if node.op_type != "Concat" or "attention/self" not in node.output[0]:
            continue
        values = [constants.get(name) for name in node.input]
        if values[-1] is None or values[-1].size != 1 or values[-1].dtype.kind != "i":
            continue
        head_dim = int(values[-1].reshape(-1)[0])
        before = values[-2]
        if before is not None and before.size == 1 and before.dtype.kind == "i":
            heads = int(before.reshape(-1)[0])
            if heads > 1 and heads * head_dim == hidden:
                return heads
            if heads == -1 and head_dim > 1 and hidden % head_dim == 0:
                return hidden // head_dim
    return None


def _layer_norm_eps(constants: dict) -> float:
    """The epsilon added to the variance in the exported LayerNorm (BERT's default 1e-12 when not found)."""
    for name, value in constants.items():
        if "LayerNorm/Constant_1" in name and value.size == 1 and value.dtype.kind == "f":
            return float(str(value.reshape(-1)[0]))  # shortest repr: float32 1e-12 -> 1e-12, not 9.99…e-13
    return 1e-12


__all__ = ["create_session", "dequantize_onnx_bert", "find_onnx_file", "load_tokenizer", "model_max_length",
           "run_parallel", "usable_cpus"]
