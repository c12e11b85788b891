"""ColBERT late-interaction reranking: MaxSim between token vectors (the encoder, its checkpoint layouts and exact
MaxSim retrieval live in :mod:`rankwise.retrieve.colbert`).

    colbert = ColBERTReranker("colbert-ir/colbertv2.0")            # or a local folder
    run = (bm25 % 100 >> colbert)(dataset.queries)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.pipeline import Reranker, require_texts, rerank_in_chunks
from rankwise.retrieve.colbert import (
    DEFAULT_MODEL,
    ColBERTEncoder,
    maxsim,
    maxsim_packed,
    pack,
)
from rankwise.types import Query, Ranking, Run


class ColBERTReranker(Reranker):
    """Rerank candidates by MaxSim between ColBERT token vectors.

    ``rerank_batch`` encodes each distinct query and each distinct candidate text once, in length-sorted batches
    formed across all queries of the call, then scores every query's candidates with one matrix product.

    Args:
        model: a :class:`ColBERTEncoder`, or a model name / folder (the keyword options go to the encoder).
        max_candidates_per_chunk: queries are processed in groups holding about this many candidates, so the
            token vectors of a large run never sit in memory all at once.
    """

    name = "colbert"

    def __init__(self, model: str | Path | ColBERTEncoder = DEFAULT_MODEL, *,
                 max_candidates_per_chunk: int = 20_000, **encoder_options):
        if isinstance(model, ColBERTEncoder) and encoder_options:
            raise TypeError(f"options {sorted(encoder_options)} configure a new encoder; this one is already built")
        self.encoder = model if isinstance(model, ColBERTEncoder) else ColBERTEncoder(model, **encoder_options)
        self.max_candidates_per_chunk = int(max_candidates_per_chunk)

    def __repr__(self) -> str:
        return f"ColBERTReranker({self.encoder!r})"

    def score(self, query: Query, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros(0, dtype=np.float64)
        q = self.encoder.encode_queries([query.text])[0]
        return maxsim(q, self.encoder.encode_documents(texts))

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        return rerank_in_chunks(queries, run, self.max_candidates_per_chunk, self._rerank_chunk, self.name)

    def _rerank_chunk(self, chunk: list[tuple[Query, Ranking]], out: dict[str, Ranking]) -> None:
        slot: dict[str, int] = {}
        positions = []
        for _, candidates in chunk:
            texts = require_texts(candidates, self)
            positions.append(np.array([slot.setdefault(t, len(slot)) for t in texts], dtype=np.int64))
        query_texts = list(dict.fromkeys(q.text for q, _ in chunk))
        q_vectors = dict(zip(query_texts, self.encoder.encode_queries(query_texts)))
        d_vectors = self.encoder.encode_documents(list(slot), desc=f"colbert encode ({len(slot)} texts)")
        for (q, candidates), pos in zip(chunk, positions):
            vectors, offsets = pack([d_vectors[i] for i in pos.tolist()])
            scores = maxsim_packed(q_vectors[q.text], vectors, offsets)
            out[q.qid] = Ranking(q.qid, candidates.docids, scores, candidates.texts)



__all__ = ["ColBERTReranker"]
