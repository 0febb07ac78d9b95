r"""Render derivations as plain text, LaTeX, Markdown or HTML (with MathML).

Every format shows the same things in the same order: the title, the declared assumptions,
then each step as ``= expression`` with its rule, its one-line justification and how it was
checked (proved by a prover, or taken from an assumption), and finally the notes. ``level``
is the depth of the title's heading (2: a subsection), so a derivation can sit inside a
larger document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

import sympy as sp

from .choices import FORMATS
from .derivation import Derivation
from .errors import LayergradError
from .printing import latex, mathml, ordered_terms, text
from .prose import TEX_MATH, prose_latex, prose_mathml, prose_text

__all__ = ["FORMATS", "Derivations", "md_prose", "render", "render_all", "render_chain", "statement_parts", "tex_prose",
           "tex_text"]


def render(derivation: Derivation, fmt: str = "text", level: int = 2) -> str:
    """One derivation in ``fmt`` (one of :data:`FORMATS`), its title a heading of depth ``level``."""
    try:
        renderer = {"text": _text, "latex": _latex, "markdown": _markdown, "html": _html}[fmt]
    except KeyError:
        raise LayergradError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    if not 1 <= level <= 4:
        raise LayergradError(f"heading level {level} is outside 1..4")
    return renderer(derivation) if fmt == "text" else renderer(derivation, level)


def render_chain(derivation: Derivation, fmt: str = "text", rules: Iterable[str] | None = None) -> str:
    """The derivation as a bare chain of equations, as an answer key writes it: the start, then
    each step's expression after ``=`` (or ``⟹`` for an equation that follows from the previous
    one), without rules or assumptions. With ``rules``, only the steps of those rules (and the last)."""
    keep = None if rules is None else set(rules)
    steps = [s for n, s in enumerate(derivation.steps, start=1)
             if keep is None or s.rule in keep or n == len(derivation.steps)]
    if fmt == "text":
        rows = (f"    {_relation(s.after)[0]} {text(s.after)}" for s in steps)
        return "\n".join([f"  {text(derivation.start)}", *rows])
    if fmt == "html":
        return _html_steps(derivation.start, steps, "steps chain")
    if fmt not in ("latex", "markdown"):
        raise LayergradError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    start = latex(derivation.start)
    lines = []
    if len(start) > _ROW // 2:  # a long start on a line of its own
        lines.append(rf"\rlap{{${start}$}}")
        start = ""
    for n, s in enumerate(steps):
        first, *more = _latex_rows(s.after)
        lines.append(rf"{start if n == 0 else ''} &{_relation(s.after)[1]} {first}")
        lines += [rf"&\quad {row}" for row in more]
    body = " \\\\\n".join(lines)
    if fmt == "latex":
        return f"\\begin{{align*}}\n{body}\n\\end{{align*}}"
    return f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$"


def render_all(derivations: Iterable[Derivation], fmt: str = "text", title: str = "") -> str:
    """Several derivations one after another, under an optional heading."""
    parts = [render(d, fmt) for d in derivations]
    if title:
        head = {
            "text": f"{prose_text(title)}\n{'=' * len(prose_text(title))}",
            "latex": rf"\section*{{{tex_prose(title)}}}",
            "markdown": f"# {md_prose(title)}",
            "html": f"<h1>{prose_mathml(title)}</h1>",
        }[fmt]
        parts.insert(0, head)
    return "\n\n".join(parts) + "\n"


def _relation(step_after: sp.Basic) -> tuple[str, str, str]:
    """How a step joins the previous line (text, LaTeX, MathML): ``=`` for a new form of the same
    expression, ``⟹`` for an equation that follows from the previous one (solving it, say), so a
    solve never reads as one chain of equalities."""
    if isinstance(step_after, sp.Equality):
        return "⟹", r"\implies", "⟹"
    return "=", "=", "="


def _text(d: Derivation) -> str:
    t = prose_text
    title = t(d.title)
    lines = [title, "-" * len(title)]
    if d.assumptions:
        lines.append("Assumptions:")
        for a in d.assumptions:
            statement = "" if a.statement == True else f": {text(a.statement)}"  # noqa: E712
            lines.append(f"  [{t(a.name)}]{statement} — {t(a.why)}")
    lines.append(f"  {text(d.start)}")
    for n, s in enumerate(d.steps, start=1):
        lines.append(f"    {_relation(s.after)[0]} {text(s.after)}")
        lines.append(f"      ({n}) {t(s.rule)}: {t(s.why)} [{t(s.proof)}]")
    lines += [f"  {t(note)}" for note in d.notes]
    return "\n".join(lines)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}

_TEX_TEXT = {"–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}", "é": r"\'e"}
_TEX_MATH = TEX_MATH  # Unicode character → LaTeX math, entered with \ensuremath
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ", "0123456789+-n"))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ᵢⱼₖₙ", "0123456789+-ijkn"))


def tex_prose(s: str) -> str:
    """Prose as LaTeX: its mathematics (:mod:`derive.prose`) in ``$…$``, the rest by :func:`tex_text`."""
    return prose_latex(s, tex_text)


def md_prose(s: str) -> str:
    """Prose as Markdown: its mathematics (:mod:`derive.prose`) in ``$…$``."""
    return prose_latex(s, lambda piece: piece)


def tex_text(s: str) -> str:
    """Plain text (possibly with Unicode math such as ``∂L/∂Y``, ``σ²`` or ``⊙``) as LaTeX text
    that compiles with pdflatex's default encoding, also inside ``Verbatim`` with command
    characters (math is entered with ``\\ensuremath``, never ``$``). A character with no known
    LaTeX form is shown by its code point, ``[U+2AFF]``, rather than breaking the build."""
    out = []
    for pos, char in enumerate(s):
        if char == "-" and s[pos + 1:pos + 2] == "-":
            out.append("-{}")  # --detail stays two hyphens, not an en dash
        elif char in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[char])
        elif char.isascii():
            out.append(char)
        elif char in _TEX_TEXT:
            out.append(_TEX_TEXT[char])
        elif char in _TEX_MATH:
            out.append(rf"\ensuremath{{{_TEX_MATH[char]}}}")
        elif char in _SUPERSCRIPTS:
            out.append(rf"\textsuperscript{{{_SUPERSCRIPTS[char]}}}")
        elif char in _SUBSCRIPTS:
            out.append(rf"\textsubscript{{{_SUBSCRIPTS[char]}}}")
        elif unicodedata.category(char) == "Zs":
            out.append(" ")
        else:
            out.append(f"[U+{ord(char):04X}]")
    return "".join(out)


_ROW = 110
"""Characters of LaTeX source per displayed row before a long sum is broken."""


def _latex_rows(expr: sp.Basic) -> list[str]:
    """A long expression as several rows, each short enough for the page: a long sum as
    ``a + b`` / ``+ c``; a long product with a sum in it as ``k \\Big( a + b`` / ``+ c \\Big)``,
    its longest sum broken; long terms of a sum are broken the same way."""
    whole = latex(expr)
    if isinstance(expr, sp.Add) and len(whole) > _ROW * 1.4:
        return _sum_rows(expr, _ROW)
    if isinstance(expr, sp.Mul) and len(whole) > _ROW:
        return _product_rows(expr, 2 * _ROW // 3)
    return [whole]


def _product_rows(expr: sp.Mul, width: int) -> list[str]:
    sums = [f for f in expr.args if isinstance(f, sp.Add)]
    if not sums:
        return [latex(expr)]
    longest = max(sums, key=lambda f: len(latex(f)))
    rows = _sum_rows(longest, width)
    if len(rows) == 1:
        return [latex(expr)]
    rest = sp.Mul(*(f for f in expr.args if f is not longest))
    return [rf"{latex(rest)} \Big( {rows[0]}", *rows[1:-1], rf"{rows[-1]} \Big)"]


def _sum_rows(expr: sp.Add, width: int) -> list[str]:
    rows, current = [], ""
    for term in expr.args:
        negative = term.could_extract_minus_sign()
        body = -term if negative else term
        pieces = _product_rows(body, width) if isinstance(body, sp.Mul) and len(latex(body)) > width else [latex(body)]
        pieces[0] = ("- " if negative else "+ ") + pieces[0]
        for piece in pieces:
            if current and len(current) + len(piece) > width:
                rows.append(current)
                current = ""
            current += (" " if current else "") + piece
    rows.append(current)
    rows[0] = rows[0].removeprefix("+ ")
    return rows


def statement_parts(statement: sp.Basic) -> tuple[sp.Basic, ...]:
    """The formulas an assumption's statement is shown as: a conjunction one formula per part (so
    that a line can break between them), nothing for a statement that is only a name."""
    if statement == True:  # noqa: E712
        return ()
    return statement.args if isinstance(statement, sp.And) else (statement,)


def _statement(statement: sp.Basic, math: Callable[[sp.Basic], str], wedge: str) -> str:
    """``": "`` and the statement's parts as inline math joined by ``wedge`` (nothing without parts)."""
    parts = statement_parts(statement)
    return ": " + f" {wedge} ".join(math(part) for part in parts) if parts else ""


