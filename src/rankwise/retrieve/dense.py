"""Dense (bi-encoder) retrieval: the corpus encoded once, then exact or approximate inner-product search.

    dense = DenseRetriever("BAAI/bge-small-en-v1.5").index(dataset.corpus)   # or DenseRetriever.from_dataset(...)
    run = dense.search(dataset.queries, k=1000)
    dense.save("index/"); dense = DenseRetriever.load("index/")            # vectors memory-mapped
    hybrid = RRF(bm25 % 1000, dense % 1000)                               # see rankwise.retrieve.hybrid

Search is **exact** by default (every document scored with one matrix product; ties broken as trec_eval orders
them, docid descending, so the top k are exactly the first k of the full ranking). ``index="hnsw"`` or
``index="ivf"`` builds a faiss index for large corpora (``pip install 'rankwise[dense]'``): faster, approximate.
Scores are inner products of the model's vectors (cosine for normalised models). Every ranking holds
min(k, corpus size) documents (fewer only when an approximate index cannot find k) and carries their texts, so a
reranker can follow.

``cache=True`` keeps encoded corpora on disk (``$RANKWISE_CACHE/dense``), keyed by the encoder's settings and a hash
of the corpus, so indexing the same collection again with the same model reads the vectors instead of re-encoding.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.models import require
from rankwise.pipeline import Retriever, as_queries
from rankwise.progress import progress
from rankwise.retrieve.encoders import Encoder, load_encoder
from rankwise.types import Dataset, Document, Query, Ranking, Run, collect_documents

INDEX_KINDS = ("exact", "hnsw", "ivf")
INDEX_FORMAT = "rankwise.dense"
INDEX_FORMAT_VERSION = 1
META_FILE = "rankwise.json"
VECTORS_FILE = "vectors.npy"
DOCIDS_FILE = "docids.json"
FAISS_FILE = "faiss.index"
DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"
SHARD_SIZE = 4096  # documents per encoding unit: a journal record, a Ray task


# --- shared by the dense and sparse retrievers ---------------------------------------------------------------------
def check_k(k) -> int:
    return positive_int("k", k)




def docid_ranks(docids: Sequence[str]) -> np.ndarray:
    """Position of each document in docid byte order (trec_eval's tie-break key), aligned with ``docids``."""
    order = np.argsort(np.asarray(docids))
    ranks = np.empty(len(docids), dtype=np.int64)
    ranks[order] = np.arange(len(docids))
    return ranks


def top_k(candidates: np.ndarray, scores: np.ndarray, k: int, docid_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of ``candidates`` (document indices) by ``scores``, in trec_eval order (score descending, docid
    descending). Among documents tied with the k-th score the highest docids are kept, so the result is exactly the
    first k of the full ranking."""
    if len(candidates) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        tied = tied[np.argsort(docid_rank[candidates[tied]])[len(tied) - (k - len(above)):]]
        keep = np.concatenate([above, tied])
        candidates, scores = candidates[keep], scores[keep]
    order = np.lexsort((docid_rank[candidates], scores))[::-1]
    return candidates[order], scores[order].astype(np.float64)


def write_texts(path: Path, texts: Sequence[str]) -> None:
    """Texts as one UTF-8 blob + offsets: the layout BM25Retriever.save writes and ``_DiskTexts`` reads."""
    from rankwise.retrieve.bm25 import OFFSETS_FILE, TEXTS_FILE

    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    with open(path / TEXTS_FILE, "wb") as f:
        for i, text in enumerate(texts):
            offsets[i + 1] = offsets[i] + f.write(text.encode("utf-8"))
    np.save(path / OFFSETS_FILE, offsets)


def read_texts(path: Path, mmap: bool) -> Sequence[str]:
    from rankwise.retrieve.bm25 import OFFSETS_FILE, TEXTS_FILE, _DiskTexts

    texts = _DiskTexts(path / TEXTS_FILE, path / OFFSETS_FILE)
    return texts if mmap else texts[:]


def read_meta(path: Path, fmt: str, version: int, kind: str) -> dict:
    """The settings file of a saved index, checked (exists, right format and version)."""
    if not path.is_dir():
        raise FileNotFoundError(f"no {kind} index at {path}: the folder does not exist")
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise ValueError(f"{path} is not a rankwise {kind} index (it has no {META_FILE})")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != fmt or meta.get("format_version") != version:
        raise ValueError(f"{meta_path} describes format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                         f"a {kind} index is {fmt!r} version {version}. Rebuild the index.")
    return meta


def prepare_folder(path: str | Path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"cannot save the index to {path}: it exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    (path / META_FILE).unlink(missing_ok=True)  # an interrupted save must not leave a valid-looking index
    return path


def corpus_key(encoder_config: dict, docids: Sequence[str], texts: Sequence[str]) -> str:
    """A hash of (encoder settings, corpus): the name of a cached encoding."""
    h = hashlib.sha256(json.dumps(encoder_config, sort_keys=True).encode())
    for docid, text in zip(docids, texts):
        h.update(docid.encode("utf-8", "surrogatepass") + b"\x00" + text.encode("utf-8", "surrogatepass") + b"\x01")
    return h.hexdigest()[:24]


def cache_folder(cache: bool | str | Path, kind: str) -> Path | None:
    if cache is False or cache is None:
        return None
    if cache is True:
        from rankwise.datasets import cache_dir

        return cache_dir() / kind
    return Path(cache)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.strip("/"))[-80:]


# --- the retriever -------------------------------------------------------------------------------------------------
class DenseRetriever(Retriever):
    """Bi-encoder retrieval over vectors held in memory (or memory-mapped from a saved index).

    Args:
        model: a model name (hub name, local folder, offline kit) or an :class:`~rankwise.retrieve.encoders.Encoder`.
        index: ``"exact"`` (default; numpy inner products), ``"hnsw"`` or ``"ivf"`` (faiss, approximate).
        hnsw_m, ef_construction, ef_search: HNSW graph degree and search breadths (ef_search is raised to k).
        nlist, nprobe: IVF cells and cells probed per query (defaults: 4·sqrt(N) and nlist/8).
        cache: ``True`` (or a folder) to keep encoded corpora on disk and reuse them.
        shard_size: documents per encoding unit (journalled, spread over Ray workers; see :meth:`encode_corpus`).
        **encoder_options: passed to :func:`~rankwise.retrieve.encoders.load_encoder` (``backend``, ``pooling``,
            ``query_prefix``, ``batch_size``, ``device``, ...).
    """

    name = "dense"

    def __init__(self, model: str | Path | Encoder = DEFAULT_MODEL, *, index: str = "exact", hnsw_m: int = 32,
                 ef_construction: int = 200, ef_search: int = 128, nlist: int | None = None,
                 nprobe: int | None = None, cache: bool | str | Path = False, shard_size: int = SHARD_SIZE,
                 **encoder_options):
        if index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {', '.join(map(repr, INDEX_KINDS))}; got {index!r}")
        for label, value in (("hnsw_m", hnsw_m), ("ef_construction", ef_construction), ("ef_search", ef_search),
                             ("nlist", nlist or 1), ("nprobe", nprobe or 1)):
            positive_int(label, value)
        if index != "exact":
            require("faiss", "dense", f"the {index.upper()} index (faiss)")
        self.encoder = model if isinstance(model, Encoder) else load_encoder(model, **encoder_options)
        self.index_kind = index
        self.params = {"hnsw_m": hnsw_m, "ef_construction": ef_construction, "ef_search": ef_search,
                       "nlist": nlist, "nprobe": nprobe}
        self.cache = cache
        self.shard_size = positive_int("shard_size", shard_size, hint="documents encoded per unit")
        self.name = f"dense({self.encoder.name.rstrip('/').rsplit('/', 1)[-1]})"
        self.docids: list[str] = []
        self.texts: Sequence[str] = []
        self.vectors: np.ndarray | None = None
        self._faiss = None

    def __repr__(self) -> str:
        return f"DenseRetriever({self.encoder!r}, index={self.index_kind!r}, docs={len(self)})"

    def __len__(self) -> int:
        return len(self.docids)

    # --- indexing ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, dataset: Dataset, model: str | Path | Encoder = DEFAULT_MODEL, **kwargs) -> "DenseRetriever":
        """Encode and index a dataset's corpus; ``kwargs`` go to the constructor."""
        return cls(model, **kwargs).index(dataset.corpus)

    def index(self, documents: Mapping[str, Document] | Iterable[Document]) -> "DenseRetriever":
        """Encode the documents (title + text) once and index the vectors. Replaces any previous index."""
        docids, texts = collect_documents(documents)
        vectors = self._cached_encoding(docids, texts)
        self._set_index(docids, texts, vectors)
        if self.index_kind != "exact":
            self._faiss = self._build_faiss(vectors)
        return self

    def encode_corpus(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of the corpus, encoded in shards of ``shard_size`` documents: the units a run journal records
        and a Ray actor pool spreads (:mod:`rankwise.distributed`); each shard is one ``encode_documents`` call, so
        every way of running gives the same vectors."""
        from rankwise.distributed.execution import encode_in_shards

        shards = encode_in_shards("dense", self.encoder, texts, self.shard_size, self.name)
        return np.concatenate(shards) if shards else np.zeros((0, self.encoder.dim), dtype=np.float32)

    def _cached_encoding(self, docids: list[str], texts: list[str]) -> np.ndarray:
        folder = cache_folder(self.cache, "dense")
        if folder is None:
            return self.encode_corpus(texts)
        config = self.encoder.config()
        if self.encoder.batch_dependent:
            config["shard_size"] = self.shard_size  # batches are formed within a shard
        else:
            config.pop("batch_size")  # it changes nothing in the vectors, so it must not change the key
        file = folder / f"{slug(self.encoder.name)}-{corpus_key(config, docids, texts)}.npy"
        if file.is_file():
            vectors = np.load(file)
            if vectors.shape == (len(docids), self.encoder.dim):
                return vectors
        vectors = self.encode_corpus(texts)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, file)  # atomic: a concurrent reader sees the old file or the whole new one
        return vectors

    def _set_index(self, docids: list[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != len(docids):
            raise ValueError(f"expected a float32 matrix with {len(docids)} rows, got {vectors.dtype} {vectors.shape}")
        self.docids, self.texts, self.vectors = docids, texts, vectors
        self._docids_by_index = np.array(docids, dtype=object)
        self._texts_by_index = np.array(texts, dtype=object) if isinstance(texts, list) else texts
        self._docid_rank = docid_ranks(docids)

    def _build_faiss(self, vectors: np.ndarray):
        faiss = require("faiss", "dense", f"the {self.index_kind.upper()} index (faiss)")
        dim = vectors.shape[1]
        data = np.ascontiguousarray(vectors)
        if self.index_kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.params["ef_construction"]
        else:
            nlist = self.params["nlist"] or max(1, min(len(vectors), int(4 * np.sqrt(len(vectors)))))
            if nlist > len(vectors):
                raise ValueError(f"nlist={nlist} IVF cells need at least as many documents; the corpus has "
                                 f"{len(vectors)}")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(data)
            self.params["nlist"] = nlist
        index.add(data)
        return index

    # --- searching --------------------------------------------------------------------------------------------
    def search(self, queries: Sequence[Query] | Sequence[str] | Query | str, k: int = 1000) -> Run:
        """The top-``k`` documents per query by inner product with the query's vector."""
        k = check_k(k)
        self._require_index()
        queries = as_queries(queries)
        run = Run(name=self.name)
        if not queries:
            return run
        vectors = self.encoder.encode_queries([q.text for q in queries])
        if self._faiss is not None:
            hits = self._search_faiss(vectors, k)
        else:
            hits = self._search_exact(vectors, k)
        for q, (idx, scores) in zip(queries, hits):
            if isinstance(self._texts_by_index, np.ndarray):
                texts = self._texts_by_index[idx].tolist()
            else:
                texts = [self._texts_by_index[i] for i in idx.tolist()]
            # top_k returns unique documents in trec_eval order with finite float64 scores: no checks needed.
            run[q.qid] = Ranking.trusted(q.qid, self._docids_by_index[idx].tolist(), scores, texts)
        return run

    def _search_exact(self, queries: np.ndarray, k: int):
        n = len(self.docids)
        everyone = np.arange(n)
        block = max(1, (1 << 24) // n)  # queries per matrix product: at most ~16M scores (64 MB) at a time
        for start in progress(range(0, len(queries), block), desc="dense search", unit="block"):
            scores = queries[start : start + block] @ np.asarray(self.vectors).T
            for row in scores:
                yield top_k(everyone, row, k, self._docid_rank)

    def _search_faiss(self, queries: np.ndarray, k: int):
        index = self._faiss
        if self.index_kind == "hnsw":
            index.hnsw.efSearch = max(self.params["ef_search"], k)
        else:
            index.nprobe = self.params["nprobe"] or max(1, index.nlist // 8)
        scores, labels = index.search(np.ascontiguousarray(queries), min(k, len(self.docids)))
        for row_scores, row_labels in zip(scores, labels):
            found = row_labels >= 0
            yield top_k(row_labels[found].astype(np.int64), row_scores[found], k, self._docid_rank)

    def _require_index(self) -> None:
        if self.vectors is None:
            raise RuntimeError("this DenseRetriever has no index yet: call .index(documents), "
                               "DenseRetriever.from_dataset(dataset) or DenseRetriever.load(path) before searching")

    # --- saving and loading -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write vectors, document ids and texts, the faiss index (if any) and the encoder's settings to ``path``."""
        self._require_index()
        path = prepare_folder(path)
        np.save(path / VECTORS_FILE, np.asarray(self.vectors))
        with open(path / DOCIDS_FILE, "w", encoding="utf-8") as f:
            json.dump(self.docids, f, ensure_ascii=False)
        write_texts(path, self.texts)
        if self._faiss is not None:
            faiss = require("faiss", "dense", "saving the faiss index")
            faiss.write_index(self._faiss, str(path / FAISS_FILE))
        meta = {"format": INDEX_FORMAT, "format_version": INDEX_FORMAT_VERSION, "num_docs": len(self.docids),
                "dim": int(self.vectors.shape[1]), "encoder": self.encoder.config(), "index": self.index_kind,
                "params": self.params}
        with open(path / META_FILE, "w", encoding="utf-8") as f:  # last: the folder is an index once this exists
            json.dump(meta, f, indent=2, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path: str | Path, model: str | Path | Encoder | None = None, mmap: bool = True,
             **encoder_options) -> "DenseRetriever":
        """Open an index written by :meth:`save`. The query encoder is rebuilt from the saved settings (``model``
        overrides where the model is found, e.g. another local copy). ``mmap=True`` leaves vectors and texts on disk.
        """
        path = Path(path)
        meta = read_meta(path, INDEX_FORMAT, INDEX_FORMAT_VERSION, "dense")
        saved = meta["encoder"]
        if not isinstance(model, Encoder):
            options = {"backend": saved["backend"], "settings": saved["settings"], "batch_size": saved["batch_size"],
                       **encoder_options}
            model = load_encoder(model or saved["model"], **options)
        params = {key: value for key, value in meta["params"].items()}
        retriever = cls(model, index=meta["index"], **params)
        vectors = np.load(path / VECTORS_FILE, mmap_mode="r" if mmap else None)
        docids = json.loads((path / DOCIDS_FILE).read_text(encoding="utf-8"))
        texts = read_texts(path, mmap)
        if not (len(docids) == len(texts) == len(vectors) == meta["num_docs"]) or vectors.shape[1] != meta["dim"]:
            raise ValueError(f"{path} is inconsistent: {meta['num_docs']} documents in {META_FILE}, {len(docids)} ids, "
                             f"{len(texts)} texts, vectors {vectors.shape}; rebuild the index")
        if model.dim != meta["dim"]:
            raise ValueError(f"the index at {path} holds {meta['dim']}-dimensional vectors but the query encoder "
                             f"{model.name!r} makes {model.dim}-dimensional ones: not the model that built it")
        retriever._set_index(docids, texts, vectors)
        if meta["index"] != "exact":
            faiss = require("faiss", "dense", "loading the faiss index")
            retriever._faiss = faiss.read_index(str(path / FAISS_FILE))
        return retriever
