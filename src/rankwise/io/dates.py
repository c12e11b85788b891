"""Dates of documents and questions, as found in collections: ISO 8601 strings, Unix timestamps, TREC's ``<DATE>``.

:func:`parse_date` turns any of these into a timezone-aware :class:`datetime.datetime` in UTC (a date without a time
is midnight UTC), so that dates from different sources compare. Accepted:

- ``datetime``/``date`` objects; numbers: Unix time in seconds (values above 10^11 are taken as milliseconds);
- ISO 8601: ``2021-03-04``, ``2021-03-04T10:00:00Z``, ``2021-03-04 10:00:00+02:00``, ``2021-03``, ``2021``;
- digits alone: ``YYYYMMDD``, ``YYMMDD`` (TREC's FT / FBIS style, 19YY for YY >= 50, else 20YY);
- ``March 4, 2021`` / ``4 March 2021`` / ``Mar 4 2021`` anywhere in the text (LA Times' ``<DATE>`` lines);
- ``MM/DD/YY`` or ``MM/DD/YYYY`` (WSJ style).
"""
from __future__ import annotations

import datetime as _dt
import re

UTC = _dt.timezone.utc
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_MDY = re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.IGNORECASE)
_DMY = re.compile(r"\b(\d{1,2})\s+" + _MONTH + r",?\s+(\d{4})\b", re.IGNORECASE)
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_YEAR_MONTH = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def _year(y: int) -> int:
    return y if y >= 100 else (1900 + y if y >= 50 else 2000 + y)


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_date(value) -> _dt.datetime:
    """``value`` as an aware UTC datetime; ``ValueError`` naming the value when it is not a date."""
    if isinstance(value, _dt.datetime):
        return _utc(value)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) > 1e11 else value
        return _dt.datetime.fromtimestamp(seconds, tz=UTC)
    text = " ".join(str(value).split())
    try:
        return _parse_text(text)
    except (ValueError, OverflowError):
        pass
    raise ValueError(f"{str(value)[:60]!r} is not a date: write ISO 8601 (2021-03-04 or 2021-03-04T10:00:00Z) or "
                     "a Unix timestamp")


def _parse_text(text: str) -> _dt.datetime:
    if not text:
        raise ValueError("empty")
    if re.fullmatch(r"-?\d+\.\d+", text) or (text.isdigit() and len(text) >= 9):
        return parse_date(float(text))  # Unix time written as text
    if text.isdigit() and len(text) in (6, 8):
        year = int(text[:4]) if len(text) == 8 else _year(int(text[:2]))
        rest = text[4:] if len(text) == 8 else text[2:]
        return _dt.datetime(year, int(rest[:2]), int(rest[2:]), tzinfo=UTC)
    m = _YEAR_MONTH.match(text)
    if m:
        return _dt.datetime(int(m.group(1)), int(m.group(2) or 1), 1, tzinfo=UTC)
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return _utc(_dt.datetime.fromisoformat(iso))
    except ValueError:
        pass
    m = _SLASHED.match(text)
    if m:
        return _dt.datetime(_year(int(m.group(3))), int(m.group(1)), int(m.group(2)), tzinfo=UTC)
    m = _MDY.search(text)
    if m:
        return _dt.datetime(int(m.group(3)), _MONTHS[m.group(1).lower()[:3]], int(m.group(2)), tzinfo=UTC)
    m = _DMY.search(text)
    if m:
        return _dt.datetime(int(m.group(3)), _MONTHS[m.group(2).lower()[:3]], int(m.group(1)), tzinfo=UTC)
    raise ValueError(text)


def format_date(value: _dt.datetime) -> str:
    """ISO 8601 (``2021-03-04`` for midnight UTC, else ``2021-03-04T10:00:00+00:00``): what the writers emit."""
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.isoformat()
