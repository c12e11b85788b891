"""Late interaction (ColBERT): one vector per token, scored by MaxSim.

    encoder = ColBERTEncoder("colbert-ir/colbertv2.0")             # or a local folder
    index = ColBERTRetriever(encoder).index(dataset.corpus)         # exact MaxSim over stored token vectors
    run = (bm25 % 100 >> ColBERTReranker(encoder))(dataset.queries)  # rankwise.rerank.late_interaction

How a text becomes token vectors (ColBERT v2, Khattab & Zaharia 2020; Santhanam et al. 2022):

- **queries**: ``[CLS] [Q] tokens [SEP]``, truncated and then padded with ``[MASK]`` to exactly ``query_maxlen``
  (32) tokens ("query augmentation"). The ``[MASK]`` tokens are not attended to unless the checkpoint says
  ``attend_to_mask_tokens``, but their output vectors are kept: every query has ``query_maxlen`` vectors.
- **documents**: ``[CLS] [D] tokens [SEP]`` truncated to ``doc_maxlen`` tokens; the vectors of punctuation
  tokens (``string.punctuation``, the "skiplist") are dropped.
- ``[Q]`` / ``[D]`` are the checkpoint's marker tokens (``[unused0]`` / ``[unused1]`` in BERT vocabularies).
- each token's hidden state goes through the checkpoint's linear projection (768 -> 128 for colbertv2.0,
  384 -> 96 for answerai-colbert-small-v1) and is L2-normalised.
- **MaxSim**: score(q, d) = sum over query vectors of the largest dot product with any document vector.

Checkpoints load from two layouts (both found by :func:`rankwise.models.resolve`: local path, offline kit, hub):

- **Stanford ColBERT** (``colbert-ir/colbertv2.0``, ``answerdotai/answerai-colbert-small-v1``): a BERT folder
  whose weights hold ``bert.*`` and the projection ``linear.weight``; settings in ``artifact.metadata``.
- **PyLate** (sentence-transformers layout): the projection in the ``Dense`` module folder named in
  ``modules.json`` (``1_Dense/``); settings in ``config_sentence_transformers.json``.

A folder with only an ONNX graph runs on onnxruntime and uses the graph's output as the token states. The
offline kit's ``answerai-colbert-small-v1-backbone`` is such a graph **without the projection** (384-d
backbone states): MaxSim runs end to end on it, but its scores are not ColBERT's and say nothing about
ColBERT quality. Loading a model without a projection warns.
"""
from __future__ import annotations

import json
import string
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.models import require, resolve
from rankwise.pipeline import Retriever, as_queries
from rankwise.progress import progress, progress_enabled
from rankwise.types import Dataset, Document, Ranking, Run, trec_order

DEFAULT_MODEL = "answerdotai/answerai-colbert-small-v1"
BACKENDS = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class ColBERTSettings:
    """How texts are tokenized for a checkpoint; read from its metadata, ColBERT v2's defaults otherwise."""

    query_maxlen: int = 32
    doc_maxlen: int = 180
    query_marker: str = "[unused0]"
    doc_marker: str = "[unused1]"
    attend_to_mask_tokens: bool = False
    mask_punctuation: bool = True

    @classmethod
    def from_folder(cls, folder: Path) -> "ColBERTSettings":
        settings = cls()
        stanford = folder / "artifact.metadata"
        if stanford.is_file():
            meta = json.loads(stanford.read_text())
            keys = {"query_maxlen": "query_maxlen", "doc_maxlen": "doc_maxlen", "query_token_id": "query_marker",
                    "doc_token_id": "doc_marker", "attend_to_mask_tokens": "attend_to_mask_tokens",
                    "mask_punctuation": "mask_punctuation"}
            settings = replace(settings, **{ours: meta[theirs] for theirs, ours in keys.items() if theirs in meta})
        pylate = folder / "config_sentence_transformers.json"
        if pylate.is_file() and not stanford.is_file():
            meta = json.loads(pylate.read_text())
            keys = {"query_length": "query_maxlen", "document_length": "doc_maxlen", "query_prefix": "query_marker",
                    "document_prefix": "doc_marker", "attend_to_expansion_tokens": "attend_to_mask_tokens"}
            found = {ours: meta[theirs] for theirs, ours in keys.items() if meta.get(theirs) is not None}
            settings = replace(settings, **found)
        return settings


