"""Opening files (gzip transparently) and the error every reader raises on bad input."""
from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

PathLike = str | os.PathLike


class FormatError(ValueError):
    """Bad input in a file: names the file, the line and the problem (and the fix, when there is one)."""

    def __init__(self, path: PathLike, line: int | None, problem: str, fix: str | None = None):
        self.path, self.line, self.problem, self.fix = str(path), line, problem, fix
        where = f"{path}:{line}" if line is not None else str(path)
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


def is_gzip(path: PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_text(path: PathLike, mode: str = "r") -> IO[str]:
    """Open a text file for reading or writing; gzip when the name ends in .gz or the bytes say so."""
    path = Path(path)
    if "r" in mode:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder, expected a file")
        if is_gzip(path):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
        return open(path, "r", encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "wb"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def numbered_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) for every line; raises FormatError on an empty file
    or text that is not UTF-8."""
    any_line = False
    with open_text(path) as f:
        try:
            for number, line in enumerate(f, start=1):
                any_line = True
                yield number, line.rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise FormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not any_line:
        raise FormatError(path, None, "the file is empty")


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through, so that a reader (or a run killed at any point) sees the old file or
    the whole new one: a temporary file in the same folder, fsync'd, renamed over ``path``, folder fsync'd."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)
