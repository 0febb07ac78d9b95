"""Printers: one-line text, LaTeX and presentation MathML."""

import xml.dom.minidom

import sympy as sp

from derive.matrix import MatrixGradient
from derive.printing import latex, mathml, text

x = sp.IndexedBase("x")
i, k = sp.symbols("i k", integer=True)
n = sp.Symbol("n", integer=True, positive=True)


def test_text_is_one_readable_line():
    expr = sp.Sum(x[k] ** 2 * sp.KroneckerDelta(i, k), (k, 1, n))
    assert text(expr) == "Σ_{k} (x[k]^2·δ(i, k))"
    assert text(sp.Derivative(sp.Symbol("L"), x[i])) == "∂L/∂x[i]"
    assert "\n" not in text(sp.sqrt(sp.Symbol("v") + 1) / 2)


def test_latex_uses_delta_and_odot():
    A, B = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("B", n, n)
    assert latex(sp.KroneckerDelta(i, k)) == r"\delta_{i, k}"
    assert latex(sp.HadamardProduct(A, B)) == r"A \odot B"


def test_mathml_is_well_formed_with_plain_subscripts():
    markup = mathml(sp.Eq(x[i], 2 * x[k]))
    xml.dom.minidom.parseString(markup)
    assert "<msub><mi>x</mi><mi>i</mi></msub>" in markup


def test_gradient_symbol_prints_as_a_fraction():
    g = MatrixGradient("L", "H", n, n)
    assert text(g) == "∂L/∂H"
    assert latex(g) == r"\frac{\partial L}{\partial H}"
    assert "<mfrac>" in mathml(g)
