"""TREC formats: runs, qrels, topics (tab-separated and ``<top>``) and ``<DOC>`` document files."""
from __future__ import annotations

import gzip
import io
import math
import re
import warnings
from typing import Iterable, Iterator

import numpy as np

from rankwise.io.dates import parse_date
from rankwise.io.files import (
    FormatError,
    PathLike,
    atomic_open,
    numbered_lines,
    open_text,
)
from rankwise.types import Document, Qrels, Query, Ranking, Run


# --- runs ---------------------------------------------------------------------------------------------------
def read_run(path: PathLike, *, strict: bool = True, name: str | None = None) -> Run:
    """Read a TREC run: ``qid Q0 docid rank score tag`` per line, whitespace-separated.

    Rankings are re-sorted into trec_eval's order (score desc, docid desc); the rank column is checked to be an
    integer but, as in trec_eval, does not decide the order. Lines starting with ``#`` are comments.
    ``strict=False`` accepts extra columns after the tag (trec_eval ignores them) and warns how many lines had them.
    """
    fast = _read_well_formed_run(path)
    if fast is not None:
        rankings, tag = fast
        return Run(rankings, name=name or tag)
    # Something is irregular (comments, bad columns, values or duplicates): the careful reader finds the line.
    by_query: dict[str, tuple[list[str], list[float], dict[str, int]]] = {}
    tag = None
    extra_lines = 0
    for number, line in numbered_lines(path):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 6:
            if len(fields) > 6 and not strict:
                extra_lines += 1
            else:
                fix = (
                    "pass strict=False (CLI: --lenient) to ignore text after the run tag"
                    if len(fields) > 6
                    else None
                )
                raise FormatError(
                    path, number, f"expected 6 columns 'qid Q0 docid rank score tag', found {len(fields)}: {line!r}", fix
                )
        qid, _, docid, rank, score_text = fields[:5]
        tag = tag or fields[5]
        try:
            score = float(score_text)
        except ValueError:
            raise FormatError(path, number, f"score {score_text!r} (column 5) is not a number") from None
        if not math.isfinite(score):
            raise FormatError(path, number, f"score {score_text!r} (column 5) is not a finite number")
        if not _is_int(rank):
            raise FormatError(
                path, number, f"rank {rank!r} (column 4) is not an integer",
                "are the rank and score columns swapped? expected 'qid Q0 docid rank score tag'",
            )
        docids, scores, first_line = by_query.setdefault(qid, ([], [], {}))
        if docid in first_line:
            raise FormatError(
                path, number, f"document {docid!r} appears twice in the ranking of query {qid!r} "
                f"(first on line {first_line[docid]})",
            )
        first_line[docid] = number
        docids.append(docid)
        scores.append(score)
    if extra_lines:
        warnings.warn(f"{path}: {extra_lines} line(s) had text after the run tag; it was ignored", stacklevel=2)
    if not by_query:
        raise FormatError(path, None, "no run lines found (only comments or blank lines)")
    return Run((Ranking(qid, d, s) for qid, (d, s, _) in by_query.items()), name=name or tag or "run")


def _read_well_formed_run(path: PathLike) -> tuple[list[Ranking], str] | None:
    """Fast path for the common case of a run with no irregularities: values are converted per query in bulk
    (a 5M-line run reads in a few seconds). Returns None at the first irregularity of any kind."""
    buffers: dict[str, tuple[list[str], list[str], list[str]]] = {}
    current = None
    tag = None
    with open_text(path) as f:
        try:
            for line in f:
                fields = line.split()
                if len(fields) != 6 or fields[0][0] == "#":
                    return None
                qid = fields[0]
                if qid != current:
                    current = qid
                    docids, scores, ranks = buffers.setdefault(qid, ([], [], []))
                    tag = tag or fields[5]
                docids.append(fields[2])
                ranks.append(fields[3])
                scores.append(fields[4])
        except UnicodeDecodeError:
            return None
    if not buffers:
        return None
    rankings = []
    for qid, (docids, score_texts, ranks) in buffers.items():
        if not "".join(ranks).isdigit():
            return None
        try:
            scores = np.array(score_texts, dtype=np.float64)
        except ValueError:
            return None
        if not np.isfinite(scores).all() or len(set(docids)) != len(docids):
            return None
        rankings.append(Ranking(qid, docids, scores))
    return rankings, tag


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def format_run(run: Run, tag: str | None = None) -> Iterator[str]:
    """Lines of a TREC run; scores keep full precision so that reading the file back gives the same order."""
    tag = run_tag(run, tag)
    for qid, ranking in run.items():
        for rank, (docid, score) in enumerate(ranking, start=1):
            yield f"{qid} Q0 {docid} {rank} {score!r} {tag}\n"


