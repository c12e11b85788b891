"""Teachers: any rankwise reranker, a bi-encoder, or an ensemble of them, scoring (query, document) pairs for
Margin-MSE distillation, the false-negative guard and the curriculum.

    teacher = make_teacher("cross-encoder+dense")            # kit ms-marco-MiniLM-L-12-v2 and bge-small, averaged
    teacher = make_teacher(["cross-encoder=path/to/model", "monot5"], cache="scores.sqlite")
    scores = teacher.score_pairs(queries, texts)

A spec is ``NAME[=MODEL]``: a reranker name of :func:`rankwise.rerank.get_reranker` (``cross-encoder``, ``monot5``,
``colbert``, ``llm:pointwise``…; ``=MODEL`` is its ``model`` — for ``llm:*`` its ``llm``), or ``dense[=MODEL]``
for a bi-encoder (inner product of the query and document vectors; default BAAI/bge-small-en-v1.5). ``a+b``, or
several specs, make an ensemble.

**Scores are computed once.** Every teacher keeps its scores in a :class:`~rankwise.rerank.cache.ScoreCache`
(default ``$RANKWISE_CACHE/teacher_scores.sqlite``) under a key that names the model's files and settings (the
cross-encoder's own key; for a bi-encoder its settings and a digest of its weights; for other rerankers their
``repr``), so a rerun — a resumed training, another loss on the same data — reads them instead of recomputing.

**Ensembles** (Hofstätter et al. 2020 average the scores of several BERT-CAT teachers of one scale): members here
differ in scale (cross-encoder logits span ±10, cosine similarities 0.5–0.9), so each member's scores over the pairs
of one call are standardised (z-scores) and mapped onto the first member's scale (its mean and standard deviation
over the same pairs) before the (weighted) mean. The ensemble therefore speaks the first member's units, which is
what a student of that kind (a cross-encoder's logits) can match.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

CACHE_FILE = "teacher_scores.sqlite"


def default_cache_path() -> Path:
    from rankwise.datasets import cache_dir

    return cache_dir() / CACHE_FILE


class Teacher:
    """Scores (query, text) pairs; ``name`` says what it is, ``score_pairs`` is cached (module docs)."""

    name = "teacher"

    def score_pairs(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class _CachedTeacher(Teacher):
    """Looks pairs up in the cache under ``key``; scores only the missing ones with ``_score``."""

    key: str

    def __init__(self, cache):
        from rankwise.rerank.cache import ScoreCache

        self.cache = cache if isinstance(cache, ScoreCache) else ScoreCache(cache or default_cache_path())

    def _score(self, queries: list[str], texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def score_pairs(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        queries, texts = list(queries), list(texts)
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        out = self.cache.get(self.key, queries, texts)
        todo = np.flatnonzero(np.isnan(out))
        if len(todo):
            fresh = np.asarray(self._score([queries[i] for i in todo], [texts[i] for i in todo]), dtype=np.float64)
            self.cache.put(self.key, [queries[i] for i in todo], [texts[i] for i in todo], fresh)
            out[todo] = fresh
        return out


class RerankerTeacher(_CachedTeacher):
    """A rankwise reranker as a teacher. A cross-encoder uses the cache through its own ``cache_key`` (the digest of
    its weights and settings); another reranker is keyed by its ``repr`` (which names its model and settings)."""

    def __init__(self, reranker, cache=None, name: str | None = None):
        super().__init__(cache)
        self.reranker = reranker
        self.name = name or getattr(reranker, "name", type(reranker).__name__)
        if hasattr(reranker, "score_pairs") and hasattr(reranker, "cache_key"):
            reranker.cache = self.cache
            self.key = reranker.cache_key
        else:
            self.key = f"reranker:{reranker!r}"

    def _score(self, queries: list[str], texts: list[str]) -> np.ndarray:
        if hasattr(self.reranker, "score_pairs"):
            return self.reranker.score_pairs(queries, texts)
        from rankwise.types import Query, Ranking, Run

        by_query: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            by_query.setdefault(q, []).append(i)
        qobjs, run = [], Run()
        for n, (text, rows) in enumerate(by_query.items()):
            qid = f"q{n}"
            qobjs.append(Query(qid, text))
            run[qid] = Ranking(qid, [str(i) for i in rows], np.zeros(len(rows)), [texts[i] for i in rows], sort=False)
        out = np.full(len(texts), np.nan)
        for qid, ranking in self.reranker.rerank_batch(qobjs, run).items():
            for docid, score in ranking:
                out[int(docid)] = score
        return out


class DenseTeacher(_CachedTeacher):
    """A bi-encoder as a teacher: the inner product of the query's and the document's vectors (cosine for
    normalised models such as bge-small), with the model's own query prefix."""

    def __init__(self, model: str = "BAAI/bge-small-en-v1.5", cache=None, **encoder_options):
        super().__init__(cache)
        from rankwise.models import resolve
        from rankwise.retrieve.encoders import load_encoder

        self.encoder = load_encoder(model, **encoder_options)
        self.name = f"dense:{model}"
        resolved = resolve(model, family="dense")
        root = resolved.path if resolved.path.is_dir() else resolved.path.parent
        weights = sorted(p for p in [*root.glob("*"), *root.glob("onnx/*")]
                         if p.suffix in (".onnx", ".safetensors", ".bin") and p.is_file())
        digest = hashlib.sha256()
        for path in weights:
            digest.update(f"{path.name}={self.cache.file_digest(path)};".encode())
        config = self.encoder.config()
        if not self.encoder.batch_dependent:
            config.pop("batch_size", None)
        self.key = f"dense:{digest.hexdigest()}:{json.dumps(config, sort_keys=True)}"

    def _score(self, queries: list[str], texts: list[str]) -> np.ndarray:
        unique_q = sorted(set(queries))
        unique_t = sorted(set(texts))
        qv = dict(zip(unique_q, self.encoder.encode_queries(unique_q)))
        tv = dict(zip(unique_t, self.encoder.encode_documents(unique_t)))
        return np.array([float(np.dot(qv[q], tv[t])) for q, t in zip(queries, texts)])


