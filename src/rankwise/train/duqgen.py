"""DUQGen synthetic training queries: Chandradevan, Dhole & Agichtein, "DUQGen: Effective Unsupervised Domain
Adaptation of Neural Rankers by Diversifying Synthetic Query Generation", NAACL 2024 (released code:
emory-irlab/DUQGen), with a round-trip filter added.

    result = generate_synthetic_queries("data/scifact", "duqgen.jsonl", n=300, examples_split="train")
    train_cross_encoder("data/scifact", "models/ce-duqgen", split=None, synthetic="duqgen.jsonl", loss="bce")

The steps, as the released code does them:

1. **Embed** every document of at least ``min_chars`` characters (300 in the code) — here with a rankwise dense
   encoder (default the kit's bge-small; the paper uses Contriever).
2. **Cluster** the embeddings with k-means (faiss, 100 iterations, seed 420) into ``clusters`` clusters (the code's
   default equals the number of queries).
3. **Sample** ``1 + floor((n - K) * size / N)`` documents from each cluster (the remaining ones from the largest
   clusters): for five seeds, draw that many without replacement with probabilities ``softmax(cos(doc, centroid) /
   T)`` (T = 1), pool the draws, and keep the top ones by maximal marginal relevance against the document nearest
   the centroid (``mmr_lambda`` 1.0, the code's default, which ranks by similarity to that document alone).
4. **Generate** a query per sampled document with an LLM — the kit's SmolLM2-135M-Instruct locally or any
   OpenAI-compatible endpoint (:func:`rankwise.rerank.llm.backends.get_llm`) — from a raw 3-shot prompt in the
   code's format ("Example i: / Document: … / Relevant Query: …"), greedy, up to 64 new tokens; the answer is cut at
   its first line break and first "?" (as the code's clean-up does) and empty answers are dropped.
5. **Round-trip filter** (not in DUQGen; Promptagator-style consistency): a (query, document) pair is kept only if
   the document ranks in the top ``filter_k`` for its query with the given retriever (BM25 by default).

Every generated query is written to the JSONL output, kept or not (``kept``, ``rank``, ``cluster``), so the pass
rate and the dropped queries can be inspected. Training reads the kept ones (``synthetic=`` / ``--synthetic``);
negatives are mined like any other query's (DUQGen takes its 4 from ranks 93–96 of a dense top-100: ``pick="bottom"``
with ``negatives="dense"``, ``num_negatives=4``).

Deliberate differences from the paper: the encoder (bge-small instead of Contriever); document and example texts
are cut to ``max_doc_words`` and ``max_example_words`` words (the code: 512) so that prompts stay short enough for a
135M model on a CPU; the code's non-ASCII query filter is not applied (it would drop every query of a non-English
corpus); the few-shot examples come from a labelled split (``examples_split``) or a file, not from hand-picked
per-dataset templates; the round-trip filter.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.checks import positive_int
from rankwise.models import require

SEEDS = (35, 745, 10, 6534, 2)  # the released code's sampling seeds
KMEANS_SEED, KMEANS_ITERATIONS = 420, 100
DEFAULT_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class SyntheticResult:
    path: Path
    generated: int
    kept: int
    empty: int  # answers with no query after clean-up
    seconds: dict
    examples: list[dict]  # a few kept and dropped queries, for the docs

    @property
    def pass_rate(self) -> float:
        return self.kept / self.generated if self.generated else 0.0

    @classmethod
    def write(cls, records: list[dict], output, seconds: dict) -> SyntheticResult:
        """Write every generated query, kept or not (so a reader sees what the filter dropped), to ``output`` as
        JSONL, atomically: a reader never finds half a file."""
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + f".tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, output)
        kept = [r for r in records if r["kept"]]
        shown = kept[:5] + [r for r in records if not r["kept"]][:5]
        return cls(output, len(records), len(kept), sum(1 for r in records if not r["text"]),
                   {k: round(v, 1) for k, v in seconds.items()}, shown)


# --- 2 and 3: cluster and sample ------------------------------------------------------------------------------------
def cluster_sizes(sizes: Sequence[int], n: int) -> list[int]:
    """How many documents each cluster gives (the released code's rule): ``1 + floor((n - K) * size / N)``, then one
    more from each of the largest clusters until ``n`` is reached; never more than a cluster holds."""
    k, total = len(sizes), sum(sizes)
    if n < k:
        raise ValueError(f"{n} documents cannot come from {k} clusters (at least one each); use at most {n} clusters")
    counts = [min(size, 1 + int(np.floor((n - k) * size / total))) for size in sizes]
    order = sorted(range(k), key=lambda i: (sizes[i], i))  # ascending, as the code sorts
    remaining = n - sum(counts)
    for i in reversed(order):
        if remaining <= 0:
            break
        if counts[i] < sizes[i]:
            counts[i] += 1
            remaining -= 1
    return counts


def sample_documents(vectors: np.ndarray, n: int, clusters: int | None = None, *, temperature: float = 1.0,
                     mmr_lambda: float = 1.0, seed: int = KMEANS_SEED) -> list[tuple[int, int]]:
    """``n`` diverse rows of ``vectors`` as ``(row, cluster)``: k-means, per-cluster sizes, probabilistic sampling
    by similarity to the centroid, MMR (module docs)."""
    faiss = require("faiss", "train", "DUQGen's k-means clustering (faiss)")
    positive_int("n", n)
    clusters = positive_int("clusters", clusters if clusters is not None else n)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n > len(vectors):
        raise ValueError(f"cannot sample {n} documents from {len(vectors)}")
    clusters = min(clusters, n, len(vectors))
    kmeans = faiss.Kmeans(vectors.shape[1], clusters, niter=KMEANS_ITERATIONS, seed=seed, verbose=False)
    kmeans.train(vectors)
    _, assign = kmeans.index.search(vectors, 1)
    assign = assign[:, 0]
    members = [np.flatnonzero(assign == c) for c in range(clusters)]
    nonempty = [c for c in range(clusters) if len(members[c])]
    counts = dict(zip(nonempty, cluster_sizes([len(members[c]) for c in nonempty], n)))
    unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    centroids = kmeans.centroids / np.clip(np.linalg.norm(kmeans.centroids, axis=1, keepdims=True), 1e-12, None)
    order = list(nonempty)
    random.Random(seed).shuffle(order)  # the code visits clusters in a shuffled order; results do not depend on it
    out: list[tuple[int, int]] = []
    for c in order:
        rows, size = members[c], counts[c]
        cos = unit[rows] @ centroids[c]
        prob = np.exp((cos - cos.max()) / temperature)
        prob /= prob.sum()
        pool: list[int] = []
        for s in SEEDS:
            drawn = np.random.default_rng(s).choice(len(rows), size=size, replace=False, p=prob)
            pool.extend(int(rows[i]) for i in drawn if int(rows[i]) not in pool)
        seed_row = int(rows[int(np.argmax(cos))])  # the document nearest the centroid
        out.extend((row, c) for row in _mmr(unit, pool, seed_row, size, mmr_lambda))
    return out


def _mmr(unit: np.ndarray, pool: list[int], seed_row: int, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance selection of ``k`` rows of ``pool`` against ``seed_row``."""
    relevance = unit[pool] @ unit[seed_row]
    chosen: list[int] = []
    left = list(range(len(pool)))
    while left and len(chosen) < k:
        if chosen and lam < 1:
            redundancy = (unit[[pool[i] for i in left]] @ unit[[pool[j] for j in chosen]].T).max(axis=1)
        else:
            redundancy = np.zeros(len(left))
        scores = lam * relevance[left] - (1 - lam) * redundancy
        best = left[int(np.argmax(scores))]
        chosen.append(best)
        left.remove(best)
    return [pool[i] for i in chosen]


# --- 4: generate ----------------------------------------------------------------------------------------------------
def cut_words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit])


