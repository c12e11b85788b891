"""Training data: labelled (or synthetic) queries, hard negatives mined with rankwise retrievers, a false-negative
guard by teacher score.

    queries, corpus, stats = load_training_queries("data/scifact", "train")
    training = mine_negatives(queries, corpus, "bm25", num_negatives=7, teacher=teacher)

**Positives** are the documents a query's qrels grade at ``level`` or above. A query with none is skipped and
counted, as is a judged document missing from the corpus (partial collections are normal); a split that leaves no
query to train on, a split without qrels and an empty corpus are errors.

**Negatives** come from a first-stage retriever's top ``depth`` (BM25, dense, or their RRF hybrid) minus every
document judged relevant (any grade above 0). ``pick`` says which: ``"random"`` (uniform over the rest of the top
``depth``), ``"top"`` (the highest ranked: hardest) or ``"bottom"`` (DUQGen's choice: from the last ``2n`` of the
top ``depth``, the first ``n``). **False-negative guard**: with a teacher, a candidate the teacher scores within
``guard_margin`` of the query's lowest-scored positive (or above it) is taken for an unjudged relevant document and
dropped; twice the needed candidates are scored so that dropped ones can be replaced. Every drop is counted.

Each candidate keeps its first-stage rank and score (and teacher score), which the curriculum's difficulty
heuristics read (:mod:`rankwise.train.curriculum`).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rankwise.checks import positive_int
from rankwise.types import Dataset, Document, Query, Run

RETRIEVERS = ("bm25", "dense", "hybrid")
PICKS = ("random", "top", "bottom")
DEFAULT_DENSE = "BAAI/bge-small-en-v1.5"


@dataclass
class Candidate:
    """A document for a query: its text, first-stage rank (1-based; None when not retrieved) and score, grade."""

    docid: str
    text: str
    rank: int | None = None
    score: float | None = None
    grade: int = 0
    teacher: float | None = None


@dataclass
class TrainingQuery:
    qid: str
    text: str
    positives: list[Candidate]
    negatives: list[Candidate] = field(default_factory=list)
    synthetic: bool = False
    judged: frozenset[str] = frozenset()  # every document judged relevant (grade > 0): never a negative
    run_scores: tuple[float, ...] | None = None  # the first-stage scores of the query's top depth (curriculum)
    teacher_range: tuple[float, float] | None = None  # (min, max) teacher score over the query's scored pool


@dataclass
class TrainingSet:
    queries: list[TrainingQuery]
    stats: dict = field(default_factory=dict)


def _read_synthetic(path: str | os.PathLike, corpus: Mapping[str, Document]) -> tuple[list[TrainingQuery], dict]:
    """Queries written by :func:`rankwise.train.duqgen.generate_synthetic_queries` (JSONL: ``_id``, ``text``,
    ``docid``, ``kept``); only kept ones are used."""
    from rankwise.io.jsonl import field as json_field, read_jsonl

    out, dropped, missing = [], 0, 0
    for number, obj in read_jsonl(path):
        qid = json_field(path, number, obj, "_id")
        docid = json_field(path, number, obj, "docid")
        if not obj.get("kept", True):
            dropped += 1
            continue
        if docid not in corpus:
            missing += 1
            continue
        doc = corpus[docid]
        out.append(TrainingQuery(qid, json_field(path, number, obj, "text"),
                                 [Candidate(docid, doc.contents, grade=1)], synthetic=True))
    return out, {"synthetic_queries": len(out), "synthetic_filtered_out": dropped,
                 "synthetic_docs_missing": missing}


def load_training_queries(dataset: str | os.PathLike | Dataset, split: str | None = "train", *,
                          level: int = 1, qids: Iterable[str] | None = None,
                          synthetic: str | os.PathLike | None = None) -> tuple[list[TrainingQuery], dict, dict]:
    """(queries with their positives, corpus, counts) for training.

    ``split=None`` uses no labelled queries (then ``synthetic`` must give some). ``qids`` keeps only those labelled
    queries (e.g. the training part of a split whose other part chooses settings). ``synthetic``: a JSONL file of
    generated queries (:mod:`rankwise.train.duqgen`), each with its source document as the one positive.
    """
    from rankwise.io import read_beir

    positive_int("level", level)
    if split is None and synthetic is None:
        raise ValueError("nothing to train on: give a split with qrels (e.g. --split train) or synthetic queries "
                         "(--synthetic FILE from `rankwise train duqgen`)")
    if isinstance(dataset, Dataset):
        data = dataset
        if split is not None and data.qrels is None:
            raise ValueError(f"dataset {data.name!r} has no qrels for split {split!r}; training needs judgments")
    else:
        data = read_beir(dataset, split)
    where = data.path or data.name
    if not data.corpus:
        raise ValueError(f"{where}: the corpus holds no documents (corpus.jsonl is empty); nothing to train on")
    stats = {"corpus_documents": len(data.corpus)}
    queries: list[TrainingQuery] = []
    if split is not None:
        wanted = None if qids is None else set(qids)
        if wanted is not None:
            unknown = wanted - {q.qid for q in data.queries}
            if unknown:
                raise ValueError(f"{len(unknown)} of the given query ids are not judged in split {split!r} of "
                                 f"{where}, e.g. {sorted(unknown)[0]!r}")
        no_positive = missing_docs = 0
        chosen = [q for q in data.queries if wanted is None or q.qid in wanted]
        for q in chosen:
            judged = data.qrels.get(q.qid, {})
            positives = []
            for docid, grade in sorted(judged.items()):
                if grade < level:
                    continue
                if docid not in data.corpus:
                    missing_docs += 1
                    continue
                positives.append(Candidate(docid, data.corpus[docid].contents, grade=grade))
            if not positives:
                no_positive += 1
                continue
            queries.append(TrainingQuery(q.qid, q.text, positives,
                                         judged=frozenset(d for d, g in judged.items() if g > 0)))
        stats.update({"split": split, "split_queries": len(chosen), "labelled_queries": len(queries),
                      "skipped_without_positive": no_positive, "positives_missing_from_corpus": missing_docs})
        if no_positive or missing_docs:
            warnings.warn(f"{where} split {split!r}: skipped {no_positive} quer{'y' if no_positive == 1 else 'ies'} "
                          f"without a document graded >= {level} and {missing_docs} judged document(s) not in the "
                          "corpus", stacklevel=2)
        if not queries and synthetic is None:
            raise ValueError(f"{where} split {split!r}: none of its {len(chosen)} queries has a relevant document "
                             f"(grade >= {level}) in the corpus; nothing to train on")
    if synthetic is not None:
        generated, synthetic_stats = _read_synthetic(synthetic, data.corpus)
        if not generated:
            raise ValueError(f"{synthetic}: no kept synthetic query whose document is in the corpus")
        stats.update(synthetic_stats)
        queries.extend(generated)
    return queries, data.corpus, stats


def build_retriever(kind, corpus: Mapping[str, Document], *, depth: int, dense_model: str = DEFAULT_DENSE,
                    cache: bool = True):
    """A rankwise first-stage retriever over ``corpus``: a name in :data:`RETRIEVERS` or a ready stage."""
    from rankwise.pipeline import Stage

    if isinstance(kind, Stage):
        return kind
    if kind not in RETRIEVERS:
        raise ValueError(f"negatives must come from one of {', '.join(RETRIEVERS)}; got {kind!r}")
    from rankwise.retrieve import BM25Retriever, DenseRetriever

    docs = list(corpus.values())
    if kind == "bm25":
        return BM25Retriever().index(docs)
    dense = DenseRetriever(dense_model, cache=cache).index(docs)
    if kind == "dense":
        return dense
    from rankwise.fuse import fuse

    return fuse([BM25Retriever().index(docs) % depth, dense % depth], "rrf", top=depth)


def retrieve(retriever, queries: Sequence[Query], depth: int) -> Run:
    search = getattr(retriever, "search", None)
    if search is not None:
        return search(queries, k=depth)
    return (retriever % depth)(queries)


def mine_negatives(queries: list[TrainingQuery], corpus: Mapping[str, Document], retriever="bm25", *,
                   depth: int = 100, num_negatives: int = 7, pick: str = "random", teacher=None,
                   guard_margin: float = 0.0, seed: int = 0, dense_model: str = DEFAULT_DENSE,
                   stats: dict | None = None) -> TrainingSet:
    """Hard negatives for each query (see the module docs); returns the queries with ``negatives`` filled in."""
    positive_int("depth", depth)
    positive_int("num_negatives", num_negatives)
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {', '.join(PICKS)}; got {pick!r}")
    if not queries:
        raise ValueError("no training queries to mine negatives for")
    stats = dict(stats or {})
    engine = build_retriever(retriever, corpus, depth=depth, dense_model=dense_model)
    run = retrieve(engine, [Query(q.qid, q.text) for q in queries], depth)
    rng = random.Random(seed)
    wanted = num_negatives * (2 if teacher is not None else 1)
    pools: list[list[Candidate]] = []
    judged_relevant = 0
    for q in queries:
        ranking = run.get(q.qid)
        docids = ranking.docids if ranking is not None else []
        scores = ranking.scores.tolist() if ranking is not None else []
        if scores:
            q.run_scores = tuple(scores)
        position = {d: (i + 1, s) for i, (d, s) in enumerate(zip(docids, scores))}
        for p in q.positives:
            p.rank, p.score = position.get(p.docid, (None, None))
        relevant = {p.docid for p in q.positives} | q.judged
        rest = [Candidate(d, corpus[d].contents, rank, score) for d, (rank, score) in position.items()
                if d not in relevant]
        judged_relevant += len(docids) - len(rest)
        if pick == "random":
            rng.shuffle(rest)
        elif pick == "bottom":
            rest = rest[max(0, len(rest) - 2 * num_negatives):] + rest[: max(0, len(rest) - 2 * num_negatives)]
        pools.append(rest[:wanted])
    dropped = 0
    if teacher is not None:
        qs, texts = [], []
        for q, pool in zip(queries, pools):
            for c in [*q.positives, *pool]:
                qs.append(q.text)
                texts.append(c.text)
        scores = iter(teacher.score_pairs(qs, texts).tolist())
        for q, pool in zip(queries, pools):
            for c in [*q.positives, *pool]:
                c.teacher = next(scores)
            values = [c.teacher for c in [*q.positives, *pool]]
            q.teacher_range = (min(values), max(values))
            floor = min(p.teacher for p in q.positives) - guard_margin
            kept = [c for c in pool if c.teacher < floor]
            dropped += len(pool) - len(kept)
            pool[:] = kept
    short = 0
    for q, pool in zip(queries, pools):
        q.negatives = pool[:num_negatives]
        short += len(q.negatives) < num_negatives
    stats.update({"negatives_from": retriever if isinstance(retriever, str) else type(retriever).__name__,
                  "depth": depth, "pick": pick, "num_negatives": num_negatives,
                  "judged_relevant_removed_from_candidates": judged_relevant,
                  "dropped_by_false_negative_guard": dropped, "queries_short_of_negatives": short,
                  "negatives": sum(len(q.negatives) for q in queries)})
    if short:
        warnings.warn(f"{short} of {len(queries)} queries got fewer than {num_negatives} negatives (too few "
                      f"candidates in the top {depth}" + (" after the false-negative guard" if teacher else "") + ")",
                      stacklevel=2)
    return TrainingSet(queries, stats)


def split_queries(qids: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(kept, held out): a seeded random ``fraction`` of ``qids`` held out, e.g. to choose settings on."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be between 0 and 1, got {fraction!r}")
    order = sorted(qids)
    random.Random(seed).shuffle(order)
    n = max(1, round(len(order) * fraction))
    held = set(order[:n])
    return [q for q in qids if q not in held], [q for q in qids if q in held]


# --- rows: what the trainers read -----------------------------------------------------------------------------------
def rows_digest(rows: Sequence[dict]) -> str:
    """SHA-256 of the training rows (texts, labels, difficulties), in order: the record of what was trained on."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def write_rows(rows: Sequence[dict], path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


__all__ = ["Candidate", "PICKS", "RETRIEVERS", "TrainingQuery", "TrainingSet", "build_retriever",
           "load_training_queries", "mine_negatives", "read_rows", "rows_digest", "split_queries", "write_rows"]
