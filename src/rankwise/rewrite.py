"""Query rewriting with an LLM before retrieval: a hypothetical answer passage (HyDE), keyword expansion, or a
rewrite of the query itself.

    rewriter = QueryRewriter("HuggingFaceTB/SmolLM2-135M-Instruct", "hyde")   # or an OpenAI-compatible URL
    pipeline = rewriter >> bm25 % 100                  # the retriever sees the rewritten queries
    run = pipeline(dataset.queries)
    run.meta["rewrites"]["q1"]                         # {"original", "generated", "query", "fallback", ...}
    rewriter.fallbacks                                 # empty answers: the original query was used

``rewriter >> stage`` rewrites the queries, then runs ``stage`` on them. Stages after that (``rewriter >> bm25 %
100 >> reranker``) see the original queries again: rewriting is for retrieval, a reranker judges the question as
asked. The rewritten queries are kept in the run's ``meta["rewrites"]`` and go on with it through the pipeline.

Methods (prompts as data: :class:`RewriteTemplate`, built-in ones in :data:`TEMPLATES`):

- ``hyde``: HyDE (Gao et al., ACL 2023, "Precise Zero-Shot Dense Retrieval without Relevance Labels"): the LLM
  writes a passage that answers the question (the paper's web-search instruction; ``hyde-scifact`` is its
  SciFact instruction). For a lexical retriever the new query is the original query repeated 5 times followed by the
  passage, as query2doc (Wang et al., EMNLP 2023) does for BM25, so the passage expands the query without
  drowning it.
- ``expand``: keyword expansion, Query2Keyword (Jagerman et al. 2023, "Query Expansion by Prompting Large Language
  Models", zero-shot): the LLM lists keywords, appended to the query repeated 5 times.
- ``rewrite``: the LLM rewrites the query into a clearer search query, which replaces it (the rewrite step of
  Rewrite-Retrieve-Read, Ma et al., EMNLP 2023; CAR, Anand et al. 2023, rewrites with the relevant documents as
  context, which exist only for training queries — see docs/seed_methods.md).

An LLM answer that is empty once cleaned (or a failed call) leaves the original query in place; such queries are
counted (``rewriter.fallbacks``) and marked ``"fallback": true`` in the run's metadata.
"""
from __future__ import annotations

import dataclasses
import re
import string
import warnings
from dataclasses import dataclass
from typing import Sequence

from rankwise.checks import positive_int
from rankwise.pipeline import Stage, _shared_results, as_queries
from rankwise.types import Query, Run

DEFAULT_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"
METHODS = ("hyde", "expand", "rewrite")


@dataclass(frozen=True)
class RewriteTemplate:
    """A rewriting prompt as data.

    ``user`` (and ``system``) are format strings with ``{query}``; ``max_tokens`` bounds the answer;
    ``query_repeats`` is how many times the original query precedes the generated text in the new query (0: the
    generated text replaces the query); ``first_line`` keeps only the answer's first non-empty line.
    """

    name: str
    method: str
    user: str
    system: str | None = None
    max_tokens: int = 128
    query_repeats: int = 5
    first_line: bool = False
    paper: str = ""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"rewrite template {self.name!r}: method must be one of {', '.join(METHODS)}; "
                             f"got {self.method!r}")
        for where, text in (("user", self.user), ("system", self.system)):
            names = {n for _, n, _, _ in string.Formatter().parse(text or "") if n is not None}
            if names - {"query"}:
                raise ValueError(f"rewrite template {self.name!r}: {where} text may use only {{query}}; found "
                                 f"{', '.join('{' + n + '}' for n in sorted(names - {'query'}))}")
        if "{query}" not in self.user:
            raise ValueError(f"rewrite template {self.name!r}: the user text must contain {{query}}")
        positive_int("max_tokens", self.max_tokens)
        positive_int("query_repeats", self.query_repeats, minimum=0)

    @classmethod
    def from_dict(cls, data: dict) -> "RewriteTemplate":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown rewrite template field(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**data)

    def prompt(self, query: str):
        from rankwise.rerank.llm.backends import Prompt

        messages = [("system", self.system.format(query=query))] if self.system else []
        return Prompt.chat(messages + [("user", self.user.format(query=query))])

    def clean(self, answer: str) -> str:
        """The usable part of an answer: first line if asked, quotes and list markers dropped, spaces collapsed."""
        text = answer.strip()
        if self.first_line:
            text = next((line for line in text.splitlines() if line.strip()), "")
        text = re.sub(r"(?m)^\s*(?:[-*\u2022]|\d+[.)])\s+", "", text)  # "1. word" / "- word" list markers
        return " ".join(text.split()).strip().strip('"').strip()

    def combine(self, query: str, generated: str) -> str:
        return " ".join([query] * self.query_repeats + [generated])


