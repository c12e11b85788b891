"""Prompt templates as data: each names its placeholders and the pattern its answer must match.

A :class:`Template` is plain data (build your own, or ``Template.from_dict``/``replace`` a built-in one); it is
checked when built: a placeholder the strategy cannot fill, or a required one left out, is an error naming it.

Placeholders by kind (``user``/``system``/``intro`` texts; ``passage`` is the format of one passage):

========== ==================================================== ============================================
kind       user text                                            one passage (``passage``)
========== ==================================================== ============================================
listwise   ``{query}`` ``{num}`` ``{passages}`` (required)       ``{id}`` ``{text}`` ``{score}`` ``{score_name}``
setwise    ``{query}`` ``{num}`` ``{passages}`` (required)       ``{id}`` ``{text}``
pairwise   ``{query}`` ``{passage_a}`` ``{passage_b}`` (req.)    —
pointwise  ``{query}`` ``{passage}`` (required)                  —
likelihood ``{passage}`` (required); ``continuation``: ``{query}`` —
icr        ``{passages}``, then ``{query}`` (required)           ``{id}`` ``{text}``
========== ==================================================== ============================================

``answer`` is a regular expression whose first group is one identifier (``\\[(\\d+)\\]`` for ``[3] > [1]``);
``answer_section`` (reasoning templates) is one whose first group holds the final answer (``<answer>(.*?)</answer>``);
``labels`` are the next tokens scored by logit strategies (pointwise ``Yes``/``No``, grades ``0``..``3``) and
``logit_prefix`` the start of the answer written for the model before those labels are scored (``[`` for FIRST).

The built-in templates follow the papers' prompts (RankGPT, RankZephyr/RankVicuna, FIRST, PRP, Setwise, Rank-R1,
UPR, ICR); :data:`TEMPLATES` holds them by name.
"""
from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from typing import Sequence

from rankwise.rerank.llm.backends import Prompt, Segment

KINDS = ("listwise", "setwise", "pairwise", "pointwise", "likelihood", "icr")
_USER_FIELDS = {
    "listwise": ({"query", "num", "passages"}, {"passages"}),
    "setwise": ({"query", "num", "passages"}, {"passages"}),
    "pairwise": ({"query", "passage_a", "passage_b"}, {"passage_a", "passage_b"}),
    "pointwise": ({"query", "passage"}, {"query", "passage"}),
    "likelihood": ({"passage"}, {"passage"}),
    "icr": ({"query", "passages"}, {"query", "passages"}),
}
_PASSAGE_FIELDS = {"id", "text", "score", "score_name"}


def placeholders(text: str | None) -> set[str]:
    """The named placeholders of a format string (``{query}`` → ``query``)."""
    if not text:
        return set()
    names = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            if name == "" or name.isdigit():
                raise ValueError(f"template text {text[:60]!r}… has a positional placeholder {{}}; name it")
            names.add(name.split(".")[0].split("[")[0])
    return names


def make_ids(n: int, style: str) -> list[str]:
    """Identifiers of n passages: ``numeric`` → 1..n, ``alpha`` → A..Z (at most 26)."""
    if style == "numeric":
        return [str(i) for i in range(1, n + 1)]
    if style == "alpha":
        if n > 26:
            raise ValueError(f"alphabetic identifiers allow at most 26 passages per prompt, got {n}; use a window of "
                             "at most 26")
        return [chr(ord("A") + i) for i in range(n)]
    raise ValueError(f"identifier style must be 'numeric' or 'alpha', got {style!r}")