def build_prompt(document: str, examples: Sequence[tuple[str, str]]) -> str:
    """DUQGen's few-shot completion prompt: each example as "Example i:\\nDocument: …\\nRelevant Query: …", then the
    document with an empty "Relevant Query:" for the model to complete."""
    parts = [f"Example {i}:\nDocument: {doc}\nRelevant Query: {query}\n" for i, (doc, query) in enumerate(examples, 1)]
    parts.append(f"Example {len(examples) + 1}:\nDocument: {document}\nRelevant Query:")
    return "\n".join(parts)


def clean_query(text: str) -> str:
    """The released code's clean-up: the first line, up to the first question mark, stripped."""
    text = text.strip().split("\n")[0].strip()
    text = text.split("Example ")[0].split("Answer:")[0].split("?")[0]
    return re.sub(r"\s+", " ", text).strip()


def generate_queries(llm, documents: Sequence[str], examples: Sequence[tuple[str, str]], *,
                     max_tokens: int = 64, max_doc_words: int = 160, max_example_words: int = 100,
                     keys: Sequence[str] | None = None, journal: str | os.PathLike | None = None,
                     resume: bool = False, log=None) -> list[str]:
    """One cleaned query per document (``""`` when the answer holds none), from a few-shot prompt. ``keys``,
    ``journal``, ``resume``, ``log``: as :func:`generate_answers` (keys default to the documents' positions)."""
    from rankwise.rerank.llm.backends import Prompt, get_llm

    engine = get_llm(llm) if isinstance(llm, str) else llm
    shots = [(cut_words(d, max_example_words), q.strip()) for d, q in examples]
    prompts = [Prompt.raw(build_prompt(cut_words(doc, max_doc_words), shots)) for doc in documents]
    keys = [str(i) for i in range(len(prompts))] if keys is None else keys
    answers = generate_answers(engine, prompts, keys, max_tokens=max_tokens, journal=journal, resume=resume, log=log)
    return [clean_query(a) for a in answers]


