"""Answer generation over the existing LLM engines: a pipeline stage that turns each question's ranking into an
answer with citations.

:class:`Generator` is a :class:`rankwise.pipeline.Stage`, so it ends a pipeline: ``bm25 % 50 >> cross_encoder >>
generator``. Its output, :class:`Answers`, is still a :class:`~rankwise.types.Run` — each question's final ranking,
which evaluates as evidence with :func:`rankwise.evaluate.evaluate` — and carries one :class:`Answer` per question in
``answers.answers``. Called without a run (``generator(queries)``) it answers closed-book: the zero-shot baseline.

Each question costs one ``LLM.generate`` call, recorded in ``generator.costs`` (a
:class:`~rankwise.rerank.llm.records.CostLog`: calls, tokens, latency, errors). A call that fails, or returns
nothing, gives an empty answer and is counted (``generator.failures``); the run goes on.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from rankwise.checks import positive_int
from rankwise.pipeline import Stage
from rankwise.rag.citations import parse_answer
from rankwise.rag.context import pack_contexts
from rankwise.rag.templates import AnswerTemplate, get_answer_template
from rankwise.rerank.llm.backends import (
    LLM,
    EngineConfigurationError,
    Generation,
    UnsupportedRequest,
    Usage,
    get_llm,
)
from rankwise.rerank.llm.records import CallRecord, CostLog
from rankwise.types import Query, Ranking, Run

DEFAULT_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


def generate_one(llm: LLM, prompt, max_tokens: int) -> Generation:
    """One greedy generation; a failure becomes a :class:`Generation` with ``error`` set (and no text), except the
    faults that would fail every call the same way (refused key, unknown model, unsupported request): raised."""
    try:
        return llm.generate([prompt], max_tokens)[0]
    except (UnsupportedRequest, EngineConfigurationError):
        raise
    except Exception as e:  # noqa: BLE001 - one failed call must not end a long run; it is counted
        return Generation("", Usage(), error=f"{type(e).__name__}: {e}")


def usage_summary(records: Sequence[CallRecord]) -> dict[str, float]:
    """The ``llm`` field of an answer line: calls, tokens, failed calls and the engine's own seconds (latency) of
    one question."""
    return {"calls": len(records), "prompt_tokens": sum(r.prompt_tokens for r in records),
            "completion_tokens": sum(r.completion_tokens for r in records),
            "errors": sum(r.error is not None for r in records), "seconds": sum(r.latency_s for r in records)}


@dataclass
class Answer:
    """One question's answer and how it was made (the fields of an ANSWERS line, see :mod:`rankwise.rag.io`)."""

    id: str
    question: str
    answer: str
    citations: list[str] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)
    sub_questions: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    llm: dict[str, float] = field(default_factory=dict)
    raw: str = ""
    truncated: int = 0
    dropped: int = 0
    error: str | None = None
    pipeline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Answer":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def ranking(self) -> Ranking:
        """The final ranking, rebuilt from ``contexts`` (its order is the stored order)."""
        return Ranking(self.id, [c["docid"] for c in self.contexts], [c["score"] for c in self.contexts], sort=False)


class Answers(Run):
    """The output of a :class:`Generator`: a run (each question's final ranking, for evidence metrics) that also
    holds the answers (``answers[qid]``, an :class:`Answer`)."""

    def __init__(self, rankings=(), name: str = "answers", answers: Mapping[str, Answer] | None = None):
        super().__init__(rankings, name=name)
        self.answers: dict[str, Answer] = dict(answers or {})

    def __repr__(self) -> str:
        return f"Answers(name={self.name!r}, questions={len(self.answers)})"

    def records(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.answers.values()]


