r"""Render derivations as plain text, LaTeX or Markdown.

Every format shows the same things in the same order: the title, the declared assumptions,
then each step as ``= expression`` with its rule, its one-line justification and how it was
checked (proved by a prover, or taken from an assumption), and finally the notes.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def _tex_text(s: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                          ("$", r"\$"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"),
                          ("}", r"\}")):
        s = s.replace(char, escaped)
    return s


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
        lines.append(r"\begin{align*}")
        for n, s in enumerate(d.steps, start=1):
            lhs = latex(d.start) if n == 1 else ""
            lines.append(rf"  {lhs} &= {latex(s.after)} && \text{{({n})}} \\")
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
