r"""Mathematics inside prose, typeset in every format.

Assumptions, rules, notes and sheet paragraphs are written as plain sentences with the math in
plain text: ``the D_ij are independent``, ``E[D_ij] = q``, ``L depends on W only through O``,
``entry (k, l) is Σ_ij X_{i+k−1, j+l−1} dO_ij``. :func:`segments` finds the mathematical runs in
such a sentence — single letters, names with a subscript (``D_ij``, ``O_11``), Greek letters,
the names of arrays (``xpad``, ``dout``, ``HH``), numbers joined by operators, and the brackets
and operators between them — and :func:`prose_latex`, :func:`prose_mathml` and
:func:`prose_text` print each run as math of that format (``$D_{ij}$``, a MathML element, or
Unicode with Greek letters), leaving the words as they are.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from .printing import GREEK, is_word_subscript

__all__ = ["ARRAY_NAMES", "TEX_MATH", "MathRun", "prose_latex", "prose_mathml", "prose_text", "segments"]

ARRAY_NAMES = frozenset({"xpad", "dxpad", "dout", "dx", "dw", "db", "dO", "HH", "WW", "win", "Var", "max", "exp",
                         "log", "rot", "pad", "out"})
"""Names of several letters that are mathematics wherever they stand alone in prose (``out``,
``pad`` and ``rot`` only when an index, subscript or argument follows)."""

_ONLY_APPLIED = frozenset({"out", "pad", "rot", "max", "exp", "log", "win", "delta"})
_NOT_MATH = frozenset({"a", "A", "I"})

TEX_MATH = {  # Unicode character → LaTeX math
    "−": "-", "·": r"\cdot", "×": r"\times", "⊙": r"\odot", "∂": r"\partial", "∑": r"\sum", "Σ": r"\sum",
    "√": r"\surd", "∞": r"\infty", "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "±": r"\pm",
    "→": r"\to", "←": r"\leftarrow", "⇒": r"\Rightarrow", "⟹": r"\implies", "∈": r"\in", "∉": r"\notin",
    "∇": r"\nabla", "∘": r"\circ", "⊗": r"\otimes", "′": "'", "ŷ": r"\hat{y}", "∗": r"\ast", "⌊": r"\lfloor",
    "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil", "°": r"^\circ", "ε": r"\varepsilon", "ϵ": r"\epsilon",
    "φ": r"\varphi", "ϕ": r"\phi", "∆": r"\Delta", "½": r"\tfrac12", "⋆": r"\star", "⊕": r"\oplus",
    "⊤": r"\top", "…": r"\ldots", "²": "^{2}", "³": "^{3}", "ᵀ": "^{T}",
}
for _code in range(0x391, 0x3CA):  # the Greek alphabet
    _char = chr(_code)
    _words = unicodedata.name(_char, "").split()
    if len(_words) != 4 or _char in TEX_MATH:
        continue
    _macro = _words[3].lower().replace("lamda", "lambda")
    if _words[1] == "CAPITAL":
        _macro = _macro.capitalize()
    TEX_MATH[_char] = "o" if _macro == "omicron" else rf"\{_macro}"
for _greek, _latin in zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧ", "ABEZHIKMNOPTX"):  # capitals LaTeX writes as Latin letters
    TEX_MATH[_greek] = r"\mathrm{" + _latin + "}"

_GREEK_CHARS = "".join(chr(c) for c in range(0x391, 0x3CA) if unicodedata.category(chr(c)).startswith("L"))
_OPERATORS = r"=+−\-/·×⊙⋆≤≥<>≠∈≈→←⟹⇒∗"
_SYMBOLS = "∂Σ∑√δ½…∇"
_SCRIPTS = "²³ᵀ′°"

_TOKEN = re.compile(
    r"(?P<plain>e\.g\.|i\.e\.|vs\.|[A-Za-z]+'s\b|\d+D\b|[A-Za-z]+\d+[A-Za-z]\w*)"
    r"|(?P<size>\d+[x×]\d+\b)"
    rf"|(?P<word>(?:[A-Za-z]+\d*|[{_GREEK_CHARS}])(?:_(?:\{{[^{{}}]*\}}|[A-Za-z0-9]+))?(?:[′']+(?![a-z]))?)"
    r"|(?P<number>\d+(?:\.\d+)?)"
    rf"|(?P<op>[{_OPERATORS}])"
    rf"|(?P<symbol>[{_SYMBOLS}])"
    rf"|(?P<script>[{_SCRIPTS}]+)"
    r"|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<comma>,)|(?P<space>[ \t]+)|(?P<other>.)",
    re.S,
)
_PAIRS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class MathRun:
    """A run of mathematics found in prose, as its plain source text."""

    source: str


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokens(s: str) -> list[_Tok]:
    return [_Tok(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(s)]


def _is_math_word(tokens: list[_Tok], pos: int) -> bool:
    tok = tokens[pos]
    if tok.kind == "size":
        return True
    if tok.kind != "word":
        return False
    text = tok.text
    if (pos and tokens[pos - 1].text in "'’") or (pos + 1 < len(tokens) and tokens[pos + 1].text in "'’"):
        return False
    base = re.split(r"[_′']", text)[0]
    applied = pos + 1 < len(tokens) and tokens[pos + 1].kind == "open"
    if base in _NOT_MATH:
        return False
    if len(base) == 1 or (base in GREEK and base not in _ONLY_APPLIED):
        return True
    if re.fullmatch(r"[A-Za-z]+\d+", base):  # O11, rot180, pad1
        return len(re.match(r"[A-Za-z]+", base).group()) == 1 or base.rstrip("0123456789") in ARRAY_NAMES
    if base in ARRAY_NAMES:
        return base not in _ONLY_APPLIED or applied or "_" in text
    if "_" in text:
        return len(base) <= 2 or base in GREEK
    return base in GREEK and applied


def _group_end(tokens: list[_Tok], start: int) -> int | None:
    """The position after the bracket opened at ``start`` if everything inside is mathematics."""
    depth, pos = 0, start
    while pos < len(tokens):
        tok = tokens[pos]
        if tok.kind == "open":
            depth += 1
        elif tok.kind == "close":
            depth -= 1
            if depth == 0:
                return pos + 1
        elif not (tok.kind in {"number", "op", "symbol", "script", "comma", "space", "size"}
                  or _is_math_word(tokens, pos)):
            return None
        pos += 1
    return None


def _starts_math(tokens: list[_Tok], pos: int) -> bool:
    tok = tokens[pos]
    return (_is_math_word(tokens, pos) or tok.kind in {"symbol", "number"}
            or (tok.kind == "open" and _group_end(tokens, pos) is not None))


def segments(s: str) -> list[str | MathRun]:
    """``s`` split into prose pieces and :class:`MathRun` pieces, in order."""
    tokens = _tokens(s)
    out: list[str | MathRun] = []
    pos = 0
    while pos < len(tokens):
        if not _starts_math(tokens, pos):
            out.append(tokens[pos].text)
            pos += 1
            continue
        end = _run_end(tokens, pos)
        run = tokens[pos:end]
        has_math = any(t.kind in {"word", "symbol", "size"} or t.kind == "op" for t in run)
        if has_math and not all(t.kind in {"number", "space"} for t in run):
            out.append(MathRun("".join(t.text for t in run)))
        else:
            out.append("".join(t.text for t in run))
        pos = end
    merged: list[str | MathRun] = []
    for piece in out:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _run_end(tokens: list[_Tok], pos: int) -> int:
    """The end of the mathematical run starting at ``pos``: math tokens, operators and spaces
    between them, and brackets whose content is mathematics; trailing operators and spaces are
    left to the prose."""
    last_good = pos
    while pos < len(tokens):
        tok = tokens[pos]
        if tok.kind == "open":
            end = _group_end(tokens, pos)
            if end is None:
                break
            pos = last_good = end
            continue
        if _is_math_word(tokens, pos) or tok.kind in {"number", "symbol", "script"}:
            pos += 1
            last_good = pos
            continue
        if tok.kind in {"op", "space"}:
            pos += 1
            continue
        break
    return last_good


# Printing a run ------------------------------------------------------------------------------

def _split_word(text: str) -> tuple[str, str, str]:
    """``X_{i+k}′`` → (``X``, ``i+k``, ``′``); ``O11`` → (``O``, ``11``, ``""``)."""
    primes = re.search(r"[′']*$", text).group()
    text = text[: len(text) - len(primes)]
    base, _, sub = text.partition("_")
    if sub.startswith("{") and sub.endswith("}"):
        sub = sub[1:-1]
    if not sub and re.fullmatch(r"[A-Za-z]+\d+", base):
        letters = re.match(r"[A-Za-z]+", base).group()
        base, sub = letters, base[len(letters):]
    return base, sub, "′" * len(primes)


def _latex_run(source: str) -> str:
    out = []
    for tok in _tokens(source):
        if tok.kind in {"word", "size"}:
            out.append(_latex_word(tok.text) if tok.kind == "word" else re.sub("[x×]", r" \\times ", tok.text))
        elif tok.kind == "script":
            out.append("".join(TEX_MATH.get(c, c) for c in tok.text))
        elif tok.text in "{}":
            out.append("\\" + tok.text)
        elif tok.text in TEX_MATH:
            out.append(TEX_MATH[tok.text] + (" " if TEX_MATH[tok.text][-1].isalpha() else ""))
        else:
            out.append(tok.text)
    return "".join(out).strip()


def _latex_word(text: str) -> str:
    base, sub, primes = _split_word(text)
    if base in GREEK or base in TEX_MATH:
        head = TEX_MATH.get(GREEK.get(base, base), base)
    elif base in {"Var", "max", "exp", "log", "rot", "pad"}:
        head = rf"\operatorname{{{base}}}"
    elif len(base) > 1:
        head = rf"\mathrm{{{base}}}"
    else:
        head = base
    head += "'" * len(primes)
    if sub:
        inner = (rf"\mathrm{{{sub}}}" if is_word_subscript(sub) else sub if sub.isalnum() else _latex_run(sub))
        head += f"_{{{inner}}}"
    return head + (" " if head[-1].isalpha() else "")


def _mathml_run(source: str) -> str:
    nodes: list[str] = []
    for tok in _tokens(source):
        if tok.kind == "word":
            nodes.append(_mathml_word(tok.text))
        elif tok.kind == "size":
            a, b = re.split(r"[x×]", tok.text)
            nodes += [f"<mn>{a}</mn>", "<mo>×</mo>", f"<mn>{b}</mn>"]
        elif tok.kind == "number":
            nodes.append(f"<mn>{tok.text}</mn>")
        elif tok.kind == "script" and nodes:
            for char in tok.text:
                mark = {"²": "<mn>2</mn>", "³": "<mn>3</mn>", "ᵀ": "<mi>T</mi>", "′": "<mo>′</mo>",
                        "°": "<mo>°</mo>"}[char]
                nodes[-1] = f"<msup>{nodes[-1]}{mark}</msup>"
        elif tok.kind == "space":
            continue
        elif tok.text == "-":
            nodes.append("<mo>−</mo>")
        elif tok.text == "/":
            nodes.append('<mo lspace="0" rspace="0">/</mo>')  # a/b reads as one fraction
        elif tok.text in "δ½…":
            nodes.append(f"<mi>{tok.text}</mi>" if tok.text == "δ" else f"<mn>{tok.text}</mn>")
        else:
            nodes.append(f"<mo>{html.escape(tok.text)}</mo>")
    return "<mrow>" + "".join(nodes) + "</mrow>"


def _mathml_word(text: str) -> str:
    base, sub, primes = _split_word(text)
    letter = GREEK.get(base, base)
    head = f"<mi>{html.escape(letter)}</mi>"
    if primes:
        head = f'<mrow>{head}<mo lspace="0" rspace="0">{primes}</mo></mrow>'
    if not sub:
        return head
    if is_word_subscript(sub) or sub.isdigit():
        script = f"<mi>{sub}</mi>" if not sub.isdigit() else f"<mn>{sub}</mn>"
    elif sub.isalpha():
        script = "<mrow>" + "".join(f"<mi>{c}</mi>" for c in sub) + "</mrow>"
    else:
        script = _mathml_run(sub)
    return f"<msub>{head}{script}</msub>"


def prose_latex(s: str, escape) -> str:
    """``s`` as LaTeX text: prose through ``escape`` (such as :func:`derive.render.tex_text`),
    every mathematical run as ``$…$``."""
    return "".join(f"${_latex_run(p.source)}$" if isinstance(p, MathRun) else escape(p) for p in segments(s))


def prose_mathml(s: str) -> str:
    """``s`` as HTML: prose escaped, every mathematical run as an inline ``<math>`` element."""
    return "".join(
        f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">{_mathml_run(p.source)}</math>'
        if isinstance(p, MathRun) else html.escape(p)
        for p in segments(s)
    )


_GREEK_WORD = re.compile(r"\b(" + "|".join(sorted((g for g in GREEK if len(g) > 1), key=len, reverse=True))
                         + r")(\^2)?(?![A-Za-z0-9])")


def prose_text(s: str) -> str:
    """``s`` for the text format: Greek names spelled out in Latin letters become Greek letters."""
    def letter(m: re.Match) -> str:
        if m.group(1) == "delta" and s[m.end():m.end() + 1] not in ("_", "("):
            return m.group()
        return GREEK[m.group(1)] + ("²" if m.group(2) else "")

    return _GREEK_WORD.sub(letter, s)
