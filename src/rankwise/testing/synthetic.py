"""Seeded synthetic collections for tests and benchmarks: judged queries, runs of graded quality, texts.

Each query has a pool of ``depth`` candidate documents (ids ``q<qid>-d<i>``), of which about two thirds are judged
(grades 0–3, about a quarter of the pool relevant) and the rest unjudged. Run ``r`` scores a candidate as
``grade × skill[r] + noise``, so runs with more skill rank relevant documents higher on average while differing
query by query. Texts: a query is three words; a passage holds each query word about as many times as its grade.
"""
from __future__ import annotations

import numpy as np

from rankwise.types import Qrels, Ranking, Run

_WORDS = ("river bank loan interest rate flood water bridge city market stock price energy solar wind power "
          "battery cell protein gene virus vaccine immune brain memory sleep coffee tea diet sugar heart lung "
          "ocean climate carbon forest soil crop wheat rice train engine rocket orbit planet star galaxy").split()


def synthetic_collection(num_queries: int = 50, num_runs: int = 3, depth: int = 20, seed: int = 0,
                         texts: bool = True):
    """``(runs, qrels, queries, documents)``: ``{name: Run}``, :class:`Qrels`, ``{qid: text}``, ``{docid: text}``
    (the texts empty when ``texts`` is false). Run names are ``run-0`` (weakest) … ``run-{num_runs - 1}``."""
    rng = np.random.default_rng(seed)
    qids = [str(1000 + i) for i in range(num_queries)]
    grades = rng.choice([0, 1, 2, 3], p=[0.75, 0.12, 0.08, 0.05], size=(num_queries, depth))
    judged = rng.random((num_queries, depth)) < 0.67
    docids = [[f"q{qid}-d{i}" for i in range(depth)] for qid in qids]
    qrels = Qrels()
    for q, qid in enumerate(qids):
        qrels[qid] = {docids[q][i]: int(grades[q, i]) for i in range(depth) if judged[q, i]}
        if not any(g >= 2 for g in qrels[qid].values()):  # every query has a relevant document (at level 2)
            qrels[qid][docids[q][0]] = 2
            grades[q, 0], judged[q, 0] = 2, True
    runs = {}
    for r in range(num_runs):
        skill = 0.3 + 0.6 * r
        scores = grades * skill + rng.normal(0, 1, size=(num_queries, depth))
        runs[f"run-{r}"] = Run((Ranking(qid, docids[q], scores[q]) for q, qid in enumerate(qids)), name=f"run-{r}")
    queries, documents = {}, {}
    if texts:
        for q, qid in enumerate(qids):
            words = list(rng.choice(_WORDS, size=3, replace=False))
            queries[qid] = " ".join(words)
            for i in range(depth):
                filler = list(rng.choice(_WORDS, size=30))
                for k in range(int(grades[q, i])):
                    filler[int(rng.integers(0, 30))] = words[k % 3]
                documents[docids[q][i]] = " ".join(filler).capitalize() + "."
    return runs, qrels, queries, documents