def _latex(d: Derivation, level: int = 2) -> str:
    heading = {1: "section", 2: "subsection", 3: "subsubsection", 4: "paragraph"}[level]
    lines = [rf"\{heading}*{{{tex_prose(d.title)}}}"]
    if d.assumptions:
        lines.append(r"\paragraph{Assumptions.}")
        lines.append(r"\begin{itemize}")
        for a in d.assumptions:
            statement = _statement(a.statement, lambda e: f"${latex(e)}$", r"$\wedge$")
            lines.append(rf"  \item \textbf{{{tex_prose(a.name)}}}{statement} --- {tex_prose(a.why)}")
        lines.append(r"\end{itemize}")
    if d.steps:
        start = latex(d.start)
        if len(start) > _ROW // 2:
            lines.append(rf"\[ {start} \]")
            start = ""
        lines.append(r"\begin{align*}")
        for n, s in enumerate(d.steps, start=1):
            lhs = start if n == 1 else ""
            first, *more = _latex_rows(s.after)
            lines.append(rf"  {lhs} &{_relation(s.after)[1]} {first} && \text{{({n})}} \\")
            lines += [rf"  &\quad {row} \\" for row in more]
        lines.append(r"\end{align*}")
        lines.append(r"\begin{enumerate}\small")
        for s in d.steps:
            lines.append(
                rf"  \item \textbf{{{tex_prose(s.rule)}}}: {tex_prose(s.why)} "
                rf"\emph{{[{tex_prose(s.proof)}]}}"
            )
        lines.append(r"\end{enumerate}")
    else:
        lines.append(rf"\[ {latex(d.start)} \]")
    lines += [tex_prose(note) + "\n" for note in d.notes]
    return "\n".join(lines)


