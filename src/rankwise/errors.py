"""The errors rankwise raises for people: each says what was wrong and how to fix it.

:class:`UserError` marks a failure the user can fix (bad input, a missing model, a server that cannot serve the
request). The CLI prints such errors as one line and exits 2; the library raises them like any exception. Built-in
exceptions that mean the same (``ValueError``, ``OSError``, ``LookupError``, ``ImportError``) are treated alike.
"""
from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; the message names the file, line or value and the fix."""


# What the CLI reports as one line (exit 2) rather than as a fault of rankwise (exit 1).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError, ValueError, LookupError, ImportError)
