"""The command line's habits, kept by every subcommand (the README lists them for users).

* A list option takes comma-separated values or is repeated (``--only a,b`` = ``--only a --only b``);
  it takes one word, so it never swallows a positional argument: :func:`names`.
* A flag that does not apply to what was asked is an error, never silently ignored: :func:`refuse`.
* A closed standard output (``layergrad check x.py | head -1``) ends quietly, with the exit code
  the work had: :class:`QuietStdout`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from derive.errors import LayergradError

__all__ = ["QuietStdout", "names", "refuse"]


def names(text: str) -> list[str]:
    """``"a,b"`` → ``["a", "b"]``: the type of a list option (with ``action="extend"``); the parser
    reports a malformed list with its usage."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"cannot read the list {text!r}; expected names separated by commas, "
                                         "such as a,b")
    return items


def refuse(given: dict[str, Any], unless: str) -> None:
    """Raise naming the flags in ``given`` (flag → its parsed value) that were set (not None, False
    or empty): they apply only ``unless`` says so, e.g. ``refuse({"--summary": stem}, "with a folder")``."""
    flags = [flag for flag, value in given.items() if value is not None and value is not False and value != []]
    if flags:
        raise LayergradError(f"{', '.join(flags)} {'applies' if len(flags) == 1 else 'apply'} only {unless}")


class QuietStdout:
    """Standard output that goes quiet when its reader leaves: on the first broken pipe, the rest
    of the output is sent to the null device, so the command finishes its work, returns that
    work's exit code, and no ``BrokenPipeError`` surfaces (not even when Python flushes at exit)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._stream.fileno())
        os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
