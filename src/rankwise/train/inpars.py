"""InPars synthetic training queries: Bonifacio, Abonizio, Fadaee & Nogueira, "InPars: Data Augmentation for
Information Retrieval using Large Language Models", 2022, and InPars-v2 (Jeronymo et al., 2023) — as the released
InPars toolkit (zetaalphavector/InPars: ``generate.py``, ``filter.py``) does it.

    result = generate_inpars_queries("data/scifact", "inpars.jsonl", n=1000, keep=100)
    train_cross_encoder("data/scifact", "models/ce-inpars", split=None, synthetic="inpars.jsonl",
                        negatives="bm25", pick="random", depth=1000)

1. **Sample** ``n`` documents of the corpus uniformly at random (seeded; the toolkit: 100,000).
2. **Generate** one query per document with an LLM — the kit's SmolLM2-135M-Instruct locally or any
   OpenAI-compatible endpoint — from the few-shot completion prompt "Example i: / Document: … / Relevant Query: …"
   (3 examples), the document cut to ``max_doc_tokens`` of the generator's tokens (256 in the toolkit); greedy, up to
   64 new tokens, ending at the first line break; the answer stripped.
3. **Score** each query: ``filter="scores"`` (InPars-v1) the mean log-probability of the query's tokens under the
   generator, given the prompt; ``filter="reranker"`` (InPars-v2) a reranker's score of (query, document) — the
   toolkit uses monoT5-3B, here any rankwise reranker or teacher (default the kit cross-encoder). Queries of fewer
   than ``min_tokens`` generator tokens (3) or more than ``max_query_tokens`` (default: no limit) are dropped first,
   as are, with ``skip_copied``, queries found verbatim in their document (the toolkit's options; off by default).
4. **Keep** the ``keep`` best-scored queries (the toolkit: the top 10,000 of 100,000, i.e. a tenth — the default
   here). Training then takes negatives at random from each query's BM25 top 1,000 (``negatives="bm25"``,
   ``pick="random"``, ``depth=1000``), as the toolkit's ``generate_triples.py`` does.

Every generated query is written to the JSONL output, kept or not (``score``, ``tokens``, ``kept``), so what the
filter dropped can be read; training reads the kept ones (``synthetic=`` / ``--synthetic``), like DUQGen's.

Deliberate differences from the toolkit: the few-shot examples come from a labelled split (or a file), not the
three fixed MS MARCO examples of its prompt file; the example documents are cut to ``max_doc_tokens`` like the
target document; the v1 score is the teacher-forced log-probability of the cleaned query (one more forward pass),
which under greedy decoding equals the toolkit's per-step log-probabilities of the generated tokens up to how the
text re-tokenizes; negatives exclude the query's own document (the toolkit's sampling can draw it).
"""
from __future__ import annotations

import math
import os
import random
import re
import time
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.train.duqgen import (
    DEFAULT_LLM,
    SyntheticResult,
    build_prompt,
    corpus_and_examples,
    finish_journal,
    generate_answers,
    journal_path,
)

FILTERS = ("scores", "reranker")


def sample_random_documents(docids: Sequence[str], n: int, seed: int = 1) -> list[str]:
    """``n`` distinct document ids drawn uniformly at random (seeded)."""
    positive_int("n", n)
    if n > len(docids):
        raise ValueError(f"cannot sample {n} documents from a corpus of {len(docids)}; ask for at most {len(docids)}")
    return random.Random(seed).sample(list(docids), n)


def clean_query(text: str) -> str:
    """The generated text up to its first line break, whitespace collapsed (the toolkit ends generation at the line
    break and strips the answer: an answer that starts with a line break is empty)."""
    return re.sub(r"\s+", " ", text.split("\n")[0]).strip()


def query_logprobs(engine, prompts, queries: Sequence[str]) -> list[list[float]]:
    """Per-token log-probabilities of each query as the generator's continuation of its prompt (the answer follows
    "Relevant Query:" after a space, as generated)."""
    scored = engine.continuation_logprobs(prompts, [" " + q for q in queries])
    failed = [s.error for s in scored if s.error]
    if failed:
        raise RuntimeError(f"the LLM could not score {len(failed)} of {len(scored)} queries: {failed[0]}")
    return [list(s.token_logprobs) for s in scored]


def top_by_score(scores: Sequence[float | None], keep: int) -> set[int]:
    """Indices of the ``keep`` highest scores (None = not eligible); ties go to the earlier query."""
    eligible = [i for i, s in enumerate(scores) if s is not None]
    return set(sorted(eligible, key=lambda i: (-scores[i], i))[:keep])


