"""The plain types every stage speaks: queries, documents, rankings, runs and qrels.

Order convention: a :class:`Ranking` is always ordered the way trec_eval evaluates it — by score
descending, ties broken by document id descending (byte order). Rank ``i`` in a Ranking is therefore the
rank trec_eval assigns, and a run written to disk and read back evaluates to the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    date: datetime | None = None  # when the question was asked (recency reranking drops documents after it)


@dataclass(frozen=True)
class Document:
    docid: str
    text: str
    title: str = ""
    date: datetime | None = None  # publication date (BEIR ``date``/``timestamp``, TREC ``<DATE>``), UTC

    @property
    def contents(self) -> str:
        """Title and text in one field (Pyserini's "flat" indexing)."""
        return f"{self.title} {self.text}" if self.title else self.text


def collect_documents(documents: "Mapping[str, Document] | Iterable[Document]") -> tuple[list[str], list[str]]:
    """(docids, texts) of a collection, checked: not empty, only Documents, no duplicate ids."""
    docs = list(documents.values()) if isinstance(documents, Mapping) else list(documents)
    if not docs:
        raise ValueError("cannot index an empty collection: got no documents")
    for d in docs:
        if not isinstance(d, Document):
            raise TypeError(f"index() takes rankwise Documents; got {type(d).__name__}: {d!r:.80}")
    docids = [d.docid for d in docs]
    if len(set(docids)) != len(docids):
        seen: set[str] = set()
        dup = next(d for d in docids if d in seen or seen.add(d))
        raise ValueError(f"document id {dup!r} appears more than once in the collection")
    return docids, [d.contents for d in docs]


def trec_order(docids: Sequence[str], scores: np.ndarray) -> np.ndarray:
    """Indices that sort candidates as trec_eval does: score descending, then docid descending."""
    if len(docids) <= 1:
        return np.arange(len(docids))
    # lexsort sorts ascending by the last key first; reversing gives (score desc, docid desc).
    return np.lexsort((np.asarray(docids), scores))[::-1]


class Ranking:
    """One query's scored candidates, best first.

    ``docids`` and ``scores`` are parallel; ``texts`` (optional) carries each candidate's text for rerankers.
    Construction sorts into trec_eval order unless ``sort=False`` is given by code that already sorted.
    ``pseudo_scores`` is True when the scores only encode an order (a candidates file that gave no scores, an LLM
    reranker's permutation) rather than values a scorer computed.
    """

    __slots__ = ("qid", "docids", "scores", "texts", "pseudo_scores")

    def __init__(
        self,
        qid: str,
        docids: Iterable[str],
        scores: Iterable[float] | np.ndarray,
        texts: Iterable[str] | None = None,
        *,
        sort: bool = True,
        pseudo_scores: bool = False,
    ):
        docids = list(docids)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        texts = None if texts is None else list(texts)
        if len(docids) != len(scores):
            raise ValueError(f"query {qid!r}: {len(docids)} docids but {len(scores)} scores")
        if texts is not None and len(texts) != len(docids):
            raise ValueError(f"query {qid!r}: {len(docids)} docids but {len(texts)} texts")
        if len(set(docids)) != len(docids):
            seen: set[str] = set()
            dup = next(d for d in docids if d in seen or seen.add(d))
            raise ValueError(f"query {qid!r}: document {dup!r} appears more than once in the ranking")
        if np.isnan(scores).any():
            bad = docids[int(np.flatnonzero(np.isnan(scores))[0])]
            raise ValueError(f"query {qid!r}: document {bad!r} has a NaN score")
        if sort and len(docids) > 1:
            order = trec_order(docids, scores)
            docids = [docids[i] for i in order]
            scores = scores[order]
            if texts is not None:
                texts = [texts[i] for i in order]
        self.qid = str(qid)
        self.docids: list[str] = docids
        self.scores: np.ndarray = scores
        self.texts: list[str] | None = texts
        self.pseudo_scores = bool(pseudo_scores)

    @classmethod
    def trusted(cls, qid: str, docids: list[str], scores: np.ndarray, texts: list[str] | None = None, *,
                pseudo_scores: bool = False) -> "Ranking":
        """Build without checks or sorting, for code that guarantees the invariants itself (unique docids,
        float64 scores without NaN, trec_eval order) on a hot path such as a retriever's search loop."""
        ranking = cls.__new__(cls)
        ranking.qid, ranking.docids, ranking.scores, ranking.texts = qid, docids, scores, texts
        ranking.pseudo_scores = pseudo_scores
        return ranking

    def __len__(self) -> int:
        return len(self.docids)

    def __iter__(self) -> Iterator[tuple[str, float]]:
        """Yields ``(docid, score)`` best first."""
        return zip(self.docids, self.scores.tolist())

    def __repr__(self) -> str:
        head = ", ".join(f"{d}:{s:.4g}" for d, s in list(self)[:3])
        more = ", …" if len(self) > 3 else ""
        return f"Ranking(qid={self.qid!r}, n={len(self)}, [{head}{more}])"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Ranking)
            and self.qid == other.qid
            and self.docids == other.docids
            and np.array_equal(self.scores, other.scores)
        )

    def top(self, k: int) -> "Ranking":
        """The first ``k`` candidates (all when ``k`` is larger)."""
        if k < 0:
            raise ValueError(f"top-k must be >= 0, got {k}")
        texts = None if self.texts is None else self.texts[:k]
        return Ranking(self.qid, self.docids[:k], self.scores[:k], texts, sort=False, pseudo_scores=self.pseudo_scores)

    def with_texts(self, texts: Sequence[str]) -> "Ranking":
        return Ranking(self.qid, self.docids, self.scores, texts, sort=False, pseudo_scores=self.pseudo_scores)

    def to_dict(self) -> dict[str, float]:
        return dict(zip(self.docids, self.scores.tolist()))

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self) + 1)


