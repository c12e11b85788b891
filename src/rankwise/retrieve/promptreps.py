"""PromptReps (Zhuang et al., EMNLP 2024): a causal LLM, prompted to represent a text by one word, gives both a
dense and a sparse representation of it, with no training.

    pr = PromptRepsRetriever("HuggingFaceTB/SmolLM2-135M-Instruct").index(dataset.corpus)   # any causal LM
    run = pr.search(dataset.queries, k=1000)                  # hybrid (default), or mode="dense" / "sparse"
    pr.save("index/"); pr = PromptRepsRetriever.load("index/")
    pr.encoder.terms("what causes rain?")                     # the query's sparse terms and weights

What is computed, as in the paper and its released code (github.com/ielab/PromptReps):

- **Prompt**: the model's chat template with a system turn ("You are an AI assistant that can understand human
  language."), a user turn ``Passage: "<text>". Use one word to represent the passage in a retrieval task. Make
  sure your word is in lowercase.`` (``Query: …`` for queries) and the start of the answer ``The word is: "``
  written for the model. The prompt's head, the text (at most ``max_length`` = 512 tokens) and its tail are
  tokenised apart and joined, as the released collator does.
- **Dense**: the last layer's hidden state at the last prompt token, L2-normalised; inner-product search.
- **Sparse**: the next-token logits at that position, ``log(1 + relu(logit))``, kept only for tokens of the text's
  own words (lower-cased words minus English stop words and punctuation, each word tokenised alone) and only the
  ``top_k`` = 128 largest; a text with no such word keeps the 10 largest of the whole vocabulary. Score = dot
  product.
- **Hybrid**: each list cut to ``depth`` = 1000, scores min-max normalised per query, ``alpha * dense + (1 - alpha) *
  sparse`` with ``alpha`` = 0.5 (a document missing from one list gets 0 from it).

Deliberate differences (docs/seed_methods.md): words are split by a regular expression instead of NLTK's Punkt +
Treebank tokenizer (whose data cannot be downloaded here; the stop words are NLTK's English list as bm25s ships
it); sparse weights stay float32 instead of being rounded to integers (x100) for a Lucene impact index; the prompt
is rendered with real newlines by the chat template (the released prompt files hold a literal backslash-n).
Needs ``pip install 'rankwise[llm]'``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from rankwise.checks import positive_int
from rankwise.pipeline import Retriever, as_queries
from rankwise.progress import progress, progress_enabled
from rankwise.retrieve.dense import (
    DOCIDS_FILE,
    META_FILE,
    VECTORS_FILE,
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
from rankwise.retrieve.splade import MATRIX_FILE, _csr
from rankwise.types import Dataset, Document, Query, Ranking, Run

INDEX_FORMAT = "rankwise.promptreps"
INDEX_FORMAT_VERSION = 1
if TYPE_CHECKING:
    from rankwise.rerank.llm.local import LocalLLM

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
MODES = ("hybrid", "dense", "sparse")
CACHE_SHARD = 256  # documents per cached piece of an encoded corpus
_WORD = re.compile(r"\w+(?:[-.]\w+)*")
_PUNCTUATION = set(string.punctuation)


@dataclass(frozen=True)
class PromptRepsPrompts:
    """The prompt as data: ``{text}`` is where the passage or query goes; ``answer`` is written for the model."""

    system: str = "You are an AI assistant that can understand human language."
    passage: str = ('Passage: "{text}". Use one word to represent the passage in a retrieval task. '
                    "Make sure your word is in lowercase.")
    query: str = ('Query: "{text}". Use one word to represent the query in a retrieval task. '
                  "Make sure your word is in lowercase.")
    answer: str = 'The word is: "'

    def __post_init__(self):
        for name in ("passage", "query"):
            if getattr(self, name).count("{text}") != 1:
                raise ValueError(f"PromptReps prompt {name!r} must contain {{text}} exactly once: "
                                 f"{getattr(self, name)!r}")


def stop_words() -> frozenset[str]:
    """NLTK's English stop words (179, as bm25s ships them) and single punctuation marks: the words a text's
    sparse representation may not use (the released code's filter)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | _PUNCTUATION


def text_words(text: str, stop: frozenset[str]) -> list[str]:
    """The lower-cased words of a text, stop words and punctuation removed."""
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


class PromptRepsEncoder:
    """Texts -> (dense float32 matrix, sparse CSR matrix over the vocabulary), one row per text.

    Args:
        model: a causal LM with a language-model head: hub name, local folder or GGUF file, or the offline kit's
            ``HuggingFaceTB/SmolLM2-135M-Instruct`` (loaded as :class:`rankwise.rerank.llm.local.LocalLLM` does), or a
            LocalLLM already loaded.
        max_length: tokens of a text kept (the released code's 512).
        top_k: sparse terms kept per text (128).
        batch_size: texts per forward pass (texts are sorted by length first, so padding stays small).
        prompts: a :class:`PromptRepsPrompts` (default: the paper's).
    """

    def __init__(self, model: "str | os.PathLike | LocalLLM" = DEFAULT_MODEL, *, max_length: int = 512,
                 top_k: int = 128, batch_size: int = 8, prompts: PromptRepsPrompts | dict | None = None, device: str | None = None,
                 dtype: str | None = None):
        positive_int("max_length", max_length, hint="tokens")
        positive_int("top_k", top_k)
        positive_int("batch_size", batch_size)
        if isinstance(prompts, dict):
            prompts = PromptRepsPrompts(**prompts)
        self.prompts = prompts or PromptRepsPrompts()
        self.llm = _load_causal_lm(model, device, dtype)
        self.torch = self.llm.torch
        self.name = self.llm.name
        self.tokenizer = self.llm.tokenizer
        self.max_length, self.top_k, self.batch_size = max_length, top_k, batch_size
        self.dim = int(self.llm.model.config.hidden_size)
        self.vocab_size = int(self.llm.head.weight.shape[0])
        self._stop = stop_words()
        self._word_ids: dict[str, list[int]] = {}
        self._frames = {kind: self._frame(kind) for kind in ("passage", "query")}

    def __repr__(self) -> str:
        return f"PromptRepsEncoder({self.name!r}, max_length={self.max_length}, top_k={self.top_k})"

    def config(self) -> dict:
        return {"model": self.name, "max_length": self.max_length, "top_k": self.top_k,
                "prompts": dataclasses.asdict(self.prompts)}

    def _frame(self, kind: str) -> tuple[list[int], list[int]]:
        """Token ids before and after the text in the model's rendering of the prompt."""
        from rankwise.rerank.llm.backends import Prompt

        marker = "\u0000TEXT\u0000"
        user = getattr(self.prompts, kind).replace("{text}", marker)
        rendered = self.llm.render(Prompt.chat([("system", self.prompts.system), ("user", user)],
                                               prefix=self.prompts.answer))
        head, tail = rendered.split(marker)
        return self.llm.encode(head), self.llm.encode(tail)

    def word_token_ids(self, text: str) -> list[int]:
        """Vocabulary ids the sparse representation of ``text`` may use: the tokens of its words."""
        ids: set[int] = set()
        for word in text_words(text, self._stop):
            if word not in self._word_ids:
                self._word_ids[word] = self.llm.encode(word)
            ids.update(self._word_ids[word])
        return sorted(ids)

    def encode(self, texts: Sequence[str], kind: str = "passage",
               desc: str | None = None) -> tuple[np.ndarray, sp.csr_matrix]:
        """Dense vectors and sparse term weights of ``texts`` (``kind``: ``"passage"`` or ``"query"``)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string; wrap it: encode([text])")
        if kind not in self._frames:
            raise ValueError(f"kind must be 'passage' or 'query', got {kind!r}")
        torch = self.torch
        texts = list(texts)
        head, tail = self._frames[kind]
        bodies = self.tokenizer(texts, add_special_tokens=False, truncation=True,
                                max_length=self.max_length)["input_ids"] if texts else []
        seqs = [head + body + tail for body in bodies]
        dense = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows: list = [None] * len(texts)
        batches = length_batches([len(s) for s in seqs], self.batch_size)
        show = progress_enabled() and len(batches) > 1
        pad = self.llm.pad_id
        for batch in (progress(batches, desc=desc or f"promptreps encode ({self.name})", unit="batch")
                      if show else batches):
            width = max(len(seqs[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding: the last real token's position is known
                ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
                mask[row, : len(seqs[i])] = 1
            last = torch.tensor([len(seqs[i]) - 1 for i in batch])
            with torch.inference_mode():
                hidden = self.llm.decoder(input_ids=ids.to(self.llm.device),
                                          attention_mask=mask.to(self.llm.device)).last_hidden_state
                state = hidden[torch.arange(len(batch)), last.to(hidden.device)]
                weights = torch.log1p(torch.relu(self.llm.head(state).float()))
                state = torch.nn.functional.normalize(state.float(), p=2, dim=-1)
            dense[batch] = state.cpu().numpy()
            weights = weights.cpu().numpy()
            for row, i in enumerate(batch):
                rows[int(i)] = self._sparse_row(weights[row], texts[int(i)])
        return dense, _csr(rows, self.vocab_size)

    def _sparse_row(self, weights: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
        allowed = np.asarray(self.word_token_ids(text), dtype=np.int64)
        if len(allowed) == 0:  # no word of its own (rare): the released code keeps the 10 largest logits
            allowed, k = np.arange(len(weights)), 10
        else:
            k = min(len(allowed), self.top_k)
        values = weights[allowed]
        keep = np.argpartition(-values, k - 1)[:k] if k < len(allowed) else np.arange(len(allowed))
        cols, vals = allowed[keep], values[keep]
        nonzero = vals > 0  # a weight of 0 adds nothing to any dot product
        order = np.argsort(cols[nonzero])
        return cols[nonzero][order], vals[nonzero][order].astype(np.float32)

    def terms(self, text: str, kind: str = "query", top: int = 20) -> list[tuple[str, float]]:
        """The ``top`` heaviest sparse terms of a text, with their weights."""
        _, row = self.encode([text], kind)
        order = np.argsort(-row.data)[:top]
        return [(self.tokenizer.decode([int(t)]), float(w)) for t, w in zip(row.indices[order], row.data[order])]


def _load_causal_lm(model, device: str | None, dtype: str | None):
    """A LocalLLM, refused with a clear error when the model gives no next-token logits (not a causal LM)."""
    from rankwise.models import require, resolve

    if not isinstance(model, (str, os.PathLike)):  # an engine already loaded (rankwise.rerank.llm.LocalLLM)
        if not all(hasattr(model, a) for a in ("decoder", "head", "tokenizer", "render")):
            raise TypeError(f"PromptReps needs a local causal LM (a model name or path, or a LocalLLM); got "
                            f"{type(model).__name__}, which gives no hidden states or logits")
        return model

    require("torch", "llm", "PromptReps")
    require("transformers", "llm", "PromptReps")
    resolved = resolve(str(model), family="llm")
    config_file = resolved.path / "config.json" if resolved.path.is_dir() else None
    if config_file is not None and config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        architectures = config.get("architectures") or []
        if config.get("is_encoder_decoder") or (architectures and not any(
                a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)):
            raise ValueError(f"{model!r} ({resolved.path}) is a {', '.join(architectures) or 'encoder-decoder'} "
                             "model: PromptReps needs a decoder-only causal LM whose last hidden state predicts the "
                             "next token (e.g. HuggingFaceTB/SmolLM2-135M-Instruct, "
                             "meta-llama/Meta-Llama-3-8B-Instruct)")
    from rankwise.rerank.llm.local import LocalLLM

    try:
        llm = LocalLLM(str(model), device=device, dtype=dtype)
    except ValueError as e:  # transformers: "Unrecognized configuration class … for AutoModelForCausalLM"
        raise ValueError(f"{model!r} cannot be loaded as a causal LM, which PromptReps needs (hidden states and "
                         f"next-token logits): {str(e).splitlines()[0]}") from None
    if llm.head is None or not hasattr(llm.head, "weight"):
        raise ValueError(f"{model!r} has no language-model head: PromptReps reads next-token logits")
    return llm


class PromptRepsRetriever(Retriever):
    """PromptReps retrieval over an in-memory index (dense vectors + a sparse document-term matrix).

    Args:
        model: a causal LM name or path, or a :class:`PromptRepsEncoder`.
        mode: ``"hybrid"`` (default), ``"dense"`` or ``"sparse"``.
        alpha: the dense list's weight in the hybrid (the sparse list gets ``1 - alpha``).
        depth: documents taken from each list before fusing (the released code's 1000).
        cache: ``True`` (or a folder) to keep encoded corpora in ``$RANKWISE_CACHE/promptreps`` and reuse them.
        **encoder_options: :class:`PromptRepsEncoder`'s (``max_length``, ``top_k``, ``batch_size``, ``prompts``…).
    """

    name = "promptreps"

    def __init__(self, model: str | os.PathLike | PromptRepsEncoder = DEFAULT_MODEL, *, mode: str = "hybrid",
                 alpha: float = 0.5, depth: int = 1000, cache: bool | str | Path = False, **encoder_options):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha (the dense weight of the hybrid) must lie in [0, 1]; got {alpha}")
        self.depth = positive_int("depth", depth)
        self.encoder = model if isinstance(model, PromptRepsEncoder) else PromptRepsEncoder(model, **encoder_options)
        self.mode, self.alpha, self.cache = mode, float(alpha), cache
        self.name = f"promptreps-{mode}({self.encoder.name.rstrip('/').rsplit('/', 1)[-1]})"
        self.docids: list[str] = []
        self.texts: Sequence[str] = []
        self.vectors: np.ndarray | None = None
        self.doc_terms: sp.csr_matrix | None = None

    def __repr__(self) -> str:
        return f"PromptRepsRetriever({self.encoder!r}, mode={self.mode!r}, alpha={self.alpha:g}, docs={len(self)})"

    def __len__(self) -> int:
        return len(self.docids)

    def with_mode(self, mode: str, alpha: float | None = None) -> "PromptRepsRetriever":
        """The same index searched another way (no re-encoding): ``pr.with_mode("dense")``."""
        other = PromptRepsRetriever(self.encoder, mode=mode, alpha=self.alpha if alpha is None else alpha,
                                    depth=self.depth, cache=self.cache)
        if self.vectors is not None:
            other._set_index(self.docids, self.texts, self.vectors, self.doc_terms)
        return other

    # --- indexing ---------------------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, dataset: Dataset, model=DEFAULT_MODEL, **kwargs) -> "PromptRepsRetriever":
        return cls(model, **kwargs).index(dataset.corpus)

    def index(self, documents: Mapping[str, Document] | Iterable[Document]) -> "PromptRepsRetriever":
        """Encode the documents (title + text) once, dense and sparse. Replaces any previous index.

        With ``cache``, the corpus is encoded and cached in shards of ``CACHE_SHARD`` documents, so an interrupted
        encoding resumes where it stopped."""
        docids, texts = collect_documents(documents)
        folder = cache_folder(self.cache, "promptreps")
        if folder is None:
            vectors, matrix = self.encoder.encode(texts, "passage", desc="promptreps encode documents")
        else:
            parts = [self._cached_shard(folder, docids[s: s + CACHE_SHARD], texts[s: s + CACHE_SHARD],
                                        f"promptreps encode documents {s // CACHE_SHARD + 1}/"
                                        f"{-(-len(texts) // CACHE_SHARD)}")
                     for s in range(0, len(texts), CACHE_SHARD)]
            vectors = np.concatenate([v for v, _ in parts])
            matrix = sp.vstack([m for _, m in parts]).tocsr()
        self._set_index(docids, texts, vectors, matrix)
        return self

    def _cached_shard(self, folder: Path, docids: list[str], texts: list[str],
                      desc: str) -> tuple[np.ndarray, sp.csr_matrix]:
        stem = folder / f"{slug(self.encoder.name)}-{corpus_key(self.encoder.config(), docids, texts)}"
        dense_file, sparse_file = stem.with_suffix(".npy"), stem.with_suffix(".npz")
        if dense_file.is_file() and sparse_file.is_file():
            return np.load(dense_file), sp.load_npz(sparse_file).tocsr()
        vectors, matrix = self.encoder.encode(texts, "passage", desc=desc)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = f".tmp{os.getpid()}"
        np.save(stem.with_suffix(tmp + ".npy"), vectors)
        sp.save_npz(stem.with_suffix(tmp + ".npz"), matrix)
        os.replace(stem.with_suffix(tmp + ".npz"), sparse_file)  # atomic; the dense file last: it marks completion
        os.replace(stem.with_suffix(tmp + ".npy"), dense_file)
        return vectors, matrix

    def _set_index(self, docids: list[str], texts: Sequence[str], vectors: np.ndarray, matrix: sp.csr_matrix) -> None:
        if vectors.shape != (len(docids), self.encoder.dim) or matrix.shape != (len(docids), self.encoder.vocab_size):
            raise ValueError(f"expected {len(docids)} x {self.encoder.dim} vectors and a {len(docids)} x "
                             f"{self.encoder.vocab_size} matrix, got {vectors.shape} and {matrix.shape}; the index "
                             "was built with another model")
        self.docids, self.texts = docids, texts
        self.vectors, self.doc_terms = vectors.astype(np.float32, copy=False), matrix.astype(np.float32).tocsr()
        self._postings = self.doc_terms.T.tocsr()
        self._docids_by_index = np.array(docids, dtype=object)
        self._texts_by_index = np.array(texts, dtype=object) if isinstance(texts, list) else texts
        self._docid_rank = docid_ranks(docids)

    # --- searching --------------------------------------------------------------------------------------------
    def search(self, queries: Sequence[Query] | Sequence[str] | Query | str, k: int = 1000) -> Run:
        """Top-``k`` documents per query in this retriever's mode (hybrid: the fusion of each list's top
        ``max(k, depth)``)."""
        return self.search_modes(queries, k, modes=(self.mode,))[self.mode]

    def search_modes(self, queries, k: int = 1000, modes: Sequence[str] = MODES) -> dict[str, Run]:
        """Runs of several modes from one encoding of the queries: ``{"hybrid": run, "dense": run, ...}``."""
        k = check_k(k)
        unknown = set(modes) - set(MODES)
        if unknown:
            raise ValueError(f"modes must be among {', '.join(map(repr, MODES))}; got {sorted(unknown)}")
        if self.vectors is None:
            raise RuntimeError("this PromptRepsRetriever has no index yet: call .index(documents), "
                               ".from_dataset(dataset) or PromptRepsRetriever.load(path) before searching")
        queries = as_queries(queries)
        if not queries:
            return {mode: Run(name=self.name) for mode in modes}
        q_dense, q_sparse = self.encoder.encode([q.text for q in queries], "query", desc="promptreps encode queries")
        depth = max(k, self.depth) if "hybrid" in modes else k
        lists = {}
        if set(modes) & {"dense", "hybrid"}:
            lists["dense"] = self._search_dense(queries, q_dense, depth)
        if set(modes) & {"sparse", "hybrid"}:
            lists["sparse"] = self._search_sparse(queries, q_sparse, depth)
        out = {mode: lists[mode].top(k) for mode in modes if mode != "hybrid"}
        if "hybrid" in modes:
            from rankwise.fuse import fuse_runs

            out["hybrid"] = fuse_runs([lists["dense"], lists["sparse"]], "combsum", norm="minmax",
                                      weights=[self.alpha, 1.0 - self.alpha], top=k,
                                      queries=[q.qid for q in queries], name=self.name)
        return out

    def _ranking(self, qid: str, idx: np.ndarray, scores: np.ndarray) -> Ranking:
        if isinstance(self._texts_by_index, np.ndarray):
            texts = self._texts_by_index[idx].tolist()
        else:
            texts = [self._texts_by_index[i] for i in idx.tolist()]
        return Ranking.trusted(qid, self._docids_by_index[idx].tolist(), scores, texts)

    def _search_dense(self, queries: list[Query], vectors: np.ndarray, k: int) -> Run:
        run = Run(name=f"{self.name}:dense")
        everyone = np.arange(len(self.docids))
        block = max(1, (1 << 24) // max(1, len(self.docids)))
        for start in range(0, len(queries), block):
            scores = vectors[start: start + block] @ self.vectors.T
            for q, row in zip(queries[start: start + block], scores):
                run[q.qid] = self._ranking(q.qid, *top_k(everyone, row, k, self._docid_rank))
        return run

    def _search_sparse(self, queries: list[Query], terms: sp.csr_matrix, k: int) -> Run:
        run = Run(name=f"{self.name}:sparse")
        for start in range(0, len(queries), 64):
            scores = (terms[start: start + 64] @ self._postings).tocsr()
            for row, q in enumerate(queries[start: start + 64]):
                lo, hi = scores.indptr[row], scores.indptr[row + 1]
                idx, values = top_k(scores.indices[lo:hi].astype(np.int64), scores.data[lo:hi].astype(np.float64),
                                    k, self._docid_rank)
                run[q.qid] = self._ranking(q.qid, idx, values)
        return run

    # --- saving and loading -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write vectors, the document-term matrix, ids, texts and settings to folder ``path``."""
        if self.vectors is None:
            raise RuntimeError("nothing to save: this PromptRepsRetriever has no index yet")
        path = prepare_folder(path)
        np.save(path / VECTORS_FILE, self.vectors)
        sp.save_npz(path / MATRIX_FILE, self.doc_terms)
        with open(path / DOCIDS_FILE, "w", encoding="utf-8") as f:
            json.dump(self.docids, f, ensure_ascii=False)
        write_texts(path, self.texts)
        meta = {"format": INDEX_FORMAT, "format_version": INDEX_FORMAT_VERSION, "num_docs": len(self.docids),
                "encoder": self.encoder.config(), "mode": self.mode, "alpha": self.alpha, "depth": self.depth}
        with open(path / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path: str | Path, model: str | os.PathLike | PromptRepsEncoder | None = None, *,
             mode: str | None = None, mmap: bool = True) -> "PromptRepsRetriever":
        """Open an index written by :meth:`save`; queries are encoded by the saved model (``model`` overrides
        where it is found) with the saved settings."""
        path = Path(path)
        meta = read_meta(path, INDEX_FORMAT, INDEX_FORMAT_VERSION, "PromptReps")
        saved = meta["encoder"]
        if not isinstance(model, PromptRepsEncoder):
            model = PromptRepsEncoder(model or saved["model"], max_length=saved["max_length"], top_k=saved["top_k"],
                                      prompts=saved["prompts"])
        retriever = cls(model, mode=mode or meta["mode"], alpha=meta["alpha"], depth=meta["depth"])
        vectors = np.load(path / VECTORS_FILE, mmap_mode="r" if mmap else None)
        matrix = sp.load_npz(path / MATRIX_FILE).tocsr()
        docids = json.loads((path / DOCIDS_FILE).read_text(encoding="utf-8"))
        texts = read_texts(path, mmap)
        if not (len(docids) == len(texts) == len(vectors) == matrix.shape[0] == meta["num_docs"]):
            raise ValueError(f"{path} is inconsistent: {meta['num_docs']} documents in {META_FILE}, {len(docids)} ids, "
                             f"{len(texts)} texts, {len(vectors)} vectors, {matrix.shape[0]} matrix rows; rebuild it")
        retriever._set_index(docids, texts, vectors, matrix)
        return retriever
