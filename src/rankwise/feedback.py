"""Pseudo-relevance feedback: take a query's top results as if they were relevant and search again.

- :class:`RM3` for BM25 (Lavrenko & Croft's relevance model, interpolated with the query), with the semantics of
  Anserini's ``Rm3Reranker`` that Pyserini runs (``--rm3``; defaults 10 feedback documents, 10 terms, original
  query weight 0.5). ``RM3(bm25)`` retrieves, expands and re-retrieves; ``bm25 >> RM3(bm25)`` takes the
  feedback documents from the previous stage (what PyTerrier writes ``bm25 >> rm3 >> bm25``).
- :class:`TextPRF` for any reranker ("PRF with deep LMs", Li et al.): each candidate is scored against the query
  concatenated with each of the top-k feedback passages, and the k lists are fused (Borda, score sum, max, RRF).
- :func:`vector_prf` for dense retrieval: the query vector averaged with the top-k document vectors (Pyserini's
  ``avg``) or Rocchio's ``alpha * q + beta * mean(d)`` (ANCE-PRF reproducibility study, Li et al. 2022), and
  :class:`VectorPRF`, which wraps a dense retriever with it (``VectorPRF(dense, fb_docs=3)``).

RM3, step by step (Anserini's Rm3Reranker and FeatureVector; ``tf`` = a term's count in a document):

1. query model: the query's terms (same analyzer as the index: Porter, stop words) with their counts, scaled to
   sum 1;
2. for each of the top ``fb_docs`` documents, its term counts, keeping only terms of 2–20 characters matching
   ``[a-z0-9]+`` that occur in at most 10% of the collection's documents, pruned to its ``fb_terms`` most
   frequent terms;
3. relevance model: ``P(t) = sum_d tf(t, d) / |d| * score(d)`` over those documents (``|d|`` = the sum of the
   pruned counts; a document whose sum is <= 0.001 is skipped; ``score(d)`` is its retrieval score, not
   normalised), pruned to the ``fb_terms`` heaviest terms and scaled to sum 1;
4. expanded query: ``w(t) = original_weight * query(t) + (1 - original_weight) * P(t)``;
5. re-retrieval: each document's score is ``sum_t w(t) * BM25(t, d)`` over the whole index (Lucene's BoostQuery
   multiplies a term's BM25 score by its weight), as many documents as asked for.

Differences from Anserini, all deliberate: where several terms tie for the last places of a pruned vector,
Anserini keeps whichever its hash map lists first; here the alphabetically first terms win, so results are
reproducible anywhere. Weights are float64 (Java float32 there), and document lengths are exact (Lucene
stores them lossily in one byte), as in :class:`~rankwise.retrieve.bm25.BM25Retriever` itself. Terms whose
weight ends up 0 (only with ``original_weight`` 0 or 1) are left out of the re-query, where Lucene would still
let them match documents with score 0.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.fuse import _top_indices, fuse_runs
from rankwise.pipeline import Reranker, Stage, as_queries, require_texts
from rankwise.types import Query, Ranking, Run, trec_order

DOC_WEIGHTS = ("score", "uniform")



def _check_choice(value, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _check_fraction(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
        raise ValueError(f"{what} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _top_terms(weights: dict[str, float], k: int) -> dict[str, float]:
    """The ``k`` heaviest terms; ties broken alphabetically (Anserini: hash-map order)."""
    if len(weights) <= k:
        return dict(weights)
    return dict(sorted(weights.items(), key=lambda tw: (-tw[1], tw[0]))[:k])


def _unit_l1(weights: dict[str, float]) -> dict[str, float]:
    total = sum(abs(w) for w in weights.values())
    return {t: w / total for t, w in weights.items()} if total > 0 else dict(weights)


def format_weighted_query(weights: dict[str, float], digits: int = 4) -> str:
    """``term^weight`` pairs, heaviest first (the form Lucene and Anserini print an expanded query in)."""
    return " ".join(f"{t}^{w:.{digits}f}" for t, w in sorted(weights.items(), key=lambda tw: (-tw[1], tw[0])))


# --- RM3 ----------------------------------------------------------------------------------------------------------
class RM3(Stage):
    """RM3 pseudo-relevance feedback over a :class:`~rankwise.retrieve.bm25.BM25Retriever` (module docstring).

    Args:
        retriever: the BM25 index to expand against and re-query (its tokenizer analyses queries and documents).
        fb_docs, fb_terms, original_weight: Pyserini's ``--fb-docs`` (10), ``--fb-terms`` (10) and
            ``--original-query-weight`` (0.5).
        k: documents returned per query by the re-query (default 1000, as ``bm25``).
        max_df_ratio: feedback terms occurring in more than this fraction of documents are skipped (Anserini: 0.1).
        doc_weights: ``"score"`` weights each feedback document by its retrieval score (RM3's definition; needs
            scores >= 0), ``"uniform"`` weights them equally (for feedback from a reranker with negative scores).

    Used alone, ``rm3(queries)`` retrieves the feedback documents with ``retriever`` itself; after another stage,
    ``stage >> rm3`` takes that stage's top ``fb_docs`` (e.g. reranked ones) as feedback.
    """

    name = "rm3"

    def __init__(
        self,
        retriever,
        fb_docs: int = 10,
        fb_terms: int = 10,
        original_weight: float = 0.5,
        *,
        k: int = 1000,
        max_df_ratio: float = 0.1,
        min_term_length: int = 2,
        max_term_length: int = 20,
        term_pattern: str = r"[a-z0-9]+",
        doc_weights: str = "score",
    ):
        from rankwise.retrieve.bm25 import BM25Retriever

        if not isinstance(retriever, BM25Retriever):
            raise TypeError(f"RM3 expands queries against a BM25Retriever's index; got {type(retriever).__name__}")
        _check_choice(doc_weights, DOC_WEIGHTS, "doc_weights")
        self.retriever = retriever
        self.fb_docs = positive_int("fb_docs", fb_docs)
        self.fb_terms = positive_int("fb_terms", fb_terms)
        self.original_weight = _check_fraction(original_weight, "original_weight")
        self.default_k = positive_int("k", k)
        self.max_df_ratio = _check_fraction(max_df_ratio, "max_df_ratio")
        self.min_term_length, self.max_term_length = int(min_term_length), int(max_term_length)
        self.term_pattern = re.compile(term_pattern)
        self.doc_weights = doc_weights
        self._index_of: dict[str, int] | None = None
        self._docids: np.ndarray | None = None
        self._texts: np.ndarray | None = None
        self._eligible: dict[str, bool] = {}  # term -> may it be a feedback term (length, pattern, df)?
        self._eligible_for = None  # the index those answers hold for

    def __str__(self) -> str:
        return f"rm3({self.retriever.name}, fb_docs={self.fb_docs}, fb_terms={self.fb_terms}, " \
               f"original_weight={self.original_weight:g})"

    def __repr__(self) -> str:
        return f"RM3({self.retriever!r}, fb_docs={self.fb_docs}, fb_terms={self.fb_terms}, " \
               f"original_weight={self.original_weight:g})"

    # --- the index, read through the retriever -----------------------------------------------------------------
    def _bm25(self):
        # BM25Retriever keeps its bm25s index and vocabulary private; RM3 needs the per-term score columns to
        # weight query terms (bm25s has no weighted query), so it reads them here, in one place.
        return self.retriever._require_index(), self.retriever._vocab

    def _document_index(self, docid: str) -> int:
        if self._index_of is None or len(self._index_of) != len(self.retriever.docids):
            self._index_of = {d: i for i, d in enumerate(self.retriever.docids)}
        try:
            return self._index_of[docid]
        except KeyError:
            raise KeyError(
                f"feedback document {docid!r} is not in the BM25 index that RM3 expands against; "
                "the feedback run must come from the same collection"
            ) from None

    def document_frequency(self, term: str) -> int:
        bm25, vocab = self._bm25()
        t = vocab.get(term)
        if t is None:
            return 0
        indptr = bm25.scores["indptr"]
        return int(indptr[t + 1] - indptr[t])

    # --- the expanded query ------------------------------------------------------------------------------------
    def query_model(self, text: str) -> dict[str, float]:
        """The query's analysed terms with their counts, scaled to sum 1."""
        return _unit_l1({t: float(c) for t, c in Counter(self.retriever.tokenizer.tokenize(text)).items()})

    def document_vector(self, docid: str) -> dict[str, float]:
        """A feedback document's eligible terms with their counts, pruned to the ``fb_terms`` most frequent."""
        text = self.retriever.texts[self._document_index(docid)]
        index = self._bm25()[0]
        if self._eligible_for is not index:  # the answers below hold for one index only
            self._eligible, self._eligible_for = {}, index
        eligible = self._eligible
        counts = {}
        for term, tf in Counter(self.retriever.tokenizer.tokenize(text)).items():
            ok = eligible.get(term)
            if ok is None:
                ok = eligible[term] = self.is_feedback_term(term)
            if ok:
                counts[term] = float(tf)
        return _top_terms(counts, self.fb_terms)

    def is_feedback_term(self, term: str) -> bool:
        """Anserini's filter: 2-20 characters of ``[a-z0-9]``, in at most 10% (``max_df_ratio``) of the documents."""
        return bool(
            self.min_term_length <= len(term) <= self.max_term_length
            and self.term_pattern.fullmatch(term)
            # float32, as Anserini compares (float) df / numDocs > 0.1f
            and np.float32(self.document_frequency(term)) / np.float32(len(self.retriever.docids))
            <= np.float32(self.max_df_ratio)
        )

    def relevance_model(self, feedback: Ranking) -> dict[str, float]:
        """RM1 over the first ``fb_docs`` documents of ``feedback``, pruned to ``fb_terms`` and scaled to sum 1."""
        top = feedback.top(self.fb_docs)
        if self.doc_weights == "score":
            if len(top) and top.scores.min() < 0:
                bad = top.docids[int(np.argmin(top.scores))]
                raise ValueError(
                    f"query {feedback.qid!r}: feedback document {bad!r} has score {top.scores.min():g}; RM3 weights "
                    "documents by their scores, which must be >= 0. Use RM3(..., doc_weights='uniform')"
                )
            doc_weights = top.scores.tolist()
        else:
            doc_weights = [1.0] * len(top)
        vectors = [self.document_vector(d) for d in top.docids]
        model: dict[str, float] = {}
        for vector, weight in zip(vectors, doc_weights):
            norm = sum(vector.values())
            if norm <= 0.001:  # a document with no eligible term (Anserini's guard against dividing by 0)
                continue
            for term, tf in vector.items():
                model[term] = model.get(term, 0.0) + tf / norm * weight
        return _unit_l1(_top_terms(model, self.fb_terms))

    def expand(self, query: Query | str, feedback: Ranking | None) -> dict[str, float]:
        """The weighted query ``term -> weight`` that RM3 runs for ``query`` given its feedback ranking."""
        text = query.text if isinstance(query, Query) else str(query)
        original = self.query_model(text)
        model = self.relevance_model(feedback) if feedback else {}
        a = self.original_weight
        terms = list(original) + [t for t in model if t not in original]
        expanded = {t: a * original.get(t, 0.0) + (1 - a) * model.get(t, 0.0) for t in terms}
        return {t: w for t, w in expanded.items() if w > 0}

    # --- retrieval ---------------------------------------------------------------------------------------------
    def weighted_scores(self, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """``sum_t w(t) * BM25(t, d)`` for every document, and the indices of the documents holding a term."""
        bm25, vocab = self._bm25()
        n = len(self.retriever.docids)
        data, indices, indptr = bm25.scores["data"], bm25.scores["indices"], bm25.scores["indptr"]
        scores = np.zeros(n)
        matched = np.zeros(n, dtype=bool)
        shift = 0.0
        for term, w in weights.items():
            t = vocab.get(term)
            if t is None:
                continue
            start, end = int(indptr[t]), int(indptr[t + 1])
            rows = indices[start:end]
            scores[rows] += w * data[start:end].astype(np.float64)  # a term's postings hold each document once
            matched[rows] = True
            if bm25.nonoccurrence_array is not None:  # BM25L / BM25+: a document without the term still scores
                shift += w * float(bm25.nonoccurrence_array[t])
        if shift:
            scores += shift
        return scores, np.flatnonzero(matched)

    def search_weighted(self, qid: str, weights: dict[str, float], k: int) -> Ranking:
        """The top ``k`` documents (those holding at least one term) for a weighted query, in trec_eval order."""
        if self._docids is None or len(self._docids) != len(self.retriever.docids):
            self._docids = np.array(self.retriever.docids, dtype=object)
        if self._texts is None or len(self._texts) != len(self.retriever.docids):
            texts = self.retriever.texts  # a list in memory, or texts read from disk on demand
            self._texts = np.array(texts, dtype=object) if isinstance(texts, list) else None
        scores, matched = self.weighted_scores(weights)
        ids, s = self._docids[matched], scores[matched]
        order = _top_indices(ids, s, k) if len(s) > k else trec_order(ids, s)
        rows = matched[order]
        texts = self._texts[rows].tolist() if self._texts is not None else [self.retriever.texts[i] for i in rows]
        return Ranking.trusted(qid, self._docids[rows].tolist(), s[order].astype(np.float64), texts)

    def search(self, queries, k: int | None = None, feedback: Run | None = None) -> Run:
        """Expanded retrieval for ``queries``. ``feedback``: a run whose top ``fb_docs`` per query are the feedback
        documents (default: ``retriever``'s own top ``fb_docs``)."""
        from rankwise.progress import progress

        k = self.default_k if k is None else positive_int("k", k)
        queries = as_queries(queries)
        if feedback is None:
            feedback = self.retriever.search(queries, k=self.fb_docs)
        out = Run(name=str(self))
        for q in progress(queries, desc="rm3", unit="q"):
            out[q.qid] = self.search_weighted(q.qid, self.expand(q, feedback.get(q.qid)), k)
        return out

    def transform(self, queries, run):
        return self.search(queries, feedback=run)


# --- text PRF for rerankers ---------------------------------------------------------------------------------------
AGGREGATES = {"borda": ("borda", None), "sum": ("combsum", "none"), "max": ("combmax", "none"), "rrf": ("rrf", None)}


class TextPRF(Reranker):
    """Text-based pseudo-relevance feedback for any reranker.

    For each query the first ``fb_docs`` candidates (in the order of the incoming run) are feedback passages;
    every candidate is scored by ``reranker`` against ``query + separator + passage_j`` for each j, and the
    ``fb_docs`` rankings are fused by ``aggregate``: ``"borda"`` (Borda count), ``"sum"`` (sum of raw scores),
    ``"max"`` or ``"rrf"``. ``include_query=True`` adds the ranking for the query alone to the fusion.

    Put it after a first ranking: ``bm25 % 100 >> TextPRF(ce, fb_docs=3)`` takes BM25's top 3 as feedback,
    ``bm25 % 100 >> ce >> TextPRF(ce, fb_docs=3)`` the cross-encoder's. Costs ``fb_docs`` (+1) reranker passes.
    Long query + passage inputs are truncated by the reranker as it truncates any input.
    """

    def __init__(
        self,
        reranker: Reranker,
        fb_docs: int = 3,
        aggregate: str = "borda",
        *,
        include_query: bool = False,
        separator: str = " ",
    ):
        if not isinstance(reranker, Reranker):
            raise TypeError(f"TextPRF wraps a reranker; got {type(reranker).__name__}")
        _check_choice(aggregate, AGGREGATES, "aggregate")
        self.reranker = reranker
        self.fb_docs = positive_int("fb_docs", fb_docs)
        self.aggregate = aggregate
        self.include_query = bool(include_query)
        self.separator = separator
        self.name = f"text-prf({reranker.name}, fb_docs={self.fb_docs}, {aggregate})"

    def expanded_queries(self, queries: Sequence[Query], run: Run, j: int) -> list[Query]:
        """Each query joined with its ``j``-th feedback passage (queries with fewer candidates are left out)."""
        out = []
        for q in queries:
            candidates = run.get(q.qid)
            if candidates is not None and len(candidates) > j:
                out.append(Query(q.qid, q.text + self.separator + require_texts(candidates, self)[j]))
        return out

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        lists = [self.reranker.rerank_batch(queries, run)] if self.include_query else []
        for j in range(self.fb_docs):
            expanded = self.expanded_queries(queries, run, j)
            if expanded:
                lists.append(self.reranker.rerank_batch(expanded, run))
        method, norm = AGGREGATES[self.aggregate]
        qids = [q.qid for q in queries]
        if not lists:  # no query has a candidate
            return Run((Ranking(qid, [], []) for qid in qids), name=self.name)
        fused = fuse_runs([Run(r, name=f"list{i}") for i, r in enumerate(lists)], method, norm=norm, queries=qids,
                          name=self.name)
        return fused

    def rerank(self, query, candidates: Ranking) -> Ranking:
        query = query if isinstance(query, Query) else Query(candidates.qid, query)
        return self.rerank_batch([query], Run([candidates]))[candidates.qid]


# --- vector PRF for dense retrieval -------------------------------------------------------------------------------
VECTOR_METHODS = ("average", "rocchio")


def vector_prf(
    query_vector: np.ndarray,
    doc_vectors: np.ndarray,
    method: str = "rocchio",
    alpha: float = 0.9,
    beta: float = 0.1,
) -> np.ndarray:
    """A new query vector from the query vector and the feedback documents' vectors (``(k, dim)``).

    ``"average"``: the mean of the query vector and the k document vectors (Pyserini's ``--prf-method avg``).
    ``"rocchio"``: ``alpha * q + beta * mean(d)`` (Pyserini's defaults alpha 0.9, beta 0.1; the ANCE-PRF
    reproducibility study also reports other settings, e.g. 0.4 / 0.6). With no feedback document (k = 0) the
    query vector is returned unchanged. The result is not re-normalised (inner-product search ranks the same).
    Also takes ``(n, dim)`` query vectors with ``(n, k, dim)`` document vectors.
    """
    _check_choice(method, VECTOR_METHODS, "method")
    q = np.asarray(query_vector, dtype=np.float64)
    d = np.asarray(doc_vectors, dtype=np.float64)
    if d.ndim != q.ndim + 1 or d.shape[:-2] != q.shape[:-1] or (d.shape[-2] and d.shape[-1] != q.shape[-1]):
        raise ValueError(
            f"doc_vectors must have shape {q.shape[:-1] + ('k', q.shape[-1])} for query vectors of shape {q.shape}; "
            f"got {d.shape}"
        )
    k = d.shape[-2]
    if k == 0:
        return q.copy()
    if method == "average":
        return (q + d.sum(axis=-2)) / (k + 1)
    return alpha * q + beta * d.mean(axis=-2)


class VectorPRF(Stage):
    """Vector pseudo-relevance feedback around a dense retriever: encode the query, replace its vector with
    :func:`vector_prf` of it and the top ``fb_docs`` documents' vectors, and search again.

    ``dense`` is a :class:`~rankwise.retrieve.dense.DenseRetriever` (anything with ``encoder.encode_queries``,
    ``vectors``, ``docids`` and ``texts``). Alone, ``prf(queries)`` takes the feedback documents from ``dense``'s own
    ranking; after a stage, ``bm25 >> prf`` takes that stage's top ``fb_docs`` (they must be in ``dense``'s index).
    The second search is exact (every document scored), whatever index ``dense`` searches with.
    """

    def __init__(self, dense, fb_docs: int = 3, method: str = "rocchio", alpha: float = 0.9, beta: float = 0.1,
                 *, k: int = 1000):
        missing = [a for a in ("vectors", "docids", "texts", "encoder") if not hasattr(dense, a)]
        if missing or not hasattr(dense.encoder, "encode_queries"):
            raise TypeError(f"VectorPRF needs a dense retriever (vectors, docids, texts, encoder.encode_queries); "
                            f"{type(dense).__name__} lacks {', '.join(missing) or 'encoder.encode_queries'}")
        _check_choice(method, VECTOR_METHODS, "method")
        self.dense, self.method, self.alpha, self.beta = dense, method, float(alpha), float(beta)
        self.fb_docs = positive_int("fb_docs", fb_docs)
        self.default_k = positive_int("k", k)
        self.name = f"vector-prf({getattr(dense, 'name', 'dense')}, {method}, fb_docs={self.fb_docs})"
        self._index_of: dict[str, int] | None = None

    def _rows(self, docids: Sequence[str]) -> list[int]:
        if self._index_of is None or len(self._index_of) != len(self.dense.docids):
            self._index_of = {d: i for i, d in enumerate(self.dense.docids)}
        try:
            return [self._index_of[d] for d in docids]
        except KeyError as e:
            raise KeyError(f"feedback document {e.args[0]!r} is not in the dense index; the feedback run must come "
                           "from the same collection") from None

    def query_vectors(self, queries: Sequence[Query], feedback: Run) -> np.ndarray:
        """The feedback-updated vector of each query (float32, one row per query)."""
        vectors = np.asarray(self.dense.encoder.encode_queries([q.text for q in queries]), dtype=np.float64)
        matrix = np.asarray(self.dense.vectors)
        out = np.empty_like(vectors)
        for i, q in enumerate(queries):
            ranking = feedback.get(q.qid)
            rows = self._rows(ranking.docids[: self.fb_docs]) if ranking is not None else []
            out[i] = vector_prf(vectors[i], matrix[rows].astype(np.float64).reshape(len(rows), -1), self.method,
                                self.alpha, self.beta)
        return out.astype(np.float32)  # the precision the dense index itself searches with

    def search(self, queries, k: int | None = None, feedback: Run | None = None) -> Run:
        k = self.default_k if k is None else positive_int("k", k)
        queries = as_queries(queries)
        if feedback is None:
            feedback = self.dense.search(queries, k=self.fb_docs)
        out = Run(name=self.name)
        if not queries:
            return out
        docids = np.array(self.dense.docids, dtype=object)
        texts = self.dense.texts
        matrix = np.asarray(self.dense.vectors)
        for q, vector in zip(queries, self.query_vectors(queries, feedback)):
            scores = (matrix @ vector).astype(np.float64)
            order = _top_indices(docids, scores, k) if len(scores) > k else trec_order(docids, scores)
            out[q.qid] = Ranking.trusted(q.qid, docids[order].tolist(), scores[order],
                                         [texts[i] for i in order.tolist()])
        return out

    def transform(self, queries, run):
        return self.search(queries, feedback=run)


__all__ = ["RM3", "TextPRF", "VectorPRF", "vector_prf", "format_weighted_query", "AGGREGATES", "VECTOR_METHODS"]
