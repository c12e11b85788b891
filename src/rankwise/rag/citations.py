"""Reading a generated answer: its citations ([1], [2, 5], [1][3]) and the short answer itself."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

_NUMBER = re.compile(r"\d+")
_LABEL = re.compile(r"^\s*(?:the\s+)?(?:short\s+|final\s+)?answer\s*(?:is)?\s*[:：-]\s*", re.IGNORECASE)


@dataclass
class Parsed:
    """A generation read: ``answer`` (citation marks removed, first line), the cited passages' ids in order of
    first citation, and the citation numbers that named no passage of the prompt."""

    answer: str
    citations: list[str] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)


def parse_answer(text: str, docids: Sequence[str], citation: str = r"\[(\d+(?:\s*[,;]\s*\d+)*)\]") -> Parsed:
    """Split a generation into the answer and its citations. Citation ``n`` names ``docids[n - 1]``.

    The answer is the first non-empty line with every citation mark removed, a leading "Answer:" label dropped,
    and surrounding spaces and a final full stop stripped.
    """
    pattern = re.compile(citation)
    cited: list[str] = []
    invalid: list[int] = []
    for match in pattern.finditer(text):
        for number in map(int, _NUMBER.findall(match.group(1))):
            if 1 <= number <= len(docids):
                if docids[number - 1] not in cited:
                    cited.append(docids[number - 1])
            elif number not in invalid:
                invalid.append(number)
    cleaned = pattern.sub(" ", text)
    line = next((ln for ln in cleaned.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line)
    answer = " ".join(line.split()).rstrip(" .")
    return Parsed(answer, cited, invalid)