def generate_inpars_queries(dataset, output: str | os.PathLike, *, n: int = 100, keep: int | None = None,
                            filter: str = "scores", reranker="cross-encoder", llm=DEFAULT_LLM,
                            llm_options: dict | None = None, examples: Sequence[tuple[str, str]] | None = None,
                            examples_split: str | None = "train", num_examples: int = 3,
                            exclude_queries: Sequence[str] = (), max_doc_tokens: int = 256, max_tokens: int = 64,
                            min_tokens: int = 3, max_query_tokens: int | None = None, skip_copied: bool = False,
                            seed: int = 1, resume: bool = False, log=None) -> SyntheticResult:
    """Run the four steps (module docs) on a BEIR folder (or :class:`~rankwise.types.Dataset`) and write every
    generated query to ``output`` (JSONL). ``keep`` defaults to a tenth of ``n`` (the paper's 10,000 of 100,000);
    ``reranker`` (for ``filter="reranker"``) is a teacher spec (``cross-encoder``, ``monot5``, an ensemble
    ``a+b``) or a reranker/teacher object. The generation keeps a journal beside ``output``
    (``OUTPUT.journal``): after a kill, ``resume=True`` continues it."""
    from rankwise.rerank.llm.backends import Prompt, get_llm

    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {', '.join(FILTERS)}; got {filter!r}")
    positive_int("n", n)
    keep = positive_int("keep", keep if keep is not None else max(1, n // 10))
    if keep > n:
        raise ValueError(f"keep ({keep}) is more than the {n} queries generated; lower keep or raise n")
    positive_int("max_doc_tokens", max_doc_tokens)
    positive_int("min_tokens", min_tokens)
    positive_int("max_query_tokens", max_query_tokens, optional=True)
    say = log or (lambda line: None)
    times: dict[str, float] = {}
    data, examples = corpus_and_examples(dataset, examples, examples_split, num_examples, exclude_queries, seed)
    docids = sample_random_documents(list(data.corpus), n, seed)
    documents = [data.corpus[d].contents for d in docids]
    engine = get_llm(llm, **(llm_options or {})) if isinstance(llm, str) else llm
    shots = [(engine.truncate_text(d, max_doc_tokens), q.strip()) for d, q in examples]
    prompts = [Prompt.raw(build_prompt(engine.truncate_text(doc, max_doc_tokens), shots)) for doc in documents]
    say(f"sampled {n} documents at random; generating queries")
    start = time.perf_counter()
    answers = generate_answers(engine, prompts, docids, max_tokens=max_tokens, journal=journal_path(output),
                               resume=resume, log=say)
    queries = [clean_query(a) for a in answers]
    times["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    candidates = [i for i, q in enumerate(queries) if q and not (skip_copied and q.lower() in documents[i].lower())]
    per_token: dict[int, list[float]] = {}
    if filter == "scores" and candidates:
        per_token = dict(zip(candidates, query_logprobs(engine, [prompts[i] for i in candidates],
                                                        [queries[i] for i in candidates])))
    tokens: list[int | None] = [None] * n
    for i in candidates:
        tokens[i] = len(per_token[i]) if filter == "scores" else engine.count_tokens(" " + queries[i])
    live = [i for i in candidates if min_tokens <= tokens[i] <= (max_query_tokens or math.inf)]
    scores: list[float | None] = [None] * n
    if filter == "scores":
        for i in live:
            scores[i] = float(np.mean(per_token[i]))
    elif live:
        from rankwise.train.teachers import make_teacher

        judged = make_teacher(reranker).score_pairs([queries[i] for i in live], [documents[i] for i in live])
        for i, value in zip(live, judged.tolist()):
            scores[i] = float(value)
    chosen = top_by_score(scores, keep)
    times["score"] = time.perf_counter() - start

    records = [{"_id": f"inpars-{docid}", "text": query, "docid": docid, "tokens": tokens[i], "score": scores[i],
                "kept": i in chosen} for i, (docid, query) in enumerate(zip(docids, queries))]
    result = SyntheticResult.write(records, output, times)
    finish_journal(journal_path(output))
    say(f"kept {result.kept} of {n} generated queries ({result.empty} empty, {n - result.empty - len(live)} of a "
        f"length outside [{min_tokens}, {max_query_tokens or '∞'}] tokens{' or copied' if skip_copied else ''}; the "
        f"top {keep} by {'mean log-probability' if filter == 'scores' else 'reranker score'}); wrote {result.path}")
    return result


__all__ = ["FILTERS", "clean_query", "generate_inpars_queries", "query_logprobs", "sample_random_documents",
           "top_by_score"]
