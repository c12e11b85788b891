"""Prompt templates of the RAG layer, kept as data (like :mod:`rankwise.rerank.llm.prompts`).

An :class:`AnswerTemplate` turns a question and numbered passages into a chat prompt, and says how citations are
written in the answer (a regular expression whose first group holds one or more passage numbers). A
:class:`DecomposeTemplate` asks for sub-questions. Both are checked when built: a placeholder they cannot fill, or a
required one left out, is an error naming it. Build your own, or ``replace`` / ``from_dict`` a built-in one.

Placeholders: answer ``user``/``system``: ``{question}`` (required in ``user``) and ``{passages}`` (required when
``with_passages``); ``passage`` (one passage): ``{id}`` and ``{text}``; decompose ``user``/``system``:
``{question}`` (required) and ``{max}`` (the most sub-questions wanted).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rankwise.rerank.llm.backends import Prompt
from rankwise.rerank.llm.prompts import placeholders


def _check(name: str, where: str, text: str | None, allowed: set[str]) -> None:
    unknown = placeholders(text) - allowed
    if unknown:
        raise ValueError(f"template {name!r}: {where} text uses unknown placeholder(s) "
                         f"{', '.join('{' + u + '}' for u in sorted(unknown))}; it may use "
                         f"{', '.join('{' + a + '}' for a in sorted(allowed))}")


class _Data:
    """from_dict / replace / to_dict for the frozen template dataclasses."""

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown template field(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AnswerTemplate(_Data):
    """How a generator asks for an answer. ``with_passages=False`` is closed-book (zero-shot) answering."""

    name: str
    user: str
    system: str | None = None
    with_passages: bool = True
    passage: str = "[{id}] {text}\n"
    citation: str = r"\[(\d+(?:\s*[,;]\s*\d+)*)\]"
    paper: str = ""

    def __post_init__(self):
        fields = {"question", "passages"} if self.with_passages else {"question"}
        _check(self.name, "user", self.user, fields)
        _check(self.name, "system", self.system, fields)
        required = fields & {"question", "passages"}
        missing = required - placeholders(self.user)
        if missing:
            raise ValueError(f"template {self.name!r}: the user text must contain "
                             f"{', '.join('{' + m + '}' for m in sorted(missing))}")
        if self.with_passages:
            _check(self.name, "passage", self.passage, {"id", "text"})
            if "text" not in placeholders(self.passage):
                raise ValueError(f"template {self.name!r}: the passage format must contain {{text}}")

    def render(self, question: str, passages: list[str] = ()) -> Prompt:
        """The chat prompt for ``question`` over ``passages`` (numbered from 1 in the given order)."""
        values = {"question": question}
        if self.with_passages:
            values["passages"] = "".join(self.passage.format(id=i, text=t) for i, t in enumerate(passages, 1))
        messages = []
        if self.system:
            messages.append(("system", self.system.format(**values)))
        messages.append(("user", self.user.format(**values)))
        return Prompt.chat(messages)

    def passage_overhead(self, number: int) -> str:
        """The passage format around an empty text (its identifier and separators)."""
        return self.passage.format(id=number, text="")


@dataclass(frozen=True)
class DecomposeTemplate(_Data):
    """How a decomposer asks for sub-questions (one per line in the answer)."""

    name: str
    user: str
    system: str | None = None
    paper: str = ""

    def __post_init__(self):
        _check(self.name, "user", self.user, {"question", "max"})
        _check(self.name, "system", self.system, {"question", "max"})
        if "question" not in placeholders(self.user):
            raise ValueError(f"template {self.name!r}: the user text must contain {{question}}")

    def render(self, question: str, max_sub_questions: int) -> Prompt:
        values = {"question": question, "max": max_sub_questions}
        messages = [("system", self.system.format(**values))] if self.system else []
        messages.append(("user", self.user.format(**values)))
        return Prompt.chat(messages)


RAG_CITE = AnswerTemplate(
    name="rag-cite",
    system="You answer questions from the numbered passages you are given. Reply with the short answer only (a name, "
           "a date, a number, yes or no, or a few words; no full sentence), then the numbers of the passages that "
           "support it in square brackets, for example: Paris [2][5]",
    user="Passages:\n{passages}\nQuestion: {question}",
    paper="Retrieval-augmented generation with inline citations (Lewis et al. 2020 RAG; ALCE, Gao et al. 2023)",
)

CLOSED_BOOK = AnswerTemplate(
    name="closed-book",
    with_passages=False,
    system="Reply with the short answer only (a name, a date, a number, yes or no, or a few words; no full sentence).",
    user="Question: {question}",
    paper="Zero-shot closed-book question answering (no retrieval): the baseline of RAG papers",
)

DECOMPOSE = DecomposeTemplate(
    name="decompose",
    system="You split complex questions into simple questions that each ask for one fact.",
    user="Split this question into at most {max} simpler sub-questions, each answerable from one encyclopedia "
         "paragraph. Write one sub-question per line, ending with a question mark, and nothing else.\n\n"
         "Question: {question}",
    paper="Ammann, Golde, Akbik 2025, Question Decomposition for Retrieval-Augmented Generation (zero-shot "
          "decomposition prompt; this wording is rankwise's)",
)

ANSWER_TEMPLATES: dict[str, AnswerTemplate] = {t.name: t for t in (RAG_CITE, CLOSED_BOOK)}
DECOMPOSE_TEMPLATES: dict[str, DecomposeTemplate] = {t.name: t for t in (DECOMPOSE,)}


def get_answer_template(template: "str | AnswerTemplate | dict") -> AnswerTemplate:
    if isinstance(template, AnswerTemplate):
        return template
    if isinstance(template, dict):
        return AnswerTemplate.from_dict(template)
    try:
        return ANSWER_TEMPLATES[str(template)]
    except KeyError:
        raise ValueError(f"unknown answer template {template!r}; built-in: {', '.join(ANSWER_TEMPLATES)}") from None


def get_decompose_template(template: "str | DecomposeTemplate | dict") -> DecomposeTemplate:
    if isinstance(template, DecomposeTemplate):
        return template
    if isinstance(template, dict):
        return DecomposeTemplate.from_dict(template)
    try:
        return DECOMPOSE_TEMPLATES[str(template)]
    except KeyError:
        raise ValueError(f"unknown decomposition template {template!r}; built-in: "
                         f"{', '.join(DECOMPOSE_TEMPLATES)}") from None
