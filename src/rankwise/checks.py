"""Argument checks shared by every module, so that the same mistake gets the same message everywhere."""
from __future__ import annotations

import numpy as np


def positive_int(name: str, value, *, minimum: int = 1, optional: bool = False, hint: str = "") -> "int | None":
    """``value`` as an int when it is an integer >= ``minimum`` (None passes when ``optional``); else ValueError.

    Booleans are refused (``True`` is an int to Python, never a count to a person)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        what += " or None" if optional else ""
        raise ValueError(f"{name} must be {what}{f' ({hint})' if hint else ''}, got {value!r}")
    return int(value)
