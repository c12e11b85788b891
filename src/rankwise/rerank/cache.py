"""A persistent cache of model scores: (model, query, document text) -> score, in one SQLite file.

Re-running an experiment, or resuming one that was interrupted, then costs nothing for the pairs already scored::

    reranker = CrossEncoderReranker(cache="scores.sqlite")   # or ScoreCache("scores.sqlite") shared by several

Why SQLite (the standard library's ``sqlite3``): every write is a transaction, so a process killed mid-write leaves
the file as it was before that write or after it, never half-written; the write-ahead log lets several processes
read while one writes; and lookups by key need no loading of the whole file.

What a key holds, so that a score is never returned for another model or another text:

- **model**: a string the caller builds from everything that changes a score (for the cross-encoder: a digest of
  the weight and tokenizer files, the backend, precision, length limit and long-document mode), stored in full;
- **pair**: SHA-256 of the query and the document text (length-prefixed, so no two different pairs share an
  input). Two different pairs sharing a 256-bit digest is not a practical possibility.

Only finite scores are stored. ``ScoreCache.file_digest`` hashes a model file once and remembers the digest by
(path, size, modification time), so a multi-gigabyte model is not re-read on every run.
"""
from __future__ import annotations

import hashlib
import math
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

SCHEMA_VERSION = "1"
_LOOKUP_CHUNK = 500  # digests per SELECT … IN (…), well under SQLite's limit on bound parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS scores (
    model INTEGER NOT NULL REFERENCES models(id),
    pair BLOB NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (model, pair)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT NOT NULL);
"""


def pair_digest(query: str, text: str) -> bytes:
    """SHA-256 of a (query, text) pair; lengths are prefixed so ("ab", "c") and ("a", "bc") differ."""
    q, t = query.encode("utf-8"), text.encode("utf-8")
    h = hashlib.sha256()
    h.update(len(q).to_bytes(8, "little"))
    h.update(q)
    h.update(len(t).to_bytes(8, "little"))
    h.update(t)
    return h.digest()


class ScoreCache:
    """Scores of (query, text) pairs under a model key, persisted in an SQLite file (created when missing).

    ``get`` returns NaN for pairs not stored; ``put`` stores a batch in one transaction. Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise IsADirectoryError(f"score cache path {self.path} is a folder; give a file name such as "
                                    f"{self.path / 'scores.sqlite'}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._models: dict[str, int] = {}
        try:
            # Autocommit mode: transactions are opened explicitly in put(), so each batch is all or nothing.
            self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process never loses a commit
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise ValueError(f"score cache {self.path} has schema version {row[0]}, this rankwise writes "
                                 f"{SCHEMA_VERSION}; delete the file or choose another path")
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path} is not a usable score cache ({e}); delete it or choose another path") \
                from None

    # --- scores -----------------------------------------------------------------------------------------------
    def get(self, model: str, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Scores of the pairs ``(queries[i], texts[i])`` under ``model``; NaN where none is stored."""
        _check_lengths(queries, texts)
        out = np.full(len(texts), np.nan)
        model_id = self._model_id(model, create=False)
        if model_id is None or not len(texts):
            return out
        positions: dict[bytes, list[int]] = {}
        for i, (q, t) in enumerate(zip(queries, texts)):
            positions.setdefault(pair_digest(q, t), []).append(i)
        digests = list(positions)
        for start in range(0, len(digests), _LOOKUP_CHUNK):
            chunk = digests[start:start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT pair, score FROM scores WHERE model = ? AND pair IN ({marks})", (model_id, *chunk)
            )
            for digest, score in rows:
                out[positions[digest]] = score
        return out

    def put(self, model: str, queries: Sequence[str], texts: Sequence[str], scores: Iterable[float]) -> None:
        """Store the scores of the pairs ``(queries[i], texts[i])`` under ``model``, all in one transaction."""
        _check_lengths(queries, texts)
        scores = [float(s) for s in scores]
        if len(scores) != len(texts):
            raise ValueError(f"{len(texts)} pairs but {len(scores)} scores")
        bad = next((i for i, s in enumerate(scores) if not math.isfinite(s)), None)
        if bad is not None:
            raise ValueError(f"score {scores[bad]!r} of pair {bad} is not finite; the cache keeps finite scores only")
        if not scores:
            return
        rows = [(pair_digest(q, t), s) for q, t, s in zip(queries, texts, scores)]
        with self._transaction():
            model_id = self._model_id(model, create=True)
            self._db.executemany("INSERT OR REPLACE INTO scores (model, pair, score) VALUES (?, ?, ?)",
                                 [(model_id, d, s) for d, s in rows])

    def count(self, model: str | None = None) -> int:
        """Scores stored (under ``model``, or in all)."""
        if model is None:
            return self._db.execute("SELECT count(*) FROM scores").fetchone()[0]
        model_id = self._model_id(model, create=False)
        if model_id is None:
            return 0
        return self._db.execute("SELECT count(*) FROM scores WHERE model = ?", (model_id,)).fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def models(self) -> list[str]:
        """The model keys that have scores here."""
        return [row[0] for row in self._db.execute("SELECT key FROM models ORDER BY id")]

    # --- file digests -----------------------------------------------------------------------------------------
    def file_digest(self, path: str | os.PathLike) -> str:
        """SHA-256 of a file's bytes, remembered by (absolute path, size, modification time)."""
        path = Path(path).resolve()
        stat = path.stat()
        row = self._db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path = ?", (str(path),)).fetchone()
        if row is not None and row[0] == stat.st_size and row[1] == stat.st_mtime_ns:
            return row[2]
        digest = sha256_file(path)
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                             (str(path), stat.st_size, stat.st_mtime_ns, digest))
        return digest

    # --- housekeeping -----------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "ScoreCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ScoreCache({str(self.path)!r})"

    def _model_id(self, model: str, create: bool) -> int | None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"the model key must be a non-empty string, got {model!r}")
        if model in self._models:
            return self._models[model]
        row = self._db.execute("SELECT id FROM models WHERE key = ?", (model,)).fetchone()
        if row is None:
            if not create:
                return None
            self._db.execute("INSERT INTO models (key) VALUES (?)", (model,))
            row = self._db.execute("SELECT id FROM models WHERE key = ?", (model,)).fetchone()
        self._models[model] = row[0]
        return row[0]

    def _transaction(self):
        return _Transaction(self)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error: a batch is stored whole or not at all."""

    def __init__(self, cache: ScoreCache):
        self.cache = cache

    def __enter__(self):
        self.cache._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.cache._db.execute("COMMIT")
        else:
            self.cache._db.execute("ROLLBACK")
            self.cache._models.clear()  # a model row created in this transaction is gone


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_lengths(queries: Sequence[str], texts: Sequence[str]) -> None:
    if len(queries) != len(texts):
        raise ValueError(f"{len(queries)} queries but {len(texts)} texts: give one query per text")


__all__ = ["ScoreCache", "pair_digest", "sha256_file"]
