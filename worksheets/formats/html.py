"""Standalone HTML: every formula as presentation MathML, figures embedded, no scripts.

The file opens in any current browser with no network; it is also well-formed XML (after the
doctype), which the tests use to check it.
"""

from __future__ import annotations

import base64
import html

import sympy as sp

from derive.derivation import Derivation
from derive.printing import mathml
from derive.prose import prose_mathml
from derive.render import render, render_chain

from ..document import AnswerSpace, Code, Fields, Figure, Formula, Heading, Inline, Math, Paragraph, Steps, Table
from .base import Renderer

__all__ = ["STYLE", "HtmlRenderer"]

STYLE = """
body { font-family: Georgia, 'DejaVu Serif', serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1d1d1d; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #444; padding-bottom: .3rem; }
h2 { font-size: 1.35rem; margin-top: 2rem; }
h3 { font-size: 1.1rem; margin-top: 1.4rem; }
math { font-size: 1.08em; }
math[display="block"] { margin: .6rem 0; overflow-x: auto; overflow-y: hidden; padding: .45rem 0; }
.banner { font-style: italic; color: #555; }
.fields { margin: 1rem 0; }
.fields span { margin-right: 2rem;  border-bottom: 1px solid #333; min-width: 14rem; display: inline-block; }
.solution { border-left: 4px solid #2e7d32; background: #f3f8f3; padding: .2rem 1rem .6rem; margin: 1rem 0; }
.answer-space { border: 1px dashed #888; border-radius: 4px; margin: 1rem 0; padding: .4rem .8rem; color: #777; }
.derivation { margin: .6rem 0 1rem; }
.assumptions ul { margin: .2rem 0; }
table.steps, table.data { display: block; overflow-x: auto; overflow-y: hidden; max-width: 100%; }
table.steps { border-collapse: collapse; margin: .4rem 0; }
table.steps td { padding: .25rem .4rem; vertical-align: middle; }
table.steps td.lhs { text-align: right; white-space: nowrap; }
table.steps td.rule { font-size: .86rem; color: #444; padding: 0 .4rem .5rem; }
table.steps td.more { padding-left: 1.5rem; }
table.steps math { math-style: normal; }
table.data { border-collapse: collapse; margin: .6rem 0; }
table.data th, table.data td { border: 1px solid #bbb; padding: .25rem .6rem; text-align: center; }
figure { margin: 1rem 0; text-align: center; }
figure img { max-width: 100%; }
figcaption { font-size: .9rem; color: #444; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
.note { font-style: italic; }
"""


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(mathml(p.expr) if isinstance(p, Math) else prose_mathml(p) for p in parts)


class HtmlRenderer(Renderer):
    fmt = "html"

    def wrap(self, body: str) -> str:
        title = prose_mathml(self.sheet.title)
        return (
            "<!DOCTYPE html>\n"
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n<meta charset="utf-8" />\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
            f"<title>{html.escape(self.sheet.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )

    def box(self, kind: str, body: str) -> str:
        return f'<div class="{kind}">\n{body}\n</div>'

    def paragraph(self, block: Paragraph) -> str:
        return f"<p>{_inline(block.parts)}</p>"

    def heading(self, block: Heading) -> str:
        return f"<h{block.level}>{prose_mathml(block.text)}</h{block.level}>"

    def formula(self, block: Formula) -> str:
        label = f"<p><strong>{prose_mathml(block.label)}:</strong></p>\n" if block.label else ""
        if isinstance(block.expr, sp.Tuple):
            return label + "\n".join(mathml(e, display=True) for e in block.expr)
        return f"{label}{mathml(block.expr, display=True)}"

    def chain(self, block: Steps) -> str:
        return render_chain(block.derivation, "html", block.rules)

    def derivation(self, derivation: Derivation) -> str:
        return render(derivation, "html", level=3)

    def figure(self, block: Figure) -> str:
        data = base64.b64encode(block.png).decode()
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}" />'
                f"<figcaption>{prose_mathml(block.caption)}</figcaption></figure>")

    def table(self, block: Table) -> str:
        head = "".join(f"<th>{_inline((c,))}</th>" for c in block.header)
        rows = "".join("<tr>" + "".join(f"<td>{_inline((c,))}</td>" for c in row) + "</tr>" for row in block.rows)
        caption = f"<caption>{prose_mathml(block.caption)}</caption>" if block.caption else ""
        return f'<table class="data">{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    def code(self, block: Code) -> str:
        caption = f"<p><em>{prose_mathml(block.caption)}</em></p>\n" if block.caption else ""
        return f"{caption}<pre><code>{html.escape(block.source.rstrip())}</code></pre>"

    def fields(self, block: Fields) -> str:
        return '<p class="fields">' + "".join(f"{html.escape(x)}: <span></span>" for x in block.labels) + "</p>"

    def label(self, text: str) -> str:
        return f'<p class="label"><strong>{prose_mathml(text)}.</strong></p>'

    def answer_space(self, block: AnswerSpace) -> str:
        return f'<p class="answer-space" style="min-height: {1.6 * block.lines:.1f}em">Your answer:</p>'