GENERATION_CHUNK = 32  # prompts per engine call: one progress line and one journal commit each


def generate_answers(engine, prompts: Sequence, keys: Sequence[str], *, max_tokens: int,
                     journal: str | os.PathLike | None = None, resume: bool = False, log=None) -> list[str]:
    """The engine's answer to each prompt, generation stopped at the first line break (``""`` where the engine
    failed on a prompt; an error when it failed on all). Runs in chunks of :data:`GENERATION_CHUNK` with a progress
    line each. With ``journal`` (a file), each chunk's answers are committed as they come, keyed by ``keys``, so a
    killed generation continues where it stopped with ``resume=True``; the journal is tied to a digest of the
    prompts, the engine and ``max_tokens`` (other settings are refused). The caller deletes it with
    :func:`finish_journal` once its output is written."""
    from rankwise.distributed.journal import Journal

    if len(keys) != len(prompts) or len(set(keys)) != len(keys):
        raise ValueError(f"need one distinct key per prompt; got {len(set(keys))} distinct keys for "
                         f"{len(prompts)} prompts")
    say = log or (lambda line: None)
    digest = hashlib.sha256(json.dumps([[k, p.plain()] for k, p in zip(keys, prompts)]).encode()).hexdigest()
    settings = {"command": "generate-queries", "llm": getattr(engine, "name", type(engine).__name__),
                "max_tokens": max_tokens, "prompts": digest}
    opened = Journal.open(journal, settings, resume=resume) if journal is not None else None
    answers: dict[str, str] = {}
    errors: list[str] = []
    if opened is not None:
        answers.update({k: opened[k] for k in keys if k in opened})
        if answers:
            say(f"resuming: {len(answers)} of {len(keys)} answers read from {journal}")
    todo = [i for i, k in enumerate(keys) if k not in answers]
    start, done = time.perf_counter(), 0
    try:
        for s in range(0, len(todo), GENERATION_CHUNK):
            chunk = todo[s: s + GENERATION_CHUNK]
            for i, answer in zip(chunk, engine.generate([prompts[i] for i in chunk], max_tokens=max_tokens,
                                                        stop=["\n"])):
                if answer.error:  # not committed: a resumed run asks again
                    errors.append(answer.error)
                    continue
                answers[keys[i]] = answer.text
                if opened is not None:
                    opened.commit(keys[i], answer.text)
            done += len(chunk)
            each = (time.perf_counter() - start) / done
            say(f"generated {len(keys) - len(todo) + done}/{len(keys)} ({each:.1f} s each; about "
                f"{each * (len(todo) - done) / 60:.0f} min left)")
    finally:
        if opened is not None:
            opened.close()
    if errors and len(errors) == len(prompts):
        raise RuntimeError(f"the LLM answered none of the {len(prompts)} prompts: {errors[0]}")
    if errors:
        say(f"the LLM failed on {len(errors)} of {len(prompts)} prompts (written as empty queries): {errors[0]}")
    return [answers.get(k, "") for k in keys]


