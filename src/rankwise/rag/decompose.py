"""Question decomposition for retrieval (Ammann, Golde & Akbik 2025, "Question Decomposition for Retrieval-Augmented
Generation", ACL SRW): split the question into sub-questions, retrieve for each sub-question and for the original,
merge the candidate pools, then rerank the merged pool against the **original** question (a cross-encoder, in the
paper) before generating.

The decomposer is a strategy behind one interface, :class:`Decomposer` (``decompose(query) -> [sub-questions]``):

- :class:`LLMDecomposer` — an LLM engine (local transformers or an OpenAI-compatible URL) prompted zero-shot with a
  :class:`~rankwise.rag.templates.DecomposeTemplate`; one call per question, recorded in ``costs``;
- :class:`SuppliedDecomposer` — sub-questions written by the user, one JSONL line per question:
  ``{"id": "q1", "sub_questions": ["…?", "…?"]}`` (an optional ``"question"`` is checked against the dataset);
- :class:`rankwise.testing.StandInDecomposer` — a deterministic stand-in for tests.

A decomposition that yields no usable sub-question (the model wrote none, or its call failed) leaves the original
question alone: retrieval then runs as without decomposition, and the question is counted in ``unusable``.

The merged pool is the union of the pools, ordered by reciprocal rank fusion (RRF, k = 60) of the original's ranking
and the sub-questions' rankings; that order matters only when no reranker follows.
"""
from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Mapping, Sequence

from rankwise.checks import positive_int
from rankwise.io.files import FormatError, PathLike
from rankwise.io.jsonl import read_jsonl
from rankwise.pipeline import Retriever, Stage, apply
from rankwise.rag.generator import generate_one
from rankwise.rag.templates import DecomposeTemplate, get_decompose_template
from rankwise.rerank.llm.backends import LLM, get_llm
from rankwise.rerank.llm.records import CostLog
from rankwise.types import Query, Ranking, Run

SUB_ID = "\x1f"  # joins a question id and a sub-question number into the sub-question's query id
# numbering, bullets and labels before a sub-question: "1.", "2)", "-", "•", "Q1:", "Question:", "Sub-question 2:"
_BULLET = re.compile(r"^\s*(?:(?:(?:sub[- ]?)?questions?|q)\s*\d*\s*[:.)-]|\(?\d{1,2}[.):]|[-*•])\s*", re.IGNORECASE)


class Decomposer:
    """Splits a question into sub-questions (module docs). ``costs`` logs LLM calls (empty for the others);
    ``unusable`` counts the questions that got no usable sub-question."""

    name = "decomposer"

    def __init__(self):
        self.costs = CostLog("decompose")
        self.unusable = 0

    def decompose(self, query: Query) -> list[str]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


def clean_sub_questions(candidates: Sequence[str], question: str, max_sub_questions: int | None = None) -> list[str]:
    """Sub-questions without blanks, repeats (ignoring case and spacing) and copies of the question itself, at most
    ``max_sub_questions`` of them."""
    def key(text: str) -> str:
        return " ".join(text.lower().split()).rstrip("?").strip()

    seen = {key(question)}
    out: list[str] = []
    for c in candidates:
        text = " ".join(str(c).split())
        if not text or key(text) in seen:
            continue
        seen.add(key(text))
        out.append(text)
    return out[:max_sub_questions] if max_sub_questions else out


def parse_sub_questions(text: str, question: str, max_sub_questions: int | None = None) -> list[str]:
    """The sub-questions of a model's answer: lines (numbering, bullets and labels such as "Question:" removed) that
    end with a question mark and have at least three words; the question itself and repeats are dropped
    (:func:`clean_sub_questions`)."""
    found = []
    for line in text.splitlines():
        line = _BULLET.sub("", _BULLET.sub("", line)).strip().strip('"“”').strip()
        if line.endswith("?") and len(line.split()) >= 3:
            found.append(line)
    return clean_sub_questions(found, question, max_sub_questions)


