r"""Render derivations as plain text, LaTeX, Markdown or HTML (with MathML).

Every format shows the same things in the same order: the title, the declared assumptions,
then each step as ``= expression`` with its rule, its one-line justification and how it was
checked (proved by a prover, or taken from an assumption), and finally the notes. ``level``
is the depth of the title's heading (2: a subsection), so a derivation can sit inside a
larger document.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable

import sympy as sp

from .derivation import Derivation
from .errors import LayergradError
from .printing import latex, mathml, text

__all__ = ["FORMATS", "Derivations", "render", "render_all", "tex_text"]

FORMATS = ("text", "latex", "markdown", "html")


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


def render_all(derivations: Iterable[Derivation], fmt: str = "text", title: str = "") -> str:
    """Several derivations one after another, under an optional heading."""
    parts = [render(d, fmt) for d in derivations]
    if title:
        head = {
            "text": f"{title}\n{'=' * len(title)}",
            "latex": rf"\section*{{{tex_text(title)}}}",
            "markdown": f"# {title}",
            "html": f"<h1>{html.escape(title)}</h1>",
        }[fmt]
        parts.insert(0, head)
    return "\n\n".join(parts) + "\n"


def _text(d: Derivation) -> str:
    lines = [d.title, "-" * len(d.title)]
    if d.assumptions:
        lines.append("Assumptions:")
        for a in d.assumptions:
            statement = "" if a.statement == True else f": {text(a.statement)}"  # noqa: E712
            lines.append(f"  [{a.name}]{statement} — {a.why}")
    lines.append(f"  {text(d.start)}")
    for n, s in enumerate(d.steps, start=1):
        lines.append(f"    = {text(s.after)}")
        lines.append(f"      ({n}) {s.rule}: {s.why} [{s.proof}]")
    lines += [f"  {note}" for note in d.notes]
    return "\n".join(lines)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}

_TEX_TEXT = {"–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}", "é": r"\'e"}
_TEX_MATH = {  # Unicode character → LaTeX math, entered with \ensuremath
    "−": "-", "·": r"\cdot", "×": r"\times", "⊙": r"\odot", "∂": r"\partial", "∑": r"\sum", "√": r"\surd",
    "∞": r"\infty", "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "±": r"\pm", "→": r"\to",
    "←": r"\leftarrow", "⇒": r"\Rightarrow", "∈": r"\in", "∉": r"\notin", "∇": r"\nabla", "∘": r"\circ",
    "⊗": r"\otimes", "′": "'", "ŷ": r"\hat{y}", "∗": r"\ast", "⌊": r"\lfloor", "⌋": r"\rfloor",
    "⌈": r"\lceil", "⌉": r"\rceil", "°": r"^\circ", "ε": r"\varepsilon", "ϵ": r"\epsilon", "φ": r"\varphi",
    "ϕ": r"\phi", "∆": r"\Delta", "½": r"\tfrac12", "⋆": r"\star", "⊕": r"\oplus", "⊤": r"\top",
}
for _code in range(0x391, 0x3CA):  # the Greek alphabet
    _char = chr(_code)
    _words = unicodedata.name(_char, "").split()
    if len(_words) != 4 or _char in _TEX_MATH:
        continue
    _macro = _words[3].lower().replace("lamda", "lambda")
    if _words[1] == "CAPITAL":
        _macro = _macro.capitalize()
    _TEX_MATH[_char] = "o" if _macro == "omicron" else rf"\{_macro}"
for _greek, _latin in zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧ", "ABEZHIKMNOPTX"):  # capitals LaTeX writes as Latin letters
    _TEX_MATH[_greek] = r"\mathrm{" + _latin + "}"
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ", "0123456789+-n"))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ᵢⱼₖₙ", "0123456789+-ijkn"))


def tex_text(s: str) -> str:
    """Plain text (possibly with Unicode math such as ``∂L/∂Y``, ``σ²`` or ``⊙``) as LaTeX text
    that compiles with pdflatex's default encoding, also inside ``Verbatim`` with command
    characters (math is entered with ``\\ensuremath``, never ``$``). A character with no known
    LaTeX form is shown by its code point, ``[U+2AFF]``, rather than breaking the build."""
    out = []
    for char in s:
        if char in _TEX_SPECIAL:
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


def _latex(d: Derivation, level: int = 2) -> str:
    heading = {1: "section", 2: "subsection", 3: "subsubsection", 4: "paragraph"}[level]
    lines = [rf"\{heading}*{{{tex_text(d.title)}}}"]
    if d.assumptions:
        lines.append(r"\paragraph{Assumptions.}")
        lines.append(r"\begin{itemize}")
        for a in d.assumptions:
            statement = "" if a.statement == True else rf": ${latex(a.statement)}$"  # noqa: E712
            lines.append(rf"  \item \textbf{{{tex_text(a.name)}}}{statement} --- {tex_text(a.why)}")
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
            lines.append(rf"  {lhs} &= {first} && \text{{({n})}} \\")
            lines += [rf"  &\quad {row} \\" for row in more]
        lines.append(r"\end{align*}")
        lines.append(r"\begin{enumerate}\small")
        for s in d.steps:
            lines.append(
                rf"  \item \textbf{{{tex_text(s.rule)}}}: {tex_text(s.why)} "
                rf"\emph{{[{tex_text(s.proof)}]}}"
            )
        lines.append(r"\end{enumerate}")
    else:
        lines.append(rf"\[ {latex(d.start)} \]")
    lines += [tex_text(note) + "\n" for note in d.notes]
    return "\n".join(lines)


def _markdown(d: Derivation, level: int = 2) -> str:
    lines = [f"{'#' * level} {d.title}", ""]
    if d.assumptions:
        lines.append("**Assumptions**")
        lines.append("")
        for a in d.assumptions:
            statement = "" if a.statement == True else f": ${latex(a.statement)}$"  # noqa: E712
            lines.append(f"- *{a.name}*{statement} — {a.why}")
        lines.append("")
    lines += ["$$", latex(d.start), "$$", ""]
    for n, s in enumerate(d.steps, start=1):
        lines.append(f"{n}. **{s.rule}** — {s.why} *[{s.proof}]*")
        lines += ["", "   $$", f"   = {latex(s.after)}", "   $$", ""]
    lines += [f"{note}\n" for note in d.notes]
    return "\n".join(lines).rstrip() + "\n"


def _html(d: Derivation, level: int = 2) -> str:
    """An HTML fragment: every formula as MathML, rules and justifications as text."""
    e = html.escape
    lines = ['<section class="derivation">', f"<h{level}>{e(d.title)}</h{level}>"]
    if d.assumptions:
        lines.append('<div class="assumptions"><strong>Assumptions</strong><ul>')
        for a in d.assumptions:
            statement = "" if a.statement == True else f": {mathml(a.statement)}"  # noqa: E712
            lines.append(f"<li><em>{e(a.name)}</em>{statement} — {e(a.why)}</li>")
        lines.append("</ul></div>")
    if d.steps:
        lines.append('<table class="steps">')
        for n, s in enumerate(d.steps, start=1):
            lhs = mathml(d.start) if n == 1 else ""
            lines.append(
                f'<tr><td class="lhs">{lhs}</td><td class="eq">=</td><td class="rhs">{mathml(s.after)}</td>'
                f'<td class="rule">({n}) <strong>{e(s.rule)}</strong> — {e(s.why)} <em>[{e(s.proof)}]</em></td></tr>'
            )
        lines.append("</table>")
    else:
        lines.append(f"<p>{mathml(d.start, display=True)}</p>")
    lines += [f'<p class="note">{e(note)}</p>' for note in d.notes]
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