def _html_steps(start: sp.Basic, steps, css: str, with_rules: bool = False) -> str:
    """Steps as a table: the start (on a row of its own when it is long), then each step's
    relation and expression (a long sum over several rows) and, ``with_rules``, its rule."""
    h = prose_mathml
    lines = [f'<table class="{css}">']
    long_start = len(latex(start)) > _ROW // 2
    if long_start:  # a long start on a row of its own, as in LaTeX
        lines.append(f'<tr><td class="start" colspan="3">{mathml(start)}</td></tr>')
    for n, s in enumerate(steps, start=1):
        lhs = mathml(start) if n == 1 and not long_start else ""
        first, *more = _mathml_rows(s.after)
        lines.append(f'<tr><td class="lhs">{lhs}</td><td class="eq">{_relation(s.after)[2]}</td>'
                     f'<td class="rhs">{first}</td></tr>')
        lines += [f'<tr><td></td><td></td><td class="rhs more">{row}</td></tr>' for row in more]
        if with_rules:
            lines.append(f'<tr class="rule"><td></td><td></td><td class="rule">({n}) <strong>{h(s.rule)}</strong> — '
                         f'{h(s.why)} <em>[{h(s.proof)}]</em></td></tr>')
    lines.append("</table>")
    return "\n".join(lines)