TEMPLATES: dict[str, RewriteTemplate] = {t.name: t for t in (
    RewriteTemplate("hyde", "hyde", "Please write a passage to answer the question.\nQuestion: {query}\nPassage:",
                    paper="Gao et al. 2023, HyDE (web search instruction); query2doc's combination for BM25"),
    RewriteTemplate("hyde-scifact", "hyde",
                    "Please write a scientific paper passage to support/refute the claim.\nClaim: {query}\nPassage:",
                    paper="Gao et al. 2023, HyDE (SciFact instruction); query2doc's combination for BM25"),
    RewriteTemplate("expand", "expand", "Write a list of keywords for the given query:\nQuery: {query}\nKeywords:",
                    max_tokens=64, paper="Jagerman et al. 2023, Query2Keyword (zero-shot)"),
    RewriteTemplate("rewrite", "rewrite",
                    "Rewrite the search query below so that a search engine finds the documents that answer it. "
                    "Keep its meaning, make it clear and specific, and answer with the rewritten query only.\n"
                    "Query: {query}\nRewritten query:",
                    max_tokens=48, query_repeats=0, first_line=True,
                    paper="Ma et al. 2023, Rewrite-Retrieve-Read (zero-shot rewrite step)"),
)}


def get_rewrite_template(template: "str | RewriteTemplate | dict") -> RewriteTemplate:
    if isinstance(template, RewriteTemplate):
        return template
    if isinstance(template, dict):
        return RewriteTemplate.from_dict(template)
    try:
        return TEMPLATES[str(template)]
    except KeyError:
        raise ValueError(f"unknown rewrite template {template!r}; built-in: {', '.join(TEMPLATES)}") from None


class QueryRewriter:
    """Rewrites queries with an LLM (module docs). ``rewriter >> stage`` is a pipeline stage.

    Args:
        llm: an engine, a model name or path (local transformers), or an OpenAI-compatible URL.
        method: a built-in template name (``hyde``, ``hyde-scifact``, ``expand``, ``rewrite``), a
            :class:`RewriteTemplate`, or a dict holding one.
        max_tokens, query_repeats: override the template's.
    """

    def __init__(self, llm="HuggingFaceTB/SmolLM2-135M-Instruct", method: "str | RewriteTemplate | dict" = "hyde",
                 *, max_tokens: int | None = None, query_repeats: int | None = None):
        from rankwise.rerank.llm.backends import get_llm

        template = get_rewrite_template(method)
        changes = {k: v for k, v in (("max_tokens", max_tokens), ("query_repeats", query_repeats)) if v is not None}
        self.template = dataclasses.replace(template, **changes) if changes else template
        self.llm = get_llm(llm)
        self.records: dict[str, dict] = {}
        self.fallbacks = 0
        self.usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0}

    def __repr__(self) -> str:
        return f"QueryRewriter({self.llm!r}, {self.template.name!r})"

    def __str__(self) -> str:
        return f"rewrite[{self.template.name}]"

    def rewrite(self, queries) -> list[Query]:
        """The queries with their rewritten texts (same ids and dates); records every rewrite in ``records``."""
        queries = as_queries(queries)
        if not queries:
            return []
        prompts = [self.template.prompt(q.text) for q in queries]
        try:
            answers = self.llm.generate(prompts, self.template.max_tokens)
            errors = [a.error for a in answers]
        except Exception as e:  # noqa: BLE001 - a failed engine call leaves every query as it was, counted
            answers, errors = [None] * len(queries), [f"{type(e).__name__}: {e}"] * len(queries)
        out = []
        for q, answer, error in zip(queries, answers, errors):
            raw = answer.text if answer is not None else ""
            if answer is not None:
                self.usage["calls"] += 1
                self.usage["prompt_tokens"] += answer.usage.prompt_tokens
                self.usage["completion_tokens"] += answer.usage.completion_tokens
                self.usage["latency_s"] += answer.usage.latency_s
            generated = self.template.clean(raw)
            fallback = not generated
            self.fallbacks += fallback
            text = q.text if fallback else self.template.combine(q.text, generated)
            self.records[q.qid] = {"original": q.text, "generated": raw, "query": text, "method": self.template.name,
                                   "fallback": fallback, **({"error": error} if error else {})}
            out.append(Query(q.qid, text, q.date))
        failed = sum(1 for q in queries if self.records[q.qid]["fallback"])
        if failed:
            warnings.warn(f"{self}: {failed} of {len(queries)} LLM answer(s) were empty or failed; those queries "
                          "are used as they were", RuntimeWarning, stacklevel=2)
        return out

    def __rshift__(self, stage: Stage) -> "Rewritten":
        return Rewritten(self, stage)


class Rewritten(Stage):
    """``rewriter >> stage``: ``stage`` run on the rewritten queries; ``meta["rewrites"]`` holds them."""

    def __init__(self, rewriter: QueryRewriter, stage: Stage):
        if not isinstance(stage, Stage):
            raise TypeError(f"a rewriter feeds a pipeline stage (a retriever), got {type(stage).__name__}")
        self.rewriter, self.stage = rewriter, stage

    def transform(self, queries: Sequence[Query], run: Run | None) -> Run:
        rewritten = self.rewriter.rewrite(queries)
        # Results shared between pipelines (compare) are keyed by stage and input run, not by query texts: the
        # stage must not reuse what it computed for the original queries.
        token = _shared_results.set(None)
        try:
            out = self.stage.transform(rewritten, run)
        finally:
            _shared_results.reset(token)
        out = Run(out, name=str(self))
        out.meta["rewrites"] = {q.qid: self.rewriter.records[q.qid] for q in rewritten}
        return out

    def __str__(self) -> str:
        return f"{self.rewriter} >> {self.stage}"
