"""Dropout derivations: each result is compared with the textbook formula it must equal."""

import re
import shutil
import subprocess

import pytest
import sympy as sp
from sympy import stats

from derive import LayergradError
from derive import dropout as dr
from derive.index import index_prover
from derive.matrix import entry, entrywise
from derive.render import render, render_all

s = dr.symbols()
Y, D, G, M, q, r, i, j = (s[k] for k in ("Y", "D", "G", "M", "q", "r", "i", "j"))


@pytest.mark.parametrize("convention", list(dr.Convention))
def test_every_derivation_rechecks_and_renders(convention):
    for d in dr.derivations(convention):
        assert d.verify() == [], d.title
        assert d.steps, d.title
        for fmt in ("text", "latex", "markdown"):
            assert d.steps[-1].rule in render(d, fmt)


def test_conventions_are_named_in_every_title():
    for c in dr.Convention:
        titles = [d.title for d in dr.derivations(c) if "Dropout" in d.title]
        assert titles and all(f"{c.value} convention" in t for t in titles)


def test_unknown_convention_and_variant_are_clear_errors():
    with pytest.raises(LayergradError, match="expected 'keep'"):
        dr.Convention.parse("retain")
    with pytest.raises(LayergradError, match="unknown dropout variant"):
        dr.forward("scaled", "keep")


@pytest.mark.parametrize("convention, keep", [("keep", q), ("drop", 1 - r)])
def test_inverted_forward_is_the_masked_product_over_q(convention, keep):
    d = dr.forward("inverted", convention)
    assert d.steps[0].after == D[i, j] * Y[i, j] / q
    matrix = entrywise({s["Mm"]: M, s["Ym"]: Y, s["Dm"]: D})
    target = entry(sp.HadamardProduct(s["Dm"], s["Ym"]) / keep, i, j)
    assert d.proves(target, by=matrix)


@pytest.mark.parametrize("convention", ["keep", "drop"])
def test_backward_is_the_upstream_gradient_times_the_mask(convention):
    inverted, vanilla = dr.backward("inverted", convention), dr.backward("vanilla", convention)
    keep = q if convention == "keep" else 1 - r
    rules = [st.rule for st in inverted.steps]
    assert "differentiate term by term" in rules and "Kronecker delta" in rules
    assert inverted.steps[rules.index("Kronecker delta")].after == sp.expand(G[i, j] * D[i, j] / keep)
    assert vanilla.proves(entry(sp.HadamardProduct(s["dL_dH"], s["Dm"]), i, j),
                          by=entrywise({s["dL_dH"]: G, s["Dm"]: D}))
    assert not vanilla.proves(G[i, j], by=index_prover())


def test_moments_of_inverted_and_vanilla_dropout():
    y = sp.Symbol("Y_ij", real=True)
    mean, var = dr.moments("inverted", "keep")
    assert mean.proves(y) and var.proves(y**2 * (1 - q) / q)
    mean, var = dr.moments("vanilla", "keep")
    assert mean.proves(q * y) and var.proves(q * (1 - q) * y**2)
    mean, var = dr.moments("inverted", "drop")
    assert mean.proves(y) and var.proves(y**2 * r / (1 - r))
    assert dr.no_rescaling("keep").proves(q * y)


def test_zero_out_gradients_vanish_and_the_chain_rule_step_is_general():
    dw2, dw1 = dr.zero_out()
    assert dw2.result == 0 and dw1.result == 0
    assert dw2.steps[0].proof.startswith("proved") and dw1.steps[0].proof.startswith("proved")
    assert dw2.steps[-1].proof == "by its equation" and dw2.steps[-1].rule == "dropped unit"


def test_baldi_sadowski_for_symbolic_n():
    grad, loss, *_ = dr.baldi_sadowski()
    p = sp.Symbol("p", positive=True)
    w, x = sp.IndexedBase("w"), sp.IndexedBase("x")
    k = sp.Symbol("k", integer=True)
    LE = sp.Symbol("L_E", real=True)
    n = sp.Symbol("n", integer=True, positive=True)
    prover = index_prover()
    assert grad.proves(sp.Derivative(LE, w[i]) + p * (1 - p) * w[i] * x[i] ** 2, by=prover)
    assert not grad.proves(sp.Derivative(LE, w[i]), by=prover)
    assert loss.proves(LE + p * (1 - p) / 2 * sp.Sum((w[k] * x[k]) ** 2, (k, 1, n)), by=prover)
    assert "Bernoulli moments" in [st.rule for st in grad.steps]


def test_baldi_sadowski_for_three_inputs_and_the_worked_example():
    *_, three_grad, three, example_d, example_e = dr.baldi_sadowski()
    p = sp.Symbol("p", positive=True)
    ws, xs = sp.symbols("w_1:4", real=True), sp.symbols("x_1:4", real=True)
    LE = sp.Symbol("L_E", real=True)
    assert three.proves(LE + p * (1 - p) / 2 * sum((a * b) ** 2 for a, b in zip(ws, xs)))
    assert three_grad.proves(sp.Derivative(LE, ws[0]) + ws[0] * p * (1 - p) * xs[0] ** 2)
    assert not three_grad.proves(sp.Derivative(LE, ws[0]) + ws[0] * p * xs[0] ** 2)
    assert example_d.result == 10 and example_e.result == 8


def test_mask_draw_has_probability_q_and_matches_the_notebooks():
    u = stats.Uniform("u", 0, 1)
    for convention, keep in (("keep", sp.Rational(3, 4)), ("drop", sp.Rational(1, 4))):
        event = dr.mask_draw(convention).subs(dr.U, u.symbol).subs(s["p"], sp.Rational(3, 4))
        assert stats.P(event.subs(u.symbol, u)) == keep
    assert dr.p_range("keep") == sp.Interval.Lopen(0, 1)
    assert dr.p_range("drop") == sp.Interval.Ropen(0, 1)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="LaTeX is not installed")
def test_the_latex_rendering_compiles_without_errors_or_wide_lines(tmp_path):
    body = render_all(dr.derivations(), "latex", title="Dropout")
    document = "\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n" + body + "\\end{document}\n"
    (tmp_path / "d.tex").write_text(document)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "d.log").read_text(errors="replace")
    assert run.returncode == 0, [line for line in log.splitlines() if line.startswith("!")]
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert max(widths, default=0) < 20
