"""Recency-aware reranking (AutoCast++, Yan et al., ICLR 2024): any relevance score, combined with how recent each
document is relative to the question's date, for questions asked at a point in time (forecasting, news).

    recency = RecencyReranker(CrossEncoderReranker(), documents=dataset.corpus, half_life_days=30)
    run = (bm25 % 100 >> recency)(dataset.queries)      # queries carry .date, documents .date
    recency.counts                                      # future documents dropped, undated documents kept

What AutoCast++'s released code does (github.com/BorealisAI/autocast-plus-plus, ``data_loader.py`` and
``retriever_utils``), and what is done here:

- **Relevance** there is an LLM's zero-shot 0–4 rating of the question–article pair, divided by 4 and clipped to
  [1e-4, 1]. Here it is any reranker (``relevance=``; or ``None`` for the candidates' incoming scores), its scores
  mapped per query onto [1e-4, 1] by min-max (``normalize="minmax"``; ``"none"`` only clips, as AutoCast++ does,
  for scores that already are probabilities or ratings / max).
- **Recency** there is a curve of the article's time within the question's open window, interpolated
  (``np.interp``) from the gradient of human forecasters' accuracy over time. The curve needs AutoCast's crowd
  forecasts; here the recency of a document ``age`` days older than the question is a decay: ``"exponential"``
  (``0.5 ** (age / half_life_days)``, default, half-life 30 days), ``"linear"`` (``1 - age / horizon_days``, floored
  at 0), ``"curve"`` (``np.interp(age, ages, values)`` over given points, as AutoCast++ interpolates its curve), or any
  callable from ages in days to values in [0, 1].
- **Combination**: AutoCast++ multiplies the two and sorts. Here ``score = relevance * recency ** weight``:
  ``weight=1`` is AutoCast++'s product, ``weight=0`` the plain relevance reranker, values between soften the
  preference for recent evidence. With equal relevance, the newer document wins.
- **No leakage**: a document dated after the question's date is dropped (AutoCast only retrieves news published
  before the question's forecast date), and counted. A document without a date is kept with recency
  ``undated`` (default 0.5: as if one half-life old under the default decay), and counted.

A query without a date is an error unless ``reference_date`` gives one for every query.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from collections import Counter
from typing import Callable, Mapping, Sequence

import numpy as np

from rankwise.io.dates import parse_date
from rankwise.pipeline import Reranker, require_texts
from rankwise.types import Document, Query, Ranking, Run

DECAYS = ("exponential", "linear", "curve")
NORMALIZE = ("minmax", "none")
MIN_RELEVANCE = 1e-4  # AutoCast++'s floor: a document's relevance never reaches 0, so recency can still order it


def decay_function(decay: str | Callable, half_life_days: float = 30.0, horizon_days: float = 365.0,
                   curve: Sequence[tuple[float, float]] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Ages in days (>= 0) -> recency in [0, 1], non-increasing."""
    if callable(decay):
        return decay
    if decay == "exponential":
        if not half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
        return lambda age: np.power(0.5, age / half_life_days)
    if decay == "linear":
        if not horizon_days > 0:
            raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
        return lambda age: np.clip(1.0 - age / horizon_days, 0.0, 1.0)
    if decay == "curve":
        points = np.asarray(curve if curve is not None else [], dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
            raise ValueError("decay='curve' needs curve=[(age_days, value), ...] with at least two points")
        ages, values = points[:, 0], points[:, 1]
        if np.any(np.diff(ages) <= 0) or values.min() < 0 or values.max() > 1:
            raise ValueError("curve points need strictly increasing ages and values in [0, 1]")
        return lambda age: np.interp(age, ages, values)
    raise ValueError(f"decay must be one of {', '.join(map(repr, DECAYS))} or a function; got {decay!r}")


def document_dates(documents) -> dict[str, _dt.datetime | None]:
    """docid -> UTC date from ``{docid: Document}``, a list of Documents, or ``{docid: date or date string}``."""
    items = documents.items() if isinstance(documents, Mapping) else ((d.docid, d) for d in documents)
    out: dict[str, _dt.datetime | None] = {}
    for docid, value in items:
        if isinstance(value, Document):
            value = value.date
        try:
            out[str(docid)] = None if value in (None, "") else parse_date(value)
        except (ValueError, OverflowError, OSError) as e:
            raise ValueError(f"document {docid!r}: {e}") from None
    return out


class RecencyReranker(Reranker):
    """A relevance reranker with AutoCast++'s preference for recent evidence (module docs).

    Args:
        relevance: a :class:`~rankwise.pipeline.Reranker` (or a registry name, e.g. ``"cross-encoder"``), or
            ``None`` to use the candidates' incoming scores.
        documents: where candidates' dates come from: ``dataset.corpus``, Documents, or ``{docid: date}``.
        weight: the recency exponent (0 = plain relevance, 1 = AutoCast++'s product).
        decay, half_life_days, horizon_days, curve: the recency function (:func:`decay_function`).
        undated: recency given to documents without a date (in [0, 1]).
        normalize: ``"minmax"`` (per query, into [1e-4, 1]) or ``"none"`` (scores clipped to [1e-4, 1]).
        reference_date: the date of queries that carry none (default: such a query is an error).
    """

    name = "recency"

    def __init__(self, relevance: Reranker | str | None = None, documents=None, *, weight: float = 1.0,
                 decay: str | Callable = "exponential", half_life_days: float = 30.0, horizon_days: float = 365.0,
                 curve: Sequence[tuple[float, float]] | None = None, undated: float = 0.5,
                 normalize: str = "minmax", reference_date=None):
        if isinstance(relevance, str):
            from rankwise.rerank import get_reranker

            relevance = None if relevance == "none" else get_reranker(relevance)
        if relevance is not None and not isinstance(relevance, Reranker):
            raise TypeError(f"relevance must be a Reranker, a reranker name or None; got {type(relevance).__name__}")
        if not (float(weight) >= 0):
            raise ValueError(f"weight must be >= 0 (0 = no recency preference), got {weight}")
        if not 0.0 <= float(undated) <= 1.0:
            raise ValueError(f"undated (the recency of documents without a date) must lie in [0, 1], got {undated}")
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {', '.join(map(repr, NORMALIZE))}; got {normalize!r}")
        self.relevance, self.weight, self.undated, self.normalize = relevance, float(weight), float(undated), normalize
        self.decay = decay_function(decay, half_life_days, horizon_days, curve)
        self.dates = document_dates(documents) if documents is not None else {}
        self.reference_date = None if reference_date is None else parse_date(reference_date)
        self.counts: Counter = Counter()
        self._warned = False
        inner = "scores" if relevance is None else getattr(relevance, "name", type(relevance).__name__)
        self.name = f"recency({inner}, w={self.weight:g})"

    def __repr__(self) -> str:
        return f"RecencyReranker(relevance={self.relevance!r}, weight={self.weight:g}, documents={len(self.dates)})"

    def recency(self, question_date: _dt.datetime, docids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(recency of each document, mask of the documents dated after the question)."""
        rec = np.full(len(docids), self.undated, dtype=np.float64)
        future = np.zeros(len(docids), dtype=bool)
        ages, where = [], []
        for i, docid in enumerate(docids):
            date = self.dates.get(docid)
            if date is None:
                continue
            age = (question_date - date).total_seconds() / 86400.0
            if age < 0:
                future[i] = True
            else:
                ages.append(age)
                where.append(i)
        if where:
            values = np.asarray(self.decay(np.asarray(ages, dtype=np.float64)), dtype=np.float64)
            rec[where] = np.clip(values, 0.0, 1.0)
        return rec, future

    def _question_date(self, query: Query) -> _dt.datetime:
        if query.date is not None:
            return parse_date(query.date)
        if self.reference_date is not None:
            return self.reference_date
        raise ValueError(f"query {query.qid!r} has no date: recency reranking measures documents against the "
                         "question's date. Give queries a 'date' (queries.jsonl) or pass reference_date=")

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        kept_runs: dict[str, Ranking] = {}
        recency: dict[str, dict[str, float]] = {}
        counts: Counter = Counter()  # this call's; self.counts adds up every call
        for q in queries:
            candidates = run.get(q.qid)
            if not candidates:
                continue
            qdate = self._question_date(q)
            rec, future = self.recency(qdate, candidates.docids)
            keep = np.flatnonzero(~future)
            texts = candidates.texts
            counts["queries"] += 1
            counts["candidates"] += len(candidates)
            counts["future_dropped"] += int(future.sum())
            counts["undated"] += sum(1 for d in candidates.docids if self.dates.get(d) is None)
            kept_runs[q.qid] = Ranking(q.qid, [candidates.docids[i] for i in keep], candidates.scores[keep],
                                       None if texts is None else [texts[i] for i in keep], sort=False)
            recency[q.qid] = dict(zip(kept_runs[q.qid].docids, rec[keep]))
        kept = Run(kept_runs.values(), name=run.name)
        scored = kept if self.relevance is None else self.relevance.rerank_batch(queries, kept)
        out = Run(name=self.name)
        for q in queries:
            ranking = scored.get(q.qid)
            if not ranking:
                out[q.qid] = Ranking(q.qid, [], [])
                continue
            relevance = self._normalized(ranking.scores)
            rec = np.array([recency[q.qid][d] for d in ranking.docids])
            scores = relevance * np.power(rec, self.weight) if self.weight else relevance
            out[q.qid] = Ranking(q.qid, ranking.docids, scores, ranking.texts)
        self.counts.update(counts)
        out.meta["recency"] = {k: counts[k] for k in ("queries", "candidates", "future_dropped", "undated")}
        if counts["undated"] and not self._warned:  # once per reranker: the counts say the rest
            warnings.warn(f"{self.name}: {counts['undated']} candidate(s) have no date; they are kept with "
                          f"recency {self.undated:g}", RuntimeWarning, stacklevel=2)
            self._warned = True
        return out

    def rerank(self, query: Query | str, candidates: Ranking) -> Ranking:
        if not isinstance(query, Query):
            raise TypeError("recency reranking needs a Query with a date, not a bare string")
        if self.relevance is not None:
            require_texts(candidates, self)
        return self.rerank_batch([query], Run([candidates]))[query.qid]

    def _normalized(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.normalize == "minmax":  # affine onto [1e-4, 1]: strictly increasing, so weight 0 keeps the order
            lo, hi = scores.min(), scores.max()
            unit = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
            return MIN_RELEVANCE + (1.0 - MIN_RELEVANCE) * unit
        return np.clip(scores, MIN_RELEVANCE, 1.0)
