"""Rank-biased overlap (RBO): how alike two rankings are, weighting the top more than the tail.

Webber, Moffat & Zobel, "A similarity measure for indefinite rankings", TOIS 28(4), 2010. The value here is the
extrapolated RBO of their equation 32 (``RBO_ext``), which takes lists of different lengths and assumes that the
agreement seen at the deeper list's end continues below it: 1 for identical rankings, 0 for disjoint ones. The
persistence ``p`` sets how top-heavy it is: at p = 0.9 the first 10 ranks carry 86% of the weight (the paper's
equation 21).
"""
from __future__ import annotations

from typing import Sequence


def rank_biased_overlap(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated RBO of two rankings (best first, no repeated items) with persistence ``p`` (0 < p < 1).

    Two empty rankings are identical (1.0); an empty and a non-empty one share nothing (0.0).
    """
    if not 0 < p < 1:
        raise ValueError(f"RBO's persistence p must lie strictly between 0 and 1, got {p!r}")
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    s, l = len(short), len(long)
    if s == 0:
        return 1.0 if l == 0 else 0.0
    # An item of both lists counts in the overlap X_d from depth max(rank in a, rank in b) on (plain Python: faster
    # than numpy for rankings of up to thousands of items, where the per-call overhead dominates).
    position = {item: j for j, item in enumerate(long)}
    enters = [0] * (l + 1)
    for i, item in enumerate(short):
        j = position.get(item)
        if j is not None:
            enters[max(i, j) + 1] += 1
    total = overlap = overlap_s = 0.0
    weight = 1.0  # p ** d
    for d in range(1, l + 1):
        overlap += enters[d]
        weight *= p
        total += overlap / d * weight
        if d == s:
            overlap_s = overlap
        elif d > s:  # below the short list's end, its agreement is extrapolated
            total += overlap_s * (d - s) / (s * d) * weight
    return (1 - p) / p * total + ((overlap - overlap_s) / l + overlap_s / s) * weight
