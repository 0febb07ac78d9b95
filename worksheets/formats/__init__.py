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
from .pdf import LATEX_INSTALL_HINT, build_pdf, latexmk_available

__all__ = ["FORMATS", "TEXT_FORMATS", "parse_formats", "render", "write_sheet"]

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


def render(sheet: Sheet, fmt: str, version: str = "solution", detail: str = "concise") -> str:
    """The text of ``sheet`` in ``fmt`` (md, html or tex), solution or student version, concise
    or with every checked step in an appendix (``detail="full"``)."""
    if fmt not in TEXT_FORMATS:
        raise LayergradError(f"unknown text format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")
    return TEXT_FORMATS[fmt](sheet, check_version(version), detail).document()


def write_sheet(
    sheet: Sheet,
    folder: Path,
    formats: Sequence[str] = FORMATS,
    versions: Sequence[str] = VERSIONS,
    force: bool = False,
    report=print,
    detail: str = "concise",
) -> list[Path]:
    """Write ``sheet`` as ``{name}-{version}.{format}`` (and its figures) into ``folder``.

    ``detail`` is ``concise`` (an answer key) or ``full`` (every checked step in an appendix).
    PDF needs ``latexmk``; without it the ``.tex`` is written and ``report`` is told how to
    get the PDF. Returns the paths written."""
    folder = Path(folder)
    written: list[Path] = []
    figures = {figure_file(sheet, f): f.png for f in sheet.figures()}
    if {"md", "tex", "pdf"} & set(formats):
        written += [write_output(folder / name, data, force) for name, data in figures.items()]
    want_pdf = "pdf" in formats
    if want_pdf and not latexmk_available():
        report(LATEX_INSTALL_HINT)
        want_pdf = False
    for version in versions:
        stem = f"{sheet.name}-{check_version(version)}"
        texts = {fmt: render(sheet, fmt, version, detail) for fmt in TEXT_FORMATS
                 if fmt in formats or (fmt == "tex" and "pdf" in formats)}
        written += [write_output(folder / f"{stem}.{fmt}", text, force) for fmt, text in texts.items()]
        if want_pdf:
            written.append(write_output(folder / f"{stem}.pdf", build_pdf(texts["tex"], figures).pdf, force))
    return written
