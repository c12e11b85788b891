"""Learned sparse retrieval with SPLADE: a masked-LM turns a text into weights over its vocabulary, an inverted index
(a sparse matrix) scores documents by the dot product of those weights.

    splade = SpladeRetriever("splade-tiny").index(dataset.corpus)      # the offline kit's SPLADE-tiny, or any
    run = splade.search(dataset.queries, k=1000)                       # SPLADE checkpoint by name (naver/splade-v3...)
    splade.encoder.terms("what causes rain?")                          # the expansion terms and their weights

The SPLADE activation (Formal et al., SPLADE v2): a text's weight for vocabulary term j is
``max over its tokens i of log(1 + relu(logit[i, j]))``, padding excluded. Queries and documents go through the same
model unless ``query_model`` names a separate query encoder (as asymmetric SPLADE pairs have). Weights stay float32
(no quantisation to integers). A ranking holds only documents sharing at least one weighted term with the query, at
most k of them, in trec_eval order (ties: docid descending), with their texts. Needs ``pip install 'rankwise[torch]'``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from rankwise.checks import positive_int
from rankwise.models import ResolvedModel, require, resolve
from rankwise.pipeline import Retriever, as_queries
from rankwise.progress import progress, progress_enabled
from rankwise.retrieve.dense import (
    DOCIDS_FILE,
    META_FILE,
    SHARD_SIZE,
    cache_folder,
    check_k,
    collect_documents,
    corpus_key,
    docid_ranks,
    prepare_folder,
    read_meta,
    read_texts,
    slug,
    top_k,
    write_texts,
)
from rankwise.retrieve.encoders import length_batches
from rankwise.types import Dataset, Document, Query, Ranking, Run

INDEX_FORMAT = "rankwise.splade"
INDEX_FORMAT_VERSION = 1
MATRIX_FILE = "doc_term.npz"
DEFAULT_MODEL = "splade-tiny"


class SpladeEncoder:
    """Texts -> sparse vocabulary weights (a ``scipy.sparse.csr_matrix`` of shape (texts, vocabulary size))."""

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, max_length: int = 512, batch_size: int = 8,
                 device: str | None = None):
        positive_int("max_length", max_length, minimum=2, hint="tokens")
        positive_int("batch_size", batch_size)
        resolved = model if isinstance(model, ResolvedModel) else resolve(model, family="sparse")
        if resolved.family not in (None, "sparse"):
            raise ValueError(f"{resolved.name!r} is a {resolved.family} model, not SPLADE: SPLADE needs a masked-LM "
                             "checkpoint (e.g. 'splade-tiny', 'naver/splade-v3')")
        torch = require("torch", "torch", "SPLADE")
        transformers = require("transformers", "torch", "SPLADE")
        config = json.loads((resolved.path / "config.json").read_text(encoding="utf-8")) \
            if (resolved.path / "config.json").is_file() else {}
        if not any(a.endswith("ForMaskedLM") for a in config.get("architectures", [])):
            raise ValueError(f"{resolved.name!r} ({resolved.path}) is not a masked-LM checkpoint (architectures "
                             f"{config.get('architectures')}); SPLADE needs the MLM head to weight vocabulary terms")
        self.torch = torch
        self.name, self.path = resolved.name, resolved.path
        self.max_length, self.batch_size = max_length, batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(resolved.path))
        self.model = transformers.AutoModelForMaskedLM.from_pretrained(str(resolved.path)).to(self.device).eval()
        self.vocab_size = int(self.model.config.vocab_size)

    def __repr__(self) -> str:
        return f"SpladeEncoder({self.name!r}, max_length={self.max_length}, batch_size={self.batch_size})"

    def config(self) -> dict:
        return {"model": self.name, "max_length": self.max_length, "batch_size": self.batch_size}

    def encode(self, texts: Sequence[str], batch_size: int | None = None, desc: str = "splade encode") -> sp.csr_matrix:
        """One row of term weights per text, in input order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string; wrap it: encode([text])")
        torch = self.torch
        texts = list(texts)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"] if texts else []
        pad = self.tokenizer.pad_token_id or 0
        rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        batches = length_batches([len(x) for x in ids], batch_size or self.batch_size)
        show = progress_enabled() and len(batches) > 1
        for batch in (progress(batches, desc=f"{desc} ({self.name})", unit="batch") if show else batches):
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            with torch.inference_mode():
                mask = mask.to(self.device)
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask).logits
                # log(1 + relu(x)) is non-decreasing in x, so the max over tokens can be taken on the logits first:
                # the same values, with one pass over the (texts x tokens x vocabulary) tensor instead of four.
                logits.masked_fill_(mask.unsqueeze(-1) == 0, float("-inf"))
                weights = torch.log1p(torch.relu(logits.amax(dim=1)))
            weights = weights.float().cpu().numpy()
            for row, i in enumerate(batch):
                nz = np.flatnonzero(weights[row])
                rows[int(i)] = (nz, weights[row, nz])
        return _csr([rows[i] for i in range(len(texts))], self.vocab_size)

    def terms(self, text: str, top: int = 20) -> list[tuple[str, float]]:
        """The ``top`` heaviest vocabulary terms of a text (what SPLADE expands it to)."""
        row = self.encode([text])
        order = np.argsort(-row.data)[:top]
        tokens = self.tokenizer.convert_ids_to_tokens(row.indices[order].tolist())
        return list(zip(tokens, row.data[order].astype(float).tolist()))


