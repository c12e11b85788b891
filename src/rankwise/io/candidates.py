"""RankGPT-style candidate JSON: ``[{"query": str, "hits": [{"qid", "docid", "content", "score", "rank"}]}]``.

The reranking input of RankGPT / RankLLM / FIRST: each query with its first-stage candidates and their texts.
"""
from __future__ import annotations

import json
import math

from rankwise.io.files import FormatError, PathLike, open_text
from rankwise.types import Query, Ranking, Run


def read_candidates(path: PathLike) -> tuple[list[Query], Run]:
    """Queries and their candidates (with texts). Errors name the entry (0-based) and hit that is wrong."""
    with open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise FormatError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, list):
        raise FormatError(path, None, f"expected a JSON list of {{'query', 'hits'}} objects, found {type(data).__name__}")
    if not data:
        raise FormatError(path, None, "the list of queries is empty")
    queries: list[Query] = []
    run = Run(name="candidates")
    for i, entry in enumerate(data):
        where = f"entry {i}"
        if not isinstance(entry, dict) or "query" not in entry or "hits" not in entry:
            raise FormatError(path, None, f"{where}: expected an object with 'query' and 'hits'")
        hits = entry["hits"]
        if not isinstance(hits, list):
            raise FormatError(path, None, f"{where}: 'hits' must be a list")
        qid = entry.get("qid", hits[0].get("qid") if hits and isinstance(hits[0], dict) else None)
        if qid is None:
            raise FormatError(path, None, f"{where}: no query id (add 'qid' to the entry or to its hits)")
        qid = str(qid)
        if qid in run:
            raise FormatError(path, None, f"{where}: query {qid!r} appears twice")
        docids, scores, texts = [], [], []
        given = True  # False: the hits gave no scores and the ones below are made up from their order
        for j, hit in enumerate(hits):
            for key in ("docid", "content"):
                if not isinstance(hit, dict) or key not in hit:
                    raise FormatError(path, None, f"{where}, hit {j}: missing {key!r}")
            if str(hit.get("qid", qid)) != qid:
                raise FormatError(path, None, f"{where}, hit {j}: qid {hit['qid']!r} differs from the entry's {qid!r}")
            score = hit.get("score")
            if score is None:
                # Without scores the given order is the ranking: descending pseudo-scores keep it.
                score = float(len(hits) - j)
                given = False
            elif not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
                raise FormatError(path, None, f"{where}, hit {j}: score {score!r} is not a finite number")
            docids.append(str(hit["docid"]))
            scores.append(float(score))
            texts.append(str(hit["content"]))
        try:
            run[qid] = Ranking(qid, docids, scores, texts, pseudo_scores=not given)
        except ValueError as e:
            raise FormatError(path, None, f"{where}: {e}") from None
        queries.append(Query(qid, str(entry["query"])))
    return queries, run


def write_candidates(queries: list[Query], run: Run, path: PathLike) -> None:
    """Write RankGPT-style JSON; every candidate must carry its text."""
    out = []
    for q in queries:
        ranking = run.get(q.qid)
        hits = []
        if ranking is not None:
            if ranking.texts is None:
                raise ValueError(f"query {q.qid!r}: candidates carry no texts; attach them with run.with_texts(corpus)")
            for rank, (docid, score, text) in enumerate(zip(ranking.docids, ranking.scores.tolist(), ranking.texts), 1):
                hits.append({"content": text, "qid": q.qid, "docid": docid, "rank": rank, "score": score})
        out.append({"query": q.text, "qid": q.qid, "hits": hits})
    with open_text(path, "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
