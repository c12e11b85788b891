"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""
from __future__ import annotations

from pathlib import Path

from rankwise.io.dates import format_date, parse_date
from rankwise.io.files import FormatError, PathLike
from rankwise.io.jsonl import field, read_jsonl, write_jsonl
from rankwise.io.trec import read_qrels
from rankwise.types import Dataset, Document, Qrels, Query

DATE_FIELDS = ("date", "timestamp")


def date_field(path: PathLike, number: int, obj: dict):
    """The ``date`` (or else ``timestamp``) of a JSONL object as a UTC datetime, None when it has neither."""
    for name in DATE_FIELDS:
        if obj.get(name) not in (None, ""):
            try:
                return parse_date(obj[name])
            except (ValueError, OverflowError, OSError) as e:
                raise FormatError(path, number, f"field {name!r}: {e}") from None
    return None


def read_corpus_jsonl(path: PathLike, id_field: str = "_id") -> dict[str, Document]:
    """Documents from JSONL with ``_id``, ``text``, optional ``title`` and optional ``date`` (or ``timestamp``:
    ISO 8601 or Unix time); a repeated id is an error."""
    docs: dict[str, Document] = {}
    for number, obj in read_jsonl(path):
        docid = field(path, number, obj, id_field)
        if docid in docs:
            raise FormatError(path, number, f"document id {docid!r} appears twice")
        docs[docid] = Document(docid, field(path, number, obj, "text"),
                               field(path, number, obj, "title", required=False), date_field(path, number, obj))
    return docs


def read_queries_jsonl(path: PathLike, id_field: str = "_id", text_field: str = "text") -> list[Query]:
    queries: list[Query] = []
    seen: set[str] = set()
    for number, obj in read_jsonl(path):
        qid = field(path, number, obj, id_field)
        if qid in seen:
            raise FormatError(path, number, f"query id {qid!r} appears twice")
        seen.add(qid)
        queries.append(Query(qid, field(path, number, obj, text_field), date_field(path, number, obj)))
    return queries


def beir_splits(folder: PathLike) -> list[str]:
    qrels_dir = Path(folder) / "qrels"
    return sorted(p.name.split(".")[0] for p in qrels_dir.glob("*.tsv*")) if qrels_dir.is_dir() else []


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder}: no {name} (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")


def read_beir(folder: PathLike, split: str | None = "test") -> Dataset:
    """Read a BEIR folder. The queries are those judged in ``qrels/<split>.tsv`` (BEIR's convention);
    ``split=None`` reads every query and no qrels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected a BEIR folder)")
    corpus = read_corpus_jsonl(_find(folder, "corpus.jsonl"))
    queries = read_queries_jsonl(_find(folder, "queries.jsonl"))
    qrels: Qrels | None = None
    if split is not None:
        try:
            qrels_path = _find(folder / "qrels", f"{split}.tsv")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{folder}/qrels: no split {split!r}; available: {', '.join(beir_splits(folder)) or 'none'}"
            ) from None
        qrels = read_qrels(qrels_path)
        known = {q.qid for q in queries}
        unknown = [qid for qid in qrels if qid not in known]
        if unknown:
            raise FormatError(
                qrels_path, None,
                f"{len(unknown)} judged query id(s) are not in queries.jsonl, e.g. {unknown[0]!r}",
            )
        queries = [q for q in queries if q.qid in qrels]
    return Dataset(name=folder.name, corpus=corpus, queries=queries, qrels=qrels, path=str(folder))


def write_beir(dataset: Dataset, folder: PathLike, split: str = "test") -> None:
    folder = Path(folder)
    def dated(obj: dict, date) -> dict:
        return {**obj, "date": format_date(date)} if date is not None else obj

    write_jsonl((dated({"_id": d.docid, "title": d.title, "text": d.text}, d.date) for d in dataset.corpus.values()),
                folder / "corpus.jsonl")
    write_jsonl((dated({"_id": q.qid, "text": q.text}, q.date) for q in dataset.queries), folder / "queries.jsonl")
    if dataset.qrels is not None:
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, judged in dataset.qrels.items():
                for docid, rel in judged.items():
                    f.write(f"{qid}\t{docid}\t{rel}\n")
