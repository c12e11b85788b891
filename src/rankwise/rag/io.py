"""Files of the RAG layer: gold answers in a BEIR ``queries.jsonl``, and the ANSWERS JSONL a run writes.

ANSWERS holds one JSON object per question, written (and flushed) as soon as the question is answered::

    {"id", "question", "answer", "citations": [docid…], "contexts": [{"docid", "score", "in_prompt"}…],
     "sub_questions": […], "seconds": {stage: s},
     "llm": {"calls", "prompt_tokens", "completion_tokens", "errors", "seconds"},
     "raw", "truncated", "dropped", "error", "pipeline"}

``contexts`` is the final ranking (after reranking), best first; ``in_prompt`` marks the passages the generator read.
A run that stops part-way resumes: :class:`AnswerWriter` reads the ids already answered and the run skips them. A last
line cut short by the interruption (no newline at its end) is removed with a warning, and its question is answered
again. Anything else that is not a valid answer line is an error naming the file and line.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import IO, Any

from rankwise.io.files import FormatError, PathLike, atomic_write
from rankwise.io.jsonl import read_jsonl


def read_gold_answers(path: PathLike, id_field: str = "_id") -> dict[str, list[str] | None]:
    """``{qid: accepted answers}`` from a ``queries.jsonl`` whose lines carry ``answer`` (a string or a list of
    strings); a question without an answer (field absent or null) maps to None: it is answered but not scored."""
    gold: dict[str, list[str] | None] = {}
    for number, obj in read_jsonl(path):
        if id_field not in obj:
            raise FormatError(path, number, f"missing field {id_field!r}")
        qid = str(obj[id_field])
        value = obj.get("answer")
        if value is None:
            gold[qid] = None
        elif isinstance(value, str):
            gold[qid] = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            gold[qid] = list(value)
        else:
            raise FormatError(path, number, f"field 'answer' must be a string or a non-empty list of strings, found "
                                            f"{json.dumps(value)[:60]}")
    return gold


def _check_record(path: PathLike, number: int, obj: dict[str, Any]) -> dict[str, Any]:
    def bad(problem: str):
        return FormatError(path, number, problem, "each line of ANSWERS is an object written by `rankwise rag`")

    for name in ("id", "answer"):
        if name not in obj:
            raise bad(f"missing field {name!r} (fields present: {', '.join(obj) or 'none'})")
        if not isinstance(obj[name], (str, int)) or isinstance(obj[name], bool):
            raise bad(f"field {name!r} must be a string, found {type(obj[name]).__name__}")
    obj["id"], obj["answer"] = str(obj["id"]), str(obj["answer"])
    contexts = obj.get("contexts") or []
    if not isinstance(contexts, list):
        raise bad("field 'contexts' must be a list of {\"docid\", \"score\"} objects")
    for i, c in enumerate(contexts):
        if not isinstance(c, dict) or "docid" not in c or not isinstance(c.get("score"), (int, float)):
            raise bad(f"contexts[{i}] must be an object with a \"docid\" and a numeric \"score\", found "
                      f"{json.dumps(c)[:60]}")
    citations = obj.get("citations") or []
    if not isinstance(citations, list) or not all(isinstance(c, str) for c in citations):
        raise bad("field 'citations' must be a list of document ids")
    return obj


def read_answers(path: PathLike) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of every answer line; a malformed line or a repeated id is an error naming it."""
    out: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, obj in read_jsonl(path):
        record = _check_record(path, number, obj)
        if record["id"] in seen:
            raise FormatError(path, number, f"question {record['id']!r} is answered twice (first on line "
                                            f"{seen[record['id']]})")
        seen[record["id"]] = number
        out.append((number, record))
    return out


def sort_answers(path: PathLike, order: list[str]) -> None:
    """Put the lines of ANSWERS in question order (``order``; ids it does not list keep their order, after it) when
    they are not: a run whose answers arrived in another order (Ray) ends with the file a single-process run writes.
    The file is replaced atomically."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    position = {qid: i for i, qid in enumerate(order)}
    ids = [str(json.loads(line)["id"]) for line in lines]
    keys = [(position.get(qid, len(order)), i) for i, qid in enumerate(ids)]
    if keys != sorted(keys):
        atomic_write(path, "".join(line for _, line in sorted(zip(keys, lines))).encode("utf-8"))


class AnswerWriter:
    """Appends answer lines to ``path`` as they come (flushed at once). With ``resume`` (default) an existing file is
    kept: :attr:`done` holds the ids it answers, and a torn last line is removed; without it the file is replaced.

    ``pipeline`` (a description of the configuration) is checked against the lines already there: resuming a file
    written by another configuration is an error, so that one file never mixes two systems.
    """

    def __init__(self, path: PathLike, *, resume: bool = True, pipeline: str | None = None):
        self.path = Path(path)
        self.done: set[str] = set()
        self.torn = False
        if self.path.exists() and self.path.is_dir():
            raise IsADirectoryError(f"{self.path}: is a folder; -o names the ANSWERS file to write")
        if resume and self.path.exists() and self.path.stat().st_size:
            self._scan(pipeline)
            mode = "a"
        else:
            mode = "w"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, mode, encoding="utf-8")

    def _scan(self, pipeline: str | None) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1  # 0 when the only line is torn
            number = data[:cut].count(b"\n") + 1
            warnings.warn(f"{self.path}:{number}: the last line is incomplete (the run was interrupted while writing "
                          "it); it is removed and its question will be answered again", RuntimeWarning, stacklevel=3)
            with open(self.path, "r+b") as f:
                f.truncate(cut)
            self.torn = True
            if cut == 0:
                return
        for number, record in read_answers(self.path):
            written_by = record.get("pipeline")
            if pipeline is not None and written_by is not None and written_by != pipeline:
                raise ValueError(f"{self.path}:{number}: this file was written by another configuration "
                                 f"({written_by!r}; now {pipeline!r}). Write to another file, or pass --overwrite "
                                 "(overwrite=True) to start again")
            self.done.add(record["id"])

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AnswerWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
