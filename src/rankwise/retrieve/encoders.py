"""Text -> vectors for dense retrieval, with each model's own pooling, normalisation and prefixes.

    encoder = load_encoder("BAAI/bge-small-en-v1.5")         # kit: int8 ONNX, CLS pooling, L2-normalised
    q = encoder.encode_queries(["what causes rain?"])         # adds the model's query prefix
    d = encoder.encode_documents(["Rain forms when ..."])     # (n, dim) float32

Three backends, one interface (:class:`Encoder`):

- ``"onnx"`` — onnxruntime + the model's tokenizer (``pip install 'rankwise[onnx]'``); what the offline kit's
  bge-small ships.
- ``"torch"`` — transformers' ``AutoModel`` (``pip install 'rankwise[torch]'``); any BERT-like checkpoint or
  sentence-transformers folder made of Transformer + Pooling (+ Normalize) modules.
- ``"sentence-transformers"`` — the sentence-transformers library itself, used for folders whose pipeline holds
  modules the two above do not reproduce (Dense projections, prompt-excluding pooling, ...).

``backend="auto"`` takes an ONNX graph (``model.onnx`` or ``onnx/model.onnx``) when the folder has one and
onnxruntime is installed, as the cross-encoder does (``rankwise train bi-encoder --onnx`` writes one beside the fp32
weights), else the transformers weights.

Settings (:class:`EncoderSettings`) come, highest precedence first, from: the arguments of :func:`load_encoder`; the
model folder's sentence-transformers files (``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json`` prompts and similarity); the table :data:`KNOWN_MODELS` for folders that lack
those files (the kit's bge ONNX export has none); defaults (mean pooling, cosine, no prefix, 512 tokens).

Documents are encoded in batches of similar length (sorted by token count), so little time goes to padding.
Dynamically quantised ONNX graphs (the kit's int8 bge-small) quantise activations with one scale per batch tensor,
so a text's vector depends on the other texts in its batch; for them the default batch size is 1, which makes every
vector independent of the batch. ONNX batches run as single-threaded session calls, one per core at once, which on
a CPU is faster than one multi-threaded call (see benchmarks/bench_dense.py), so batch size 1 costs nothing there.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.models import ResolvedModel, require, resolve
from rankwise.progress import progress_enabled

POOLINGS = ("cls", "mean", "max", "lasttoken", "mean_sqrt_len")
BACKENDS = ("auto", "onnx", "torch", "sentence-transformers")

BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "

# Query/document prefixes and pooling of well-known families, for model folders without sentence-transformers
# files (ONNX exports, bare transformers checkpoints). Patterns match the lowercased hub name (or a local folder's
# name, without the organisation). Sources: each model's card.
KNOWN_MODELS: tuple[tuple[str, dict], ...] = (
    (r"baai/bge-(small|base|large)-en(-v1\.5)?", dict(pooling="cls", normalize=True, query_prefix=BGE_EN_QUERY)),
    (r"baai/bge-(small|base|large)-zh(-v1\.5)?",
     dict(pooling="cls", normalize=True, query_prefix="为这个句子生成表示以用于检索相关文章：")),
    (r"baai/bge-m3", dict(pooling="cls", normalize=True, max_length=8192)),
    (r"intfloat/(multilingual-)?e5-(small|base|large)(-v2)?",
     dict(pooling="mean", normalize=True, query_prefix="query: ", document_prefix="passage: ")),
    (r"thenlper/gte-(small|base|large)", dict(pooling="mean", normalize=True)),
    (r"snowflake/snowflake-arctic-embed-(xs|s|m|l)(-v1\.5)?",
     dict(pooling="cls", normalize=True, query_prefix=BGE_EN_QUERY)),
    (r"mixedbread-ai/mxbai-embed-large-v1", dict(pooling="cls", normalize=True, query_prefix=BGE_EN_QUERY)),
    (r"sentence-transformers/all-minilm-l6-v2", dict(pooling="mean", normalize=True, max_length=256)),
)


@dataclass(frozen=True)
class EncoderSettings:
    """How a model turns token states into one vector, and what it prepends to queries and documents."""

    pooling: str = "mean"
    normalize: bool = True  # L2-normalise, so inner product = cosine (sentence-transformers' default similarity)
    query_prefix: str = ""
    document_prefix: str = ""
    max_length: int = 512

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {self.pooling!r}")
        if not isinstance(self.max_length, int) or self.max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2 (tokens); got {self.max_length!r}")


def known_settings(name: str) -> dict:
    """Settings from :data:`KNOWN_MODELS` for a hub name or a local folder named like one ({} if unknown)."""
    lowered = str(name).lower().rstrip("/")
    base = lowered.rsplit("/", 1)[-1]
    for pattern, settings in KNOWN_MODELS:
        if re.fullmatch(pattern, lowered) or re.fullmatch(pattern.split("/", 1)[1], base):
            return dict(settings)
    return {}


# --- reading a sentence-transformers folder -------------------------------------------------------------------
@dataclass(frozen=True)
class FolderConfig:
    """What a model folder says about itself."""

    settings: dict  # EncoderSettings fields found
    transformer_path: Path  # where the transformers checkpoint (config.json, weights, tokenizer) lives
    unsupported: tuple[str, ...] = ()  # pipeline parts only sentence-transformers reproduces
    has_st_files: bool = False


def read_folder_config(folder: Path) -> FolderConfig:
    """Pooling, normalisation, prefixes and max length from a sentence-transformers folder (what it has of them)."""
    settings: dict = {}
    unsupported: list[str] = []
    transformer_path = folder
    kinds: list[str] = []
    modules_file = folder / "modules.json"
    has_st = modules_file.is_file()
    if has_st:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        settings["normalize"] = "Normalize" in kinds
        for module, kind in zip(modules, kinds):
            path = folder / module.get("path", "")
            if kind == "Transformer":
                transformer_path = path
            elif kind == "Pooling":
                pooling, problem = _read_pooling(path / "config.json")
                if problem:
                    unsupported.append(problem)
                else:
                    settings["pooling"] = pooling
            elif kind != "Normalize":
                unsupported.append(f"module {kind}")
    bert_config = transformer_path / "sentence_bert_config.json"
    if bert_config.is_file():
        config = json.loads(bert_config.read_text(encoding="utf-8"))
        if config.get("max_seq_length"):
            settings["max_length"] = int(config["max_seq_length"])
        if config.get("do_lower_case"):
            unsupported.append("do_lower_case")
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        config = json.loads(st_config.read_text(encoding="utf-8"))
        prompts = config.get("prompts") or {}
        if prompts.get("query"):
            settings["query_prefix"] = prompts["query"]
        for key in ("document", "passage", "corpus"):
            if prompts.get(key):
                settings["document_prefix"] = prompts[key]
                break
        similarity = config.get("similarity_fn_name")
        if similarity in ("dot", "dot_product"):
            settings["normalize"] = "Normalize" in kinds
        elif similarity in (None, "cosine") and has_st:
            settings["normalize"] = True  # cosine similarity ranks exactly as inner product of normalised vectors
        elif similarity not in (None, "cosine"):
            unsupported.append(f"similarity {similarity!r}")
    return FolderConfig(settings, transformer_path, tuple(unsupported), has_st)


_POOLING_KEYS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
                 "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens", "lasttoken": "pooling_mode_lasttoken",
                 "weightedmean": "pooling_mode_weightedmean_tokens"}


def _read_pooling(path: Path) -> tuple[str | None, str | None]:
    if not path.is_file():
        return None, f"pooling config {path} missing"
    config = json.loads(path.read_text(encoding="utf-8"))
    if "pooling_mode" in config:  # sentence-transformers >= 5 writes the mode by name: "cls" or ["mean", "max"]
        named = config["pooling_mode"]
        named = [named] if isinstance(named, str) else list(named)
        config.update({_POOLING_KEYS[m]: True for m in named if m in _POOLING_KEYS})
        if any(m not in _POOLING_KEYS for m in named):
            return None, f"pooling {'+'.join(map(str, named))}"
    modes = {
        "cls": config.get("pooling_mode_cls_token"),
        "mean": config.get("pooling_mode_mean_tokens"),
        "max": config.get("pooling_mode_max_tokens"),
        "mean_sqrt_len": config.get("pooling_mode_mean_sqrt_len_tokens"),
        "lasttoken": config.get("pooling_mode_lasttoken"),
        "weightedmean": config.get("pooling_mode_weightedmean_tokens"),
    }
    chosen = [mode for mode, on in modes.items() if on]
    if len(chosen) != 1 or chosen[0] not in POOLINGS:
        return None, f"pooling {'+'.join(chosen) or 'none'}"
    if config.get("include_prompt") is False:
        return None, "pooling that excludes the prompt"
    return chosen[0], None


# --- pooling (shared by the ONNX and torch backends) ---------------------------------------------------------
def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """One vector per text from token states ``hidden`` (batch, tokens, dim) and the attention ``mask``."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask[:, :, None].astype(hidden.dtype)
    if mode == "max":
        return np.where(m > 0, hidden, -np.inf).max(axis=1)
    if mode == "lasttoken":  # right padding: the last real token sits at length - 1
        return hidden[np.arange(len(hidden)), mask.sum(axis=1) - 1]
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    return summed / (np.sqrt(counts) if mode == "mean_sqrt_len" else counts)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first, so memory peaks at once, not at the end)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# --- encoders -----------------------------------------------------------------------------------------------------
class Encoder:
    """Texts -> float32 vectors (one row per text). Subclasses give :attr:`dim` and :meth:`_encode_into`."""

    backend = "none"

    def __init__(self, name: str, settings: EncoderSettings, batch_size: int):
        positive_int("batch_size", batch_size)
        self.name, self.settings, self.batch_size = name, settings, batch_size
        self.batch_dependent = False  # True when a text's vector depends on the others in its batch

    def __repr__(self) -> str:
        s = self.settings
        return (f"{type(self).__name__}({self.name!r}, pooling={s.pooling}, normalize={s.normalize}, "
                f"max_length={s.max_length}, query_prefix={s.query_prefix!r}, batch_size={self.batch_size})")

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.encode(texts, self.settings.query_prefix, batch_size, desc="encode queries")

    def encode_documents(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.encode(texts, self.settings.document_prefix, batch_size, desc="encode documents")

    def encode(self, texts: Sequence[str], prefix: str = "", batch_size: int | None = None,
               desc: str = "encode") -> np.ndarray:
        """Vectors for ``texts`` (each prefixed with ``prefix``), in input order, normalised if the model is."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string; wrap it: encode([text])")
        texts = [prefix + t for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if texts:
            self._encode_into(texts, out, batch_size or self.batch_size, desc)
        return l2_normalize(out) if self.settings.normalize else out

    def _encode_into(self, texts: list[str], out: np.ndarray, batch_size: int, desc: str) -> None:
        raise NotImplementedError

    def config(self) -> dict:
        """What :func:`load_encoder` needs to rebuild this encoder (saved with an index)."""
        return {"model": self.name, "backend": self.backend, "settings": asdict(self.settings),
                "batch_size": self.batch_size}

    def __reduce_ex__(self, protocol):
        # Pickles as its settings (another process, a Ray actor, loads its own copy of the model), not its session.
        config = self.config()
        return functools.partial(load_encoder, config["model"], backend=config["backend"],
                                 settings=config["settings"], batch_size=config["batch_size"]), ()


class _TokenizedEncoder(Encoder):
    """Shared loop of the ONNX and torch backends: tokenize all, batch by length, pad, run, pool."""

    pad_id = 0

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    threads = 1  # batches run at once (ONNX: one single-threaded session call per core)

    def _encode_into(self, texts, out, batch_size, desc):
        ids = self._token_ids(texts)
        batches = length_batches([len(x) for x in ids], batch_size)
        bar = None
        if progress_enabled() and len(texts) > batch_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc=f"{desc} ({self.name})", unit="text", leave=False, dynamic_ncols=True)

        def work(j: int) -> None:
            batch = batches[j]
            width = max(len(ids[i]) for i in batch)
            input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            hidden = self._hidden(input_ids, mask)
            out[batch] = hidden if hidden.ndim == 2 else pool(hidden, mask, self.settings.pooling)
            if bar is not None:
                bar.update(len(batch))

        if self.threads > 1:
            from rankwise.onnx_runtime import run_parallel

            run_parallel(len(batches), work, self.threads)  # longest batches first: they are handed out first
        else:
            for j in range(len(batches)):
                work(j)
        if bar is not None:
            bar.close()


class OnnxEncoder(_TokenizedEncoder):
    """An ONNX graph (``input_ids``, ``attention_mask`` [, ``token_type_ids``] -> token states) + tokenizer.json."""

    backend = "onnx"

    def __init__(self, name: str, model_file: Path, tokenizer_file: Path, settings: EncoderSettings,
                 batch_size: int | None = None, threads: int | None = None):
        require("onnxruntime", "onnx", "the ONNX dense encoder")
        from rankwise.onnx_runtime import create_session, load_tokenizer, usable_cpus

        self.tokenizer = load_tokenizer(tokenizer_file)
        self.tokenizer.enable_truncation(settings.max_length)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        # One single-threaded session called from one thread per core: ~2x the throughput of one call with all
        # cores on the small matrices of a BERT encoder (measured in benchmarks/bench_dense.py).
        self.threads = max(1, threads or usable_cpus())
        self.session = create_session(model_file, threads=1)
        self.model_file = model_file
        self._inputs = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ValueError(f"{model_file} is not a text encoder graph: it lacks the input(s) {sorted(missing)} "
                             f"(it takes {sorted(self._inputs)})")
        outputs = {o.name: o for o in self.session.get_outputs()}
        preferred = ("last_hidden_state", "token_embeddings", "sentence_embedding")
        self._output = next((n for n in preferred if n in outputs), self.session.get_outputs()[0].name)
        shape = outputs[self._output].shape
        self._dim = shape[-1] if isinstance(shape[-1], int) else None
        dynamic = _is_dynamically_quantized(model_file)
        super().__init__(name, settings, batch_size or (1 if dynamic else 32))
        self.batch_dependent = dynamic and self.batch_size > 1

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._hidden(np.array([[self.pad_id]]), np.ones((1, 1), dtype=np.int64)).shape[-1])
        return self._dim

    def _token_ids(self, texts):
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def _hidden(self, ids, mask):
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        return self.session.run([self._output], feed)[0]


def _is_dynamically_quantized(model_file: Path) -> bool:
    """Whether the graph quantises activations on the fly (op DynamicQuantizeLinear), read without the onnx package:
    op types are stored as plain strings in the protobuf."""
    import mmap

    with open(model_file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"DynamicQuantizeLinear") != -1


class TorchEncoder(_TokenizedEncoder):
    """A transformers checkpoint (``AutoModel``) with pooling done here."""

    backend = "torch"

    def __init__(self, name: str, path: Path, settings: EncoderSettings, batch_size: int | None = None,
                 device: str | None = None):
        torch = require("torch", "torch", "the transformers dense encoder")
        transformers = require("transformers", "torch", "the transformers dense encoder")
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        self.model = transformers.AutoModel.from_pretrained(str(path)).to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id or 0
        super().__init__(name, settings, batch_size or 32)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _token_ids(self, texts):
        return self.tokenizer(texts, truncation=True, max_length=self.settings.max_length)["input_ids"]

    def _hidden(self, ids, mask):
        torch = self.torch
        with torch.inference_mode():
            out = self.model(input_ids=torch.from_numpy(ids).to(self.device),
                             attention_mask=torch.from_numpy(mask).to(self.device))
        return out.last_hidden_state.float().cpu().numpy()


class SentenceTransformerEncoder(Encoder):
    """The sentence-transformers library runs the folder's own pipeline (for modules rankwise does not reproduce)."""

    backend = "sentence-transformers"

    def __init__(self, name: str, path: Path, settings: EncoderSettings, batch_size: int | None = None,
                 device: str | None = None):
        st = require("sentence_transformers", "sentence-transformers",
                     "this model's sentence-transformers pipeline")
        self.model = st.SentenceTransformer(str(path), device=device)
        self.model.max_seq_length = settings.max_length
        super().__init__(name, settings, batch_size or 32)

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts, prefix="", batch_size=None, desc="encode"):
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string; wrap it: encode([text])")
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        # The prompt goes through sentence-transformers so that pooling that excludes it works as the model intends.
        vectors = self.model.encode(list(texts), prompt=prefix or None, batch_size=batch_size or self.batch_size,
                                    convert_to_numpy=True, normalize_embeddings=False,
                                    show_progress_bar=progress_enabled())
        vectors = np.asarray(vectors, dtype=np.float32)
        return l2_normalize(vectors) if self.settings.normalize else vectors