def _csr(rows: list[tuple[np.ndarray, np.ndarray]], width: int) -> sp.csr_matrix:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(cols) for cols, _ in rows])
    indices = np.concatenate([cols for cols, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
    data = np.concatenate([vals for _, vals in rows]) if rows else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data.astype(np.float32), indices.astype(np.int32), indptr), shape=(len(rows), width))


class SpladeRetriever(Retriever):
    """SPLADE over an inverted index held as a sparse (vocabulary x documents) matrix.

    Args:
        model: a SPLADE checkpoint (offline kit ``"splade-tiny"``, hub name, local folder) or a :class:`SpladeEncoder`.
        query_model: a separate query encoder, for asymmetric SPLADE pairs (default: ``model``).
        max_length, batch_size, device: encoder settings (documents are truncated to ``max_length`` tokens).
        cache: ``True`` (or a folder) to keep encoded corpora on disk and reuse them.
        shard_size: documents per encoding unit (journalled, spread over Ray workers).
    """

    name = "splade"

    def __init__(self, model: str | Path | SpladeEncoder = DEFAULT_MODEL, *,
                 query_model: str | Path | SpladeEncoder | None = None, max_length: int = 512, batch_size: int = 8,
                 device: str | None = None, cache: bool | str | Path = False, shard_size: int = SHARD_SIZE):
        options = dict(max_length=max_length, batch_size=batch_size, device=device)
        self.encoder = model if isinstance(model, SpladeEncoder) else SpladeEncoder(model, **options)
        if query_model is None:
            self.query_encoder = self.encoder
        else:
            self.query_encoder = query_model if isinstance(query_model, SpladeEncoder) \
                else SpladeEncoder(query_model, **options)
        if self.query_encoder.vocab_size != self.encoder.vocab_size:
            raise ValueError(f"query model {self.query_encoder.name!r} has a vocabulary of "
                             f"{self.query_encoder.vocab_size} terms, document model {self.encoder.name!r} "
                             f"{self.encoder.vocab_size}: they must share one")
        self.cache = cache
        self.shard_size = positive_int("shard_size", shard_size, hint="documents encoded per unit")
        self.name = f"splade({self.encoder.name.rstrip('/').rsplit('/', 1)[-1]})"
        self.docids: list[str] = []
        self.texts: Sequence[str] = []
        self.doc_terms: sp.csr_matrix | None = None  # documents x vocabulary

    def __repr__(self) -> str:
        terms = 0 if self.doc_terms is None else self.doc_terms.nnz
        return f"SpladeRetriever({self.encoder!r}, docs={len(self)}, postings={terms:,})"

    def __len__(self) -> int:
        return len(self.docids)

    # --- indexing ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, dataset: Dataset, model: str | Path | SpladeEncoder = DEFAULT_MODEL,
                     **kwargs) -> "SpladeRetriever":
        return cls(model, **kwargs).index(dataset.corpus)

    def index(self, documents: Mapping[str, Document] | Iterable[Document]) -> "SpladeRetriever":
        """Encode the documents (title + text) once and build the inverted index. Replaces any previous index."""
        docids, texts = collect_documents(documents)
        folder = cache_folder(self.cache, "splade")
        file = None
        if folder is not None:
            file = folder / f"{slug(self.encoder.name)}-{corpus_key(self.encoder.config(), docids, texts)}.npz"
        if file is not None and file.is_file():
            matrix = sp.load_npz(file).tocsr()
        else:
            matrix = self.encode_corpus(texts)
            if file is not None:
                folder.mkdir(parents=True, exist_ok=True)
                sp.save_npz(file, matrix)
        self._set_index(docids, texts, matrix)
        return self

    def encode_corpus(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Term weights of the corpus, encoded in shards of ``shard_size`` documents (the units a run journal
        records and a Ray actor pool spreads; see :mod:`rankwise.distributed`)."""
        from rankwise.distributed.execution import encode_in_shards

        shards = encode_in_shards("splade", self.encoder, texts, self.shard_size, self.name)
        return sp.vstack(shards, format="csr") if shards else _csr([], self.encoder.vocab_size)

    def _set_index(self, docids: list[str], texts: Sequence[str], matrix: sp.csr_matrix) -> None:
        if matrix.shape != (len(docids), self.encoder.vocab_size):
            raise ValueError(f"expected a {len(docids)} x {self.encoder.vocab_size} matrix, got {matrix.shape}")
        self.docids, self.texts, self.doc_terms = docids, texts, matrix.astype(np.float32).tocsr()
        self._postings = self.doc_terms.T.tocsr()  # vocabulary x documents: one row of postings per term
        self._docids_by_index = np.array(docids, dtype=object)
        self._texts_by_index = np.array(texts, dtype=object) if isinstance(texts, list) else texts
        self._docid_rank = docid_ranks(docids)

    # --- searching --------------------------------------------------------------------------------------------
    def search(self, queries: Sequence[Query] | Sequence[str] | Query | str, k: int = 1000) -> Run:
        """Top-``k`` documents per query by the dot product of SPLADE weights (only documents sharing a term)."""
        k = check_k(k)
        if self.doc_terms is None:
            raise RuntimeError("this SpladeRetriever has no index yet: call .index(documents), "
                               "SpladeRetriever.from_dataset(dataset) or SpladeRetriever.load(path) before searching")
        queries = as_queries(queries)
        run = Run(name=self.name)
        if not queries:
            return run
        query_terms = self.query_encoder.encode([q.text for q in queries], desc="splade encode queries")
        block = 64  # queries scored per sparse product, bounding the (queries x documents) result
        for start in progress(range(0, len(queries), block), desc="splade search", unit="block"):
            scores = (query_terms[start : start + block] @ self._postings).tocsr()
            for row, q in enumerate(queries[start : start + block]):
                lo, hi = scores.indptr[row], scores.indptr[row + 1]
                idx, values = top_k(scores.indices[lo:hi].astype(np.int64), scores.data[lo:hi], k, self._docid_rank)
                if isinstance(self._texts_by_index, np.ndarray):
                    texts = self._texts_by_index[idx].tolist()
                else:
                    texts = [self._texts_by_index[i] for i in idx.tolist()]
                run[q.qid] = Ranking.trusted(q.qid, self._docids_by_index[idx].tolist(), values, texts)
        return run

    # --- saving and loading -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the document-term matrix, document ids and texts and the encoder settings to folder ``path``."""
        if self.doc_terms is None:
            raise RuntimeError("nothing to save: this SpladeRetriever has no index yet")
        path = prepare_folder(path)
        sp.save_npz(path / MATRIX_FILE, self.doc_terms)
        with open(path / DOCIDS_FILE, "w", encoding="utf-8") as f:
            json.dump(self.docids, f, ensure_ascii=False)
        write_texts(path, self.texts)
        meta = {"format": INDEX_FORMAT, "format_version": INDEX_FORMAT_VERSION, "num_docs": len(self.docids),
                "encoder": self.encoder.config(), "query_encoder": self.query_encoder.config()}
        with open(path / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path: str | Path, model: str | Path | SpladeEncoder | None = None,
             query_model: str | Path | SpladeEncoder | None = None, mmap: bool = True) -> "SpladeRetriever":
        """Open an index written by :meth:`save`; the query encoder is rebuilt from the saved settings (``model`` /
        ``query_model`` override where the models are found)."""
        path = Path(path)
        meta = read_meta(path, INDEX_FORMAT, INDEX_FORMAT_VERSION, "SPLADE")
        saved, saved_query = meta["encoder"], meta["query_encoder"]
        model = model or saved["model"]
        if query_model is None and saved_query["model"] != saved["model"]:
            query_model = saved_query["model"]
        retriever = cls(model, query_model=query_model, max_length=saved["max_length"],
                        batch_size=saved["batch_size"])
        matrix = sp.load_npz(path / MATRIX_FILE).tocsr()
        docids = json.loads((path / DOCIDS_FILE).read_text(encoding="utf-8"))
        texts = read_texts(path, mmap)
        if not (len(docids) == len(texts) == matrix.shape[0] == meta["num_docs"]):
            raise ValueError(f"{path} is inconsistent: {meta['num_docs']} documents in {META_FILE}, {len(docids)} "
                             f"ids, {len(texts)} texts, {matrix.shape[0]} matrix rows; rebuild the index")
        retriever._set_index(docids, texts, matrix)
        return retriever
