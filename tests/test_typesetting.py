"""The typesetting lint: every generated sheet (both versions, both details, variants too),
every derivation and every notebook, in every format, read the way a textbook is written.

It fails on a sum that starts with ``-1 +``, a chain of ``=`` across a solve step (a step whose
result is itself an equation must be joined with ⟹), a name of several letters set in math
italic, an untypeset subscript such as ``D_ij`` in prose, and Greek letters spelled out in Latin
letters (``mu``, ``sigma^2``) where the text should show μ, σ².
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import cache

import pytest

from derive.registry import LAYERS
from derive.render import render
from worksheets.document import DETAILS, VERSIONS
from worksheets.formats import TEXT_FORMATS
from worksheets.formats import render as render_sheet
from worksheets.jupyter import NOTEBOOKS
from worksheets.jupyter import build as build_notebook
from worksheets.sheets import SHEETS, batchnorm, quiz8
from worksheets.variants import make_batchnorm_variant, make_variant

_MATH_TEX = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\begin\{(align\*|gather\*)\}.*?\\end\{\1\}", re.S)
_CODE_TEX = re.compile(r"\\begin\{Verbatim\}.*?\\end\{Verbatim\}|```.*?```|`[^`\n]*`|!\[[^\]]*\]", re.S)
_UPRIGHT = re.compile(r"\\(mathrm|operatorname|text|textbf|emph|mathbb|mathbf|begin|end)\{[^{}]*\}")
_GREEK_WORDS = re.compile(r"\b(mu|sigma|epsilon|gamma|beta|sigma\^2)\b")


def _math_of_tex(document: str) -> list[str]:
    return [m.group() for m in _MATH_TEX.finditer(_CODE_TEX.sub("", document))]


def _prose_of_tex(document: str) -> str:
    return _MATH_TEX.sub(" ", _CODE_TEX.sub(" ", document))


def italic_words(math: str) -> list[str]:
    """Runs of two or more letters that LaTeX would set as a product of italic letters."""
    bare = _UPRIGHT.sub(" ", math)
    bare = re.sub(r"\\[A-Za-z]+", " ", bare)  # macros
    bare = re.sub(r"_\{?[a-z]+\}?", " ", bare)  # index letters run together, X_{ij}
    return re.findall(r"[A-Za-z]{2,}", bare)


def lint_tex(document: str) -> list[str]:
    """Problems in LaTeX or Markdown (math in ``$…$``, displays, align)."""
    problems = []
    for math in _math_of_tex(document):
        if re.search(r"(^|[\s{(=\[])-\s?1 \+", math.replace("\\left(", "(")):
            problems.append(f"leading -1 +: {math[:80]}")
        problems += [f"italic name {w!r} in {math[:80]}" for w in italic_words(math)]
        for row in re.split(r"\\\\", re.sub(r"[_^]\{[^{}]*\}", "", math)):
            if re.search(r"&\s*=[^&]*[^<>\\]=(?!\s*\\begin)", row) and "matrix" not in row:
                problems.append(f"chain of = across a step: {row.strip()[:100]}")
    prose = _prose_of_tex(document)
    for match in re.finditer(r"\b[A-Za-z]{1,2}(\\_|_)(\{|[a-z0-9]{1,2}\b)", prose):
        problems.append(f"untypeset subscript in prose: {prose[max(0, match.start() - 30):match.end() + 10]!r}")
    problems += [f"Greek spelled out in prose: {m.group()!r}" for m in _GREEK_WORDS.finditer(prose)]
    return problems


def lint_html(document: str) -> list[str]:
    """Problems in HTML with MathML."""
    problems = []
    if re.search(r"<mrow><mo>[-−]</mo><mn>1</mn><mo>\+</mo>|<mn>[-−]1</mn><mo>\+</mo>", document):
        problems.append("leading -1 +")
    problems += [f"italic name {m.group(1)!r}" for m in re.finditer(r'<mi mathvariant="italic">([A-Za-z]{2,})</mi>',
                                                                     document)]
    for row in re.findall(r'<td class="eq">=</td><td class="rhs[^"]*">(.*?)</td>', document):
        if _top_level_equals(row):
            problems.append(f"chain of = across a step: {row[:100]}")
    prose = re.sub(r"<math.*?</math>|<pre>.*?</pre>|<style>.*?</style>|<[^>]+>", " ", document, flags=re.S)
    for match in re.finditer(r"\b[A-Za-z]{1,2}_(\{|[a-z0-9]{1,2}\b)", prose):
        problems.append(f"untypeset subscript in prose: {prose[max(0, match.start() - 30):match.end() + 10]!r}")
    problems += [f"Greek spelled out in prose: {m.group()!r}" for m in _GREEK_WORDS.finditer(prose)]
    return problems


def _top_level_equals(element: str) -> bool:
    """Does a ``<math>`` element relate two things at its top level (``a = b``), rather than
    carrying ``=`` only inside sums' limits or matrices?"""
    root = ET.fromstring(element)
    top = list(root)
    while len(top) == 1 and top[0].tag.endswith("mrow"):
        top = list(top[0])
    return any(child.tag.endswith("mo") and child.text == "=" for child in top)


