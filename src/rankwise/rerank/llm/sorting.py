"""Sorting with a judge: top-k heapsort and bottom-up bubble passes over a ``best_of(group) -> position`` oracle.

Pairwise strategies answer ``best_of`` with pairwise comparisons, setwise ones with one prompt over the group.
Both functions return a full order: the settled top first, then the other items in their input order — what the
Setwise paper's code (github.com/ielab/llm-rankers) does with the unsorted remainder, for its setwise and its
pairwise (PRP) rankers alike.
"""
from __future__ import annotations

from typing import Callable, Sequence

BestOf = Callable[[list[int]], int]  # items of a group (current top first) -> position of the best one


def heap_top_k(items: Sequence[int], k: int, arity: int, best_of: BestOf) -> list[int]:
    """Top-k by heapsort on an ``arity``-ary max-heap.

    Each sift step asks ``best_of([parent, child_1, …])`` and swaps the parent with the winning child. Heapify
    sifts every internal node (⌈(n−1)/arity⌉ of them), then each of the k extractions moves the last leaf to the
    root and sifts it (no sift after the k-th extraction). On an input that is already a heap with k = 1, exactly
    one ``best_of`` per internal node is asked.
    """
    heap = list(items)
    n = len(heap)
    if n <= 1 or k <= 0:
        return heap

    def sift(i: int, size: int) -> None:
        while True:
            kids = list(range(arity * i + 1, min(arity * i + arity, size - 1) + 1))
            if not kids:
                return
            group = [i] + kids
            best = best_of([heap[g] for g in group])
            if best == 0:
                return
            j = group[best]
            heap[i], heap[j] = heap[j], heap[i]
            i = j

    for i in reversed(range((n - 2) // arity + 1)):
        sift(i, n)
    top: list[int] = []
    size = n
    k = min(k, n)
    while len(top) < k:
        top.append(heap[0])
        size -= 1
        if len(top) == k or size == 0:
            break
        heap[0] = heap[size]
        sift(0, size)
    chosen = set(top)
    return top + [x for x in items if x not in chosen]


def bubble_passes(items: Sequence[int], passes: int, group_size: int, best_of: BestOf) -> list[int]:
    """``passes`` bottom-up bubble passes, as the Setwise paper's code runs them (and its PRP-Sliding-K, for
    ``group_size`` 2): a window of ``group_size`` slides from the bottom up with an overlap of one, and the best of
    each window swaps places with the window's top. Pass p covers ranks p..n−1, since the first p are settled, and
    costs ⌈(n−p−1)/(group_size−1)⌉ calls. The result is the settled top (the first ``passes`` of the bubbled
    list; the true top for a perfect judge) followed by every other item in its input order, not in the order the
    passes left it: with pairs, one pass over values (0, 10, 1, 5) gives items [1, 0, 2, 3]."""
    if group_size < 2:
        raise ValueError(f"a bubble window needs at least 2 items, got {group_size}")
    order = list(items)
    n = len(order)
    settled = min(passes, n)
    for p in range(min(passes, n - 1)):
        end = n
        while True:
            start = max(p, end - group_size)
            best = best_of(order[start:end])
            if best:
                order[start], order[start + best] = order[start + best], order[start]
            if start == p:
                break
            end = start + 1
    top = order[:settled]
    chosen = set(top)
    return top + [x for x in items if x not in chosen]
