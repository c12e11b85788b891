"""Reading model answers, and repairing what models really emit.

A permutation answer (``[3] > [1] > [2]``) is repaired so that it always holds every candidate exactly once:
duplicates are removed (the first mention counts), unknown identifiers dropped, missing ones appended in their
previous order, and any other text ignored. An answer with no identifier at all (empty, a refusal) keeps the input
order and is flagged as a fallback. A choice answer (pairwise, setwise) takes the first known identifier mentioned.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

# Looser patterns tried when the template's own answer pattern finds nothing: bare numbers or single capital letters.
LOOSE_NUMERIC = r"(?<![\w.\-])(\d{1,4})(?![\w.])"
LOOSE_ALPHA = r"(?<![\w'])([A-Z])(?![\w'])"


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern:
    compiled = re.compile(pattern, re.DOTALL)
    if compiled.groups < 1:
        raise ValueError(f"answer pattern {pattern!r} must have a group capturing the identifier, e.g. r'\\[(\\d+)\\]'")
    return compiled


def _normalize(identifier: str) -> str:
    identifier = identifier.strip()
    if identifier.isdigit():
        return str(int(identifier))
    return identifier.upper()


def _mentions(answer: str, pattern: str) -> list[str]:
    return [_normalize(m.group(1)) for m in _compile(pattern).finditer(answer or "") if m.group(1)]


def _loose_for(ids: Sequence[str]) -> str:
    return LOOSE_NUMERIC if ids and ids[0].isdigit() else LOOSE_ALPHA


@dataclass(frozen=True)
class ParsedPermutation:
    """``order``: indices into the window, best first, each exactly once."""

    order: list[int]
    found: int  # distinct known identifiers read from the answer
    duplicates: int
    unknown: int
    missing: int
    loose: bool  # the template's pattern found nothing; a looser one was used
    fallback: bool  # no known identifier at all: the input order

    @property
    def repaired(self) -> bool:
        return not self.fallback and bool(self.duplicates or self.unknown or self.missing or self.loose)


def parse_permutation(answer: str, ids: Sequence[str], pattern: str = r"\[(\d+)\]") -> ParsedPermutation:
    """Read a ranking of ``ids`` from ``answer`` and repair it into a full permutation (module docs)."""
    index = {_normalize(i): k for k, i in enumerate(ids)}
    mentioned = _mentions(answer, pattern)
    loose = False
    if not any(m in index for m in mentioned):
        mentioned = _mentions(answer, _loose_for(ids))
        loose = bool(mentioned)
    order: list[int] = []
    seen: set[int] = set()
    duplicates = unknown = 0
    for m in mentioned:
        k = index.get(m)
        if k is None:
            unknown += 1
        elif k in seen:
            duplicates += 1
        else:
            seen.add(k)
            order.append(k)
    found = len(order)
    missing = [k for k in range(len(ids)) if k not in seen]
    return ParsedPermutation(order + missing, found, duplicates, unknown, len(missing) if found else 0,
                             loose and found > 0, found == 0)


@dataclass(frozen=True)
class ParsedChoice:
    index: int | None  # the chosen identifier's position, None when the answer named none
    loose: bool

    @property
    def fallback(self) -> bool:
        return self.index is None

    @property
    def repaired(self) -> bool:
        return self.loose and self.index is not None


def parse_choice(answer: str, ids: Sequence[str], pattern: str) -> ParsedChoice:
    """The first known identifier mentioned in ``answer`` (the template's pattern first, then a looser one)."""
    index = {_normalize(i): k for k, i in enumerate(ids)}
    for m in _mentions(answer, pattern):
        if m in index:
            return ParsedChoice(index[m], False)
    for m in _mentions(answer, _loose_for(ids)):
        if m in index:
            return ParsedChoice(index[m], True)
    return ParsedChoice(None, False)


@dataclass(frozen=True)
class Section:
    answer: str  # the final answer (the marked section, or the whole text when the mark is missing)
    reasoning: str  # everything else
    marked: bool  # the answer section was found


def split_answer(text: str, section_pattern: str | None) -> Section:
    """Separate a reasoning model's final answer (``<answer>…</answer>``) from its reasoning. Without the mark the
    text after the last ``</think>`` (or the whole text) is the answer, and ``marked`` is false."""
    text = text or ""
    if not section_pattern:
        return Section(text, "", True)
    matches = list(_compile(section_pattern).finditer(text))
    if matches:
        last = matches[-1]
        return Section(last.group(1).strip(), (text[: last.start()] + text[last.end():]).strip(), True)
    head, sep, tail = text.rpartition("</think>")
    if sep:
        return Section(tail.strip(), head.strip(), False)
    return Section(text, "", False)
