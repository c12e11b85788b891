"""Deterministic stand-in judges: engines whose answers are known, to prove the *algorithms* of LLM rerankers.

A tiny real model cannot show whether a sliding window or a heapsort is right; a judge that answers from relevance
labels can. The judges implement the same :class:`~rankwise.rerank.llm.backends.LLM` interface as real engines and
read prompts as text, as a model does, so strategies cannot tell them apart:

- the query is found by its text among the known queries (when the prompt contains several, the one most of whose
  candidate passages it shows);
- each known candidate passage is found by its opening characters (so truncated passages are still found), and its
  identifier is read just before it (``[3]``, ``[document 3]``, ``Passage B``);
- answers: ``generate`` writes the passages shown ranked by relevance label, in the identifier style the prompt shows
  (``[2] > [1] > [3]`` or ``Passage B > Passage A``), inside ``<answer>`` tags when the prompt asks for them;
  ``label_logprobs`` favours the best identifier (labels that are identifiers), the passage's grade (labels
  ``0``..``k``) or Yes when the grade is ≥ 1 (log-odds 2·grade − 1); ``continuation_logprobs`` gives every continuation token the
  log-probability −(1 + G − grade) (G = the highest grade), so query likelihood orders by grade; ``attention`` gives
  each passage token a share of a position bias plus the passage's grade when the real query is asked (the bias
  alone for a content-free query), for every token of the query span (so the totals grow with its length).

Ties in grade are broken by position in the prompt (earlier first). :class:`NoisyJudge` errs with a set probability
and seed (a wrong answer, or a malformed one: empty, a refusal, duplicated and unknown identifiers, half a list),
deterministically per prompt: the same prompt always gets the same answer, whatever the order of calls.
"""
from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from rankwise.rerank.llm.backends import (
    LLM,
    AttentionScores,
    ContinuationScores,
    Generation,
    LabelScores,
    Prompt,
    Segment,
    Usage,
)
from rankwise.types import Document, Query, Run

_WORD = re.compile(r"\S+")


