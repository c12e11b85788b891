"""A run journal: the completed units of a long run (queries, document shards), so that a killed run resumes.

The file is append-only. Its first record states what the run is (``settings``: the command, its inputs, models and
options); every later record is one completed unit: a key, a JSON value, and optionally a binary payload (encoded
vectors) kept beside the journal in ``<journal>.d/``. Each record is one line::

    <sha256 of the JSON body, 16 hex digits> <JSON body>\\n

and is written with one ``write`` and an ``fsync`` before the run moves on; a payload file is written to a temporary
name, fsync'd, renamed and its folder fsync'd *before* the record that names it (with its size and SHA-256).

Opening a journal to resume reads it whole and checks every record:

- a last record cut short (no final newline, a checksum that does not match, JSON that does not parse) is the trace
  of a write that was interrupted: it is cut off the file and its unit is done again — never trusted;
- a bad record *followed by good ones* is not an interrupted append but damage: :class:`JournalError` names the
  file and line (delete the journal to start over);
- a unit whose payload file is missing or whose bytes do not match the SHA-256 in its record is done again;
- settings that differ from the run's are refused (:class:`JournalError` lists the differences), so a journal never
  lends results to another experiment.

Typical use (what ``rankwise rerank --resume`` does; ``rag`` and ``train`` adopt it the same way)::

    from rankwise.distributed.journal import Journal

    with Journal.open(output + ".journal", settings={"command": "rag", "model": ..., "queries": digest},
                      resume=args.resume) as journal:            # resume=False and a journal exists -> error
        for q in queries:
            if q.qid in journal:                                 # done before the kill: reuse the answer
                answers[q.qid] = journal[q.qid]
                continue
            answers[q.qid] = answer = generate(q)
            journal.commit(q.qid, answer)                        # JSON-able value; now survives a SIGKILL
        write_output_atomically(answers)                         # rankwise.io.files.atomic_write
        journal.finish()                                         # the output is complete: the journal goes

``train`` commits one unit per finished epoch or checkpoint, with the checkpoint path and its SHA-256 as the value
(or the weights as ``payload=`` bytes); ``journal.units()`` lists the keys in the order they were committed.
Floats in values survive exactly (JSON keeps ``repr`` precision); NaN and infinities are refused.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from rankwise.io.files import atomic_write

FORMAT = "rankwise.journal"
VERSION = 1
CHECK_CHARS = 16


class JournalError(ValueError):
    """A journal that cannot be used: damaged, written for other settings, or present when not resuming."""


def _check(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest()[:CHECK_CHARS].encode("ascii")


def _line(value: Any) -> bytes:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return _check(body) + b" " + body + b"\n"


def _parse(line: bytes) -> Any:
    """The value of one record line (without its newline), or None when the line is damaged."""
    check, sep, body = line.partition(b" ")
    if not sep or len(check) != CHECK_CHARS or _check(body) != check:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


class Journal:
    """The completed units of one run (see the module docs). Build with :meth:`open`.

    ``key in journal``, ``journal[key]`` (the committed value), ``journal.payload(key)`` (the committed bytes),
    ``len(journal)``, ``journal.units()``; :meth:`commit` adds a unit; :meth:`finish` deletes the journal once the
    run's output is safely written. ``journal.redone`` counts units found torn or damaged and so done again.
    """

    def __init__(self, path: Path, settings: dict, records: dict[str, dict], redone: int):
        self.path = path
        self.settings = settings
        self._records = records
        self.redone = redone
        self._file = open(path, "ab", buffering=0)

    # --- opening ----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, settings: Mapping[str, Any], *, resume: bool = False) -> "Journal":
        """Start a journal at ``path``, or with ``resume=True`` continue the one there (a missing journal starts
        fresh). ``settings`` (JSON-able) identify the run: resuming with other settings is an error."""
        path = Path(path)
        settings = json.loads(json.dumps(dict(settings), allow_nan=False))  # normalised: tuples -> lists
        if path.is_dir():
            raise JournalError(f"journal path {path} is a folder; give a file name")
        if path.exists() and path.stat().st_size:
            if not resume:
                raise JournalError(f"{path} holds the journal of an interrupted run: pass --resume (resume=True) to "
                                   "continue it, or delete it (and its .d folder) to start over")
            records, redone = cls._read(path, settings)
            return cls(path, settings, records, redone)
        path.parent.mkdir(parents=True, exist_ok=True)
        if cls._blob_dir(path).exists():  # payloads of an earlier journal that was deleted: not to be trusted
            for f in cls._blob_dir(path).iterdir():
                f.unlink()
        atomic_write(path, _line({"format": FORMAT, "version": VERSION, "settings": settings}))
        return cls(path, settings, {}, 0)

    @staticmethod
    def _blob_dir(path: Path) -> Path:
        return path.with_name(path.name + ".d")

    @classmethod
    def _read(cls, path: Path, settings: dict) -> tuple[dict[str, dict], int]:
        data = path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline; else the bytes of a torn append
        good_end = len(data) - len(tail)
        values: list[Any] = []
        offset = 0
        for number, line in enumerate(lines, start=1):
            value = _parse(line)
            if value is None:
                if number < len(lines):
                    raise JournalError(
                        f"{path}, line {number}: damaged record (checksum or JSON) followed by good ones; this is "
                        "not an interrupted write. Delete the journal (and its .d folder) to start over")
                good_end = offset  # the last complete line is bad: a torn write, cut it off
                break
            values.append(value)
            offset += len(line) + 1
        torn = good_end < len(data)
        if not values:
            raise JournalError(f"{path}: no readable header; it is not a complete rankwise journal. Delete it to "
                               "start over")
        header = values[0]
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise JournalError(f"{path} is not a rankwise journal (first record {str(header)[:80]})")
        if header.get("version") != VERSION:
            raise JournalError(f"{path} is a version {header.get('version')} journal; this rankwise writes version "
                               f"{VERSION}. Delete it to start over")
        if header.get("settings") != settings:
            old, new = header.get("settings") or {}, settings
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            shown = "; ".join(f"{k}: journal {old.get(k)!r:.60} vs now {new.get(k)!r:.60}" for k in diff[:4])
            raise JournalError(f"{path} was written by a run with other settings ({shown}); resume with the same "
                               "command, or delete the journal to start over")
        if torn:
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        records: dict[str, dict] = {}
        redone = int(torn)
        blobs = cls._blob_dir(path)
        for record in values[1:]:
            blob = record.get("blob")
            if blob is not None:
                file = blobs / blob["name"]
                try:
                    ok = hashlib.sha256(file.read_bytes()).hexdigest() == blob["sha256"]
                except OSError:
                    ok = False
                if not ok:
                    redone += 1
                    continue
            records[record["key"]] = record
        return records, redone

    # --- reading ----------------------------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __getitem__(self, key: str) -> Any:
        return self._records[key]["value"]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def units(self) -> list[str]:
        """Keys of the completed units, in commit order."""
        return list(self._records)

    def payload(self, key: str) -> bytes | None:
        """The bytes committed with ``key`` (checked against their SHA-256 when the journal was opened)."""
        blob = self._records[key].get("blob")
        return None if blob is None else (self._blob_dir(self.path) / blob["name"]).read_bytes()

    # --- writing ----------------------------------------------------------------------------------------------
    def commit(self, key: str, value: Any = None, payload: bytes | None = None) -> None:
        """Record ``key`` as done with a JSON-able ``value`` and optional ``payload`` bytes; durable on return."""
        if not isinstance(key, str):
            raise TypeError(f"journal keys are strings, got {key!r}")
        record: dict[str, Any] = {"key": key, "value": value}
        if payload is not None:
            digest = hashlib.sha256(payload).hexdigest()
            name = f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:20]}-{digest[:12]}.bin"
            atomic_write(self._blob_dir(self.path) / name, payload)
            record["blob"] = {"name": name, "sha256": digest, "size": len(payload)}
        line = _line(record)
        self._file.write(line)  # one write of the whole record, unbuffered
        os.fsync(self._file.fileno())
        self._records[key] = json.loads(line[CHECK_CHARS + 1:])

    def finish(self) -> None:
        """The run's output is written: delete the journal and its payloads."""
        self.close()
        self.path.unlink(missing_ok=True)
        blobs = self._blob_dir(self.path)
        if blobs.is_dir():
            for f in blobs.iterdir():
                f.unlink()
            blobs.rmdir()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, units={len(self)}, redone={self.redone})"


__all__ = ["Journal", "JournalError", "atomic_write"]
