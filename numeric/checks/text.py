"""Text that came from a submission, made safe to show: no control characters, bounded length.

A file name, an exception's message or a line of code can hold newlines (a forged report
line), escape sequences (a terminal that changes colour, moves the cursor or retitles
itself), bidirectional overrides or a megabyte of text. :func:`clean` replaces every such
character by ``?`` and cuts the text; :func:`cell` also keeps a spreadsheet from reading a
CSV cell as a formula (``=HYPERLINK(...)``).
"""

from __future__ import annotations

__all__ = ["cell", "clean", "printable"]

LIMIT = 500
"""Default length of a cleaned text."""


def clean(text: str, limit: int = LIMIT) -> str:
    """``text`` on one line, of at most ``limit`` characters (ending in … when cut)."""
    text = "".join(c if c.isprintable() else "?" for c in str(text)[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """``text`` with every control character but the newline replaced (the last guard before a terminal)."""
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)


def cell(value: str) -> str:
    """A CSV cell that no spreadsheet evaluates: a leading ``= + - @`` (or tab, carriage return) is
    quoted with ``'``."""
    value = clean(value, 2000)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
