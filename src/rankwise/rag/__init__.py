"""Retrieval-augmented generation: retrieve → rerank → generate, with question decomposition, and the evaluation of
both the answers and the evidence. Generation runs on the LLM engines of :mod:`rankwise.rerank.llm` (local
transformers, any OpenAI-compatible server) with their cost records.

=============================== ====================================================================================
:mod:`~rankwise.rag.generator`  :class:`Generator` (a pipeline stage), :class:`Answer`, :class:`Answers` (Run + answers)
:mod:`~rankwise.rag.templates`  answer and decomposition prompts as data
:mod:`~rankwise.rag.context`    context packing within a token budget (dedupe, truncate, count)
:mod:`~rankwise.rag.citations`  citations ([1], [2, 3]) and the short answer read from a generation
:mod:`~rankwise.rag.decompose`  question decomposition (Ammann et al. 2025): LLM or supplied; :class:`Decompose` stage
:mod:`~rankwise.rag.runner`     :class:`RAG`: a resumable run over many questions, written to ANSWERS JSONL
:mod:`~rankwise.rag.io`         gold answers in ``queries.jsonl``; the ANSWERS file (reader, resumable writer)
:mod:`~rankwise.rag.metrics`    EM / F1 (equal to HotpotQA's script), accuracy, citation precision and recall
:mod:`~rankwise.rag.evaluate`   :func:`evaluate_answers` (answers + evidence via trec_eval), :func:`compare_answers`
=============================== ====================================================================================

>>> from rankwise.rag import Generator, RAG                                             # doctest: +SKIP
>>> bm25 = BM25Retriever().index(dataset.documents)                                    # doctest: +SKIP
>>> answers = (bm25 % 50 >> get_reranker("cross-encoder") >> Generator())(dataset.queries)  # doctest: +SKIP
>>> answers.answers["q01"].answer, evaluate_answers(answers, dataset)["f1"]           # doctest: +SKIP
"""
from rankwise.rag.citations import Parsed, parse_answer
from rankwise.rag.context import Packed, pack_contexts
from rankwise.rag.decompose import (
    Decompose,
    Decomposer,
    LLMDecomposer,
    SuppliedDecomposer,
    decomposed_pool,
    merge_pools,
    parse_sub_questions,
    read_sub_questions,
)
from rankwise.rag.evaluate import (
    DEFAULT_EVIDENCE_METRICS,
    AnswerEvaluation,
    AnswerEvaluationWarning,
    compare_answers,
    evaluate_answers,
)
from rankwise.rag.generator import Answer, Answers, Generator
from rankwise.rag.io import AnswerWriter, read_answers, read_gold_answers
from rankwise.rag.metrics import citation_scores, contains_answer, exact_match, f1_score, normalize_answer
from rankwise.rag.runner import RAG
from rankwise.rag.templates import (
    ANSWER_TEMPLATES,
    DECOMPOSE_TEMPLATES,
    AnswerTemplate,
    DecomposeTemplate,
)

__all__ = [
    "Generator", "Answer", "Answers", "RAG",
    "AnswerTemplate", "DecomposeTemplate", "ANSWER_TEMPLATES", "DECOMPOSE_TEMPLATES",
    "pack_contexts", "Packed", "parse_answer", "Parsed",
    "Decomposer", "LLMDecomposer", "SuppliedDecomposer", "Decompose", "decomposed_pool", "merge_pools",
    "parse_sub_questions", "read_sub_questions",
    "AnswerWriter", "read_answers", "read_gold_answers",
    "normalize_answer", "exact_match", "f1_score", "contains_answer", "citation_scores",
    "evaluate_answers", "compare_answers", "AnswerEvaluation", "AnswerEvaluationWarning", "DEFAULT_EVIDENCE_METRICS",
]