@dataclass(frozen=True)
class Template:
    """A prompt template (see the module docs for the placeholders of each kind)."""

    name: str
    kind: str
    user: str
    system: str | None = None
    passage: str = "[{id}] {text}\n"
    ids: str = "numeric"
    answer: str = r"\[(\d+)\]"
    answer_section: str | None = None
    labels: tuple[str, ...] = ()
    logit_prefix: str = ""
    chat: bool = True
    continuation: str = " {query}"
    # RankGPT writes each passage as its own user turn, acknowledged by the assistant, after an intro exchange.
    turns: bool = False
    intro: str | None = None
    intro_reply: str | None = None
    ack: str = "Received passage [{id}]."
    paper: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"template {self.name!r}: kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        allowed, required = _USER_FIELDS[self.kind]
        if self.turns:
            if self.kind != "listwise":
                raise ValueError(f"template {self.name!r}: turns=True is for listwise templates")
            required = required - {"passages"}
        texts = {"user": self.user, "system": self.system, "intro": self.intro}
        for where, text in texts.items():
            unknown = placeholders(text) - allowed
            if unknown:
                raise ValueError(
                    f"template {self.name!r}: {where} text uses unknown placeholder(s) "
                    f"{', '.join('{' + u + '}' for u in sorted(unknown))}; a {self.kind} template may use "
                    f"{', '.join('{' + a + '}' for a in sorted(allowed))}"
                )
        missing = required - placeholders(self.user) - placeholders(self.intro)
        if missing:
            raise ValueError(f"template {self.name!r}: the user text must contain "
                             f"{', '.join('{' + m + '}' for m in sorted(missing))}")
        if self.kind in ("listwise", "setwise", "icr"):
            unknown = placeholders(self.passage) - _PASSAGE_FIELDS
            if unknown or "text" not in placeholders(self.passage):
                raise ValueError(f"template {self.name!r}: passage format {self.passage!r} must contain {{text}} and "
                                 f"may use only {{id}}, {{text}}, {{score}}, {{score_name}}")
        if self.kind == "icr":
            parts = self.user.split("{passages}")
            if len(parts) != 2 or "query" not in placeholders(parts[1]):
                raise ValueError(f"template {self.name!r}: an ICR user text needs {{passages}} once, followed by "
                                 "{query}: the attention is read from the text after the passages")
        if self.kind == "likelihood" and "query" not in placeholders(self.continuation):
            raise ValueError(f"template {self.name!r}: the continuation must contain {{query}}")
        if self.kind == "pointwise" and len(self.labels) < 2:
            raise ValueError(f"template {self.name!r}: a pointwise template needs at least two labels")
        if not self.chat and (self.system or self.turns):
            raise ValueError(f"template {self.name!r}: a raw-text template (chat=False) has no system text or turns")
        make_ids(1, self.ids)  # checks the style

    # --- building ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> "Template":
        """A template from plain data (e.g. JSON); unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown template field(s) {sorted(unknown)}; known: {sorted(names)}")
        data = dict(data)
        if "labels" in data:
            data["labels"] = tuple(data["labels"])
        return cls(**data)

    def replace(self, **changes) -> "Template":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # --- rendering --------------------------------------------------------------------------------------------------
    def _prompt(self, user: str, values: dict, prefix: str = "", turns: Sequence[tuple[str, str]] = ()) -> Prompt:
        if not self.chat:
            return Prompt.raw(user)
        messages = []
        if self.system:
            messages.append(("system", self.system.format(**values)))
        messages.extend(turns)
        messages.append(("user", user))
        return Prompt.chat(messages, prefix=prefix)

    def format_passages(self, texts: Sequence[str], ids: Sequence[str], scores: Sequence[str] | None = None,
                        score_name: str = "") -> str:
        scores = scores if scores is not None else [""] * len(texts)
        return "".join(self.passage.format(id=i, text=t, score=s, score_name=score_name)
                       for i, t, s in zip(ids, texts, scores))

    def render_list(self, query: str, texts: Sequence[str], *, scores: Sequence[str] | None = None,
                    score_name: str = "", for_logits: bool = False) -> tuple[Prompt, list[str]]:
        """A listwise or setwise prompt over ``texts``; returns it with the identifiers used."""
        if self.kind not in ("listwise", "setwise"):
            raise ValueError(f"template {self.name!r} is a {self.kind} template, not a list template")
        ids = make_ids(len(texts), self.ids)
        values = {"query": query, "num": len(texts)}
        prefix = self.logit_prefix if for_logits else ""
        if self.turns:
            turns: list[tuple[str, str]] = []
            if self.intro:
                turns.append(("user", self.intro.format(**values)))
                if self.intro_reply:
                    turns.append(("assistant", self.intro_reply.format(**values)))
            for k, text in enumerate(texts):
                one = self.format_passages([text], [ids[k]], None if scores is None else [scores[k]], score_name)
                turns.append(("user", one.rstrip("\n")))
                turns.append(("assistant", self.ack.format(id=ids[k])))
            user = self.user.format(passages="", **values)
            return self._prompt(user, values, prefix, turns), ids
        values["passages"] = self.format_passages(texts, ids, scores, score_name)
        return self._prompt(self.user.format(**values), values, prefix), ids

    def render_pair(self, query: str, text_a: str, text_b: str, *, for_logits: bool = False) -> Prompt:
        if self.kind != "pairwise":
            raise ValueError(f"template {self.name!r} is a {self.kind} template, not a pairwise one")
        values = {"query": query, "passage_a": text_a, "passage_b": text_b}
        return self._prompt(self.user.format(**values), values, self.logit_prefix if for_logits else "")

    def render_single(self, query: str, text: str) -> Prompt:
        if self.kind != "pointwise":
            raise ValueError(f"template {self.name!r} is a {self.kind} template, not a pointwise one")
        values = {"query": query, "passage": text}
        return self._prompt(self.user.format(**values), values, self.logit_prefix)

    def render_likelihood(self, query: str, text: str) -> tuple[Prompt, str]:
        """The prompt (passage) and the continuation (query) whose likelihood is scored."""
        if self.kind != "likelihood":
            raise ValueError(f"template {self.name!r} is a {self.kind} template, not a likelihood one")
        values = {"passage": text}
        return self._prompt(self.user.format(**values), values), self.continuation.format(query=query)

    def icr_segments(self, query: str, texts: Sequence[str]) -> list[Segment]:
        """The ICR prompt cut into named segments, as ICR's code measures it: ``doc:i`` is passage i from its
        identifier to the end of its text (``[3] text``), and ``query`` is everything after the passages from the
        first non-blank character on — the closing instruction, the query and whatever follows it. The source span
        of the attention runs from there to the end of the prompt (the chat template's closing text included)."""
        if self.kind != "icr":
            raise ValueError(f"template {self.name!r} is a {self.kind} template, not an ICR one")
        ids = make_ids(len(texts), self.ids)
        head, tail = self.user.split("{passages}", 1)
        before, after = self.passage.split("{text}", 1)
        out: list[Segment] = [Segment(head.format(query=query))]
        for k, text in enumerate(texts):
            opening = before.format(id=ids[k], score="", score_name="")
            blank = opening[: len(opening) - len(opening.lstrip())]
            out += [Segment(blank), Segment(opening[len(blank):] + text, f"doc:{k}"),
                    Segment(after.format(id=ids[k], score="", score_name=""))]
        closing = tail.format(query=query)
        blank = closing[: len(closing) - len(closing.lstrip())]
        out += [Segment(blank), Segment(closing[len(blank):], "query")]
        return [s for s in out if s.text or s.name]


# --- the built-in templates ---------------------------------------------------------------------------------------
_RANK_INSTRUCTION = (
    "Search Query: {query}.\nRank the {num} passages above based on their relevance to the search query. All the "
    "passages should be included and listed using identifiers, in descending order of relevance. The output format "
    "should be [] > [], e.g., [2] > [1]. Only respond with the ranking results, do not say any word or explain."
)

RANKGPT = Template(
    name="rankgpt", kind="listwise", turns=True,
    system="You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query.",
    intro="I will provide you with {num} passages, each indicated by number identifier []. \nRank the passages "
          "based on their relevance to query: {query}.",
    intro_reply="Okay, please provide the passages.",
    user=_RANK_INSTRUCTION,
    paper="Sun et al. 2023, Is ChatGPT Good at Search? (RankGPT)",
)

RANKZEPHYR = Template(
    name="rankzephyr", kind="listwise",
    system="You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query.",
    user="I will provide you with {num} passages, each indicated by a numerical identifier []. Rank the passages "
         "based on their relevance to the search query: {query}.\n\n{passages}\n" + _RANK_INSTRUCTION,
    paper="Pradeep et al. 2023, RankVicuna / RankZephyr",
)

FIRST = Template(
    name="first", kind="listwise", ids="alpha", answer=r"\[([A-Za-z])\]", logit_prefix="[",
    system="You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query.",
    user="I will provide you with {num} passages, each indicated by an alphabetical identifier []. Rank the "
         "passages based on their relevance to the search query: {query}.\n\n{passages}\n"
    + _RANK_INSTRUCTION.replace("[2] > [1]", "[B] > [A]"),
    paper="Reddy et al. 2024, FIRST: Faster Improved Listwise Reranking with Single Token Decoding",
)

INSERTRANK = Template(
    name="insertrank", kind="listwise", passage="[{id}] ({score_name} score: {score}) {text}\n",
    system="You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query.",
    user="I will provide you with {num} passages, each indicated by a numerical identifier [] and followed by the "
         "score a first-stage retriever gave it. Rank the passages based on their relevance to the search query: "
         "{query}.\n\n{passages}\n" + _RANK_INSTRUCTION,
    paper="Seetharaman et al. 2025, InsertRank: LLMs can reason over BM25 scores to improve listwise reranking",
)

REASONING_LISTWISE = Template(
    name="reasoning-listwise", kind="listwise", answer_section=r"<answer>(.*?)(?:</answer>|$)",
    system="The assistant first thinks about the reasoning process and then gives the answer. The reasoning and the "
           "answer are enclosed within <think> </think> and <answer> </answer> tags.",
    user="Rank the {num} passages below by their relevance to the search query: {query}.\n\n{passages}\n"
         "Think first, then write the ranking of all passages inside <answer> </answer>, in the format "
         "[] > [], e.g. <think> reasoning here </think> <answer>[2] > [1]</answer>.",
    paper="Rank-R1 style reasoning (Zhuang et al. 2025) applied to listwise ranking",
)

PRP = Template(
    name="prp", kind="pairwise", answer=r"Passage\s*([AB])\b", labels=("A", "B"), logit_prefix="Passage",
    user='Given a query "{query}", which of the following two passages is more relevant to the query?\n\n'
         'Passage A: "{passage_a}"\n\nPassage B: "{passage_b}"\n\nOutput Passage A or Passage B:',
    paper="Qin et al. 2024, Large Language Models are Effective Text Rankers with Pairwise Ranking Prompting (PRP)",
)

SETWISE = Template(
    name="setwise", kind="setwise", ids="alpha", passage='Passage {id}: "{text}"\n\n',
    answer=r"Passage\s*([A-Za-z])\b", logit_prefix="Passage",
    user='Given a query "{query}", which of the following passages is the most relevant one to the query?\n\n'
         "{passages}Output only the passage label of the most relevant passage:",
    paper="Zhuang et al. 2024, A Setwise Approach to Effective and Highly Efficient Zero-shot Ranking with LLMs",
)

RANK_R1 = Template(
    name="rank-r1", kind="setwise", answer_section=r"<answer>(.*?)(?:</answer>|$)",
    system="A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
           "assistant first thinks about the reasoning process in the mind and then provides the user with the "
           "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
           "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.",
    user='Given the query: "{query}", which of the following documents is most relevant?\n{passages}\nAfter '
         "completing the reasoning process, please provide only the label of the most relevant document to the "
         "query, enclosed in square brackets, within the answer tags. For example, if the third document is the most "
         "relevant, the answer should be: <think> reasoning process here </think> <answer>[3]</answer>.",
    paper="Zhuang et al. 2025, Rank-R1: Enhancing Reasoning in LLM-based Document Rerankers via Reinforcement Learning",
)

YES_NO = Template(
    name="yes-no", kind="pointwise", labels=("Yes", "No"), answer=r"\b(Yes|No)\b",
    system="You are a search relevance judge.",
    user="Query: {query}\n\nPassage: {passage}\n\nDoes the passage answer the query? Answer Yes or No.",
    paper="Pointwise relevance generation (Nogueira et al. 2020 monoT5; Liang et al. 2022 HELM)",
)

FINE_GRAINED = Template(
    name="fine-grained", kind="pointwise", labels=("0", "1", "2", "3"), answer=r"\b([0-3])\b",
    system="You are a search relevance judge.",
    user="Query: {query}\n\nPassage: {passage}\n\nHow relevant is the passage to the query? Answer with one number: "
         "0 = not relevant, 1 = related, 2 = highly relevant, 3 = perfectly relevant.",
    paper="Zhuang et al. 2024, Beyond Yes and No: Improving Zero-Shot LLM Rankers via Scoring Fine-Grained Relevance "
          "Labels (expected relevance over the rating scale 0..3)",
)

UPR = Template(
    name="upr", kind="likelihood", chat=False,
    user="Passage: {passage}\nPlease write a question based on this passage.\nQuestion:",
    continuation=" {query}",
    paper="Sachan et al. 2022, Improving Passage Retrieval with Zero-Shot Question Generation (UPR)",
)

# ICR's code with its retrieval type "IE" (its choice for BEIR sets other than TREC-COVID, FiQA, Touché, DBpedia and
# NQ, which get "QA"), without its hand-written Llama/Mistral turn markers (the model's chat template wraps it)
ICR = Template(
    name="icr", kind="icr", passage="\n\n[{id}] {text}",
    user="Here are some paragraphs:{passages}\n\nPlease find information that are relevant to the following query "
         "in the paragraphs above.\n\nQuery: {query}",
    paper="Chen et al. 2025, Attention in Large Language Models Yields Efficient Zero-Shot Re-Rankers (ICR)",
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (
    RANKGPT, RANKZEPHYR, FIRST, INSERTRANK, REASONING_LISTWISE, PRP, SETWISE, RANK_R1, YES_NO, FINE_GRAINED, UPR, ICR,
)}


def get_template(template: "str | Template | dict", kind: str | None = None) -> Template:
    """A template by name, from a dict, or as given; ``kind`` checks that it suits the strategy."""
    if isinstance(template, Template):
        out = template
    elif isinstance(template, dict):
        out = Template.from_dict(template)
    else:
        try:
            out = TEMPLATES[str(template)]
        except KeyError:
            raise ValueError(f"unknown template {template!r}; built-in: {', '.join(TEMPLATES)}") from None
    if kind is not None and out.kind != kind:
        raise ValueError(f"template {out.name!r} is a {out.kind} template; this strategy needs a {kind} template "
                         f"(built-in: {', '.join(n for n, t in TEMPLATES.items() if t.kind == kind)})")
    return out
