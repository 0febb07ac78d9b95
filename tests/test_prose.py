"""Mathematics inside prose: what is found and how each format prints it, and what is left alone."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from derive.prose import MathRun, prose_latex, prose_mathml, prose_text, segments
from derive.render import tex_text


def runs(s: str) -> list[str]:
    return [p.source for p in segments(s) if isinstance(p, MathRun)]


@pytest.mark.parametrize(("sentence", "found"), [
    ("the D_ij are independent", ["D_ij"]),
    ("E[D_ij] = q", ["E[D_ij] = q"]),
    ("L depends on W only through O", ["L", "W", "O"]),
    ("the train-time mean is q·Y_ij, so", ["q·Y_ij"]),
    ("entry (k, l) is Σ_ij X_{i+k−1, j+l−1} dO_ij: the input", ["(k, l)", "Σ_ij X_{i+k−1, j+l−1} dO_ij"]),
    ("xpad is x surrounded by P rows", ["xpad", "x", "P"]),
    ("the 1-based O11…O22 outputs", ["O11…O22"]),
    ("at S·(H′ − 1), covers HH rows", ["S·(H′ − 1)", "HH"]),
    ("with ∂x_2/∂z_1 = D f_1'(z_1)", ["∂x_2/∂z_1 = D f_1'(z_1)"]),
])
def test_mathematics_is_found(sentence, found):
    assert runs(sentence) == found


@pytest.mark.parametrize("sentence", [
    "A layer is a function; I write it as a table",
    "layergrad's index engine, SymPy's simplify",
    "computed by conv_forward_fast and dropout_backward on float64 arrays, conv2d in 2D",
    "e.g. a Kronecker delta, i.e. one term",
    "the output (a 2-layer net) and its weights",
    "p = keep probability",
])
def test_words_and_code_names_stay_prose(sentence):
    found = runs(sentence)
    assert all(len(r) == 1 and r not in "aAI" for r in found), found


def test_every_format_prints_the_same_run():
    s = "the D_ij are independent and E[D_ij] = q, with HH×WW windows of xpad"
    tex = prose_latex(s, tex_text)
    assert r"$D_{ij}$" in tex and r"$E [D_{ij}] = q$" in tex and r"\mathrm{HH}\times \mathrm{WW}" in tex
    assert r"$\mathrm{xpad}$" in tex and "_ij" not in tex
    html = prose_mathml(s)
    root = ET.fromstring(f"<p>{html}</p>")
    maths = root.findall("{http://www.w3.org/1998/Math/MathML}math")
    assert len(maths) == 4 and "".join(maths[0].itertext()) == "Dij"
    assert "_ij" not in html and "xpad" in "".join(maths[-1].itertext())


def test_text_format_spells_greek_as_greek():
    assert prose_text("sigma^2 + epsilon, mu and gamma") == "σ² + ε, μ and γ"
    assert prose_text("a Kronecker delta") == "a Kronecker delta"
    assert prose_text("Kronecker delta") == "Kronecker delta" and prose_text("delta_k") == "δ_k"
    assert prose_text("the alphabet, betas, mutual") == "the alphabet, betas, mutual"


def test_untypeset_specials_never_reach_latex_raw():
    tex = prose_latex("a 3×3 input, ½ p(1 − p) Σ (w_k x_k)², i, j ∈ {1, 2}", tex_text)
    assert "×" not in tex and "½" not in tex and "Σ" not in tex and "²" not in tex and "∈" not in tex
    assert r"\{1, 2\}" in tex
