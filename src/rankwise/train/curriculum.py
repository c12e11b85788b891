"""Training curricula for re-rankers: MacAvaney, Nardini, Perego, Tonellotto, Goharian & Frieder, "Training
Curricula for Open Domain Answer Re-Ranking", SIGIR 2020 (released code: OpenNIR's ``pointwise-cl`` and
``pairwise-cl`` trainers).

Each training example gets a difficulty score ``D`` in [0, 1] — **high means easy** — from a heuristic over a
ranking of its documents, and its loss is weighted by

    W(D, i) = D + (i / m) (1 - D)   for training iteration i < m,      W = 1 from iteration m on,

so training starts weighted towards easy examples and moves linearly to weighting all equally at the end of the
curriculum ``m``. An *iteration* is the released code's "epoch": ``batches_per_iteration`` batches (32 of 16
examples there); ``m`` defaults to its 20.

Heuristics (a document's value ``v`` in [0, 1], high = looks relevant):

- ``reciprank``: ``1 / rank`` in the first-stage ranking (0 for a document not retrieved) — the paper's
  reciprocal-rank heuristic;
- ``normscore``: the first-stage score min-max normalised over the query's retrieved top ``depth`` — the paper's
  normalised-score heuristic;
- ``kde``: the first-stage score's place in the query's score distribution: the cumulative distribution function
  at the score of a Gaussian kernel density estimate fitted to the query's retrieved top ``depth`` scores
  (``scipy.stats.gaussian_kde``, Scott's bandwidth) — the paper's KDE heuristic, as the released code computes it
  (``kde_cdf_from_run``);
- ``teacher``: the same normalisation over the *teacher's* scores of the query's scored pool (positives and
  candidate negatives): the teacher's own estimate of how clearly the document is (ir)relevant.

Pointwise examples (one pair): ``D = v`` for a positive, ``1 - v`` for a negative. Pairwise and listwise examples
(a positive and ``n`` negatives): ``D = min_j (v(d+) - v(d-_j) + 1) / 2``, the released pairwise code's rule. Both add
1e-8, as the code does. Differences from the released code: a document the first stage did not retrieve gets
``v = 0`` for ``normscore`` and ``kde`` (the code scores it with BM25 from the index); a query whose retrieved scores
are all equal gets ``v = 1``; the released pairwise trainer refuses ``kde`` with more than one negative, here the
``min_j`` rule above applies to it as to the others.

How the weight is applied: as in the released trainers, the (mean-reduced) loss of a batch is multiplied by the
**mean weight of the batch's examples** (``loss * weight.mean()``), which lets every sentence-transformers loss be
weighted without changing its reduction.
"""
from __future__ import annotations

import functools
from typing import Sequence

HEURISTICS = ("reciprank", "normscore", "kde", "teacher")
SMOOTH = 1e-8
DEFAULT_END = 20  # iterations (OpenNIR's eoc_epoch)
DEFAULT_BATCHES_PER_ITERATION = 32  # OpenNIR's batches_per_epoch


def document_value(candidate, query, heuristic: str) -> float:
    """``v`` in [0, 1] for one document of a :class:`~rankwise.train.data.TrainingQuery` (module docs)."""
    if heuristic == "reciprank":
        return 0.0 if candidate.rank is None else 1.0 / candidate.rank
    if heuristic == "normscore":
        bounds = (min(query.run_scores), max(query.run_scores)) if query.run_scores else None
        return _normalise(candidate.score, bounds)
    if heuristic == "kde":
        if candidate.score is None or not query.run_scores:
            return 0.0
        return _kde_cdf(tuple(query.run_scores), float(candidate.score))
    if heuristic == "teacher":
        if candidate.teacher is None or query.teacher_range is None:
            raise ValueError("the 'teacher' curriculum heuristic needs a teacher (give --teacher)")
        return _normalise(candidate.teacher, query.teacher_range)
    raise ValueError(f"curriculum heuristic must be one of {', '.join(HEURISTICS)}; got {heuristic!r}")


def _normalise(value: float | None, bounds: tuple[float, float] | None) -> float:
    if value is None or bounds is None:
        return 0.0
    low, high = bounds
    if high <= low:
        return 1.0
    return min(1.0, max(0.0, (value - low) / (high - low)))


@functools.lru_cache(maxsize=4096)
def _kde(scores: tuple[float, ...]):
    from scipy.stats import gaussian_kde

    if len(set(scores)) < 2:
        return None  # no spread to estimate a density from
    return gaussian_kde(scores)  # Scott's rule, as the released code (scipy's default)


def _kde_cdf(scores: tuple[float, ...], value: float) -> float:
    kde = _kde(scores)
    if kde is None:
        return 1.0
    return min(1.0, max(0.0, float(kde.integrate_box_1d(-float("inf"), value))))


def pointwise_difficulty(value: float, positive: bool) -> float:
    """D for one (query, document) pair: ``v`` for a positive, ``1 - v`` for a negative (plus the 1e-8)."""
    return (value if positive else 1.0 - value) + SMOOTH


def group_difficulty(positive_value: float, negative_values: Sequence[float]) -> float:
    """D for a positive against negatives: ``min_j (v+ - v-_j + 1) / 2`` (plus the 1e-8)."""
    if not negative_values:
        return 1.0
    return min((positive_value - v + 1.0) / 2.0 for v in negative_values) + SMOOTH


def curriculum_weight(difficulty, iteration: int, end: int = DEFAULT_END):
    """W(D, i): ``D + (i/m)(1 - D)`` before the end of the curriculum ``m``, 1 after (numbers or tensors)."""
    if end <= 0 or iteration >= end:
        return difficulty * 0 + 1.0
    progress = iteration / end
    return difficulty * (1 - progress) + progress


__all__ = ["DEFAULT_BATCHES_PER_ITERATION", "DEFAULT_END", "HEURISTICS", "curriculum_weight", "document_value",
           "group_difficulty", "pointwise_difficulty"]