def lint_text(document: str) -> list[str]:
    """Problems in the text format (one line per step)."""
    problems = []
    for line in document.splitlines():
        if re.search(r"(^|[\s(=\[{])[-−]1 \+", line):
            problems.append(f"leading -1 +: {line.strip()}")
        if re.match(r"\s*= .*(?<![<>≤≥!])= ", line):
            problems.append(f"chain of = across a step: {line.strip()}")
        problems += [f"Greek spelled out: {m.group()!r} in {line.strip()[:80]}"
                     for m in _GREEK_WORDS.finditer(line)]
    return problems


LINT = {"text": lint_text, "latex": lint_tex, "markdown": lint_tex, "html": lint_html, "md": lint_tex,
        "tex": lint_tex}


@cache
def _sheets():
    built = [entry.build() for entry in SHEETS.values()]
    return [*built, quiz8.build(make_variant(3)), batchnorm.build(make_batchnorm_variant(3))]


def test_the_lint_catches_what_it_looks_for():
    """Each rule fails on the pattern it names (the printers once produced each of these)."""
    assert lint_tex(r"$$ \sum_{c=0}^{-1 + C} x $$")
    assert lint_tex(r"\begin{align*} HH + S = H + 2P &= H' = 1 + x \end{align*}")
    assert lint_tex(r"$ xpad_{n} $") and not lint_tex(r"$ \mathrm{xpad}_{nc} $")
    assert lint_tex("the D_ij are independent") and lint_tex(r"the D\_ij are independent")
    assert not lint_tex("the $D_{ij}$ are independent; conv_forward_fast")
    assert lint_html('<p>E[D_ij] = q</p>') and not lint_html("<p>conv_forward_fast</p>")
    step = '<td class="eq">=</td><td class="rhs"><math><mrow>{}</mrow></math></td>'
    assert lint_html(step.format("<mi>H</mi><mo>=</mo><mn>1</mn>"))
    limits = "<munderover><mo>∑</mo><mrow><mi>k</mi><mo>=</mo><mn>0</mn></mrow><mi>n</mi></munderover>"
    assert not lint_html(step.format(f"{limits}<mi>x</mi>"))
    assert lint_text("    = H' = 1 + x") and lint_text("  Var: sigma^2 + epsilon") and lint_text("x = -1 + C")
    assert not lint_text("    ⟹ H′ = (H - HH + 2·P)/S + 1")


@pytest.mark.parametrize("fmt", list(TEXT_FORMATS))
def test_every_sheet_is_typeset(fmt):
    for sheet in _sheets():
        for version in VERSIONS:
            for detail in DETAILS if version == "solution" else ("concise",):
                problems = LINT[fmt](render_sheet(sheet, fmt, version, detail))
                assert not problems, (sheet.name, version, detail, problems[:5])


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "html"])
def test_every_derivation_is_typeset(fmt):
    for layer in LAYERS.values():
        for derivation in layer.derivations():
            problems = LINT[fmt](render(derivation, fmt))
            assert not problems, (layer.name, derivation.title, problems[:5])


def test_every_notebook_is_typeset():
    for name in NOTEBOOKS:
        for student in (False, True):
            notebook = build_notebook(name, student)
            for cell in notebook.cells:
                if cell.cell_type == "markdown":
                    problems = lint_tex(cell.source)
                    assert not problems, (name, problems[:5])