class LLMDecomposer(Decomposer):
    """Sub-questions written by an LLM engine, zero-shot (one call per question).

    Args:
        llm: an engine, a model name or path, or an OpenAI-compatible URL.
        template: a :class:`~rankwise.rag.templates.DecomposeTemplate`, its name or a dict (default ``decompose``).
        max_sub_questions: the most sub-questions kept (and asked for).
        max_new_tokens: the longest answer generated.
    """

    name = "llm-decomposer"

    def __init__(self, llm: "LLM | str" = "HuggingFaceTB/SmolLM2-135M-Instruct", *,
                 template: "str | DecomposeTemplate | dict" = "decompose", max_sub_questions: int = 3,
                 max_new_tokens: int = 48):
        super().__init__()
        positive_int("max_sub_questions", max_sub_questions)
        positive_int("max_new_tokens", max_new_tokens)
        self.llm = get_llm(llm)
        self.template = get_decompose_template(template)
        self.max_sub_questions, self.max_new_tokens = max_sub_questions, max_new_tokens
        self.failures = 0
        self.outputs: dict[str, str] = {}  # the model's text per question, to see what it wrote
        self._warned = False

    def __str__(self) -> str:
        return f"decompose({self.llm.name}, {self.template.name}, max={self.max_sub_questions})"

    def decompose(self, query: Query) -> list[str]:
        generation = generate_one(self.llm, self.template.render(query.text, self.max_sub_questions),
                                  self.max_new_tokens)
        self.costs.add(query.qid, "decompose", generation.usage, error=generation.error)
        if generation.error is not None:
            self.failures += 1
            if not self._warned:
                warnings.warn(f"{self.name}: an LLM call failed ({generation.error}); that question is retrieved for "
                              "without sub-questions. Further failures are counted.", RuntimeWarning, stacklevel=2)
                self._warned = True
        self.outputs[query.qid] = generation.text
        subs = parse_sub_questions(generation.text, query.text, self.max_sub_questions)
        if not subs:
            self.unusable += 1
        return subs


def read_sub_questions(path: PathLike) -> dict[str, tuple[int, list[str], str | None]]:
    """``{id: (line, sub-questions, question or None)}`` from a sub-questions JSONL file (module docs)."""
    out: dict[str, tuple[int, list[str], str | None]] = {}
    for number, obj in read_jsonl(path):
        if "id" not in obj:
            raise FormatError(path, number, f"missing field 'id' (fields present: {', '.join(obj) or 'none'})",
                              'each line is {"id": QUESTION_ID, "sub_questions": ["…?", …]}')
        qid = str(obj["id"])
        subs = obj.get("sub_questions")
        if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
            raise FormatError(path, number, "field 'sub_questions' must be a list of strings")
        if qid in out:
            raise FormatError(path, number, f"question {qid!r} appears twice (first on line {out[qid][0]})")
        question = obj.get("question")
        out[qid] = (number, subs, None if question is None else str(question))
    return out


class SuppliedDecomposer(Decomposer):
    """Sub-questions given by the user: a JSONL file (module docs) or ``{id: [sub-questions]}``.

    A question the file does not cover is an error (``missing="error"``, the default) or keeps the original question
    alone and is counted in ``unusable`` (``missing="original"``). When a line carries ``"question"``, it must be the
    dataset's text for that id (a file made for another dataset fails, naming its line).
    """

    name = "supplied"

    def __init__(self, source: "PathLike | Mapping[str, Sequence[str]]", *, missing: str = "error",
                 max_sub_questions: int | None = None):
        super().__init__()
        if missing not in ("error", "original"):
            raise ValueError(f"missing must be 'error' or 'original', got {missing!r}")
        self.missing = missing
        self.max_sub_questions = positive_int("max_sub_questions", max_sub_questions, optional=True)
        if isinstance(source, Mapping):
            self.path = None
            self.entries = {str(k): (None, list(v), None) for k, v in source.items()}
        else:
            self.path = Path(source)
            self.entries = read_sub_questions(self.path)

    def __str__(self) -> str:
        return f"supplied({self.path.name if self.path else 'dict'})"

    def decompose(self, query: Query) -> list[str]:
        entry = self.entries.get(query.qid)
        if entry is None:
            if self.missing == "error":
                where = self.path or "the sub-questions given"
                raise LookupError(f"{where}: no sub-questions for question {query.qid!r}; add a line for it, or pass "
                                  "missing='original' to retrieve for such questions without sub-questions")
            self.unusable += 1
            return []
        line, subs, question = entry
        if question is not None and " ".join(question.split()) != " ".join(query.text.split()):
            raise FormatError(self.path, line, f"question {query.qid!r} reads {question!r} here but "
                                               f"{query.text!r} in the dataset; is this file for another dataset?")
        out = clean_sub_questions(subs, query.text, self.max_sub_questions)
        if not out:
            self.unusable += 1
        return out


