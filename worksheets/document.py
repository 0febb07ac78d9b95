r"""The content of a sheet, independent of its format.

A :class:`Sheet` is a list of blocks. Prose is a :class:`Paragraph` of text pieces and
:class:`Math` pieces; every formula is a SymPy expression (usually a derivation's start,
result or one of its assumptions), printed by :mod:`derive.printing` in each format — a sheet
never contains typed-in LaTeX. :class:`Steps` shows a whole derivation, rule by rule.

A sheet exists in two versions made from the same blocks. :class:`SolutionOnly` blocks
appear only in the solution version, :class:`StudentOnly` blocks (answer space, name fields)
only in the student version; every renderer wraps both in region markers
(:data:`REGION_MARKERS`), so removing the solution regions from the solution version and the
student regions from the student version leaves the same document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sympy as sp

from derive.derivation import Derivation
from derive.errors import LayergradError
from derive.render import statement_parts

__all__ = [
    "DETAILS",
    "REGION_MARKERS",
    "VERSIONS",
    "AnswerSpace",
    "Block",
    "Code",
    "Fields",
    "Figure",
    "Formula",
    "Heading",
    "Math",
    "Paragraph",
    "Sheet",
    "SolutionOnly",
    "Steps",
    "StudentOnly",
    "Table",
    "check_detail",
    "check_version",
    "para",
    "question",
]

VERSIONS = ("solution", "student")

DETAILS = ("concise", "full")
"""How much of each derivation a sheet shows: ``concise`` (an answer key: answers and the steps
that justify them) or ``full`` (the same, then every checked step in an appendix)."""

REGION_MARKERS = {
    "md": ("<!-- {} -->", "<!-- /{} -->"),
    "html": ("<!-- {} -->", "<!-- /{} -->"),
    "tex": ("% {}", "% /{}"),
}
"""Per format, the opening and closing line of a version-only region (``{}`` is
``solution`` or ``student``)."""


@dataclass(frozen=True)
class Math:
    """An inline formula inside prose."""

    expr: sp.Basic


Inline = str | Math


@dataclass(frozen=True)
class Paragraph:
    """Prose: text pieces and inline formulas, in order."""

    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    """A section heading; ``level`` 2 is a section of the sheet, 3 a subsection."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Formula:
    """A displayed formula, optionally introduced by a short label (``Answer``); a ``Tuple`` of
    formulas is a group, set side by side when it is short (or of matrices) and one per line otherwise."""

    expr: sp.Basic
    label: str = ""


@dataclass(frozen=True)
class Steps:
    """A derivation. In the concise sheet (the default) it is shown as the bare chain of its
    equations, as an answer key writes it (only the steps of ``rules`` when they are given), or
    not at all when ``inline`` is false; with full detail every derivation of the solution is
    also shown step by step, with its rules and assumptions, in the appendix."""

    derivation: Derivation
    inline: bool = True
    rules: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Figure:
    """A PNG picture; ``name`` becomes part of its file name next to the sheet."""

    name: str
    png: bytes = field(repr=False)
    caption: str


@dataclass(frozen=True)
class Table:
    """A table whose cells are text, formulas or numbers."""

    header: tuple[Inline, ...]
    rows: tuple[tuple[Inline, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Code:
    """A listing, such as generated NumPy code."""

    source: str
    caption: str = ""


@dataclass(frozen=True)
class AnswerSpace:
    """Room for a handwritten answer, about ``lines`` lines high."""

    lines: int = 6


@dataclass(frozen=True)
class Fields:
    """Blank lines to fill in, such as a name and a student ID."""

    labels: tuple[str, ...]


@dataclass(frozen=True)
class SolutionOnly:
    """Blocks shown in the solution version only, under ``label`` when it is not empty."""

    blocks: tuple[Block, ...]
    label: str = ""


@dataclass(frozen=True)
class StudentOnly:
    """Blocks shown in the student version only."""

    blocks: tuple[Block, ...]


Block = (Paragraph | Heading | Formula | Steps | Figure | Table | Code | Fields | AnswerSpace
         | SolutionOnly | StudentOnly)


@dataclass(frozen=True)
class Sheet:
    """A worksheet: a name (for file names), a title and its blocks."""

    name: str
    title: str
    blocks: tuple[Block, ...]

    def figures(self) -> list[Figure]:
        """Every figure, in order (including those inside version-only regions)."""
        found: list[Figure] = []

        def walk(blocks: Iterable[Block]) -> None:
            for block in blocks:
                if isinstance(block, Figure):
                    found.append(block)
                elif isinstance(block, (SolutionOnly, StudentOnly)):
                    walk(block.blocks)

        walk(self.blocks)
        return found

    def derivations(self, version: str) -> list[Derivation]:
        """Every derivation the ``version`` uses, in order, each once (the appendix of the full sheet)."""
        check_version(version)
        found: dict[int, Derivation] = {}

        def walk(blocks: Iterable[Block]) -> None:
            for block in blocks:
                if isinstance(block, Steps):
                    found.setdefault(id(block.derivation), block.derivation)
                elif isinstance(block, (SolutionOnly, StudentOnly)) and _shown(block, version):
                    walk(block.blocks)

        walk(self.blocks)
        return list(found.values())

    def formulas(self, version: str) -> list[sp.Basic]:
        """Every formula the ``version`` shows: inline, displayed, in tables and derivations."""
        check_version(version)
        found: list[sp.Basic] = []

        def inline(parts: Iterable[Inline]) -> None:
            found.extend(part.expr for part in parts if isinstance(part, Math))

        def walk(blocks: Iterable[Block]) -> None:
            for block in blocks:
                if isinstance(block, Paragraph):
                    inline(block.parts)
                elif isinstance(block, Formula):
                    found.extend(block.expr if isinstance(block.expr, sp.Tuple) else [block.expr])
                elif isinstance(block, Table):
                    inline(block.header)
                    for row in block.rows:
                        inline(row)
                elif isinstance(block, Steps):
                    d = block.derivation
                    found.extend(part for a in d.assumptions for part in statement_parts(a.statement))
                    found.append(d.start)
                    found.extend(s.after for s in d.steps)
                elif isinstance(block, (SolutionOnly, StudentOnly)) and _shown(block, version):
                    walk(block.blocks)

        walk(self.blocks)
        return found


def _shown(block: SolutionOnly | StudentOnly, version: str) -> bool:
    return version == ("solution" if isinstance(block, SolutionOnly) else "student")


def check_detail(detail: str) -> str:
    """``detail`` if it is one of :data:`DETAILS`; a clear error otherwise."""
    if detail not in DETAILS:
        raise LayergradError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    return detail


def check_version(version: str) -> str:
    """``version`` if it is one of :data:`VERSIONS`; a clear error otherwise."""
    if version not in VERSIONS:
        raise LayergradError(f"unknown sheet version {version!r}; expected one of {', '.join(VERSIONS)}")
    return version


def para(*parts: str | sp.Basic) -> Paragraph:
    """A paragraph from text and SymPy expressions (each expression becomes inline math)."""
    return Paragraph(tuple(p if isinstance(p, str) else Math(sp.sympify(p)) for p in parts))


def question(
    number: str,
    prompt: Iterable[Block],
    solution: Iterable[Block],
    given: Iterable[Block] = (),
    space: int = 8,
) -> tuple[Block, ...]:
    """A question: its heading, prompt and given data (both versions), then its solution
    (solution version) or room for the answer (student version)."""
    return (
        Heading(f"Question {number}", 2),
        *prompt,
        *given,
        SolutionOnly(tuple(solution), "Solution"),
        StudentOnly((AnswerSpace(space),)),
    )
