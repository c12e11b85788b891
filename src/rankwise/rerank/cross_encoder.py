"""Cross-encoder reranking (monoBERT / MiniLM / bge-reranker style, pointwise): a model reads query and passage
together and returns one relevance score per pair.

    from rankwise.rerank.cross_encoder import CrossEncoderReranker
    reranker = CrossEncoderReranker()                  # cross-encoder/ms-marco-MiniLM-L-12-v2
    reranker.score("what is a lobster roll", ["A lobster roll is a sandwich …", "Lobsters are crustaceans …"])
    run = (bm25 % 100 >> reranker)(dataset.queries)   # many queries per call

Two backends behind one class:

- ``"onnx"``: onnxruntime on the CPU, for ``.onnx`` graphs (int8 or fp32), e.g. the offline kit's int8
  ms-marco-MiniLM-L-12-v2. Pairs run **one per call** on every core at once (one session, one intra-op thread per
  caller). Dynamically quantised int8 graphs pick one activation scale per input tensor, so in a padded batch a
  pair's score would depend on the other pairs in it; alone, it depends on nothing else. Measured on 2 cores this
  is also the fastest way to run the graph (docs/cross_encoder.md). ``deterministic=False`` opts into padded
  batches of ``batch_size`` pairs instead (scores then depend on the batch).
- ``"torch"``: any ``AutoModelForSequenceClassification`` folder or hub name through transformers, on CUDA in
  bf16/fp16 when a GPU is present, else on the CPU in fp32; batches of ``batch_size`` pairs sorted by length.

``backend="auto"`` takes ONNX when the model folder holds an ``.onnx`` graph and onnxruntime is installed, else torch.

Inputs: the passage is truncated, never the query, to ``max_length`` tokens (default 512, and never more than
the model takes). Longer documents can instead be cut into overlapping passages (``long_documents="maxp"``: the
document scores as its best passage; ``"firstp"``: as its first passage; Dai & Callan, SIGIR 2019). A query too
long to leave room for any passage is an error.

Scores are the model's raw logit (for two-label models, relevant minus not relevant), as float64. Pairs are pooled
across all queries of a call, repeated (query, text) pairs are scored once, and with ``cache=PATH`` scores persist
in a :class:`~rankwise.rerank.cache.ScoreCache` (written every ``chunk`` pairs, so an interrupted run resumes).
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.models import ResolvedModel, require, resolve
from rankwise.onnx_runtime import (
    create_session,
    find_onnx_file,
    load_tokenizer,
    model_max_length,
    run_parallel,
    usable_cpus,
)
from rankwise.pipeline import Reranker, require_texts
from rankwise.progress import progress_enabled
from rankwise.rerank.cache import ScoreCache
from rankwise.types import Query, Ranking, Run

DEFAULT_MODEL = "cross-encoder/ms-marco-MiniLM-L-12-v2"
DEFAULT_MAX_LENGTH = 512
BACKENDS = ("auto", "onnx", "torch")
LONG_DOCUMENTS = ("truncate", "firstp", "maxp")
DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16"}
CHUNK = 1024  # pairs scored between cache writes and progress updates


class CrossEncoderReranker(Reranker):
    """Rerank candidates with a cross-encoder (see the module docs for the backends and determinism).

    Args:
        model: hub name, local folder, or ``.onnx`` file (resolved by :func:`rankwise.models.resolve`: local
            path, then the offline kit, then the Hugging Face hub).
        backend: ``"auto"``, ``"onnx"`` or ``"torch"``.
        max_length: tokens per input, query and special tokens included (default 512, capped by the model).
        batch_size: pairs per forward pass for the torch backend and for ONNX with ``deterministic=False``
            (defaults 32 and 8); ignored by deterministic ONNX, which runs each pair alone.
        long_documents: ``"truncate"`` (default), ``"maxp"`` or ``"firstp"``.
        passage_length: tokens per passage input for maxp/firstp, query included (default ``max_length``).
        passage_stride: document tokens between the starts of consecutive passages (default half of the
            document tokens a passage holds, i.e. passages overlap by half).
        deterministic: a pair's score never depends on batching or order (default True; see module docs).
        cache: a :class:`ScoreCache` or a path to one; None (default) for no cache.
        device, dtype: torch backend only: ``"cpu"``/``"cuda"``/…, and ``"float32"``/``"float16"``/``"bfloat16"``
            (default: CUDA in bf16, or fp16 where bf16 is unsupported, when a GPU is present; else CPU fp32).
        threads: CPU threads (default: the cores this process may use).
        allow_download: let the hub download a model that is not cached (default True).
    """

    name = "cross-encoder"

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        backend: str = "auto",
        *,
        max_length: int | None = None,
        batch_size: int | None = None,
        long_documents: str = "truncate",
        passage_length: int | None = None,
        passage_stride: int | None = None,
        deterministic: bool = True,
        cache: ScoreCache | str | os.PathLike | None = None,
        device: str | None = None,
        dtype: str | None = None,
        threads: int | None = None,
        allow_download: bool = True,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
        if long_documents not in LONG_DOCUMENTS:
            raise ValueError(f"long_documents must be one of {', '.join(map(repr, LONG_DOCUMENTS))}; "
                             f"got {long_documents!r}")
        positive_int("max_length", max_length, optional=True)
        for label, value in (("batch_size", batch_size), ("passage_length", passage_length),
                             ("passage_stride", passage_stride), ("threads", threads)):
            if value is not None:
                positive_int(label, value)
        if dtype is not None and str(dtype).replace("torch.", "") not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(sorted(set(DTYPES.values())))}; got {dtype!r}")

        self.resolved: ResolvedModel = resolve(model, family="cross-encoder", allow_download=allow_download,
                                                 weights="onnx" if backend == "onnx" else "auto")
        path = self.resolved.path
        onnx_file = self.resolved.file if self.resolved.file is not None and self.resolved.file.suffix == ".onnx" \
            else find_onnx_file(path)
        self.backend_name = _choose_backend(backend, path, onnx_file, str(model))

        limit = model_max_length(onnx_file if self.backend_name == "onnx" else path)
        if max_length is None:  # 512 tokens, or less when the model takes less
            max_length = min(DEFAULT_MAX_LENGTH, limit or DEFAULT_MAX_LENGTH)
        elif limit is not None and max_length > limit:
            raise ValueError(f"max_length={max_length} is more than {model!r} takes ({limit} tokens); "
                             f"use max_length <= {limit}")
        if passage_length is not None and passage_length > max_length:
            raise ValueError(f"passage_length={passage_length} is more than max_length={max_length}")
        self.model_name = str(model)
        self.max_length = int(max_length)
        self.long_documents = long_documents
        self.passage_length = passage_length
        self.passage_stride = passage_stride
        self.deterministic = bool(deterministic)
        self.threads = int(threads) if threads is not None else usable_cpus()
        self.tokenizer = load_tokenizer(onnx_file if self.backend_name == "onnx" else path)
        if self.backend_name == "onnx":
            self.batch_size = batch_size or 8
            self.backend = _OnnxBackend(onnx_file, self.threads, self.deterministic, self.batch_size)
            self._weight_files = [onnx_file, *sorted(onnx_file.parent.glob(onnx_file.name + "*data"))]
        else:
            self.batch_size = batch_size or 32
            self.backend = _TorchBackend(path, device, dtype, self.batch_size, self.deterministic, threads)
            self._weight_files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin")) \
                + [p for p in (path / "config.json",) if p.is_file()]
        self.cache = cache if isinstance(cache, ScoreCache) or cache is None else ScoreCache(cache)
        self._cache_key: str | None = None

    def __repr__(self) -> str:
        return (f"CrossEncoderReranker(model={self.model_name!r}, backend={self.backend_name!r}, "
                f"max_length={self.max_length}, long_documents={self.long_documents!r}, "
                f"deterministic={self.deterministic})")

    # --- public scoring -------------------------------------------------------------------------------------
    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of ``(query, text)`` pairs, in the order given."""
        pairs = list(pairs)
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"pair {i} must be a (query, text) tuple, got {pair!r:.80}")
        return self.score_pairs([p[0] for p in pairs], [p[1] for p in pairs])

    def score(self, query: Query | str, texts: Sequence[str]) -> np.ndarray:
        """Scores of one query's candidate texts."""
        text = query.text if isinstance(query, Query) else query
        texts = list(texts)
        return self.score_pairs([text] * len(texts), texts)

    def rerank(self, query: Query | str, candidates: Ranking | Sequence[str]) -> Ranking:
        """One query's candidates reordered by score. ``candidates`` is a :class:`Ranking` with texts, or a plain
        list of texts, whose document ids are then their positions in the list ("0", "1", …)."""
        if not isinstance(candidates, Ranking):
            texts = list(candidates)
            if isinstance(candidates, str):
                raise TypeError("candidates must be a list of texts or a Ranking, not one string")
            qid = query.qid if isinstance(query, Query) else "q"
            candidates = Ranking(qid, [str(i) for i in range(len(texts))], np.zeros(len(texts)), texts, sort=False)
        return super().rerank(query, candidates)

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        """All queries' candidates scored in one pool (batched across queries); queries without candidates get
        an empty ranking."""
        query_texts, texts, spans = [], [], []
        for q in queries:
            candidates = run.get(q.qid)
            if candidates:
                start = len(texts)
                texts.extend(require_texts(candidates, self))
                query_texts.extend([q.text] * len(candidates))
                spans.append((q, candidates, start, len(texts)))
        scores = self.score_pairs(query_texts, texts)
        out = Run(name=self.name)
        done = set()
        for q, candidates, start, end in spans:
            out[q.qid] = Ranking(q.qid, candidates.docids, scores[start:end], candidates.texts)
            done.add(q.qid)
        for q in queries:
            if q.qid not in done:
                out[q.qid] = Ranking(q.qid, [], [])
        return out

    def score_pairs(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Scores of the pairs ``(queries[i], texts[i])`` (float64)."""
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        for label, values in (("query", queries), ("text", texts)):
            bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
            if bad is not None:
                raise TypeError(f"{label} {bad} must be a string, got {type(values[bad]).__name__} "
                                f"({values[bad]!r:.60}); attach document texts before reranking")
        out = np.full(len(texts), np.nan)
        if not len(texts):
            return out
        # Repeated pairs (the same passage under two query ids with the same text) are scored once.
        slot: dict[tuple[str, str], int] = {}
        where = np.fromiter((slot.setdefault((q, t), len(slot)) for q, t in zip(queries, texts)), np.int64,
                            len(texts))
        unique_q = [q for q, _ in slot]
        unique_t = [t for _, t in slot]
        unique = np.full(len(slot), np.nan)
        if self.cache is not None:
            unique[:] = self.cache.get(self.cache_key, unique_q, unique_t)
        todo = np.flatnonzero(np.isnan(unique))
        if len(todo):
            # Longest first: batches of similar lengths (little padding) and the slowest work started first.
            todo = todo[np.argsort([-(len(unique_q[i]) + len(unique_t[i])) for i in todo], kind="stable")]
            bar = _bar(len(todo), f"rerank ({self.name})")
            try:
                for start in range(0, len(todo), CHUNK):
                    chunk = todo[start:start + CHUNK]
                    qs, ts = [unique_q[i] for i in chunk], [unique_t[i] for i in chunk]
                    unique[chunk] = self._score_uncached(qs, ts)
                    if self.cache is not None:
                        self.cache.put(self.cache_key, qs, ts, unique[chunk])
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        out[:] = unique[where]
        return out

    @property
    def cache_key(self) -> str:
        """Everything that changes a score: a digest of the model's files, backend, precision and input settings."""
        if self._cache_key is None:
            digest = hashlib.sha256()
            for path in self._weight_files:
                file_hash = self.cache.file_digest(path) if self.cache is not None else path.name
                digest.update(f"{path.name}={file_hash};".encode())
            digest.update(self.tokenizer.to_str().encode())  # the tokenization in use, whatever file it came from
            settings = {
                "backend": self.backend_name, "precision": self.backend.precision,
                "deterministic": self.deterministic,
                "batch_size": None if self.deterministic else self.batch_size,
                "max_length": self.max_length, "long_documents": self.long_documents,
                "passage_length": self.passage_length, "passage_stride": self.passage_stride,
            }
            self._cache_key = f"cross-encoder:{digest.hexdigest()}:{json.dumps(settings, sort_keys=True)}"
        return self._cache_key

    # --- internals ------------------------------------------------------------------------------------------
    def _score_uncached(self, queries: list[str], texts: list[str]) -> np.ndarray:
        ids, types, owner = self._encode(queries, texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        scores = np.empty(len(ids), np.float64)
        scores[order] = self.backend.score([ids[i] for i in order], [types[i] for i in order])
        if self.long_documents == "maxp":
            out = np.full(len(texts), -np.inf)
            np.maximum.at(out, owner, scores)
            return out
        return scores  # truncate / firstp: one input per pair, in pair order

    def _encode(self, queries: list[str], texts: list[str]):
        """Token ids and type ids of each model input, and the pair each belongs to (several per pair for maxp).

        The pairs are tokenized whole (Rust, parallel) and cut here: [prefix: specials + query + specials]
        [document tokens] [suffix: specials], keeping the model's own pair template whatever it is."""
        window = (self.passage_length or self.max_length) if self.long_documents != "truncate" else self.max_length
        encodings = self.tokenizer.encode_batch(list(zip(queries, texts)))
        ids, types, owner = [], [], []
        for k, enc in enumerate(encodings):
            token_ids = np.asarray(enc.ids, dtype=np.int64)
            type_ids = np.asarray(enc.type_ids, dtype=np.int64)
            if len(token_ids) <= window and self.long_documents != "maxp":
                ids.append(token_ids)
                types.append(type_ids)
                owner.append(k)
                continue
            sequence = np.asarray([-1 if s is None else s for s in enc.sequence_ids], dtype=np.int64)
            in_doc = np.flatnonzero(sequence == 1)
            doc_start, doc_end = (int(in_doc[0]), int(in_doc[-1]) + 1) if len(in_doc) else (len(token_ids),) * 2
            budget = window - (len(token_ids) - (doc_end - doc_start))
            if len(token_ids) <= window:
                starts = [doc_start]  # maxp of a document that fits: one passage, the whole input
                budget = doc_end - doc_start
            elif budget < 1:
                query_tokens = int(np.count_nonzero(sequence == 0))
                raise ValueError(
                    f"query {queries[k]!r:.80} is {query_tokens} tokens: with the model's special tokens it leaves "
                    f"no room for the passage within {window} tokens. Queries are never truncated; raise "
                    f"{'passage_length' if window != self.max_length else 'max_length'} or shorten the query."
                )
            elif self.long_documents == "maxp":
                stride = self.passage_stride or max(1, budget // 2)
                last = max(0, (doc_end - doc_start) - budget)
                # Passages start every `stride` tokens; the last one ends where the document ends.
                starts = list(range(doc_start, doc_start + last, stride)) + [doc_start + last]
            else:
                starts = [doc_start]
            head, tail = slice(0, doc_start), slice(doc_end, None)
            for s in starts:
                ids.append(np.concatenate([token_ids[head], token_ids[s:s + budget], token_ids[tail]]))
                types.append(np.concatenate([type_ids[head], type_ids[s:s + budget], type_ids[tail]]))
                owner.append(k)
        return ids, types, np.asarray(owner, dtype=np.int64)


# --- backends ---------------------------------------------------------------------------------------------------
class _OnnxBackend:
    """onnxruntime on the CPU: one session, ``threads`` callers with one intra-op thread each."""

    precision = "onnx"

    def __init__(self, path: Path, threads: int, deterministic: bool, batch_size: int):
        self.session = create_session(path, threads=1)
        self.threads, self.deterministic, self.batch_size = threads, deterministic, batch_size
        inputs = {i.name: i for i in self.session.get_inputs()}
        if "input_ids" not in inputs:
            raise ValueError(f"{path} has no 'input_ids' input (inputs: {', '.join(inputs)}); "
                             "is it a transformer cross-encoder?")
        self.dtype = np.int32 if inputs["input_ids"].type == "tensor(int32)" else np.int64
        self.takes_mask = "attention_mask" in inputs
        self.takes_types = "token_type_ids" in inputs
        unknown = set(inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ValueError(f"{path} needs inputs rankwise does not provide: {', '.join(sorted(unknown))}")
        output = self.session.get_outputs()[0]
        self.output = output.name
        labels = output.shape[-1] if len(output.shape) == 2 else None
        if labels not in (1, 2, None) and not isinstance(labels, str):
            raise ValueError(f"{path}: output {output.name!r} has shape {output.shape}; a cross-encoder gives one "
                             "score (or two class logits) per pair")

    def _feed(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> dict:
        feed = {"input_ids": ids.astype(self.dtype, copy=False)}
        if self.takes_mask:
            feed["attention_mask"] = mask.astype(self.dtype, copy=False)
        if self.takes_types:
            feed["token_type_ids"] = types.astype(self.dtype, copy=False)
        return feed

    def score(self, ids: list[np.ndarray], types: list[np.ndarray]) -> np.ndarray:
        """Scores of inputs given longest first."""
        out = np.empty(len(ids), np.float64)
        run = self.session.run
        if self.deterministic:
            feeds = [self._feed(x[None], np.ones((1, len(x)), self.dtype), t[None]) for x, t in zip(ids, types)]

            def work(i: int) -> None:
                out[i] = _to_score(run([self.output], feeds[i])[0])[0]

            run_parallel(len(ids), work, self.threads)
        else:
            bounds = list(range(0, len(ids), self.batch_size))

            def work(i: int) -> None:
                lo = bounds[i]
                hi = min(lo + self.batch_size, len(ids))
                batch_ids, batch_mask, batch_types = _pad(ids[lo:hi], types[lo:hi], 0)
                out[lo:hi] = _to_score(run([self.output], self._feed(batch_ids, batch_mask, batch_types))[0])

            run_parallel(len(bounds), work, self.threads)
        return out


class _TorchBackend:
    """transformers ``AutoModelForSequenceClassification``: CUDA in half precision when present, else CPU fp32."""

    def __init__(self, folder: Path, device: str | None, dtype: str | None, batch_size: int, deterministic: bool,
                 threads: int | None):
        torch = require("torch", "torch", "the torch cross-encoder backend")
        transformers = require("transformers", "torch", "the torch cross-encoder backend")
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            if self.device.type == "cuda":
                dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
            else:
                dtype = "float32"
        self.dtype = getattr(torch, DTYPES[str(dtype).replace("torch.", "")])
        if threads is not None and self.device.type == "cpu":
            torch.set_num_threads(int(threads))
        # transformers renamed `torch_dtype` to `dtype` in 4.56.
        version = tuple(int(x) for x in transformers.__version__.split(".")[:2] if x.isdigit())
        dtype_arg = {"dtype" if version >= (4, 56) else "torch_dtype": self.dtype}
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder), **dtype_arg)
        except (OSError, ValueError) as e:
            raise ValueError(f"transformers cannot load {folder} as a sequence-classification model: "
                             f"{str(e).splitlines()[0]}") from None
        self.model = model.to(self.device).eval()
        self.num_labels = int(getattr(model.config, "num_labels", 1))
        if self.num_labels not in (1, 2):
            raise ValueError(f"{folder} has {self.num_labels} output labels; a cross-encoder gives one score (or "
                             "two class logits) per pair")
        self.takes_types = "token_type_ids" in inspect.signature(self.model.forward).parameters \
            and getattr(model.config, "type_vocab_size", 2) > 1
        self.pad_id = getattr(model.config, "pad_token_id", None) or 0
        self.batch_size = batch_size
        # On the CPU in fp32, padded batches already match single-pair runs to ~1e-6 (measured); elsewhere
        # (GPU kernels chosen by shape, half precision) only fixed shapes make a row independent of the others.
        self.fixed_shapes = deterministic and self.device.type != "cpu"
        self.precision = f"torch-{str(self.dtype).replace('torch.', '')}-{self.device.type}"

    def score(self, ids: list[np.ndarray], types: list[np.ndarray]) -> np.ndarray:
        """Scores of inputs given longest first, in batches of ``batch_size``.

        On a GPU in deterministic mode every batch has the same shape (rows padded to a multiple of 64 tokens
        that depends on the row alone, and short batches filled with empty rows), so the kernels, and thus each
        row's result, do not depend on the other rows. On the CPU in fp32 plain padded batches already agree with
        single-pair runs to ~1e-6 (measured)."""
        torch = self.torch
        fixed = self.fixed_shapes
        if fixed:  # group rows by their own padded length
            buckets = [-(-len(x) // 64) * 64 for x in ids]
            order = np.argsort(buckets, kind="stable")
            groups = [[i for i in order if buckets[i] == b] for b in sorted(set(buckets))]
        else:
            groups = [list(range(len(ids)))]
        out = np.empty(len(ids), np.float64)
        with torch.inference_mode():
            for group in groups:
                for lo in range(0, len(group), self.batch_size):
                    rows = group[lo:lo + self.batch_size]
                    length = -(-len(ids[rows[0]]) // 64) * 64 if fixed else None
                    batch_ids, mask, batch_types = _pad([ids[i] for i in rows], [types[i] for i in rows],
                                                        self.pad_id, length, self.batch_size if fixed else None)
                    feed = {"input_ids": torch.from_numpy(batch_ids).to(self.device),
                            "attention_mask": torch.from_numpy(mask).to(self.device)}
                    if self.takes_types:
                        feed["token_type_ids"] = torch.from_numpy(batch_types).to(self.device)
                    logits = self.model(**feed).logits.float().cpu().numpy()
                    out[rows] = _to_score(logits)[: len(rows)]
        return out


# --- helpers ----------------------------------------------------------------------------------------------------
def _choose_backend(backend: str, path: Path, onnx_file: Path | None, name: str) -> str:
    has_torch_weights = path.is_dir() and (path / "config.json").is_file() and (
        any(path.glob("*.safetensors")) or any(path.glob("*.bin")))
    if backend == "auto":
        if onnx_file is not None and (importlib.util.find_spec("onnxruntime") is not None or not has_torch_weights):
            return "onnx"
        if has_torch_weights:
            return "torch"
        raise ValueError(f"{name!r} ({path}) holds neither an .onnx graph nor transformers weights "
                         "(config.json with *.safetensors or *.bin)")
    if backend == "onnx" and onnx_file is None:
        raise ValueError(f"{name!r} ({path}) has no .onnx graph; use backend='torch', or export one "
                         "(e.g. optimum-cli export onnx)")
    if backend == "torch" and not has_torch_weights:
        hint = (" It holds an ONNX graph: use backend='onnx', or rebuild torch weights with "
                "rankwise.onnx_runtime.dequantize_onnx_bert(…).") if onnx_file is not None else ""
        raise ValueError(f"{name!r} ({path}) has no transformers weights (config.json with *.safetensors or *.bin)."
                         + hint)
    return backend


def _to_score(logits: np.ndarray) -> np.ndarray:
    """One score per row: the logit, or for two-label models the relevant-minus-irrelevant logit difference
    (monotone in the softmax probability of relevance)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        return logits
    if logits.shape[1] == 1:
        return logits[:, 0]
    if logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    raise ValueError(f"the model gives {logits.shape[1]} logits per pair; a cross-encoder gives 1 (or 2)")


def _pad(ids: list[np.ndarray], types: list[np.ndarray], pad_id: int, length: int | None = None,
         rows: int | None = None):
    """Right-padded [rows, length] arrays of ids, attention mask and type ids."""
    length = length or max(len(x) for x in ids)
    rows = rows or len(ids)
    batch = np.full((rows, length), pad_id, np.int64)
    mask = np.zeros((rows, length), np.int64)
    batch_types = np.zeros((rows, length), np.int64)
    for r, (x, t) in enumerate(zip(ids, types)):
        batch[r, : len(x)] = x
        mask[r, : len(x)] = 1
        batch_types[r, : len(t)] = t
    if rows > len(ids):
        mask[len(ids):, 0] = 1  # filler rows: one real (pad) token each, so no row is fully masked
    return batch, mask, batch_types


def _bar(total: int, desc: str):
    if not progress_enabled():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="pair", leave=False, dynamic_ncols=True)



__all__ = ["BACKENDS", "CrossEncoderReranker", "DEFAULT_MODEL", "LONG_DOCUMENTS"]