def write_run(run: Run, path: PathLike, tag: str | None = None, *, info: dict | None = None) -> None:
    """Write a TREC run (gzip when the name ends in .gz) atomically: a reader, or a run killed while writing, sees
    the old file or the whole new one; gzip carries no time stamp, so equal runs give equal bytes. With ``info``
    (what produced the run: ``command``, ``stage``, ``parameters``…), also write its settings beside it
    (:mod:`rankwise.io.runinfo`); the run file itself stays plain TREC, as trec_eval reads it."""
    with atomic_open(path) as raw:
        out = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if str(path).endswith(".gz") else raw
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        text.writelines(format_run(run, tag))
        text.flush()
        text.detach()  # leave raw open: atomic_open fsyncs and renames it
        if out is not raw:
            out.close()
    if info is not None:
        from rankwise.io.runinfo import write_run_info

        write_run_info(path, run, run_tag(run, tag), info)


def run_tag(run: Run, tag: str | None = None) -> str:
    """The tag column written for ``run``: ``tag``, else the run's name, without spaces."""
    return (tag or run.name or "rankwise").replace(" ", "_") or "rankwise"


# --- qrels --------------------------------------------------------------------------------------------------
def read_qrels(path: PathLike) -> Qrels:
    """Read TREC qrels (``qid iteration docid relevance``, graded integers) or a BEIR qrels TSV
    (``query-id<TAB>corpus-id<TAB>score`` with a header line). Lines starting with ``#`` are comments. A line with
    three or four tab-separated fields is split at its tabs, so ids may hold spaces (HotpotQA's titles)."""
    qrels = Qrels()
    first_line: dict[tuple[str, str], int] = {}
    columns = None
    for number, line in numbered_lines(path):
        tabbed = line.split("\t")
        fields = [f.strip() for f in tabbed] if len(tabbed) in (3, 4) else line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if columns is None:
            columns = 3 if len(fields) == 3 else 4
            if fields[0] == "query-id" and columns == 3:
                continue  # BEIR header
        if len(fields) != columns:
            expected = "'query-id corpus-id score'" if columns == 3 else "'qid iteration docid relevance'"
            raise FormatError(path, number, f"expected {columns} columns {expected}, found {len(fields)}: {line!r}")
        qid, docid, rel_text = (fields[0], fields[1], fields[2]) if columns == 3 else (fields[0], fields[2], fields[3])
        try:
            rel = int(rel_text)
        except ValueError:
            raise FormatError(path, number, f"relevance {rel_text!r} is not an integer") from None
        key = (qid, docid)
        if key in first_line:
            raise FormatError(
                path, number, f"query {qid!r} judges document {docid!r} twice (first on line {first_line[key]})"
            )
        first_line[key] = number
        qrels.setdefault(qid, {})[docid] = rel
    if not qrels:
        raise FormatError(path, None, "no judgments found (only comments, blank lines or a header)")
    return qrels


def write_qrels(qrels: Qrels, path: PathLike) -> None:
    with open_text(path, "w") as f:
        for qid, judged in qrels.items():
            for docid, rel in judged.items():
                f.write(f"{qid} 0 {docid} {rel}\n")


# --- topics -------------------------------------------------------------------------------------------------
_TAG = re.compile(r"<(/?)(\w+)>", re.IGNORECASE)


def read_topics(path: PathLike, field: str = "title") -> list[Query]:
    """Read TREC topics: ``qid<TAB>text`` per line, or the SGML-like ``<top><num>…<title>…</top>`` form
    (``field`` picks title, desc or narr there). The form is chosen from the file's first non-blank line."""
    lines = list(numbered_lines(path))
    first = next((text for _, text in lines if text.strip()), "")
    if first.lstrip().lower().startswith("<top"):
        queries = _read_sgml_topics(path, lines, field.lower())
    else:
        queries = _read_tsv_topics(path, lines)
    seen: dict[str, Query] = {}
    for q in queries:
        if q.qid in seen:
            raise FormatError(path, None, f"query id {q.qid!r} appears twice")
        seen[q.qid] = q
    if not queries:
        raise FormatError(path, None, "no topics found")
    return queries


def _read_tsv_topics(path, lines) -> list[Query]:
    queries = []
    for number, line in lines:
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise FormatError(path, number, f"expected 'qid<TAB>text', found {len(parts)} tab-separated field(s)")
        qid, text = parts[0].strip(), parts[1].strip()
        if not qid or not text:
            raise FormatError(path, number, "empty query id or text")
        queries.append(Query(qid, text))
    return queries


def _read_sgml_topics(path, lines, field: str) -> list[Query]:
    queries: list[Query] = []
    fields: dict[str, list[str]] = {}
    current: str | None = None
    start_line = 0
    for number, line in lines:
        pos = 0
        for m in _TAG.finditer(line):
            if current is not None:
                fields[current].append(line[pos : m.start()])
            closing, tag = m.group(1) == "/", m.group(2).lower()
            pos = m.end()
            if tag == "top" and not closing:
                fields, current, start_line = {}, None, number
            elif tag == "top" and closing:
                queries.append(_topic_from_fields(path, start_line, fields, field))
                fields, current = {}, None
            elif closing:
                current = None
            else:
                current = tag
                fields.setdefault(tag, [])
        if current is not None:
            fields[current].append(line[pos:])
    if fields:
        raise FormatError(path, start_line, "topic starting here has no closing </top>")
    return queries