def journal_path(output: str | os.PathLike) -> Path:
    """Where the generation of ``output`` keeps its journal: beside it."""
    return Path(str(output) + ".journal")


def finish_journal(journal: str | os.PathLike) -> None:
    """Delete a generation journal once the output it fed is written."""
    Path(journal).unlink(missing_ok=True)


# --- 5: round trip --------------------------------------------------------------------------------------------------
def round_trip_ranks(retriever, queries: Sequence[str], docids: Sequence[str], k: int) -> list[int | None]:
    """The rank of each query's own document in ``retriever``'s top ``k`` for that query (None when absent)."""
    from rankwise.train.data import retrieve
    from rankwise.types import Query

    qs = [Query(f"q{i}", text) for i, text in enumerate(queries)]
    run = retrieve(retriever, qs, k) if qs else {}
    ranks: list[int | None] = []
    for q, docid in zip(qs, docids):
        ranking = run.get(q.qid)
        ranks.append(ranking.docids.index(docid) + 1 if ranking is not None and docid in ranking.docids else None)
    return ranks


def few_shot_examples(dataset, split: str, count: int = 3, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` (document, query) pairs from a labelled split, shortest documents among a seeded sample."""
    pairs = []
    for q in dataset.queries:
        for docid, grade in sorted(dataset.qrels.get(q.qid, {}).items()):
            if grade > 0 and docid in dataset.corpus:
                pairs.append((dataset.corpus[docid].contents, q.text))
                break
    if len(pairs) < count:
        raise ValueError(f"split {split!r} has {len(pairs)} judged (query, document) pair(s); the prompt takes "
                         f"{count} examples")
    rng = random.Random(seed)
    sample = rng.sample(pairs, min(len(pairs), 10 * count))
    return sorted(sample, key=lambda p: len(p[0]))[:count]


def corpus_and_examples(dataset, examples, split: str | None, count: int, exclude_queries: Sequence[str] = (),
                        seed: int = 0):
    """The collection (a BEIR folder or :class:`~rankwise.types.Dataset`; its corpus must hold documents) and the
    prompt's few-shot examples: ``examples`` as given, else taken from ``split``."""
    from rankwise.io import read_beir
    from rankwise.types import Dataset

    data = dataset if isinstance(dataset, Dataset) else read_beir(dataset, None)
    if not data.corpus:
        raise ValueError(f"{data.path or data.name}: the corpus holds no documents")
    if examples is None:
        examples = examples_from_split(data, split, count, exclude_queries, seed)
    return data, examples


def examples_from_split(data, split: str | None, count: int, exclude_queries: Sequence[str] = (),
                        seed: int = 0) -> list[tuple[str, str]]:
    """The prompt's few-shot examples from a labelled split of ``data`` (a :class:`~rankwise.types.Dataset`),
    leaving out the queries in ``exclude_queries`` (e.g. a held-out part)."""
    from rankwise.io import read_beir
    from rankwise.types import Dataset

    if split is None:
        raise ValueError("the query generation prompt needs few-shot examples: give examples (a JSONL file of "
                         "document/query pairs) or a labelled split to take them from")
    labelled = read_beir(data.path, split) if data.qrels is None else data
    drop = set(exclude_queries)
    labelled = Dataset(labelled.name, labelled.corpus, [q for q in labelled.queries if q.qid not in drop],
                       labelled.qrels, labelled.path)
    return few_shot_examples(labelled, split, count, seed)


def read_examples(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Few-shot examples from JSONL lines ``{"document": …, "query": …}``."""
    from rankwise.io.jsonl import field, read_jsonl

    out = [(field(path, n, obj, "document"), field(path, n, obj, "query")) for n, obj in read_jsonl(path)]
    if not out:
        raise ValueError(f"{path}: no examples (expected JSONL lines with 'document' and 'query')")
    return out


def generate_synthetic_queries(dataset, output: str | os.PathLike, *, n: int = 100, clusters: int | None = None,
                               encoder: str = "BAAI/bge-small-en-v1.5", llm=DEFAULT_LLM,
                               llm_options: dict | None = None, examples: Sequence[tuple[str, str]] | None = None,
                               examples_split: str | None = "train", num_examples: int = 3,
                               retriever="bm25", filter_k: int = 10, min_chars: int = 300,
                               max_doc_words: int = 160, max_example_words: int = 100, max_tokens: int = 64,
                               exclude_queries: Sequence[str] = (), seed: int = KMEANS_SEED,
                               resume: bool = False, log=None) -> SyntheticResult:
    """Run the five steps (module docs) on a BEIR folder (or :class:`~rankwise.types.Dataset`) and write every
    generated query to ``output`` (JSONL). ``exclude_queries``: query ids of ``examples_split`` not to take
    examples from (e.g. a held-out part). The generation keeps a journal beside ``output`` (``OUTPUT.journal``):
    after a kill, ``resume=True`` continues it."""
    from rankwise.retrieve import DenseRetriever
    from rankwise.train.data import build_retriever

    positive_int("n", n)
    positive_int("filter_k", filter_k)
    say = log or (lambda line: None)
    times: dict[str, float] = {}
    data, examples = corpus_and_examples(dataset, examples, examples_split, num_examples, exclude_queries, seed)
    docs = [d for d in data.corpus.values() if len(d.contents) >= min_chars]
    if len(docs) < n:
        raise ValueError(f"only {len(docs)} documents have at least {min_chars} characters; ask for at most that many "
                         "queries or lower min_chars")
    start = time.perf_counter()
    dense = DenseRetriever(encoder, cache=True).index(docs)
    times["embed"] = time.perf_counter() - start
    start = time.perf_counter()
    picked = sample_documents(np.asarray(dense.vectors), n, clusters, seed=seed)
    times["cluster_and_sample"] = time.perf_counter() - start
    say(f"sampled {len(picked)} documents from {clusters or n} clusters; generating queries")
    chosen = [docs[row] for row, _ in picked]
    start = time.perf_counter()
    from rankwise.rerank.llm.backends import get_llm

    engine = get_llm(llm, **(llm_options or {})) if isinstance(llm, str) else llm
    queries = generate_queries(engine, [d.contents for d in chosen], examples, max_tokens=max_tokens,
                               max_doc_words=max_doc_words, max_example_words=max_example_words,
                               keys=[d.docid for d in chosen], journal=journal_path(output), resume=resume, log=say)
    times["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    engine_for_filter = build_retriever(retriever, data.corpus, depth=filter_k)
    live = [i for i, q in enumerate(queries) if q]
    ranks_live = round_trip_ranks(engine_for_filter, [queries[i] for i in live], [chosen[i].docid for i in live],
                                  filter_k)
    ranks: list[int | None] = [None] * len(queries)
    for i, rank in zip(live, ranks_live):
        ranks[i] = rank
    times["filter"] = time.perf_counter() - start
    records = [{"_id": f"duqgen-{doc.docid}", "text": query, "docid": doc.docid, "cluster": int(cluster),
                "rank": rank, "kept": bool(query) and rank is not None}
               for (row, cluster), doc, query, rank in zip(picked, chosen, queries, ranks)]
    result = SyntheticResult.write(records, output, times)
    finish_journal(journal_path(output))
    say(f"kept {result.kept} of {result.generated} generated queries ({result.empty} empty; round trip: document in "
        f"the {retriever} top {filter_k}); wrote {result.path}")
    return result


__all__ = [
    "SyntheticResult",
    "build_prompt",
    "clean_query",
    "cluster_sizes",
    "corpus_and_examples",
    "examples_from_split",
    "few_shot_examples",
    "finish_journal",
    "generate_answers",
    "generate_queries",
    "generate_synthetic_queries",
    "journal_path",
    "read_examples",
    "round_trip_ranks",
    "sample_documents",
]