# --- the network: token ids -> hidden states ------------------------------------------------------------------
class _TorchBackbone:
    """A transformers encoder (BERT, XLM-R, …) loaded from a checkpoint folder."""

    def __init__(self, folder: Path, device: str | None):
        torch = require("torch", "torch", "ColBERT from a PyTorch checkpoint")
        transformers = require("transformers", "torch", "ColBERT from a PyTorch checkpoint")
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, info = transformers.AutoModel.from_pretrained(folder, output_loading_info=True)
        # A base model loaded from a ColBERT checkpoint drops the projection ("unexpected") and may lack the
        # pooler it never uses; any other missing weight would be random: refuse rather than score with it.
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
        if missing:
            raise ValueError(
                f"{folder}: the checkpoint lacks {len(missing)} encoder weight(s) (e.g. {sorted(missing)[0]!r}); "
                "it is not a ColBERT/BERT checkpoint this loader understands"
            )
        self.model = model.float().to(self.device).eval()  # float32: checkpoints saved in half precision too
        self.threads = 1  # torch parallelises inside each call

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            out = self.model(input_ids=torch.from_numpy(ids).to(self.device),
                             attention_mask=torch.from_numpy(mask).to(self.device))
        return out.last_hidden_state.float().cpu().numpy()


class _OnnxBackbone:
    """An ONNX encoder graph whose first output is the last hidden state (batch, tokens, dim).

    Single-threaded session calls, one per core at once (:mod:`rankwise.onnx_runtime`): on a CPU this is
    faster than one call with all cores on a BERT encoder's small matrices."""

    def __init__(self, file: Path):
        require("onnxruntime", "onnx", "ColBERT from an ONNX graph")
        from rankwise.onnx_runtime import create_session, usable_cpus

        self.session = create_session(file, threads=1)
        self.threads = usable_cpus()
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dynamically_quantized = _is_dynamically_quantized(file)

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        return self.session.run(None, feed)[0]


def _is_dynamically_quantized(file: Path) -> bool:
    """Whether the graph quantises activations at run time (op DynamicQuantizeLinear): op types are plain strings
    in the protobuf, so a byte search finds them without the onnx package."""
    import mmap

    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"DynamicQuantizeLinear") != -1