def truncate_words(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``max_tokens`` words (words stand in for tokens)."""
    if max_tokens <= 0:
        return ""
    for k, m in enumerate(_WORD.finditer(text), start=1):
        if k == max_tokens:
            return text[: m.end()]
    return text
_ID_BEFORE = re.compile(
    r"(?:\[(?:document\s+)?(?P<bracket>[A-Za-z0-9]{1,3})\]|(?:Passage|Document)\s+(?P<named>[A-Za-z0-9]{1,3}))"
    r"\s*(?:\([^()]{0,60}\))?\s*[:.]?\s*[\"“]?\s*$"
)
POSITIVE = {"yes", "true", "relevant"}


@dataclass(frozen=True)
class Shown:
    """A known passage found in a prompt."""

    position: int
    docid: str
    grade: int
    identifier: str | None
    style: str  # "bracket" or "named"
    length: int  # characters of the passage matched at this position


class OracleJudge(LLM):
    """Answers from relevance labels (see the module docs).

    Args:
        qrels: ``{qid: {docid: grade}}``; unjudged documents have grade 0.
        queries: the queries whose prompts it will read (found by their text).
        candidates: a run with texts (the candidates being reranked), or ``corpus``: ``{docid: text or Document}``.
        context_length: the context it claims (set it small to test truncation and fallbacks).
        key_chars: how many opening characters of a passage identify it in a prompt.
    """

    capabilities = frozenset({"generate", "labels", "continuation", "attention"})

    def __init__(self, qrels: Mapping[str, Mapping[str, int]], queries: Sequence[Query], candidates: Run | None = None,
                 *, corpus: Mapping[str, "str | Document"] | None = None, context_length: int = 1_000_000,
                 key_chars: int = 32, name: str = "oracle-judge"):
        self.name = name
        self.context_length = context_length
        self.key_chars = key_chars
        self.qrels = {str(q): dict(d) for q, d in qrels.items()}
        self.max_grade = max([g for d in self.qrels.values() for g in d.values()] + [1])
        self.queries = list(queries)
        self._texts: dict[str, list[tuple[str, str]]] = {}
        for q in self.queries:
            if candidates is not None and q.qid in candidates:
                ranking = candidates[q.qid]
                if ranking.texts is None:
                    raise ValueError(f"the candidates of query {q.qid!r} carry no texts; the judge finds passages "
                                     "by their text (attach them with run.with_texts(corpus))")
                self._texts[q.qid] = list(zip(ranking.docids, ranking.texts))
            elif corpus is not None:
                self._texts[q.qid] = [(d, t.contents if isinstance(t, Document) else str(t)) for d, t in corpus.items()]
        if not self._texts:
            raise ValueError("the judge knows no passage: pass candidates (a run with texts) or a corpus")

    # --- tokens (words stand in for tokens) -----------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def truncate_text(self, text: str, max_tokens: int) -> str:
        return truncate_words(text, max_tokens)

    # --- reading a prompt ---------------------------------------------------------------------------------------
    def find_query(self, text: str) -> Query | None:
        """The known query the prompt asks about. A passage may quote another query's text, so among the queries
        the prompt contains, the one with the most of its own candidates shown wins (then the longest)."""
        found = [q for q in self.queries if q.text and q.text in text]
        if len(found) > 1:
            return max(found, key=lambda q: (len(self.find_passages(text, q)), len(q.text)))
        return found[0] if found else None

    def find_passages(self, text: str, query: Query) -> list[Shown]:
        """Known passages of the query shown in ``text``, in order of appearance."""
        best: dict[int, tuple[int, str]] = {}  # position -> (match length, docid)
        for docid, passage in self._texts.get(query.qid, []):
            key = passage[: self.key_chars]
            if not key.strip():
                continue
            start = text.find(key)
            while start >= 0:
                length = _common_prefix(text, start, passage)
                if length > best.get(start, (-1, ""))[0]:
                    best[start] = (length, docid)
                start = text.find(key, start + 1)
        grades = self.qrels.get(query.qid, {})
        shown = []
        for position in sorted(best):
            docid = best[position][1]
            m = _ID_BEFORE.search(text[max(0, position - 80): position])
            identifier, style = None, "bracket"
            if m:
                identifier = m.group("bracket") or m.group("named")
                style = "bracket" if m.group("bracket") else "named"
            shown.append(Shown(position, docid, int(grades.get(docid, 0)), identifier, style, best[position][0]))
        return shown

    @staticmethod
    def main_passage(shown: Sequence[Shown]) -> Shown | None:
        """The passage a one-passage prompt is about: the longest match (another candidate's opening words may
        also occur in the prompt, e.g. inside the query)."""
        return max(shown, key=lambda s: (s.length, -s.position)) if shown else None

    @staticmethod
    def judged_order(shown: Sequence[Shown]) -> list[Shown]:
        return sorted(shown, key=lambda s: (-s.grade, s.position))

    def _read(self, text: str) -> tuple[Query | None, list[Shown]]:
        query = self.find_query(text)
        return query, (self.find_passages(text, query) if query else [])

    # --- answers --------------------------------------------------------------------------------------------------
    def _answer(self, text: str) -> str:
        query, shown = self._read(text)
        ranked = [s for s in self.judged_order(shown) if s.identifier is not None]
        if not ranked:
            return "I cannot judge these passages."
        return self._write(ranked, text)

    @staticmethod
    def _write(ranked: Sequence[Shown], text: str) -> str:
        parts = [f"[{s.identifier}]" if s.style == "bracket" else f"Passage {s.identifier}" for s in ranked]
        answer = " > ".join(parts)
        if "<answer>" in text:
            return f"<think>Ranked by the relevance labels I was given.</think> <answer>{answer}</answer>"
        return answer

    def _label_values(self, text: str, labels: Sequence[str]) -> dict[str, float]:
        query, shown = self._read(text)
        by_id = {s.identifier: s for s in shown if s.identifier is not None}
        if len(labels) >= 2 and all(label in by_id for label in labels):
            order = [s.identifier for s in self.judged_order([by_id[label] for label in labels])]
            return {label: -float(order.index(label)) for label in labels}
        main = self.main_passage(shown)
        grade = main.grade if main else 0
        if all(label.strip().isdigit() for label in labels):
            return {label: -2.0 * abs(int(label) - grade) for label in labels}
        log_odds = 2.0 * grade - 1.0 if shown else 0.0
        return {label: (log_odds if label.strip().lower() in POSITIVE else 0.0) for label in labels}

    def _continuation_value(self, text: str) -> float:
        query, shown = self._read(text)
        main = self.main_passage(shown)
        return -(1.0 + self.max_grade - (main.grade if main else 0))

    # --- the interface ----------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        out = []
        for prompt in prompts:
            start = time.perf_counter()
            text = prompt.plain()
            answer = self._generated(text)
            words = _WORD.findall(answer)
            if len(words) > max_tokens:  # as a model would: cut at the token limit
                answer = self.truncate_text(answer, max_tokens)
            n = min(len(words), max_tokens)
            out.append(Generation(answer, Usage(self.count_tokens(text), n, max(n, 1), time.perf_counter() - start)))
        return out

    def _generated(self, text: str) -> str:
        return self._answer(text)

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[LabelScores]:
        out = []
        for prompt in prompts:
            start = time.perf_counter()
            text = prompt.plain()
            values = self._labelled(text, labels)
            norm = _logsumexp(list(values.values()))
            logprobs = {label: v - norm for label, v in values.items()}
            out.append(LabelScores(logprobs, Usage(self.count_tokens(text), 0, 1, time.perf_counter() - start)))
        return out

    def _labelled(self, text: str, labels: Sequence[str]) -> dict[str, float]:
        return self._label_values(text, labels)

    def continuation_logprobs(self, prompts: Sequence[Prompt],
                              continuations: Sequence[str]) -> list[ContinuationScores]:
        out = []
        for prompt, continuation in zip(prompts, continuations):
            start = time.perf_counter()
            text = prompt.plain() + continuation
            n = max(self.count_tokens(continuation), 1)
            value = self._continued(text)
            usage = Usage(self.count_tokens(text), 0, 1, time.perf_counter() - start)
            out.append(ContinuationScores([value] * n, usage))
        return out

    def _continued(self, text: str) -> float:
        return self._continuation_value(text)

    def attention(self, segments: Sequence[Segment], source: str, chat: bool = True) -> AttentionScores:
        """Attention as an engine reports it (summed over the source span's tokens), shaped like a model's: each
        token (word) of the source span — segment ``source`` to the end of the prompt — pays each passage a
        position bias 10·G/p (the p-th passage of the prompt; G = the highest grade) plus, when the span holds a
        known query, the passage's grade, spread over the passage's words with weights 1, 2, 3, 1, 2, 3…. The
        totals grow with the span's length, so only the mean over the span's tokens calibrated with the
        content-free pass (ICR) orders by grade; a sum over the span's tokens, or no calibration, does not."""
        start = time.perf_counter()
        names = [s.name for s in segments]
        if source not in names:
            raise ValueError(f"no segment named {source!r} among {sorted(n for n in names if n)}")
        text = "".join(s.text for s in segments)
        span = "".join(s.text for s in segments[names.index(source):])
        source_tokens = self.count_tokens(span)
        query = self.find_query(span)
        shown = self.find_passages(text, query) if query is not None else []
        tokens, offset, place = {}, 0, 0
        for s in segments:
            if s.name is not None:
                n = self.count_tokens(s.text)
                if s.name == source or n == 0:
                    tokens[s.name] = np.zeros(n)
                else:
                    place += 1
                    grade = next((p.grade for p in shown if offset <= p.position < offset + len(s.text)), 0)
                    weights = 1.0 + np.arange(n) % 3
                    per_source_token = (10.0 * self.max_grade / place + grade) * weights / weights.sum()
                    tokens[s.name] = source_tokens * per_source_token
            offset += len(s.text)
        return AttentionScores(tokens, source_tokens, Usage(self.count_tokens(text), 0, 1, time.perf_counter() - start))


class NoisyJudge(OracleJudge):
    """An :class:`OracleJudge` that errs with probability ``error_rate`` (a shuffled ranking, a random choice, random
    label scores) and answers malformed with probability ``malformed_rate`` (generation only), deterministically:
    each prompt's fate is drawn from a generator seeded with ``seed`` and the prompt's text."""

    MALFORMED = ("empty", "refusal", "duplicates", "half")

    def __init__(self, *args, error_rate: float = 0.1, malformed_rate: float = 0.0, seed: int = 0, **kwargs):
        kwargs.setdefault("name", "noisy-judge")
        super().__init__(*args, **kwargs)
        for label, rate in (("error_rate", error_rate), ("malformed_rate", malformed_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must be a probability in [0, 1], got {rate}")
        self.error_rate, self.malformed_rate, self.seed = float(error_rate), float(malformed_rate), int(seed)

    def _rng(self, kind: str, text: str) -> random.Random:
        return random.Random(f"{self.seed}|{kind}|{text}")

    def _generated(self, text: str) -> str:
        rng = self._rng("generate", text)
        malformed, wrong = rng.random() < self.malformed_rate, rng.random() < self.error_rate
        query, shown = self._read(text)
        ranked = [s for s in self.judged_order(shown) if s.identifier is not None]
        if not ranked:
            return "I cannot judge these passages."
        if malformed:
            kind = rng.choice(self.MALFORMED)
            if kind == "empty":
                return ""
            if kind == "refusal":
                return "I'm sorry, but I cannot help with ranking these passages."
            if kind == "duplicates":
                bad = [ranked[0], ranked[0]] + ranked[1:]
                return self._write(bad, text) + " > [99] > [0]"
            return self._write(ranked[: max(1, len(ranked) // 2)], text)
        if wrong:
            ranked = ranked[:]
            rng.shuffle(ranked)
        return self._write(ranked, text)

    def _labelled(self, text: str, labels: Sequence[str]) -> dict[str, float]:
        rng = self._rng("labels|" + "|".join(labels), text)
        if rng.random() < self.error_rate:
            return {label: rng.gauss(0.0, 2.0) for label in labels}
        return self._label_values(text, labels)

    def _continued(self, text: str) -> float:
        rng = self._rng("continuation", text)
        if rng.random() < self.error_rate:
            return -(1.0 + rng.uniform(0, self.max_grade))
        return self._continuation_value(text)


def _common_prefix(text: str, start: int, passage: str) -> int:
    n = min(len(passage), len(text) - start)
    k = 0
    while k < n and text[start + k] == passage[k]:
        k += 1
    return k


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


class ScriptedLLM(LLM):
    """An engine whose generations are given, for stages that read generated text (query rewriting, RAG answers and
    decompositions), where the answer itself must be known.

    ``answers`` maps a text the prompt contains (e.g. a query) to the answer — prompts that contain none of them get
    ``default`` — or is a function of the prompt's text (``prompt.plain()``), which may raise to act as a failing
    engine. ``fail=True`` makes every call raise. Words stand in for tokens; an answer is cut to ``max_tokens`` words,
    as an engine would. ``prompts`` keeps every prompt text sent; ``context_length`` is in words.
    """

    name = "scripted"
    capabilities = frozenset({"generate"})

    def __init__(self, answers: "Mapping[str, str] | Callable[[str], str]", default: str = "", fail: bool = False,
                 *, context_length: int = 4096):
        self.reply = answers if callable(answers) else None
        self.answers = {} if callable(answers) else dict(answers)
        self.default, self.fail, self.context_length = default, fail, context_length
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def truncate_text(self, text: str, max_tokens: int) -> str:
        return truncate_words(text, max_tokens)

    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        if self.fail:
            raise ConnectionError("scripted engine failure")
        out = []
        for prompt in prompts:
            text = prompt.plain()
            self.prompts.append(text)
            if self.reply is not None:
                answer = self.reply(text)
            else:  # the longest key found wins, so that a query that contains another query gets its own answer
                key = max((k for k in self.answers if k in text), key=len, default=None)
                answer = self.answers[key] if key is not None else self.default
            answer = self.truncate_text(answer, max_tokens)
            out.append(Generation(answer, Usage(self.count_tokens(text), self.count_tokens(answer), 1, 0.0)))
        return out