def _mathml_rows(expr: sp.Basic, width: int = _ROW) -> list[str]:
    """A long sum as several MathML rows, like :func:`_latex_rows`: terms are gathered into rows
    of about ``width`` characters of LaTeX, each later row opening with its sign."""
    if not isinstance(expr, sp.Add) or len(latex(expr)) <= width:
        element = mathml(expr)
        if len(latex(expr)) > width:  # long and unbreakable: a size smaller
            element = element.replace('display="inline">', 'display="inline" style="font-size: 80%">', 1)
        return [element]
    rows: list[list[str]] = [[]]
    used = 0
    for term in ordered_terms(expr.args):
        negative = term.could_extract_minus_sign()
        size = len(latex(term))
        if rows[-1] and used + size > width:
            rows.append([])
            used = 0
        body = _math_inner(mathml(-term if negative else term))
        if rows[-1] or len(rows) > 1:
            body = f"<mo>{'−' if negative else '+'}</mo>{body}"
        elif negative:
            body = f"<mo>−</mo>{body}"
        rows[-1].append(body)
        used += size
    return [f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow>{"".join(r)}</mrow></math>'
            for r in rows]


def _math_inner(element: str) -> str:
    return element[element.index(">") + 1: element.rindex("</math>")]


def _markdown(d: Derivation, level: int = 2) -> str:
    lines = [f"{'#' * level} {md_prose(d.title)}", ""]
    if d.assumptions:
        lines.append("**Assumptions**")
        lines.append("")
        for a in d.assumptions:
            statement = _statement(a.statement, lambda e: f"${latex(e)}$", r"$\wedge$")
            lines.append(f"- *{md_prose(a.name)}*{statement} — {md_prose(a.why)}")
        lines.append("")
    lines += ["$$", latex(d.start), "$$", ""]
    for n, s in enumerate(d.steps, start=1):
        lines.append(f"{n}. **{md_prose(s.rule)}** — {md_prose(s.why)} *[{md_prose(s.proof)}]*")
        lines += ["", "   $$", f"   {_relation(s.after)[1]} {latex(s.after)}", "   $$", ""]
    lines += [f"{md_prose(note)}\n" for note in d.notes]
    return "\n".join(lines).rstrip() + "\n"


def _html(d: Derivation, level: int = 2) -> str:
    """An HTML fragment: every formula as MathML, rules and justifications as text with their
    mathematics as MathML."""
    h = prose_mathml
    lines = ['<section class="derivation">', f"<h{level}>{h(d.title)}</h{level}>"]
    if d.assumptions:
        lines.append('<div class="assumptions"><strong>Assumptions</strong><ul>')
        for a in d.assumptions:
            statement = _statement(a.statement, mathml, "∧")
            lines.append(f"<li><em>{h(a.name)}</em>{statement} — {h(a.why)}</li>")
        lines.append("</ul></div>")
    if d.steps:
        lines.append(_html_steps(d.start, d.steps, "steps", with_rules=True))
    else:
        lines.append(f"<p>{mathml(d.start, display=True)}</p>")
    lines += [f'<p class="note">{h(note)}</p>' for note in d.notes]
    lines.append("</section>")
    return "\n".join(lines)


class Derivations(tuple):
    """A layer's derivations: printed as text, shown as math in Jupyter (MathML, or Markdown with TeX)."""

    title: str

    def __new__(cls, derivations: Iterable[Derivation], title: str = "") -> Derivations:
        self = super().__new__(cls, derivations)
        self.title = title
        return self

    def __str__(self) -> str:
        return render_all(self, "text", self.title)

    def _repr_html_(self) -> str:
        return render_all(self, "html", self.title)

    def _repr_markdown_(self) -> str:
        return render_all(self, "markdown", self.title)
