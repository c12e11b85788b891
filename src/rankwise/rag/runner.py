"""A RAG run over many questions: retrieve (with or without question decomposition) → rerank → generate, one
question at a time, each answer written to the ANSWERS file as soon as it is made, so an interrupted run resumes
where it stopped (:class:`rankwise.rag.io.AnswerWriter`).

The same steps compose as pipeline stages (``bm25 % 50 >> cross_encoder >> Generator(llm)``, with
:class:`~rankwise.rag.decompose.Decompose` in front for decomposition); :class:`RAG` adds the file, the resume,
and the time each step took per question (``seconds``: ``decompose``, ``retrieve``, ``rerank``, ``generate``).
"""
from __future__ import annotations

import time
from typing import Sequence

from rankwise.checks import positive_int
from rankwise.pipeline import Reranker, Stage, as_queries
from rankwise.rag.decompose import Decomposer, decomposed_pool
from rankwise.rag.generator import Answer, Answers, Generator, usage_summary
from rankwise.rag.io import AnswerWriter
from rankwise.types import Query, Ranking


class RAG(Stage):
    """Question answering with retrieval. A pipeline stage too: ``rag(queries)`` returns :class:`Answers` (a run of
    the final rankings plus the answers), so ``rankwise.compare([rag_a, rag_b], dataset, ["recall_10"])`` compares the
    evidence of RAG configurations; to answer from a run made elsewhere, end that pipeline with a :class:`Generator`.

    Args:
        generator: the :class:`Generator` that writes the answers.
        retriever: a retrieval stage (``BM25Retriever``, ``DenseRetriever``, ``fuse([bm25, dense])``…); None answers
            closed-book (the zero-shot baseline).
        reranker: reorders each question's candidates (for decomposition: the merged pool, against the original
            question).
        decomposer: splits each question into sub-questions, each retrieved for (``k`` each) before merging.
        k: candidates retrieved per question (and per sub-question).
    """

    def __init__(self, generator: Generator, retriever: Stage | None = None, *, reranker: Reranker | None = None,
                 decomposer: Decomposer | None = None, k: int = 20):
        positive_int("k", k)
        if retriever is None and (reranker is not None or decomposer is not None):
            raise ValueError("reranking and decomposition work on retrieved passages: give a retriever too")
        self.generator, self.retriever, self.reranker, self.decomposer, self.k = (
            generator, retriever, reranker, decomposer, k)
        self.skipped = 0  # questions already in the output file when a run resumed

    def __str__(self) -> str:
        if self.retriever is None:
            return f"closed-book >> {self.generator}"
        head = f"{self.retriever} % {self.k}"
        if self.decomposer is not None:
            head = f"{self.decomposer} + {head}"
        if self.reranker is not None:
            head += f" >> {getattr(self.reranker, 'name', self.reranker)}"
        return f"{head} >> {self.generator}"

    def candidates(self, query: Query) -> tuple[Ranking | None, list[str], dict[str, float]]:
        """One question's evidence without generation: (final ranking, sub-questions, seconds per step)."""
        seconds: dict[str, float] = {}
        sub_questions: list[str] = []
        candidates: Ranking | None = None
        if self.decomposer is not None:
            start = time.perf_counter()
            sub_questions = self.decomposer.decompose(query)
            seconds["decompose"] = time.perf_counter() - start
        if self.retriever is not None:
            start = time.perf_counter()
            candidates = decomposed_pool(query, sub_questions, self.retriever, self.k)
            seconds["retrieve"] = time.perf_counter() - start
        if self.reranker is not None and candidates is not None and len(candidates):
            start = time.perf_counter()
            candidates = self.reranker.rerank(query, candidates)
            seconds["rerank"] = time.perf_counter() - start
        return candidates, sub_questions, seconds

    def answer(self, query: Query | str) -> Answer:
        """Answer one question."""
        query = query if isinstance(query, Query) else Query("1", str(query))
        first_call = len(self.decomposer.costs.records) if self.decomposer is not None else 0
        total = time.perf_counter()
        candidates, sub_questions, seconds = self.candidates(query)
        start = time.perf_counter()
        answer = self.generator.answer(query, candidates)
        seconds["generate"] = time.perf_counter() - start
        seconds["total"] = time.perf_counter() - total
        answer.sub_questions = sub_questions
        answer.seconds = seconds
        answer.pipeline = str(self)
        if self.decomposer is not None:
            records = self.decomposer.costs.records[first_call:] + self.generator.costs.records[-1:]
            answer.llm = usage_summary(records)
        return answer

    def transform(self, queries: Sequence[Query], run) -> Answers:
        if run is not None:
            raise ValueError("RAG retrieves for itself and takes no input run; to answer from a run, end that "
                             "pipeline with a Generator: `bm25 % 50 >> reranker >> generator`")
        return self.run(queries)

    def run(self, queries, output=None, *, resume: bool = True, limit: int | None = None) -> Answers:
        """Answer ``queries`` (a Dataset, Query objects or strings), writing each answer to ``output`` (JSONL) as it
        is made. With ``resume`` the questions ``output`` already answers are skipped (``self.skipped``); without it
        the file is replaced. ``limit`` answers only the first that many questions. Returns the new answers."""
        from rankwise.progress import progress

        queries: Sequence[Query] = as_queries(queries)
        if limit is not None:
            queries = queries[: positive_int("limit", limit)]
        writer = AnswerWriter(output, resume=resume, pipeline=str(self)) if output is not None else None
        done = writer.done if writer is not None else set()
        pending = [q for q in queries if q.qid not in done]
        self.skipped = len(queries) - len(pending)
        out = Answers(name=str(self))
        try:
            for q in progress(pending, desc="rag", unit="q"):
                answer = self.answer(q)
                if writer is not None:
                    writer.write(answer.to_dict())
                out.answers[q.qid] = answer
                out[q.qid] = answer.ranking
        finally:
            if writer is not None:
                writer.close()
        return out
