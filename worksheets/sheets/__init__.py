"""The table of sheets: ``layergrad sheet --list`` prints it, ``layergrad sheet NAME`` builds one.

Every sheet is built from derivation objects (see :mod:`worksheets.document`); a sheet that
takes ``--seed`` builds a randomized variant with its own answer key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from derive.errors import LayergradError

from ..document import Sheet
from . import batchnorm, dropout_depth, quiz8

__all__ = ["SHEETS", "SheetEntry", "sheet_entry"]


@dataclass(frozen=True)
class SheetEntry:
    """A sheet: its name, a one-line summary, how to build it, whether it has variants."""

    name: str
    summary: str
    build: Callable[[], Sheet]
    has_variants: bool = False


SHEETS: dict[str, SheetEntry] = {
    entry.name: entry
    for entry in (
        SheetEntry(quiz8.NAME, quiz8.SUMMARY, quiz8.build, has_variants=True),
        SheetEntry(dropout_depth.NAME, dropout_depth.SUMMARY, dropout_depth.build),
        SheetEntry(batchnorm.NAME, batchnorm.SUMMARY, batchnorm.build, has_variants=True),
    )
}


def sheet_entry(name: str) -> SheetEntry:
    """The sheet called ``name``; a clear error naming the known sheets otherwise."""
    try:
        return SHEETS[name]
    except KeyError:
        raise LayergradError(f"unknown sheet {name!r}; known sheets: {', '.join(SHEETS)} "
                             "(layergrad sheet --list describes them)") from None