def _torch_weights(folder: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_tensors(file: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Named tensors from a safetensors or PyTorch weights file (those absent are left out)."""
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(file), framework="numpy") as f:
            keys = set(f.keys())
            return {n: f.get_tensor(n) for n in names if n in keys}
    torch = require("torch", "torch", f"reading {file.name}")
    state = torch.load(str(file), map_location="cpu", weights_only=True)
    return {n: state[n].float().numpy() for n in names if n in state}


def _find_projection(folder: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The ColBERT linear layer (weight ``out x in``, optional bias) in either checkpoint layout, or None."""
    weights = _torch_weights(folder)
    if weights is not None:
        found = _read_tensors(weights, ["linear.weight"])
        if "linear.weight" in found:
            return found["linear.weight"].astype(np.float32), None
    modules = folder / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if "Dense" not in module.get("type", "") or not module.get("path"):
                continue
            dense = folder / module["path"]
            file = _torch_weights(dense)
            if file is None:
                raise FileNotFoundError(f"{dense}: the Dense module named in {modules} has no weights file")
            found = _read_tensors(file, ["linear.weight", "linear.bias"])
            if "linear.weight" not in found:
                raise ValueError(f"{file} holds no 'linear.weight': cannot read the ColBERT projection")
            bias = found.get("linear.bias")
            return found["linear.weight"].astype(np.float32), None if bias is None else bias.astype(np.float32)
    return None


# --- the encoder ---------------------------------------------------------------------------------------------
class ColBERTEncoder:
    """Texts -> L2-normalised token vectors, as ColBERT builds them (see the module docstring).

    Args:
        model: hub name, local folder, or kit name (resolved by :func:`rankwise.models.resolve`).
        query_maxlen, doc_maxlen: override the checkpoint's settings.
        backend: ``"torch"`` (a checkpoint folder), ``"onnx"`` (a ``model.onnx``), or ``"auto"``: torch when the
            folder has PyTorch weights, ONNX otherwise.
        batch_size: texts per forward pass; default 32, except 1 for dynamically quantised (int8) ONNX graphs
            such as the kit's: they quantise activations with one scale per batch tensor, so a text's vectors
            would depend on the other texts in its batch (measured on the kit model: MaxSim moved by up to 0.09).
            ONNX calls run one per core at once, so one text per call costs no speed.
        device: torch device (default: CUDA when available).
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        query_maxlen: int | None = None,
        doc_maxlen: int | None = None,
        backend: str = "auto",
        batch_size: int | None = None,
        device: str | None = None,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
        self.resolved = resolve(model, family="late-interaction")
        folder = self.resolved.path if self.resolved.path.is_dir() else self.resolved.path.parent
        self.folder = folder
        # the graph: the file named (a path to an .onnx, or the kit's), else the folder's only/first .onnx
        named = self.resolved.file or (self.resolved.path if self.resolved.path.is_file() else None)
        onnx_file = named if named is not None and named.suffix == ".onnx" else None
        onnx_file = onnx_file or next(iter(sorted(folder.glob("*.onnx"))), None)
        if backend == "auto":  # a path to an .onnx file means that graph; a folder prefers PyTorch weights
            path_is_graph = self.resolved.path.is_file() and self.resolved.path.suffix == ".onnx"
            has_torch = _torch_weights(folder) is not None
            backend = "onnx" if path_is_graph or (onnx_file is not None and not has_torch) else "torch"
        if backend == "onnx" and onnx_file is None:
            raise FileNotFoundError(f"{folder} holds no .onnx file; use backend='torch' for a PyTorch checkpoint")
        self.backend = backend

        settings = ColBERTSettings.from_folder(folder)
        if query_maxlen is not None:
            settings = replace(settings, query_maxlen=int(query_maxlen))
        if doc_maxlen is not None:
            settings = replace(settings, doc_maxlen=int(doc_maxlen))
        if settings.query_maxlen < 4 or settings.doc_maxlen < 4:
            raise ValueError(f"query_maxlen and doc_maxlen must be >= 4 (3 special tokens + text); got {settings}")
        self.settings = settings
        self._load_tokenizer(folder)

        if backend == "torch":
            if _torch_weights(folder) is None:
                raise FileNotFoundError(
                    f"{folder} holds no model.safetensors or pytorch_model.bin; use backend='onnx' for an ONNX graph"
                )
            self._net = _TorchBackbone(folder, device)
            self.projection = _find_projection(folder)
        else:
            self._net = _OnnxBackbone(onnx_file)
            self.projection = None
        if self.projection is None:
            warnings.warn(
                f"{self.resolved.name} ({self.resolved.source}: {folder}) has no ColBERT projection layer: its token "
                "vectors are the backbone's hidden states, so MaxSim runs but the scores are not ColBERT's and say "
                "nothing about ColBERT quality",
                stacklevel=3,
            )
        quantized = getattr(self._net, "dynamically_quantized", False)
        self.batch_size = int(batch_size) if batch_size is not None else (1 if quantized else 32)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")

    def __repr__(self) -> str:
        s = self.settings
        return (f"ColBERTEncoder({self.resolved.name!r}, source={self.resolved.source!r}, backend={self.backend!r}, "
                f"dim={self.dim}, query_maxlen={s.query_maxlen}, doc_maxlen={s.doc_maxlen})")

    @property
    def dim(self) -> int | None:
        """Token vector size after the projection (None before anything was encoded without a projection)."""
        return int(self.projection[0].shape[0]) if self.projection is not None else self._hidden_dim

    _hidden_dim: int | None = None

    # --- tokenization -----------------------------------------------------------------------------------------
    def _load_tokenizer(self, folder: Path) -> None:
        tokenizers = require("tokenizers", "onnx", "ColBERT tokenization")
        from rankwise.onnx_runtime import load_tokenizer

        tok = load_tokenizer(folder)  # tokenizer.json, or vocab.txt through transformers; no padding/truncation
        s = self.settings
        ids = {}
        for role, token in (("query marker", s.query_marker), ("document marker", s.doc_marker), ("mask", "[MASK]")):
            # PyLate writes prefixes such as "[Q] ": the added token may hold the space or not
            ids[role] = tok.token_to_id(token) if tok.token_to_id(token) is not None else tok.token_to_id(token.strip())
            if ids[role] is None:
                raise ValueError(f"{folder}: the tokenizer has no {role} token {token!r}; pass a ColBERT checkpoint")
        self._q_marker, self._d_marker, self._mask_id = ids["query marker"], ids["document marker"], ids["mask"]
        pad = tok.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else pad
        # The special tokens the tokenizer wraps a text in ([CLS] … [SEP] for BERT): the marker goes after the
        # opening ones, as ColBERT's ". " placeholder at position 1 does.
        with_special = tok.encode("a", add_special_tokens=True).ids
        bare = tok.encode("a", add_special_tokens=False).ids
        start = next(i for i in range(len(with_special)) if with_special[i:i + len(bare)] == bare)
        self._prefix, self._suffix = with_special[:start], with_special[start + len(bare):]
        overhead = len(self._prefix) + 1 + len(self._suffix)
        self._query_tok, self._doc_tok = tok, tokenizers.Tokenizer.from_str(tok.to_str())
        self._query_tok.enable_truncation(max_length=s.query_maxlen - overhead)
        self._doc_tok.enable_truncation(max_length=s.doc_maxlen - overhead)
        skip: set[int] = set()
        if s.mask_punctuation:
            for symbol in string.punctuation:
                symbol_ids = tok.encode(symbol, add_special_tokens=False).ids
                if symbol_ids:
                    skip.add(symbol_ids[0])
        self._skiplist = np.array(sorted(skip), dtype=np.int64)

    def query_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask of queries, ``(n, query_maxlen)`` each: markers and [MASK] padding added."""
        n, length = len(texts), self.settings.query_maxlen
        ids = np.full((n, length), self._mask_id, dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.int64)
        for i, enc in enumerate(self._query_tok.encode_batch(list(texts), add_special_tokens=False)):
            row = self._prefix + [self._q_marker] + enc.ids + self._suffix
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        if self.settings.attend_to_mask_tokens:
            mask[:] = 1
        return ids, mask

    def document_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of documents (marker added, truncated to ``doc_maxlen``), unpadded."""
        head = self._prefix + [self._d_marker]
        return [head + enc.ids + self._suffix
                for enc in self._doc_tok.encode_batch(list(texts), add_special_tokens=False)]

    # --- encoding ---------------------------------------------------------------------------------------------
    def _vectors(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = np.asarray(self._net(ids, mask), dtype=np.float32)
        self._hidden_dim = hidden.shape[-1]
        if self.projection is not None:
            weight, bias = self.projection
            if weight.shape[1] != hidden.shape[-1]:
                raise ValueError(
                    f"projection takes {weight.shape[1]}-d states but the encoder gives {hidden.shape[-1]}"
                )
            hidden = hidden @ weight.T
            if bias is not None:
                hidden += bias
        norms = np.linalg.norm(hidden, axis=-1, keepdims=True)
        return hidden / np.maximum(norms, 1e-12)

    def _in_batches(self, jobs: list[np.ndarray], work, desc: str) -> None:
        """Call ``work(batch)`` for every batch: one ONNX call per core at once, or one torch call after another."""
        from rankwise.onnx_runtime import run_parallel

        bar = None
        if progress_enabled() and len(jobs) > 1:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), desc=desc, unit="batch", leave=False, dynamic_ncols=True)

        def one(j: int) -> None:
            work(jobs[j])
            if bar is not None:
                bar.update(1)

        try:
            run_parallel(len(jobs), one, threads=self._net.threads)
        finally:
            if bar is not None:
                bar.close()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, query_maxlen, dim)`` float32: every position is kept, [MASK] augmentation included."""
        texts = list(texts)
        ids, mask = self.query_ids(texts)
        if not texts:
            return np.zeros((0, self.settings.query_maxlen, self.dim or 0), dtype=np.float32)
        out: list[np.ndarray | None] = [None] * len(texts)

        def work(batch: np.ndarray) -> None:
            for row, vectors in zip(batch.tolist(), self._vectors(ids[batch], mask[batch])):
                out[row] = vectors

        self._in_batches(_batches(np.full(len(texts), ids.shape[1]), self.batch_size), work, "colbert queries")
        return np.stack(out)

    def encode_documents(self, texts: Sequence[str], *, desc: str = "colbert encode") -> list[np.ndarray]:
        """One ``(kept tokens, dim)`` float32 matrix per document (punctuation and padding dropped).

        Texts are encoded in batches of similar length (sorted), so padding stays small."""
        all_ids = self.document_ids(texts)
        lengths = np.array([len(r) for r in all_ids], dtype=np.int64)
        out: list[np.ndarray | None] = [None] * len(all_ids)

        def work(batch: np.ndarray) -> None:
            width = int(lengths[batch].max())
            ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch.tolist()):
                ids[row, :lengths[i]] = all_ids[i]
                mask[row, :lengths[i]] = 1
            vectors = self._vectors(ids, mask)
            keep = (mask == 1) & ~np.isin(ids, self._skiplist)
            for row, i in enumerate(batch.tolist()):
                out[i] = vectors[row][keep[row]]

        self._in_batches(_batches(lengths, self.batch_size), work, desc)
        return out  # type: ignore[return-value]


def _batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices in batches of similar length, longest first (so parallel workers finish together)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# --- MaxSim --------------------------------------------------------------------------------------------------
def maxsim(query: np.ndarray, documents: Sequence[np.ndarray]) -> np.ndarray:
    """ColBERT's score of each document: sum over query vectors of the max dot product with the document's
    vectors. ``query`` is ``(q_tokens, dim)``; each document ``(d_tokens, dim)`` with at least one row."""
    if not len(documents):
        return np.zeros(0, dtype=np.float64)
    lengths = np.array([len(d) for d in documents], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError(f"document {int(np.flatnonzero(lengths == 0)[0])} has no token vectors: MaxSim is undefined")
    return maxsim_packed(query, np.concatenate(documents), np.concatenate([[0], np.cumsum(lengths)]))


def maxsim_packed(query: np.ndarray, vectors: np.ndarray, offsets: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """MaxSim over documents stored back to back: document ``i`` owns ``vectors[offsets[i]:offsets[i+1]]``.

    One matrix product per chunk of about ``chunk`` token vectors, then a segment max (``np.maximum.reduceat``):
    no Python loop over documents."""
    query = np.asarray(query, dtype=np.float32)
    n = len(offsets) - 1
    best = np.empty((n, query.shape[0]), dtype=np.float32)
    doc = 0
    while doc < n:
        # the documents whose tokens fit in this chunk (at least one)
        end = int(np.searchsorted(offsets, offsets[doc] + chunk, side="right")) - 1
        end = max(end, doc + 1)
        lo, hi = int(offsets[doc]), int(offsets[end])
        sims = np.asarray(vectors[lo:hi], dtype=np.float32) @ query.T
        best[doc:end] = np.maximum.reduceat(sims, offsets[doc:end] - lo, axis=0)
        doc = end
    return best.sum(axis=1, dtype=np.float64)


def pack(matrices: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(m) for m in matrices), dtype=np.int64, count=len(matrices))
    return np.concatenate(matrices), np.concatenate([[0], np.cumsum(lengths)])


# --- exact MaxSim retrieval over stored token vectors --------------------------------------------------------
INDEX_FORMAT = "rankwise.colbert-exact"
META_FILE = "rankwise.json"


class ColBERTRetriever(Retriever):
    """Exact (brute-force) MaxSim retrieval over every document's stored token vectors.

    No approximation (no centroids, no compression, no candidate generation): each query is scored against all
    documents, so this is for corpora of up to some hundred thousand passages. Memory: ``tokens x dim`` numbers
    (``dtype``, float16 by default): 5,000 passages of at most 180 tokens at 96 dims take at most ~170 MB.
    Each ranking carries the documents' texts, so a reranker can follow.
    """

    name = "colbert"

    def __init__(self, encoder: ColBERTEncoder | str | Path = DEFAULT_MODEL, *, dtype: str = "float16",
                 **encoder_options):
        if isinstance(encoder, ColBERTEncoder) and encoder_options:
            raise TypeError(f"options {sorted(encoder_options)} configure a new encoder; this one is already built")
        self.encoder = encoder if isinstance(encoder, ColBERTEncoder) else ColBERTEncoder(encoder, **encoder_options)
        if dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be 'float16' or 'float32'; got {dtype!r}")
        self.dtype = dtype
        self.docids: list[str] = []
        self.texts: list[str] = []
        self.vectors = np.zeros((0, 0), dtype=dtype)
        self.offsets = np.zeros(1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.docids)

    def __repr__(self) -> str:
        return f"ColBERTRetriever(docs={len(self)}, tokens={len(self.vectors)}, dtype={self.dtype!r}, {self.encoder!r})"

    @classmethod
    def from_dataset(cls, dataset: Dataset, **kwargs) -> "ColBERTRetriever":
        return cls(**kwargs).index(dataset.corpus)

    def index(self, documents: Mapping[str, Document] | Iterable[Document]) -> "ColBERTRetriever":
        """Encode and store every document's token vectors (title + text). Replaces any previous index."""
        docs = list(documents.values()) if isinstance(documents, Mapping) else list(documents)
        if not docs:
            raise ValueError("cannot index an empty collection: got no documents")
        docids = [d.docid for d in docs]
        if len(set(docids)) != len(docids):
            seen: set[str] = set()
            dup = next(d for d in docids if d in seen or seen.add(d))
            raise ValueError(f"document id {dup!r} appears more than once in the collection")
        texts = [d.contents for d in docs]
        vectors, offsets = pack(self.encoder.encode_documents(texts, desc="colbert index"))
        self.docids, self.texts, self.vectors, self.offsets = docids, texts, vectors.astype(self.dtype), offsets
        return self

    def get_scores(self, text: str) -> np.ndarray:
        """MaxSim of every indexed document (index order) for one query."""
        if not self.docids:
            raise ValueError("the index is empty: call index(documents) or ColBERTRetriever.load(path) first")
        return maxsim_packed(self.encoder.encode_queries([text])[0], self.vectors, self.offsets)

    def search(self, queries, k: int = 1000) -> Run:
        k = positive_int("k", k)
        if not self.docids:
            raise ValueError("the index is empty: call index(documents) or ColBERTRetriever.load(path) first")
        queries = as_queries(queries)
        q_vectors = self.encoder.encode_queries([q.text for q in queries])
        docids = np.array(self.docids, dtype=object)
        run = Run(name=self.name)
        for q, qv in zip(progress(queries, desc="colbert search", unit="q"), q_vectors):
            scores = maxsim_packed(qv, self.vectors, self.offsets)
            top = _top_k(scores, docids, int(k))
            run[q.qid] = Ranking.trusted(q.qid, docids[top].tolist(), scores[top], [self.texts[i] for i in top])
        return run

    def save(self, path: str | Path) -> Path:
        """Write vectors, offsets, ids, texts and settings to folder ``path`` (the model itself is not copied)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "vectors.npy", self.vectors)
        np.save(path / "offsets.npy", self.offsets)
        (path / "docids.json").write_text(json.dumps(self.docids))
        (path / "texts.json").write_text(json.dumps(self.texts))
        meta = {"format": INDEX_FORMAT, "version": 1, "model": str(self.encoder.resolved.name),
                "backend": self.encoder.backend, "query_maxlen": self.encoder.settings.query_maxlen,
                "doc_maxlen": self.encoder.settings.doc_maxlen, "dtype": self.dtype}
        (path / META_FILE).write_text(json.dumps(meta, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path, encoder: ColBERTEncoder | None = None, mmap: bool = True) -> "ColBERTRetriever":
        """Open an index written by :meth:`save`; the encoder is rebuilt from the saved model name unless given
        (queries must be encoded by the model that encoded the documents)."""
        path = Path(path)
        meta_file = path / META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a ColBERT index: {META_FILE} is missing")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{path} holds a {meta.get('format')!r} index, not {INDEX_FORMAT!r}")
        if encoder is None:
            encoder = ColBERTEncoder(meta["model"], backend=meta["backend"], query_maxlen=meta["query_maxlen"],
                                     doc_maxlen=meta["doc_maxlen"])
        retriever = cls(encoder, dtype=meta["dtype"])
        retriever.vectors = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None)
        retriever.offsets = np.load(path / "offsets.npy")
        retriever.docids = json.loads((path / "docids.json").read_text())
        retriever.texts = json.loads((path / "texts.json").read_text())
        if not (len(retriever.docids) == len(retriever.texts) == len(retriever.offsets) - 1
                and retriever.offsets[-1] == len(retriever.vectors)):
            raise ValueError(f"{path} is inconsistent: ids, texts, offsets and vectors disagree in size")
        return retriever


def _top_k(scores: np.ndarray, docids: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top ``k`` documents in trec_eval order (score desc, docid desc), ties at the cut included
    by that order."""
    if k < len(scores):
        threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
        idx = np.flatnonzero(scores >= threshold)
    else:
        idx = np.arange(len(scores))
    order = trec_order(docids[idx].tolist(), scores[idx])
    return idx[order][:k]


__all__ = ["ColBERTEncoder", "ColBERTRetriever", "ColBERTSettings", "maxsim", "maxsim_packed", "pack"]
