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
            text = f.read()
        except UnicodeDecodeError as e:
            raise FormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise FormatError(path, None, "the file is empty")
    try:
        data = json.loads(text)
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
        if not isinstance(entry["query"], str):
            raise FormatError(path, None, f"{where}: 'query' is {_kind(entry['query'])}, expected the query's text")
        hits = entry["hits"]
        if not isinstance(hits, list):
            raise FormatError(path, None, f"{where}: 'hits' must be a list")
        qid = entry.get("qid", hits[0].get("qid") if hits and isinstance(hits[0], dict) else None)
        if qid is None:
            raise FormatError(path, None, f"{where}: no query id (add 'qid' to the entry or to its hits)")
        if not isinstance(qid, (str, int)) or isinstance(qid, bool) or qid == "":
            raise FormatError(path, None, f"{where}: 'qid' is {_kind(qid)}, expected a query id (string or integer)")
        qid = str(qid)
        if qid in run:
            raise FormatError(path, None, f"{where}: query {qid!r} appears twice")
        docids, scores, texts = [], [], []
        given = True  # False: the hits gave no scores and the ones below are made up from their order
        for j, hit in enumerate(hits):
            for key in ("docid", "content"):
                if not isinstance(hit, dict) or key not in hit:
                    raise FormatError(path, None, f"{where}, hit {j}: missing {key!r}")
            if not isinstance(hit["content"], str):
                raise FormatError(path, None, f"{where}, hit {j}: 'content' is {_kind(hit['content'])}, expected the "
                                              "passage's text")
            if not isinstance(hit["docid"], (str, int)) or isinstance(hit["docid"], bool) or hit["docid"] == "":
                raise FormatError(path, None, f"{where}, hit {j}: 'docid' is {_kind(hit['docid'])}, expected a "
                                              "document id (string or integer)")
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


def _kind(value) -> str:
    """How a wrong JSON value reads in an error: null, an empty string, or its JSON type."""
    if value is None:
        return "null"
    if value == "":
        return "an empty string"
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


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
