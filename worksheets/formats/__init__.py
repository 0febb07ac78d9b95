"""Sheets in every format: Markdown, standalone HTML (MathML), LaTeX and PDF.

:func:`render` gives the text of one version in one text format; :func:`write_sheet` writes
the chosen versions and formats of a sheet into a folder, figures included, each file through
:func:`numeric.files.write_output` (atomic, never replacing a file a person edited).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from derive.errors import LayergradError
from numeric.files import write_output

from ..document import VERSIONS, Sheet, check_version
from .base import figure_file
from .html import HtmlRenderer
from .latex import LatexRenderer
from .markdown import MarkdownRenderer
from .pdf import LATEX_INSTALL, build_pdf, latexmk_available

__all__ = ["FORMATS", "TEXT_FORMATS", "parse_formats", "producible", "render", "write_sheet"]

TEXT_FORMATS = {"md": MarkdownRenderer, "html": HtmlRenderer, "tex": LatexRenderer}
FORMATS = (*TEXT_FORMATS, "pdf")


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"md,html"`` or ``["md", "html"]`` → a tuple of known formats, in :data:`FORMATS` order."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise LayergradError(f"unknown sheet format {', '.join(unknown) or '(none)'}; "
                             f"expected a comma-separated list of {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def producible(formats: Sequence[str] | None = None) -> tuple[str, ...]:
    """The ``formats`` asked for, or (``None``) every format this machine can produce; asking
    for one it cannot produce (PDF without LaTeX) is an error that says what to install."""
    if formats is None:
        return tuple(f for f in FORMATS if f != "pdf" or latexmk_available())
    formats = parse_formats(formats)
    if "pdf" in formats and not latexmk_available():
        raise LayergradError(f"cannot write PDF: {LATEX_INSTALL}; or leave pdf out of the formats")
    return formats


def render(sheet: Sheet, fmt: str, version: str = "solution", detail: str = "concise") -> str:
    """The text of ``sheet`` in ``fmt`` (md, html or tex), solution or student version, concise
    or with every checked step in an appendix (``detail="full"``)."""
    if fmt not in TEXT_FORMATS:
        raise LayergradError(f"unknown text format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")
    return TEXT_FORMATS[fmt](sheet, check_version(version), detail).document()


def write_sheet(
    sheet: Sheet,
    folder: Path,
    formats: Sequence[str] | None = None,
    versions: Sequence[str] = VERSIONS,
    force: bool = False,
    detail: str = "concise",
) -> list[Path]:
    """Write ``sheet`` as ``{name}-{version}.{format}`` (and its figures) into ``folder``.

    ``formats``: see :func:`producible` (checked before anything is written); ``detail`` is
    ``concise`` (an answer key) or ``full`` (every checked step in an appendix). Returns the paths written."""
    folder = Path(folder)
    formats = producible(formats)
    versions = [check_version(version) for version in versions]
    written: list[Path] = []
    figures = {figure_file(sheet, f): f.png for f in sheet.figures()}
    if {"md", "tex", "pdf"} & set(formats):
        written += [write_output(folder / name, data, force) for name, data in figures.items()]
    for version in versions:
        stem = f"{sheet.name}-{version}"
        texts = {fmt: render(sheet, fmt, version, detail) for fmt in TEXT_FORMATS
                 if fmt in formats or (fmt == "tex" and "pdf" in formats)}
        written += [write_output(folder / f"{stem}.{fmt}", text, force) for fmt, text in texts.items()
                    if fmt in formats]
        if "pdf" in formats:
            written.append(write_output(folder / f"{stem}.pdf", build_pdf(texts["tex"], figures).pdf, force))
    return written
