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
    assert text(expr) == "Σ_{k=1}^{n} (x[k]^2·δ(i, k))"
    assert text(sp.Derivative(sp.Symbol("L"), x[i])) == "∂L/∂x[i]"
    assert "\n" not in text(sp.sqrt(sp.Symbol("v") + 1) / 2)


def test_typesetting_rules_shared_by_every_printer():
    """Constants last and a positive term first, limits on every sum, names of several letters
    upright, Greek letters in the text format too."""
    C, H, P = sp.symbols("C H P", integer=True)
    Hp, HH, xpad = sp.Symbol("H'"), sp.Symbol("HH"), sp.IndexedBase("xpad")
    assert latex(Hp - 1) == "H' - 1" and text(Hp - 1) == "H′ - 1"
    assert mathml(C - 1).index("<mi>C") < mathml(C - 1).index("<mn>1")
    mu, X = sp.IndexedBase("mu"), sp.IndexedBase("X")
    assert latex(X[i, k] - mu[k]) == r"X_{ik} - \mu_{k}" and text(X[i, k] - mu[k]) == "X[i, k] - μ[k]"
    assert latex(sp.Sum(xpad[k], (k, 0, C - 1))) == r"\sum_{k=0}^{C - 1} \mathrm{xpad}_{k}"
    assert text(sp.Sum(xpad[k], (k, 0, C - 1))) == "Σ_{k=0}^{C - 1} xpad[k]"
    assert latex(H + 2 * P - HH) == r"H - \mathrm{HH} + 2 P" and "<mi>HH</mi>" in mathml(HH)
    assert text(sp.Symbol("sigma^2") + sp.Symbol("epsilon")) in ("σ² + ε", "ε + σ²")


def test_latex_uses_delta_and_odot():
    A, B = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("B", n, n)
    assert latex(sp.KroneckerDelta(i, k)) == r"\delta_{ik}"
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
