r"""Render derivations as plain text, LaTeX or Markdown.

Every format shows the same things in the same order: the title, the declared assumptions,
then each step as ``= expression`` with its rule, its one-line justification and how it was
checked (proved by a prover, or taken from an assumption), and finally the notes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import sympy as sp

from .derivation import Derivation
from .errors import LayergradError
from .printing import latex, text

__all__ = ["FORMATS", "render", "render_all"]

FORMATS = ("text", "latex", "markdown")


def render(derivation: Derivation, fmt: str = "text") -> str:
    """One derivation in ``fmt`` (one of :data:`FORMATS`)."""
    try:
        renderer = {"text": _text, "latex": _latex, "markdown": _markdown}[fmt]
    except KeyError:
        raise LayergradError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    return renderer(derivation)


def render_all(derivations: Iterable[Derivation], fmt: str = "text", title: str = "") -> str:
    """Several derivations one after another, under an optional heading."""
    parts = [render(d, fmt) for d in derivations]
    if title:
        head = {
            "text": f"{title}\n{'=' * len(title)}",
            "latex": rf"\section*{{{_tex_text(title)}}}",
            "markdown": f"# {title}",
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
                "_": r"\_", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}
_TEX_MATH = {
    "∂": r"\partial", "Σ": r"\Sigma", "∑": r"\sum", "−": "-", "·": r"\cdot", "×": r"\times",
    "⊙": r"\odot", "∈": r"\in", "≠": r"\neq", "≤": r"\leq", "≥": r"\geq", "→": r"\to",
    "←": r"\leftarrow", "√": r"\surd", "²": "^2", "³": "^3", "½": r"\tfrac12", "ŷ": r"\hat y",
    "∞": r"\infty", "≈": r"\approx", "⌊": r"\lfloor", "⌋": r"\rfloor", "′": "'",
}


def _tex_char(char: str) -> str:
    if char in _TEX_SPECIAL:
        return _TEX_SPECIAL[char]
    if char in _TEX_MATH:
        return f"${_TEX_MATH[char]}$"
    if char == "–" or char == "—":
        return "--" if char == "–" else "---"
    name = unicodedata.name(char, "")
    if name.startswith("GREEK SMALL LETTER "):
        letter = name.removeprefix("GREEK SMALL LETTER ").lower()
        return f"$\\{ {'lamda': 'lambda', 'final sigma': 'varsigma'}.get(letter, letter) }$".replace(" ", "")
    if name.startswith("GREEK CAPITAL LETTER "):
        letter = name.removeprefix("GREEK CAPITAL LETTER ").capitalize()
        return f"$\\{letter}$"
    return char


def _tex_text(s: str) -> str:
    """Plain text for LaTeX: special characters escaped, Unicode math as inline math."""
    return "".join(_tex_char(c) for c in s).replace("$$", "")


_ROW = 110
"""Characters of LaTeX source per displayed row before a long sum is broken."""


def _latex_rows(expr: sp.Basic) -> list[str]:
    """A long sum as several rows (``a + b`` / ``+ c``), each short enough for the page."""
    whole = latex(expr)
    if not isinstance(expr, sp.Add) or len(whole) <= _ROW * 1.4:
        return [whole]
    rows, current = [], ""
    for term in expr.args:
        piece = latex(term)
        piece = f"- {latex(-term)}" if term.could_extract_minus_sign() else f"+ {piece}"
        if current and len(current) + len(piece) > _ROW:
            rows.append(current)
            current = ""
        current += (" " if current else "") + piece
    rows.append(current)
    rows[0] = rows[0].removeprefix("+ ")
    return rows


def _latex(d: Derivation) -> str:
    lines = [rf"\subsection*{{{_tex_text(d.title)}}}"]
    if d.assumptions:
        lines.append(r"\paragraph{Assumptions.}")
        lines.append(r"\begin{itemize}")
        for a in d.assumptions:
            statement = "" if a.statement == True else rf": ${latex(a.statement)}$"  # noqa: E712
            lines.append(rf"  \item \textbf{{{_tex_text(a.name)}}}{statement} --- {_tex_text(a.why)}")
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
                rf"  \item \textbf{{{_tex_text(s.rule)}}}: {_tex_text(s.why)} "
                rf"\emph{{[{_tex_text(s.proof)}]}}"
            )
        lines.append(r"\end{enumerate}")
    else:
        lines.append(rf"\[ {latex(d.start)} \]")
    lines += [_tex_text(note) + "\n" for note in d.notes]
    return "\n".join(lines)


def _markdown(d: Derivation) -> str:
    lines = [f"## {d.title}", ""]
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