# --- retrieval with sub-questions ----------------------------------------------------------------------------------
def retrieve(stage: Stage, queries: Sequence[Query], k: int) -> Run:
    """Each query's top ``k`` from a retriever or any stage that retrieves (``bm25``, ``fuse([bm25, dense])``…)."""
    if isinstance(stage, Retriever):
        return stage.search(queries, k=k)
    return apply(stage, queries, None).top(k)


def merge_pools(qid: str, rankings: Sequence[Ranking]) -> Ranking:
    """One pool from several rankings of the same question: their union, ordered by RRF (k = 60)."""
    from rankwise.fuse import fuse_runs

    rankings = [r for r in rankings if r is not None and len(r)]
    if not rankings:
        return Ranking(qid, [], [], [])
    if len(rankings) == 1:
        return rankings[0]
    runs = [Run([Ranking(qid, r.docids, r.scores, r.texts, sort=False)], name=f"pool{i}")
            for i, r in enumerate(rankings)]
    return fuse_runs(runs, "rrf", queries=[qid])[qid]


def decomposed_pool(query: Query, sub_questions: Sequence[str], retriever: Stage, k: int) -> Ranking:
    """Retrieve the top ``k`` for the question and for each sub-question, and merge the pools."""
    queries = [query] + [Query(f"{query.qid}{SUB_ID}{i}", s) for i, s in enumerate(sub_questions, 1)]
    run = retrieve(retriever, queries, k)
    return merge_pools(query.qid, [run.get(q.qid) for q in queries])


class Decompose(Stage):
    """A pipeline stage: decompose each question, retrieve the top ``k`` for it and for its sub-questions, merge.
    Follow it with a reranker, which scores the merged pool against the original question:
    ``Decompose(LLMDecomposer(llm), bm25, k=20) >> cross_encoder >> generator``.

    What each question was split into is kept in the output's ``meta["sub_questions"]`` (``{qid: [...]}``), which
    pipelines carry to the :class:`~rankwise.rag.generator.Generator` (it writes them into each answer), and in
    ``sub_questions``; ``seconds[qid]`` holds the time spent decomposing (``decompose``) and retrieving
    (``retrieve``).
    """

    name = "decompose"

    def __init__(self, decomposer: Decomposer, retriever: Stage, k: int = 20):
        positive_int("k", k)
        self.decomposer, self.retriever, self.k = decomposer, retriever, k
        self.sub_questions: dict[str, list[str]] = {}
        self.seconds: dict[str, dict[str, float]] = {}

    def __str__(self) -> str:
        return f"decompose({self.decomposer}, {self.retriever} % {self.k})"

    def transform(self, queries: Sequence[Query], run: Run | None) -> Run:
        out = Run(name=str(self))
        for q in queries:
            start = time.perf_counter()
            subs = self.decomposer.decompose(q)
            middle = time.perf_counter()
            out[q.qid] = decomposed_pool(q, subs, self.retriever, self.k)
            self.sub_questions[q.qid] = subs
            self.seconds[q.qid] = {"decompose": middle - start, "retrieve": time.perf_counter() - middle}
        out.meta["sub_questions"] = {q.qid: self.sub_questions[q.qid] for q in queries}
        return out
