"""BM25 first-stage retrieval on top of bm25s, with Pyserini's defaults.

    bm25 = BM25Retriever.from_dataset(dataset)          # or BM25Retriever().index(documents)
    run = bm25.search(dataset.queries, k=1000)          # many queries in one call
    bm25.save("index/"); bm25 = BM25Retriever.load("index/")   # arrays memory-mapped

Defaults follow Pyserini/Anserini: k1 = 0.9, b = 0.4, Lucene's BM25 (idf = ln(1 + (N - df + 0.5)/(df + 0.5)),
no (k1 + 1) factor), title + text indexed as one field, Porter stemming and Lucene's English stop words (see
:mod:`rankwise.retrieve.tokenize`). bm25s precomputes every (term, document) score at indexing time into a
sparse matrix, so a query costs one sum over its terms' postings.

What a ranking holds: **only the documents that contain at least one query term**, best first, at most k of
them. bm25s itself always returns exactly k documents and pads with arbitrary non-matching documents scored 0;
those are dropped here, so a query whose terms are all stop words or unknown to the index gets an empty
ranking. When more than k documents match, ties at the cut are broken as trec_eval orders them (document id
descending), so the top k are exactly the first k of the full ranking. Each ranking carries the documents'
texts (title + text), so a reranker can follow directly.

How a search runs (Lucene's variant, the default): the queries become a sparse matrix (one row per query, one entry
per query term, repeats kept) and one sparse product with bm25s's precomputed (term x document) score matrix gives
every query's scores for exactly the documents that match it, summed in the same order as bm25s sums them (the same
float32 scores, bit for bit). Each match becomes one 64-bit key, the float32 score's bits (monotonic for positive
floats) above the document's position in docid order, so one partition and one sort of plain integers give the top
k in trec_eval order, ties at the cut included; the document is read back from the key. Measured against bm25s's
own retrieval in ``benchmarks/bench_bm25.py``. The other variants can score a matching document 0 or a
non-matching one above 0; they are searched one query at a time through bm25s's scores and the postings.
"""
from __future__ import annotations

import json
import mmap
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import bm25s
import numpy as np
import scipy.sparse as sp

from rankwise.checks import positive_int
from rankwise.pipeline import Retriever, as_queries
from rankwise.progress import progress, progress_enabled
from rankwise.retrieve.tokenize import Tokenizer
from rankwise.types import Dataset, Document, Query, Ranking, Run, collect_documents

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
INDEX_FORMAT = "rankwise.bm25"
INDEX_FORMAT_VERSION = 1
META_FILE = "rankwise.json"  # our settings; the arrays and vocabulary are bm25s's own files
DOCIDS_FILE = "docids.json"
# Document texts (title + text) as one UTF-8 blob plus start offsets: a memory-mapped read of one text is a
# slice and a decode, about 10x cheaper than parsing a JSON line (bm25s's corpus.jsonl) per retrieved hit.
TEXTS_FILE = "texts.bin"
OFFSETS_FILE = "text_offsets.npy"
# Matches held at once by the sparse search (bounded from the postings' lengths): ~16 bytes each.
MATCHES_PER_CHUNK = 1 << 24


