"""Progress bars for long work: shown on a terminal, silent in pipes, CI and tests unless asked for.

Set ``RANKWISE_PROGRESS=1`` to force bars on, ``0`` to force them off.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    forced = os.environ.get("RANKWISE_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(items: Iterable[T], desc: str = "", total: int | None = None, unit: str = "it") -> Iterable[T]:
    """Wrap an iterable in a progress bar when progress is enabled."""
    if not progress_enabled():
        return items
    return tqdm(items, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)
