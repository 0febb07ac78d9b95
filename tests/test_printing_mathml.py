"""MathML and LaTeX printing of what derivations contain; LaTeX text escaping; HTML derivations."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import sympy as sp

from derive import dropout
from derive.printing import latex, mathml
from derive.render import render, tex_text

NS = "{http://www.w3.org/1998/Math/MathML}"
i, j, k, l = sp.symbols("i j k l", integer=True)
n, m = sp.symbols("n m", integer=True, positive=True)
X, Y = sp.IndexedBase("X"), sp.IndexedBase("Y")
L = sp.Symbol("L")


def tree(expr: sp.Basic) -> ET.Element:
    return ET.fromstring(mathml(expr))


def test_mathml_parses_as_xml_for_every_dropout_formula():
    for d in dropout.derivations():
        for expr in [d.start, *(s.after for s in d.steps), *(a.statement for a in d.assumptions)]:
            root = tree(expr)  # raises on undefined entities such as &InvisibleTimes;
            assert root.tag == NS + "math"


def test_relations_and_minus_signs_are_escaped_and_typeset():
    u, v = sp.symbols("u v")
    for relation in (u < v, u > v, u <= 1 - v):
        tree(relation)
    assert "<mo>&lt;</mo>" in mathml(u < v)
    assert "−" in mathml(1 - v) and "<mo>-</mo>" not in mathml(1 - v)


def test_a_product_of_numbers_keeps_its_dot():
    with sp.evaluate(False):
        expr = 2 * sp.Integer(0) + 3
    assert "·" in "".join(tree(expr).itertext())


def test_a_double_sum_shows_both_sums():
    expr = sp.Sum(X[k, l], (k, 1, n), (l, 1, m))
    signs = [e for e in tree(expr).iter(NS + "mo") if e.text == "∑"]
    assert len(signs) == 2


def test_derivatives_are_partial_and_read_dL_over_dY():
    root = tree(sp.Derivative(L, Y[i, j]))
    frac = root.find(NS + "mfrac")
    top = "".join(frac[0].itertext())
    assert top == "∂L"
    assert latex(sp.Derivative(L, Y[i, j])) == r"\frac{\partial L}{\partial Y_{ij}}"


def test_kronecker_delta_hat_and_prime():
    assert "".join(tree(sp.KroneckerDelta(i, k)).itertext()) == "δik"
    hat = tree(sp.Symbol("yhat")).find(NS + "mover")
    assert hat is not None and hat[1].text == "^"
    t, z = sp.symbols("t z")
    f = sp.Function("f_2")
    prime = tree(sp.Subs(sp.Derivative(f(t), t), t, z))
    assert "′" in "".join(prime.itertext()) and prime.find(f".//{NS}msub") is not None


def test_tex_text_maps_unicode_math_and_escapes_specials():
    assert tex_text("∂L/∂Y ⊙ D") == r"\ensuremath{\partial}L/\ensuremath{\partial}Y \ensuremath{\odot} D"
    assert tex_text("σ² & 50% of x_i") == r"\ensuremath{\sigma}\ensuremath{^{2}} \& 50\% of x\_i"
    assert tex_text("Α") == r"\ensuremath{\mathrm{A}}"
    assert tex_text("✓") == "[U+2713]"
    assert tex_text("ε > 0 | a < b") == r"\ensuremath{\varepsilon} \textgreater{} 0 \textbar{} a \textless{} b"



def test_layer_objects_print_as_in_latex():
    from derive import conv
    from derive.graph import Adjoint

    example = conv.quiz_example()
    assert "⋆" in "".join(tree(example.grad_w.equation).itertext())
    text = "".join(tree(example.grad_x.equation).itertext())
    assert "pad1" in text and "rot180°" in text and "correlation" not in text
    assert "".join(tree(Adjoint("X")[i, j]).itertext()) == "dXij"


def test_html_derivation_has_every_formula_and_rule():
    d = dropout.backward("inverted", "keep")
    fragment = render(d, "html", level=3)
    root = ET.fromstring(fragment)
    maths = root.findall(f".//{NS}math")
    statements = [a for a in d.assumptions if a.statement != sp.true]
    assert len(maths) >= len(statements) + 1 + len(d.steps)
    for formula in [*(a.statement for a in statements), d.start, *(s.after for s in d.steps)]:
        assert _inner(mathml(formula)) in fragment
    assert "".join(root.find("h3").itertext()) == d.title
    text = "".join(root.itertext())
    for s in d.steps:
        assert s.rule in text


def _inner(element: str) -> str:
    """The content of a ``<math>`` element, without its attributes."""
    return element[element.index(">") + 1: element.rindex("<")]


def test_every_derivation_prints_well_formed_mathml():
    """Every formula of every registered layer is well-formed XML (a vector of ones once was not)."""
    from derive.registry import LAYERS

    for layer in LAYERS.values():
        for d in layer.derivations():
            ET.fromstring(f"<div>{render(d, 'html')}</div>")