# --- building one by name --------------------------------------------------------------------------------------
_NOT_DENSE = {
    "sparse": "a learned sparse model: use rankwise.retrieve.SpladeRetriever",
    "cross-encoder": "a cross-encoder reranker: rerank with it instead (rankwise.rerank)",
    "late-interaction": "a late-interaction (ColBERT) model, not a single-vector encoder",
    "llm": "a generative language model, not a text encoder",
}


def load_encoder(
    model: str | Path | ResolvedModel,
    *,
    backend: str = "auto",
    pooling: str | None = None,
    normalize: bool | None = None,
    query_prefix: str | None = None,
    document_prefix: str | None = None,
    max_length: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    threads: int | None = None,
    settings: dict | None = None,
) -> Encoder:
    """A dense encoder for a model name (hub name, local folder or ``.onnx`` file, offline kit), with the model's
    own pooling and prefixes unless overridden here. ``threads``: parallel ONNX calls (default: the usable cores).
    ``settings`` is an :class:`EncoderSettings` dict (as saved
    with an index); the individual arguments win over it.

    Raises :class:`rankwise.models.ModelNotFoundError` (lists where it looked) or
    :class:`rankwise.models.MissingExtraError` (names the extra to install)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    resolved = model if isinstance(model, ResolvedModel) else resolve(model, family="dense")
    if resolved.family in _NOT_DENSE:
        raise ValueError(f"{resolved.name!r} is {_NOT_DENSE[resolved.family]}")
    folder = resolved.path if resolved.path.is_dir() else resolved.path.parent
    config = read_folder_config(folder)
    onnx_file = _find_onnx(resolved)
    has_weights = any((config.transformer_path / f).is_file()
                      for f in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"))

    explicit = {k: v for k, v in dict(pooling=pooling, normalize=normalize, query_prefix=query_prefix,
                                      document_prefix=document_prefix, max_length=max_length).items() if v is not None}
    known = known_settings(resolved.name)
    merged = {**known, **config.settings, **(settings or {}), **explicit}
    if not (known or config.has_st_files or settings or {"pooling", "normalize"} <= explicit.keys()):
        warnings.warn(
            f"{resolved.name!r}: no sentence-transformers files and not a known model, so pooling is guessed as "
            f"{merged.get('pooling', 'mean')!r} with normalize={merged.get('normalize', True)}; pass pooling= and "
            "normalize= (and query_prefix=) to state them", stacklevel=2)
    final = EncoderSettings(**merged)

    if backend == "auto":
        if config.unsupported:
            backend = "sentence-transformers"
        elif onnx_file is not None and (importlib.util.find_spec("onnxruntime") is not None or not has_weights):
            backend = "onnx"  # a graph beside the weights (e.g. `rankwise train bi-encoder --onnx`) is the fast path
        elif has_weights:
            backend = "torch"
        else:
            raise ValueError(f"{resolved.path} holds no model weights rankwise can run (no .onnx file, no "
                             "model.safetensors / pytorch_model.bin)")
    if backend == "onnx":
        if onnx_file is None:
            raise ValueError(f"backend='onnx' but {resolved.path} holds no .onnx file")
        tokenizer_file = onnx_file.parent  # load_tokenizer looks there and one level up (the hub's onnx/ layout)
        if config.unsupported:
            raise ValueError(f"{resolved.name!r} needs {', '.join(config.unsupported)}, which the ONNX backend does "
                             "not reproduce; use backend='sentence-transformers'")
        return OnnxEncoder(resolved.name, onnx_file, tokenizer_file, final, batch_size, threads)
    if backend == "torch":
        if config.unsupported:
            raise ValueError(f"{resolved.name!r} needs {', '.join(config.unsupported)}, which the torch backend does "
                             "not reproduce; use backend='sentence-transformers'")
        if not has_weights:
            raise ValueError(f"backend='torch' but {config.transformer_path} holds no model.safetensors or "
                             "pytorch_model.bin" + (" (it has an ONNX graph: use backend='onnx')" if onnx_file else ""))
        return TorchEncoder(resolved.name, config.transformer_path, final, batch_size, device)
    return SentenceTransformerEncoder(resolved.name, folder, final, batch_size, device)


def _find_onnx(resolved: ResolvedModel) -> Path | None:
    if resolved.file is not None and resolved.file.suffix == ".onnx":
        return resolved.file
    if resolved.path.is_file():
        return resolved.path if resolved.path.suffix == ".onnx" else None
    for candidate in (resolved.path / "model.onnx", resolved.path / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(resolved.path.glob("*.onnx"))
    return found[0] if len(found) == 1 else None
