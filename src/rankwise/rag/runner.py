"""A RAG run over many questions: retrieve (with or without question decomposition) → rerank → generate, one
question at a time, each answer written to the ANSWERS file as soon as it is made, so an interrupted run resumes
where it stopped (:class:`rankwise.rag.io.AnswerWriter`).

The same steps compose as pipeline stages (``bm25 % 50 >> cross_encoder >> Generator(llm)``, with
:class:`~rankwise.rag.decompose.Decompose` in front for decomposition); :class:`RAG` adds the file, the resume,
and the time each step took per question (``seconds``: ``decompose``, ``retrieve``, ``rerank``, ``generate``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

from rankwise.checks import positive_int
from rankwise.pipeline import Reranker, Stage, as_queries
from rankwise.rag.decompose import Decomposer, decomposed_pool
from rankwise.rag.generator import Answer, Answers, Generator, usage_summary
from rankwise.rag.io import AnswerWriter, sort_answers
from rankwise.types import Query, Ranking

if TYPE_CHECKING:
    from rankwise.distributed import RayOptions


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

    def run(self, queries, output=None, *, resume: bool = True, limit: int | None = None, backend: str = "local",
            ray: "RayOptions | None" = None, unit_size: int = 1) -> Answers:
        """Answer ``queries`` (a Dataset, Query objects or strings), writing each answer to ``output`` (JSONL) as it
        is made. With ``resume`` the questions ``output`` already answers are skipped (``self.skipped``); without it
        the file is replaced. ``limit`` answers only the first that many questions. Returns the new answers.

        ``backend="ray"`` answers groups of ``unit_size`` questions on a Ray actor pool (``ray``:
        :class:`rankwise.distributed.RayOptions`), each actor with its own copy of this RAG (models loaded once per
        actor). Answers are written as they arrive and the file is put back in question order at the end, so it
        holds what a single-process run writes (all but the timings) and resumes the same way."""
        queries: Sequence[Query] = as_queries(queries)
        if backend not in ("local", "ray"):
            raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
        if limit is not None:
            queries = queries[: positive_int("limit", limit)]
        positive_int("unit_size", unit_size, hint="questions per Ray task")
        writer = AnswerWriter(output, resume=resume, pipeline=str(self)) if output is not None else None
        done = writer.done if writer is not None else set()
        pending = [q for q in queries if q.qid not in done]
        self.skipped = len(queries) - len(pending)
        found: dict[str, Answer] = {}

        def keep(answer: Answer) -> None:
            if writer is not None:
                writer.write(answer.to_dict())
            found[answer.id] = answer

        try:
            if backend == "ray" and pending:
                self._answer_on_ray(pending, keep, ray, unit_size)
            else:
                from rankwise.progress import progress

                for q in progress(pending, desc="rag", unit="q"):
                    keep(self.answer(q))
        finally:
            if writer is not None:
                writer.close()
        if writer is not None and backend == "ray":
            sort_answers(writer.path, [q.qid for q in queries])
        out = Answers(name=str(self))
        for q in pending:
            out.answers[q.qid] = found[q.qid]
            out[q.qid] = found[q.qid].ranking
        return out

    def _answer_on_ray(self, pending: Sequence[Query], keep, options, unit_size: int) -> None:
        from rankwise.distributed import RayOptions
        from rankwise.distributed.ray_runner import run_on_ray
        from rankwise.distributed.units import merge_costs

        task = AnswerTask(self)
        units = [(f"rag/{start}", pending[start:start + unit_size]) for start in range(0, len(pending), unit_size)]

        def done(key, unit, value, payload) -> None:
            answers, generator_costs, decomposer_costs, counts = task.load(value, payload, unit)
            for answer in answers:
                keep(answer)
            merge_costs(self.generator.costs, [generator_costs])
            self.generator.failures += counts["failures"]
            if self.decomposer is not None:
                merge_costs(self.decomposer.costs, [decomposer_costs])
                self.decomposer.unusable += counts["unusable"]

        run_on_ray(task, units, options or RayOptions(), done)  # Ray Data shows the progress


def _rebuild_rag(generator, retriever, reranker, decomposer, k):
    return RAG(generator, retriever, reranker=reranker() if reranker is not None else None, decomposer=decomposer,
               k=k)


class AnswerTask:
    """The Ray unit of a RAG run (:mod:`rankwise.distributed.units` has the protocol): a group of questions -> their
    answers, with the cost records and counts of the calls made for them. Each actor rebuilds the RAG once: the
    generator, decomposer and retriever travel as they pickle (LLM engines and dense encoders as the call that
    built them, so the actor loads its own model), the reranker as its recipe."""

    def __init__(self, rag: RAG):
        from rankwise.distributed.units import Recipe, recipe_of

        reranker = recipe_of(rag.reranker, "reranker") if rag.reranker is not None else None
        for part, what in ((rag.retriever, "retriever"), (rag.generator, "generator"), (rag.decomposer, "decomposer")):
            if part is not None:
                recipe_of(part, what)  # one clear error here rather than one per actor
        self.recipe = Recipe(_rebuild_rag, rag.generator, rag.retriever, reranker, rag.decomposer, rag.k)

    def build(self) -> RAG:
        return self.recipe()

    def compute(self, rag: RAG, questions: list[Query]):
        from rankwise.distributed.units import cost_state

        rag.generator.costs.clear()
        rag.generator.failures = 0
        if rag.decomposer is not None:
            rag.decomposer.costs.clear()
            rag.decomposer.unusable = 0
        answers = [rag.answer(q).to_dict() for q in questions]
        decomposer = rag.decomposer
        counts = {"failures": rag.generator.failures, "unusable": decomposer.unusable if decomposer else 0}
        return answers, cost_state(rag.generator.costs), cost_state(decomposer.costs if decomposer else None), counts

    def dump(self, result):
        answers, generator_costs, decomposer_costs, counts = result
        return {"answers": answers, "generator": generator_costs, "decomposer": decomposer_costs,
                "counts": counts}, None

    def load(self, value, payload, questions):
        answers = [Answer.from_dict(a) for a in value["answers"]]
        return answers, value["generator"], value["decomposer"], value["counts"]
