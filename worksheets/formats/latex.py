"""LaTeX for pdflatex, using only packages from Debian's texlive-latex-base/-recommended."""

from __future__ import annotations

import sympy as sp

from derive.derivation import Derivation
from derive.printing import latex
from derive.render import render, render_chain, tex_prose, tex_text

from ..document import AnswerSpace, Code, Fields, Figure, Formula, Heading, Inline, Math, Paragraph, Steps, Table
from .base import Renderer

__all__ = ["PREAMBLE", "LatexRenderer", "wrap_code"]

PREAMBLE = r"""\documentclass[10pt,a4paper]{article}
\usepackage[utf8]{inputenc}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{booktabs,tabularx}
\usepackage{xcolor}
\usepackage{fancyvrb}
\usepackage{parskip}
\usepackage[hidelinks]{hyperref}
\allowdisplaybreaks
\setcounter{secnumdepth}{0}
\definecolor{solution}{RGB}{46,125,50}
\newenvironment{solutionblock}{\par\color{solution!50!black}}{\par}
\nofiles % no cross-references on a sheet: one pdflatex pass is enough
"""

SIDE_BY_SIDE = 150
"""Characters of LaTeX below which a group of formulas is set on one line, side by side."""

PROSE_COLUMN = 24
"""A table column with text longer than this (in characters) wraps instead of widening the table."""

CODE_WIDTH = 92
"""Longest code line in characters: what fits the text width in footnotesize typewriter."""


def wrap_code(source: str, width: int = CODE_WIDTH) -> list[str]:
    """Code lines no longer than ``width``, long ones broken with an indented continuation."""
    out = []
    for line in source.rstrip().splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        while len(line) > width:
            cut = line.rfind(" ", len(indent), width)
            cut = width if cut <= len(indent) else cut
            out.append(line[:cut])
            line = indent + line[cut:].lstrip()
        out.append(line)
    return out


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(f"${latex(p.expr)}$" if isinstance(p, Math) else tex_prose(p) for p in parts)


class LatexRenderer(Renderer):
    fmt = "tex"

    def wrap(self, body: str) -> str:
        return (
            f"{PREAMBLE}\\title{{{tex_prose(self.sheet.title)}}}\n\\begin{{document}}\n"
            f"\\begin{{center}}\\Large {tex_prose(self.sheet.title)}\\end{{center}}\n\n"
            f"{body}\n\n\\end{{document}}\n"
        )

    def box(self, kind: str, body: str) -> str:
        if kind != "solution":
            return body
        return f"\\begin{{solutionblock}}\n{body}\n\\end{{solutionblock}}"

    def paragraph(self, block: Paragraph) -> str:
        return _inline(block.parts)

    def heading(self, block: Heading) -> str:
        command = {1: "section", 2: "section", 3: "subsection"}.get(block.level, "subsubsection")
        return f"\\{command}{{{tex_prose(block.text)}}}"

    def formula(self, block: Formula) -> str:
        label = f"\\textbf{{{tex_prose(block.label)}:}}\n" if block.label else ""
        if isinstance(block.expr, sp.Tuple):
            parts = [latex(e) for e in block.expr]
            if sum(map(len, parts)) < SIDE_BY_SIDE or all(isinstance(e.rhs, sp.MatrixBase) for e in block.expr):
                return f"{label}\\[ " + r" \qquad ".join(parts) + " \\]"
            return f"{label}\\begin{{gather*}}\n" + " \\\\\n".join(parts) + "\n\\end{gather*}"
        return f"{label}\\[ {latex(block.expr)} \\]"

    def chain(self, block: Steps) -> str:
        return render_chain(block.derivation, "latex", block.rules)

    def derivation(self, derivation: Derivation) -> str:
        return render(derivation, "latex", level=4).rstrip()

    def figure(self, block: Figure) -> str:
        return (
            "\\begin{center}\n"
            f"\\includegraphics[width=0.5\\linewidth,height=0.25\\textheight,keepaspectratio]{{{self.figure_file(block)}}}\n\n"
            f"{{\\small {tex_prose(block.caption)}}}\n\\end{{center}}"
        )

    def table(self, block: Table) -> str:
        """A booktabs table; columns of long prose wrap (``tabularx``), the others are centred."""
        prose = [max(len(c) if isinstance(c, str) else 0 for c in column) > PROSE_COLUMN
                 for column in zip(block.header, *block.rows)]
        columns = "".join(">{\\raggedright\\arraybackslash}X" if long else "c" for long in prose)
        begin, end = (("\\begin{tabularx}{\\linewidth}", "\\end{tabularx}") if any(prose)
                      else ("\\begin{tabular}", "\\end{tabular}"))
        lines = ["\\begin{center}\\small", f"{begin}{{{columns}}}", "\\toprule",
                 " & ".join(_inline((c,)) for c in block.header) + " \\\\", "\\midrule"]
        lines += [" & ".join(_inline((c,)) for c in row) + " \\\\" for row in block.rows]
        lines += ["\\bottomrule", end]
        if block.caption:
            lines.append(f"\n{{\\small {tex_prose(block.caption)}}}")
        lines.append("\\end{center}")
        return "\n".join(lines)

    def code(self, block: Code) -> str:
        body = "\n".join(tex_text(line) for line in wrap_code(block.source))
        caption = f"\\textit{{{tex_text(block.caption)}}}\n" if block.caption else ""
        return (f"{caption}\\begin{{Verbatim}}[commandchars=\\\\\\{{\\}},fontsize=\\footnotesize]\n"
                f"{body}\n\\end{{Verbatim}}")

    def fields(self, block: Fields) -> str:
        return r"\quad ".join(rf"{tex_text(x)}: \rule{{6cm}}{{0.4pt}}" for x in block.labels)

    def label(self, text: str) -> str:
        return rf"\textbf{{{tex_prose(text)}.}}"

    def answer_space(self, block: AnswerSpace) -> str:
        height = f"{1.4 * block.lines:.1f}\\baselineskip"
        width = r"\dimexpr\linewidth-2\fboxsep-2\fboxrule\relax"
        return rf"\noindent\fbox{{\parbox[t][{height}]{{{width}}}{{\textit{{Your answer:}}}}}}"