class EnsembleTeacher(Teacher):
    """Members' scores standardised and mapped onto the first member's scale, then averaged (module docs)."""

    def __init__(self, members: Sequence[Teacher], weights: Sequence[float] | None = None):
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two teachers")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members) or any(w < 0 for w in weights) or not sum(weights):
            raise ValueError(f"give one non-negative weight per teacher ({len(members)}), not all zero; got {weights}")
        self.members = list(members)
        self.weights = np.array(weights) / sum(weights)
        self.name = "+".join(m.name for m in self.members)

    def score_pairs(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        columns = [np.asarray(m.score_pairs(queries, texts), dtype=np.float64) for m in self.members]
        return combine(columns, self.weights)


def combine(columns: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted mean of z-scored columns, expressed in the first column's mean and standard deviation."""
    first = columns[0]
    if len(first) < 2:
        return first.copy()  # one pair: no spread to standardise by
    mean, std = first.mean(), first.std()
    out = np.zeros_like(first)
    for column, w in zip(columns, weights):
        spread = column.std()
        out += w * ((column - column.mean()) / spread if spread > 0 else np.zeros_like(column))
    return mean + std * out


def _one(spec: str, cache) -> Teacher:
    from rankwise.rerank import RERANKERS, get_reranker

    name, _, model = spec.strip().partition("=")
    if name == "dense":
        return DenseTeacher(model or "BAAI/bge-small-en-v1.5", cache=cache)
    if name not in RERANKERS:
        raise ValueError(f"unknown teacher {name!r}: use a reranker name ({', '.join(RERANKERS)}) or dense, "
                         "optionally with =MODEL")
    options = {}
    if model:
        options["llm" if name.startswith("llm:") else "model"] = model
    return RerankerTeacher(get_reranker(name, **options), cache=cache, name=spec.strip())


def make_teacher(spec, cache: str | os.PathLike | None = None, weights: Sequence[float] | None = None) -> Teacher:
    """A teacher from specs (module docs), a reranker object, or a :class:`Teacher` (returned as it is)."""
    if isinstance(spec, Teacher):
        return spec
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, (list, tuple)):
        return RerankerTeacher(spec, cache=cache)  # a reranker object
    parts = [p for s in spec for p in (s.split("+") if isinstance(s, str) else [s])]
    if not parts:
        raise ValueError("no teacher given")
    from rankwise.rerank.cache import ScoreCache

    shared = ScoreCache(cache or default_cache_path())
    members = [_one(p, shared) if isinstance(p, str) else RerankerTeacher(p, cache=shared) for p in parts]
    return members[0] if len(members) == 1 else EnsembleTeacher(members, weights)


__all__ = ["DenseTeacher", "EnsembleTeacher", "RerankerTeacher", "Teacher", "combine", "default_cache_path",
           "make_teacher"]