_PREFIXES = {"num": "number:", "title": "topic:", "desc": "description:", "narr": "narrative:"}


def _topic_from_fields(path, line: int, fields: dict[str, list[str]], field: str) -> Query:
    def clean(name: str) -> str:
        text = " ".join(" ".join(fields.get(name, [])).split())
        prefix = _PREFIXES.get(name)
        if prefix and text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
        return text

    qid = clean("num")
    if not qid:
        raise FormatError(path, line, "topic has no <num>")
    text = clean(field)
    if not text:
        raise FormatError(path, line, f"topic {qid} has no <{field}> text", "choose another field: title, desc, narr")
    return Query(qid, text)


_TAB_OR_NEWLINE = re.compile(r"[\t\r\n]+")


def write_topics(queries: Iterable[Query], path: PathLike) -> None:
    """Write ``qid<TAB>text`` topics (tabs and newlines inside a query become spaces)."""
    with open_text(path, "w") as f:
        for q in queries:
            text = _TAB_OR_NEWLINE.sub(" ", q.text)
            f.write(f"{q.qid}\t{text}\n")


# --- documents ----------------------------------------------------------------------------------------------
_DOC_TITLE_TAGS = ("title", "headline", "head")


def iter_trec_docs(path: PathLike) -> Iterator[Document]:
    """Stream ``<DOC><DOCNO>id</DOCNO>…</DOC>`` documents. Text inside other tags is kept (tags removed);
    a ``<TITLE>``/``<HEADLINE>`` element becomes the title, a ``<DATE>`` element the date (see
    :func:`rankwise.io.dates.parse_date`; a document whose ``<DATE>`` cannot be read stays undated, and one warning
    at the end of the file counts them)."""
    unreadable: list[int] = []
    yield from _iter_trec_docs(path, unreadable)
    if unreadable:
        warnings.warn(f"{path}: {len(unreadable)} document(s) have a <DATE> that is not a date (first at line "
                      f"{unreadable[0]}); they are read as undated")


def _iter_trec_docs(path: PathLike, unreadable: list[int]) -> Iterator[Document]:
    in_doc = False
    start_line = 0
    body: list[str] = []
    for number, line in numbered_lines(path):
        stripped = line.strip()
        upper = stripped.upper()
        if upper.startswith("<DOC>"):
            if in_doc:
                raise FormatError(path, number, f"<DOC> opened before the document from line {start_line} was closed")
            in_doc, start_line, body = True, number, []
            line = stripped = stripped[len("<DOC>") :]
            upper = stripped.upper()
        if not in_doc:
            if stripped:
                raise FormatError(path, number, f"text outside a <DOC> element: {stripped[:60]!r}")
            continue
        if upper.endswith("</DOC>"):
            body.append(stripped[: -len("</DOC>")])
            yield _parse_doc(path, start_line, "\n".join(body), unreadable)
            in_doc = False
            continue
        body.append(line)
    if in_doc:
        raise FormatError(path, start_line, "<DOC> is never closed by </DOC>")


_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.IGNORECASE | re.DOTALL)
_ELEMENT = re.compile(r"<(\w+)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_ANY_TAG = re.compile(r"</?\w+[^>]*>")
_DATE = re.compile(r"<DATE>(.*?)</DATE>", re.IGNORECASE | re.DOTALL)


def _parse_doc(path, line: int, body: str, unreadable: list[int]) -> Document:
    m = _DOCNO.search(body)
    if not m or not m.group(1):
        raise FormatError(path, line, "document has no <DOCNO>")
    docid = m.group(1)
    rest = body[: m.start()] + body[m.end() :]
    title = ""
    for el in _ELEMENT.finditer(rest):
        if el.group(1).lower() in _DOC_TITLE_TAGS:
            title = " ".join(_ANY_TAG.sub(" ", el.group(2)).split())
            rest = rest[: el.start()] + rest[el.end() :]
            break
    date = None
    found = _DATE.search(rest)
    if found:  # the date's text stays in the document's text, as every other element's does
        try:
            date = parse_date(_ANY_TAG.sub(" ", found.group(1)))
        except (ValueError, OverflowError, OSError):
            unreadable.append(line)
    text = " ".join(_ANY_TAG.sub(" ", rest).split())
    return Document(docid, text, title, date)


def read_trec_docs(path: PathLike) -> dict[str, Document]:
    """All documents of a TREC ``<DOC>`` file, by id; a repeated DOCNO is an error."""
    docs: dict[str, Document] = {}
    for doc in iter_trec_docs(path):
        if doc.docid in docs:
            raise FormatError(path, None, f"DOCNO {doc.docid!r} appears twice")
        docs[doc.docid] = doc
    return docs