class Generator(Stage):
    """Answers questions from their top passages with an LLM engine.

    Args:
        llm: an engine, a model name or path (local transformers), or an OpenAI-compatible URL (default: the offline
            kit's SmolLM2-135M-Instruct).
        template: the answer template (name, :class:`~rankwise.rag.templates.AnswerTemplate` or dict; default
            ``rag-cite``); ``closed_book``: the one used without retrieval (default ``closed-book``).
        contexts: passages given to the model (the top ``contexts`` of the ranking, duplicates skipped).
        context_tokens: token budget of the passages (also limited by the model's context length).
        max_passage_tokens: longer passages are cut to this many tokens.
        max_new_tokens: the longest answer generated.
    """

    name = "generator"

    def __init__(self, llm: "LLM | str" = DEFAULT_LLM, *, template: "str | AnswerTemplate | dict | None" = None,
                 closed_book: "str | AnswerTemplate | dict" = "closed-book", contexts: int = 5,
                 context_tokens: int = 2048, max_passage_tokens: int | None = 256, max_new_tokens: int = 24):
        positive_int("contexts", contexts)
        positive_int("context_tokens", context_tokens)
        positive_int("max_passage_tokens", max_passage_tokens, optional=True)
        positive_int("max_new_tokens", max_new_tokens)
        self.template = get_answer_template(template if template is not None else "rag-cite")
        self.closed_book = get_answer_template(closed_book)
        if not self.template.with_passages:
            raise ValueError(f"template {self.template.name!r} reads no passages; pass it as closed_book=")
        if self.closed_book.with_passages:
            raise ValueError(f"closed_book template {self.closed_book.name!r} expects passages")
        self.llm = get_llm(llm)
        self.contexts, self.context_tokens = contexts, context_tokens
        self.max_passage_tokens, self.max_new_tokens = max_passage_tokens, max_new_tokens
        self.costs = CostLog("generate")
        self.failures = 0  # calls that failed or returned nothing
        self._warned = False

    def __str__(self) -> str:
        return f"generate({self.llm.name}, {self.template.name}, contexts={self.contexts})"

    # --- one question -------------------------------------------------------------------------------------------------
    def answer(self, query: Query | str, candidates: Ranking | None = None) -> Answer:
        """Answer one question from ``candidates`` (a ranking with texts), or closed-book when there are none (None;
        an empty ranking is a retrieval that found nothing: the passage template with no passages)."""
        query = query if isinstance(query, Query) else Query("1", str(query))
        template = self.closed_book if candidates is None else self.template
        first = len(self.costs.records)
        packed = None
        if candidates is not None:
            base = self.llm.prompt_tokens(template.render(query.text, []))
            room = self.llm.context_length - base - self.max_new_tokens
            packed = pack_contexts(self.llm, candidates, self.contexts, min(self.context_tokens, room),
                                   max_passage_tokens=self.max_passage_tokens,
                                   overhead=lambda i: self.llm.count_tokens(template.passage_overhead(i)))
            if packed.truncated or packed.dropped:
                self.costs.truncated[query.qid] += packed.truncated + packed.dropped
        prompt = template.render(query.text, packed.texts if packed else [])
        generation = generate_one(self.llm, prompt, self.max_new_tokens)
        error = generation.error
        if error is None and not generation.text.strip():
            error = "the model returned an empty answer"
        self.costs.add(query.qid, "generate", generation.usage, error=error)
        if error is not None:
            self.failures += 1
            self._warn(error)
        parsed = parse_answer(generation.text, packed.docids if packed else [], template.citation)
        used = set(packed.docids) if packed else set()
        contexts = [{"docid": d, "score": s, "in_prompt": d in used} for d, s in candidates or []]
        return Answer(
            id=query.qid, question=query.text, answer=parsed.answer if error is None else "",
            citations=parsed.citations, contexts=contexts, raw=generation.text,
            llm=usage_summary(self.costs.records[first:]), truncated=packed.truncated if packed else 0,
            dropped=packed.dropped if packed else 0, error=error,
        )

    def _warn(self, message: str) -> None:
        if not self._warned:
            warnings.warn(f"{self.name}: an LLM call failed ({message}); the answer is left empty. Further failures "
                          "are counted (generator.failures, the 'error' field of each answer).", RuntimeWarning,
                          stacklevel=4)
            self._warned = True

    # --- the Stage interface ------------------------------------------------------------------------------------------
    def transform(self, queries: Sequence[Query], run: Run | None) -> Answers:
        from rankwise.progress import progress

        out = Answers(name=str(self))
        meta = getattr(run, "meta", None) or {}
        out.meta = dict(meta)  # what earlier stages recorded goes on (a Decompose stage's sub-questions…)
        for q in progress(queries, desc="generate", unit="q"):
            start = time.perf_counter()
            candidates = None if run is None else (run.get(q.qid) or Ranking(q.qid, [], [], []))
            answer = self.answer(q, candidates)
            answer.seconds["generate"] = time.perf_counter() - start
            answer.sub_questions = list(meta.get("sub_questions", {}).get(q.qid, []))
            out.answers[q.qid] = answer
            out[q.qid] = candidates if candidates is not None else Ranking(q.qid, [], [])
        return out
