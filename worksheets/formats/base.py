"""What every sheet format shares: walking the blocks of one version, and region markers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from derive.derivation import Derivation

from ..document import (
    REGION_MARKERS,
    AnswerSpace,
    Block,
    Code,
    Fields,
    Figure,
    Formula,
    Heading,
    Paragraph,
    Sheet,
    SolutionOnly,
    Steps,
    StudentOnly,
    Table,
    check_detail,
    check_version,
)

__all__ = ["Renderer", "figure_file"]


@dataclass(frozen=True)
class _Full:
    """A derivation of the appendix, shown in full."""

    derivation: Derivation


def figure_file(sheet: Sheet, figure: Figure) -> str:
    """The file name of a figure, next to the sheet's files (shared by both versions)."""
    return f"{sheet.name}-{figure.name}.png"


class Renderer:
    """Render one version of a sheet; subclasses print each kind of block in their format."""

    fmt = ""

    def __init__(self, sheet: Sheet, version: str, detail: str = "concise") -> None:
        self.sheet = sheet
        self.version = check_version(version)
        self.detail = check_detail(detail)

    def document(self) -> str:
        """The complete document; with full detail, the solution ends in an appendix that shows
        every derivation it used step by step, with rules and assumptions."""
        blocks = list(self.sheet.blocks)
        derivations = self.sheet.derivations(self.version)
        if self.detail == "full" and self.version == "solution" and derivations:
            blocks.append(SolutionOnly((
                Heading("Appendix: every checked step", 2),
                Paragraph(("Each derivation behind the answers, step by step: every step names its rule and was "
                           "checked when it was made (proved by SymPy or the index engine, or taken from a "
                           "declared assumption).",)),
                *(_Full(d) for d in derivations),
            )))
        body = self.blocks(blocks)
        return self.wrap(body)

    def blocks(self, blocks: Iterable[Block]) -> str:
        parts = [self.block(b) for b in blocks]
        return "\n\n".join(p for p in parts if p)

    def block(self, block: Block) -> str:
        if isinstance(block, SolutionOnly):
            return self.region("solution", block.blocks, block.label)
        if isinstance(block, StudentOnly):
            return self.region("student", block.blocks)
        if isinstance(block, _Full):
            return self.derivation(block.derivation)
        handlers = {
            Paragraph: self.paragraph, Heading: self.heading, Formula: self.formula, Steps: self.brief_steps,
            Figure: self.figure, Table: self.table, Code: self.code, Fields: self.fields,
            AnswerSpace: self.answer_space,
        }
        return handlers[type(block)](block)

    def region(self, kind: str, blocks: Iterable[Block], label: str = "") -> str:
        """A version-only region between markers; empty when this version does not show it."""
        if kind != self.version:
            return ""
        opening, closing = REGION_MARKERS[self.fmt]
        body = self.blocks(blocks)
        if label:
            body = f"{self.label(label)}\n\n{body}"
        return f"{opening.format(kind)}\n{self.box(kind, body)}\n{closing.format(kind)}"

    def box(self, kind: str, body: str) -> str:
        """How a format sets a region apart (a coloured box, say); by default it does not."""
        return body

    def figure_file(self, figure: Figure) -> str:
        return figure_file(self.sheet, figure)

    # Each format implements these.
    def wrap(self, body: str) -> str:
        raise NotImplementedError

    def paragraph(self, block: Paragraph) -> str:
        raise NotImplementedError

    def heading(self, block: Heading) -> str:
        raise NotImplementedError

    def formula(self, block: Formula) -> str:
        raise NotImplementedError

    def brief_steps(self, block: Steps) -> str:
        """A derivation in the body of the sheet: its chain of equations, or nothing when it
        belongs to the appendix only."""
        return self.chain(block) if block.inline else ""

    def chain(self, block: Steps) -> str:
        """The bare chain of a derivation's equations."""
        raise NotImplementedError

    def derivation(self, derivation: Derivation) -> str:
        """A derivation step by step with its rules and assumptions."""
        raise NotImplementedError

    def figure(self, block: Figure) -> str:
        raise NotImplementedError

    def table(self, block: Table) -> str:
        raise NotImplementedError

    def code(self, block: Code) -> str:
        raise NotImplementedError

    def fields(self, block: Fields) -> str:
        raise NotImplementedError

    def label(self, text: str) -> str:
        raise NotImplementedError

    def answer_space(self, block: AnswerSpace) -> str:
        raise NotImplementedError
