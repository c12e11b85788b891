"""JSON Lines: one JSON object per line, with file:line errors."""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from rankwise.io.files import FormatError, PathLike, numbered_lines, open_text


def read_jsonl(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line; a line that is not a JSON object is an error."""
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FormatError(path, number, f"not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise FormatError(path, number, f"expected a JSON object, found {type(obj).__name__}")
        yield number, obj


def write_jsonl(objects: Iterable[dict[str, Any]], path: PathLike) -> None:
    with open_text(path, "w") as f:
        for obj in objects:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def field(path: PathLike, number: int, obj: dict[str, Any], name: str, *, required: bool = True) -> str:
    """A string field of a JSONL object (ids may be numbers in the wild: they become strings)."""
    if name not in obj or obj[name] is None:
        if required:
            raise FormatError(path, number, f"missing field {name!r} (fields present: {', '.join(obj) or 'none'})")
        return ""
    value = obj[name]
    if isinstance(value, (dict, list)):
        raise FormatError(path, number, f"field {name!r} must be a string, found {type(value).__name__}")
    return str(value)
