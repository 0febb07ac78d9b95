"""Affine, ReLU, softmax and SVM derivations: each result is compared with the formula it must equal."""

import pytest
import sympy as sp

from derive import LayergradError, affine, relu, softmax, svm
from derive.index import index_prover, normalize
from derive.matrix import RowVector, entry, entrywise
from derive.registry import LAYERS
from derive.render import render


@pytest.mark.parametrize("name", ["affine", "relu", "softmax", "svm"])
def test_registered_derivations_recheck_and_render(name):
    for d in LAYERS[name].derivations():
        assert d.steps and d.verify() == [], d.title
        for fmt in ("text", "latex", "markdown"):
            assert d.steps[-1].rule in render(d, fmt)


def test_affine_gradients_are_the_matrix_products():
    s = affine.symbols()
    X, W, G, i, j, k = (s[n] for n in ("X", "W", "G", "i", "j", "k"))
    a = sp.Symbol("a", integer=True)
    prover = index_prover()
    matrix = entrywise({s["Xm"]: X, s["Wm"]: W, s["bm"]: RowVector(s["b"]), s["dL_dH"]: G}, inner=prover)
    assert affine.backward("X").proves(sp.Sum(G[i, a] * W[k, a], (a, 0, s["M"] - 1)), by=matrix)
    assert affine.backward("W").proves(sp.Sum(X[a, k] * G[a, j], (a, 0, s["N"] - 1)), by=matrix)
    assert affine.backward("b").proves(sp.Sum(G[a, j], (a, 0, s["N"] - 1)), by=matrix)
    assert not affine.backward("W").proves(sp.Sum(X[k, a] * G[a, j], (a, 0, s["N"] - 1)), by=matrix)
    assert affine.forward().proves(entry(s["Xm"] * s["Wm"] + s["ones_column"] * s["bm"], i, j), by=matrix)
    assert not affine.forward().proves(entry(s["Xm"] * s["Wm"], i, j), by=matrix)
    with pytest.raises(LayergradError, match="expected one of X, W, b"):
        affine.backward("x")


def test_relu_gradient_is_masked_by_the_positive_part_and_the_kink_is_declared():
    s = relu.symbols()
    X, G, i, j = s["X"], s["G"], s["i"], s["j"]
    d = relu.backward()
    kink = [st for st in d.steps if st.rule == "subgradient at the kink"]
    assert len(kink) == 1 and kink[0].proof == "by its equation"
    assert kink[0].before == sp.Heaviside(X[i, j]) * G[i, j]  # SymPy's own derivative, θ(0) = 1/2
    matrix = entrywise({s["Pm"]: s["P"], s["dL_dH"]: G})
    assert d.proves(G[i, j] * sp.Heaviside(X[i, j], 0), by=matrix)
    assert not d.proves(G[i, j] * sp.Heaviside(-X[i, j], 0), by=matrix)
    masked = relu.forward().steps[1]
    assert masked.rule == "masked product" and masked.proof == "proved: case split (Piecewise)"
    assert relu.by_cases(sp.Max(0, X[i, j]), X[i, j] * sp.Heaviside(X[i, j], 0))
    assert not relu.by_cases(sp.Max(0, X[i, j]), X[i, j])


def test_softmax_gradient_is_probabilities_minus_one_hot_over_n():
    s = softmax.symbols()
    a, b, c = sp.symbols("a b c", integer=True)
    S, Y, N, C = s["s"], s["Y"], s["N"], s["C"]
    d = softmax.gradient()
    target = (sp.exp(S[a, b]) / sp.Sum(sp.exp(S[a, c]), (c, 0, C - 1)) - Y[a, b]) / N
    assert d.proves(target, by=index_prover(nested_sums=True))
    assert not d.proves(target * 2, by=index_prover(nested_sums=True))
    assert [st.rule for st in d.steps][1:3] == ["differentiate term by term", "Kronecker delta"]


def test_softmax_loss_reaches_the_shifted_log_sum_exp():
    s = softmax.symbols()
    rules = [st.rule for st in softmax.loss().steps]
    assert rules.index("log-sum-exp") < rules.index("shift the log-sum-exp")
    assert "labels are classes" in rules  # the one assumption step: each row of Y sums to 1
    assert softmax.loss().result.has(s["m"]) and softmax.stable_softmax().result.has(s["E"])


def test_svm_gradient_matches_the_course_formula():
    s = svm.symbols()
    a, b, c = sp.symbols("a b c", integer=True)
    Y, P, N, C = s["Y"], s["P"], s["N"], s["C"]
    d = svm.gradient()
    course = ((1 - Y[a, b]) * P[a, b] - Y[a, b] * sp.Sum((1 - Y[a, c]) * P[a, c], (c, 0, C - 1))) / N
    assert d.proves(course, by=index_prover(nested_sums=True))
    wrong_sign = ((1 - Y[a, b]) * P[a, b] + Y[a, b] * sp.Sum((1 - Y[a, c]) * P[a, c], (c, 0, C - 1))) / N
    assert not d.proves(wrong_sign, by=index_prover(nested_sums=True))


def test_nested_sums_are_renamed_only_on_request():
    i, c, k = sp.symbols("i c k", integer=True)
    C = sp.Symbol("C", integer=True, positive=True)
    s = sp.IndexedBase("s")
    difference = sp.log(sp.Sum(sp.exp(s[i, c]), (c, 0, C - 1))) - sp.log(sp.Sum(sp.exp(s[i, k]), (k, 0, C - 1)))
    assert normalize(difference) != ()
    assert normalize(difference, nested_sums=True) == ()
    different = sp.log(sp.Sum(sp.exp(s[i, c]), (c, 0, C - 1))) - sp.log(sp.Sum(sp.exp(s[k, c]), (c, 0, C - 1)))
    assert normalize(different, nested_sums=True) != ()