def check_bm25_parameters(k1: float, b: float, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    if k1 < 0 or not 0 <= b <= 1:
        raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1; got k1={k1}, b={b}")


class BM25Retriever(Retriever):
    """BM25 over an in-memory (or memory-mapped) bm25s index.

    Args:
        k1, b: BM25 parameters (Pyserini's defaults).
        method: bm25s's BM25 variant; ``"lucene"`` is Lucene's (and so Anserini's and Pyserini's).
        tokenizer: how documents and queries become terms; default ``Tokenizer()`` (Porter, English stop
            words, CJK bigrams detected from the text).
        backend: bm25s scoring backend, ``"numpy"`` or ``"numba"`` (needs numba; compiles on first use).
    """

    name = "bm25"

    def __init__(
        self,
        k1: float = 0.9,
        b: float = 0.4,
        method: str = "lucene",
        tokenizer: Tokenizer | None = None,
        backend: str = "numpy",
    ):
        check_bm25_parameters(k1, b, method)
        if backend not in ("numpy", "numba"):
            raise ValueError(f"backend must be 'numpy' or 'numba'; got {backend!r}")
        self.k1, self.b, self.method, self.backend = float(k1), float(b), method, backend
        self.tokenizer = tokenizer if tokenizer is not None else Tokenizer()
        self._bm25: bm25s.BM25 | None = None
        self._vocab: dict[str, int] = {}
        self.docids: list[str] = []
        self.texts: Sequence[str] = []
        self._docid_rank = np.zeros(0, dtype=np.int64)  # position of each document in docid byte order
        self._by_rank = np.zeros(0, dtype=np.int64)  # document index at each position of docid byte order
        self._matrix: sp.csr_matrix | None = None  # bm25s's scores as a (term x document) matrix, built on demand

    def __repr__(self) -> str:
        return (
            f"BM25Retriever(k1={self.k1:g}, b={self.b:g}, method={self.method!r}, "
            f"docs={len(self)}, terms={len(self._vocab)}, {self.tokenizer!r})"
        )

    def __len__(self) -> int:
        return len(self.docids)

    # --- indexing ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, dataset: Dataset, **kwargs) -> "BM25Retriever":
        """Index a dataset's corpus; ``kwargs`` go to the constructor."""
        return cls(**kwargs).index(dataset.corpus)

    def index(self, documents: Mapping[str, Document] | Iterable[Document]) -> "BM25Retriever":
        """Index documents (title + text as one field). Replaces any previous index. Returns ``self``."""
        docids, texts = collect_documents(documents)
        token_ids, vocab = term_ids(texts, self.tokenizer)
        if not vocab:
            raise ValueError(
                f"none of the {len(docids)} documents has an indexable term (all empty or stop words "
                f"under {self.tokenizer!r})"
            )
        bm25 = build_bm25(token_ids, vocab, k1=self.k1, b=self.b, method=self.method, backend=self.backend)
        self._set_index(bm25, vocab, docids, texts)
        return self

    def _set_index(self, bm25: bm25s.BM25, vocab: dict, docids: list[str], texts: Sequence[str]) -> None:
        self._bm25, self._vocab, self.docids, self.texts = bm25, vocab, docids, texts
        # Object arrays: picking a query's hits by fancy indexing is ~10x faster than a Python loop.
        self._docids_by_index = np.array(docids, dtype=object)
        self._texts_by_index = np.array(texts, dtype=object) if isinstance(texts, list) else texts
        order = np.argsort(np.asarray(docids))  # ids are unique, so any sort gives the same order
        self._docid_rank = np.empty(len(docids), dtype=np.int64)
        self._docid_rank[order] = np.arange(len(docids))
        self._by_rank = order
        self._matrix = None

    # --- searching --------------------------------------------------------------------------------------------
    def search(self, queries: Sequence[Query] | Sequence[str] | Query | str, k: int = 1000) -> Run:
        """Top-``k`` documents per query: only documents containing a query term (see the module docstring)."""
        k = positive_int("k", k)
        bm25 = self._require_index()
        queries = as_queries(queries)
        if self.method == "lucene" and bm25.scores["data"].dtype == np.float32 and len(self.docids) < 2**32:
            return self._search_sparse(queries, k)
        run = Run(name=self.name)
        for q in progress(queries, desc="bm25 search", unit="q"):
            idx, scores = self._top_k(bm25, self.query_term_ids(q.text), int(k))
            # _top_k returns unique documents in trec_eval order with finite scores: no checks needed.
            run[q.qid] = Ranking.trusted(q.qid, self._docids_by_index[idx].tolist(), scores, self._texts_of(idx))
        return run

    def _texts_of(self, idx: np.ndarray) -> list[str]:
        if isinstance(self._texts_by_index, np.ndarray):
            return self._texts_by_index[idx].tolist()
        return [self._texts_by_index[i] for i in idx.tolist()]

    def _search_sparse(self, queries: list[Query], k: int) -> Run:
        """Lucene BM25 for many queries at once (see the module docstring): every score is > 0, so the documents
        in a query's row of the sparse product are exactly those that contain one of its terms."""
        bm25 = self._bm25
        if self._matrix is None:
            scores = bm25.scores
            indices = scores["indices"]
            self._matrix = sp.csr_matrix(
                (scores["data"], indices, np.asarray(scores["indptr"]).astype(indices.dtype, copy=False)),
                shape=(len(scores["indptr"]) - 1, scores["num_docs"]),
            )
        matrix, postings = self._matrix, np.diff(self._matrix.indptr)
        terms = [self.query_term_ids(q.text) for q in queries]
        run = Run(name=self.name)
        bar = progress(range(len(queries)), desc="bm25 search", unit="q") if progress_enabled() else None
        start = 0
        while start < len(queries):
            # As many queries as keep the matches held at once under MATCHES_PER_CHUNK (at least one).
            end, held = start + 1, int(postings[terms[start]].sum())
            while end < len(queries) and held + (more := int(postings[terms[end]].sum())) <= MATCHES_PER_CHUNK:
                held += more
                end += 1
            chunk = terms[start:end]
            indptr = np.zeros(len(chunk) + 1, dtype=np.int64)
            np.cumsum([len(t) for t in chunk], out=indptr[1:])
            columns = np.fromiter((i for t in chunk for i in t), dtype=matrix.indices.dtype, count=indptr[-1])
            found = sp.csr_matrix((np.ones(len(columns), dtype=matrix.dtype), columns, indptr),
                                  shape=(len(chunk), matrix.shape[0])) @ matrix
            # One key per match: the float32 score's bits (order-preserving for scores > 0) above the document's
            # position in docid order, so larger keys come first in trec_eval order and no two keys are equal.
            keys = found.data.astype(np.float32, copy=False).view(np.uint32).astype(np.uint64) << np.uint64(32)
            keys |= self._docid_rank.astype(np.uint64)[found.indices]
            bounds = found.indptr.tolist()
            for n, q in enumerate(queries[start:end]):
                key = keys[bounds[n]:bounds[n + 1]]
                if len(key) > k:
                    key = np.partition(key, len(key) - k)[len(key) - k:]
                key = np.sort(key)[::-1]
                idx = self._by_rank[(key & np.uint64(0xFFFFFFFF)).astype(np.intp)]
                scores = (key >> np.uint64(32)).astype(np.uint32).view(np.float32).astype(np.float64)
                run[q.qid] = Ranking.trusted(q.qid, self._docids_by_index[idx].tolist(), scores, self._texts_of(idx))
            if bar is not None:
                bar.update(end - start)
            start = end
        if bar is not None:
            bar.close()
        return run

    def get_scores(self, text: str) -> np.ndarray:
        """The BM25 score of every indexed document (in index order, aligned with ``docids``) for a query."""
        bm25 = self._require_index()
        ids = self.query_term_ids(text)
        return bm25.get_scores_from_ids(ids).astype(np.float64) if ids else np.zeros(len(self.docids))

    def query_term_ids(self, text: str) -> list[int]:
        """The query's terms as index ids; unknown terms are left out, repeats kept (they count twice)."""
        vocab = self._vocab
        return [vocab[t] for t in self.tokenizer.tokenize(text) if t in vocab]

    def _top_k(self, bm25: bm25s.BM25, term_ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        if not term_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        scores = bm25.get_scores_from_ids(term_ids)
        if self.method == "lucene":
            # Lucene's idf and tf parts are both > 0, so a score > 0 means "contains a query term".
            matched = np.flatnonzero(scores > 0)
        else:
            # Other variants can score a matching document 0 (or every document > 0): use the postings.
            mask = np.zeros(len(scores), dtype=bool)
            indptr, indices = bm25.scores["indptr"], bm25.scores["indices"]
            for t in set(term_ids):
                mask[indices[indptr[t] : indptr[t + 1]]] = True
            matched = np.flatnonzero(mask)
        s = scores[matched]
        if len(matched) > k:
            # Keep the k best; among documents tied with the k-th score keep the highest docids (trec_eval order).
            kth = np.partition(s, len(s) - k)[len(s) - k]
            above = np.flatnonzero(s > kth)
            tied = np.flatnonzero(s == kth)
            need = k - len(above)
            tied = tied[np.argsort(self._docid_rank[matched[tied]])[len(tied) - need :]]
            keep = np.concatenate([above, tied])
            matched, s = matched[keep], s[keep]
        order = np.lexsort((self._docid_rank[matched], s))[::-1]
        return matched[order], s[order].astype(np.float64)

    def _require_index(self) -> bm25s.BM25:
        if self._bm25 is None:
            raise RuntimeError(
                "this BM25Retriever has no index yet: call .index(documents), "
                "BM25Retriever.from_dataset(dataset) or BM25Retriever.load(path) before searching"
            )
        return self._bm25

    # --- saving and loading -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index (bm25s arrays + vocabulary, document ids and texts, settings) to folder ``path``."""
        bm25 = self._require_index()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"cannot save the index to {path}: it exists and is not a folder")
        path.mkdir(parents=True, exist_ok=True)
        (path / META_FILE).unlink(missing_ok=True)  # an interrupted save must not leave a valid-looking index
        bm25.save(path, show_progress=progress_enabled())
        with open(path / DOCIDS_FILE, "w", encoding="utf-8") as f:
            json.dump(self.docids, f, ensure_ascii=False)
        offsets = np.zeros(len(self.texts) + 1, dtype=np.int64)
        with open(path / TEXTS_FILE, "wb") as f:
            for i, text in enumerate(self.texts):
                offsets[i + 1] = offsets[i] + f.write(text.encode("utf-8"))
        np.save(path / OFFSETS_FILE, offsets)
        meta = {
            "format": INDEX_FORMAT,
            "format_version": INDEX_FORMAT_VERSION,
            "num_docs": len(self.docids),
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "tokenizer": self.tokenizer.config(),
            "bm25s_version": bm25s.__version__,
        }
        # Written last: a folder holds a usable index only once this file is there.
        with open(path / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True, backend: str = "numpy") -> "BM25Retriever":
        """Open an index written by :meth:`save`. With ``mmap=True`` the score arrays and the document texts
        stay on disk and are read as searches need them; ``mmap=False`` reads everything into memory."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no BM25 index at {path}: the folder does not exist")
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise ValueError(
                f"{path} is not a rankwise BM25 index (it has no {META_FILE}); build one with "
                "BM25Retriever(...).index(documents).save(path)"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT or meta.get("format_version") != INDEX_FORMAT_VERSION:
            raise ValueError(
                f"{meta_path} describes format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                f"this rankwise reads {INDEX_FORMAT!r} version {INDEX_FORMAT_VERSION}. Rebuild the index."
            )
        retriever = cls(meta["k1"], meta["b"], meta["method"], Tokenizer.from_config(meta["tokenizer"]), backend)
        bm25 = bm25s.BM25.load(path, mmap=mmap, load_corpus=False, show_progress=False,
                               override_params={"backend": backend})
        docids = json.loads((path / DOCIDS_FILE).read_text(encoding="utf-8"))
        texts = _DiskTexts(path / TEXTS_FILE, path / OFFSETS_FILE)
        if not mmap:
            texts = texts[:]
        n = meta["num_docs"]
        if not (len(docids) == len(texts) == bm25.scores["num_docs"] == n):
            raise ValueError(
                f"{path} is inconsistent: {n} documents in {META_FILE}, {len(docids)} ids, {len(texts)} texts, "
                f"{bm25.scores['num_docs']} in the score matrix; rebuild the index"
            )
        retriever._set_index(bm25, bm25.vocab_dict, docids, texts)
        return retriever


def term_ids(texts: Iterable[str], tokenizer: Tokenizer) -> tuple[list[list[int]], dict[str, int]]:
    """Tokenize texts straight into integer term ids (and the vocabulary term -> id), the form bm25s indexes
    fastest: it then skips building its own vocabulary from strings."""
    vocab: dict[str, int] = {}
    ids = tokenizer.tokenize_to_ids(texts, vocab, desc="bm25 tokenize")
    return ids, vocab


def build_bm25(
    token_ids: list[list[int]], vocab: dict[str, int], k1: float, b: float, method: str, backend: str = "numpy"
) -> bm25s.BM25:
    """A bm25s index over documents given as term ids (from :func:`term_ids`); ``vocab`` must not be empty."""
    bm25 = bm25s.BM25(k1=k1, b=b, method=method, backend=backend)
    bm25.index((token_ids, vocab), create_empty_token=False, show_progress=progress_enabled())
    return bm25


class _DiskTexts(Sequence):
    """Document texts read on demand from the memory-mapped blob written by :meth:`BM25Retriever.save`.

    Decoded texts are kept in a bounded LRU cache: runs retrieve the same documents for many queries, and
    decoding is most of the cost of reading a text.
    """

    CACHE_SIZE = 32768

    def __init__(self, blob: Path, offsets: Path):
        # A plain ndarray view of the mapped file: slicing a np.memmap costs microseconds per call.
        self._offsets = np.asarray(np.load(offsets, mmap_mode="r"))
        with open(blob, "rb") as f:
            # mmap cannot map an empty file; an index of only empty texts keeps b"".
            self._blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self._offsets[-1] else b""
        self._text = lru_cache(maxsize=self.CACHE_SIZE)(self._read)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._read(j) for j in range(*i.indices(len(self)))]
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"document index {i} out of range for {len(self)} documents")
        return self._text(i % len(self))

    def _read(self, i: int) -> str:
        start, end = self._offsets[i : i + 2].tolist()
        return self._blob[start:end].decode("utf-8")
