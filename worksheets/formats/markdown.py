r"""Markdown with ``$…$`` / ``$$…$$`` math (LaTeX from :func:`derive.printing.latex`)."""

from __future__ import annotations

import sympy as sp

from derive.derivation import Derivation
from derive.printing import latex
from derive.render import md_prose, render, render_chain

from ..document import AnswerSpace, Code, Fields, Figure, Formula, Heading, Inline, Math, Paragraph, Steps, Table
from .base import Renderer

__all__ = ["MarkdownRenderer"]


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(f"${latex(p.expr)}$" if isinstance(p, Math) else md_prose(p) for p in parts)


class MarkdownRenderer(Renderer):
    fmt = "md"

    def wrap(self, body: str) -> str:
        return f"# {md_prose(self.sheet.title)}\n\n{body}\n"

    def paragraph(self, block: Paragraph) -> str:
        return _inline(block.parts)

    def heading(self, block: Heading) -> str:
        return f"{'#' * block.level} {md_prose(block.text)}"

    def formula(self, block: Formula) -> str:
        label = f"**{md_prose(block.label)}:**\n\n" if block.label else ""
        if isinstance(block.expr, sp.Tuple):
            return label + "\n\n".join(f"$$\n{latex(e)}\n$$" for e in block.expr)
        return f"{label}$$\n{latex(block.expr)}\n$$"

    def chain(self, block: Steps) -> str:
        return render_chain(block.derivation, "markdown", block.rules)

    def derivation(self, derivation: Derivation) -> str:
        return render(derivation, "markdown", level=3).rstrip()

    def figure(self, block: Figure) -> str:
        return f"![{block.caption}]({self.figure_file(block)})\n\n*{md_prose(block.caption)}*"

    def table(self, block: Table) -> str:
        lines = ["| " + " | ".join(_inline((c,)) for c in block.header) + " |",
                 "|" + "---|" * len(block.header)]
        lines += ["| " + " | ".join(_inline((c,)) for c in row) + " |" for row in block.rows]
        caption = f"\n\n*{md_prose(block.caption)}*" if block.caption else ""
        return "\n".join(lines) + caption

    def code(self, block: Code) -> str:
        caption = f"*{block.caption}*\n\n" if block.caption else ""
        return f"{caption}```python\n{block.source.rstrip()}\n```"

    def fields(self, block: Fields) -> str:
        return "    ".join(f"{label}: ____________________" for label in block.labels)

    def label(self, text: str) -> str:
        return f"**{md_prose(text)}.**"

    def answer_space(self, block: AnswerSpace) -> str:
        return "**Your answer:**\n\n" + "\n".join(["> &nbsp;"] * block.lines)