class Run(dict):
    """A run: query id -> :class:`Ranking`, with a name (TREC's run tag) and ``meta``, a dict of what stages
    recorded about how the run was made (e.g. ``meta["rewrites"]``: each query's rewritten text). A Run built from
    a Run keeps a copy of its meta; pipelines carry it from stage to stage."""

    def __init__(self, rankings: Mapping[str, Ranking] | Iterable[Ranking] = (), name: str = "run"):
        super().__init__()
        self.name = name
        self.meta: dict = dict(rankings.meta) if isinstance(rankings, Run) else {}
        items = rankings.values() if isinstance(rankings, Mapping) else rankings
        for ranking in items:
            if ranking.qid in self:
                raise ValueError(f"run {name!r}: query {ranking.qid!r} has two rankings")
            self[ranking.qid] = ranking

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, queries={len(self)}, candidates={self.num_candidates})"

    @property
    def num_candidates(self) -> int:
        return sum(len(r) for r in self.values())

    def top(self, k: int) -> "Run":
        out = Run((r.top(k) for r in self.values()), name=self.name)
        out.meta = dict(self.meta)
        return out

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}``, the shape pytrec_eval and ranx take."""
        return {qid: r.to_dict() for qid, r in self.items()}

    @classmethod
    def from_dict(cls, scores: Mapping[str, Mapping[str, float]], name: str = "run") -> "Run":
        return cls(
            (Ranking(qid, list(d.keys()), list(d.values())) for qid, d in scores.items()), name=name
        )

    def with_texts(self, corpus: Mapping[str, Document]) -> "Run":
        """Attach each candidate's text (title + text) from ``corpus``; unknown docids are an error."""
        out = Run(name=self.name)
        out.meta = dict(self.meta)
        for qid, r in self.items():
            missing = [d for d in r.docids if d not in corpus]
            if missing:
                raise KeyError(
                    f"query {qid!r}: {len(missing)} candidate(s) not in the corpus, e.g. {missing[0]!r}; "
                    "is the run from this collection?"
                )
            out[qid] = r.with_texts([corpus[d].contents for d in r.docids])
        return out


class Qrels(dict):
    """Relevance judgments: query id -> {docid: graded relevance (int)}."""

    def __repr__(self) -> str:
        return f"Qrels(queries={len(self)}, judgments={sum(len(v) for v in self.values())})"

    def relevant(self, qid: str, level: int = 1) -> set[str]:
        return {d for d, rel in self.get(qid, {}).items() if rel >= level}


@dataclass
class Dataset:
    """A test collection: corpus, queries and (optionally) judgments for one split."""

    name: str
    corpus: dict[str, Document]
    queries: list[Query]
    qrels: Qrels | None = None
    path: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        judged = f", qrels={len(self.qrels)}" if self.qrels is not None else ""
        return f"Dataset({self.name!r}, docs={len(self.corpus)}, queries={len(self.queries)}{judged})"

    @property
    def documents(self) -> list[Document]:
        return list(self.corpus.values())
