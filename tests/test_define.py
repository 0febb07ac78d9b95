"""The definition format: parsing, one-line errors, derivations, generated code, checks."""

from __future__ import annotations

import glob
import math
from pathlib import Path

import numpy as np
import pytest

from derive.define import define
from derive.defined import derive
from derive.errors import LayergradError
from numeric.defined_check import check, generated, sample

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("examples/layers/*.toml"))


def _layer(forward, **extra):
    table = {"name": "t", "inputs": {"X": ["N", "D"]}, "forward": forward}
    table.update(extra)
    return define(table)


@pytest.mark.parametrize(("forward", "extra", "message"), [
    (["Y[n, d] = X[n, d"], {}, "statement 1 ('Y[n, d] = X[n, d'), column 12"),
    (["Y[n, d] = Q[n, d]"], {}, "column 11: undeclared array Q"),
    (["Y[n] = X[n]"], {}, "X has 2 axes (N, D) but is indexed with 1"),
    (["Y[n, d] = X[n, d] + X[d, n]"], {}, "index d is used on X, axis 0 of size N, but on X, axis 1 it runs over D"),
    (["Y[n] = X[n, d]"], {}, "index d is free on the right side but missing on the left"),
    (["Y[n, d] = softmax(X[n, d])"], {}, "column 11: unknown function softmax"),
    (["Y[n, d] = X[n, d] * n"], {}, "the index n cannot be used as a number"),
    (["Y[n] = sum(X[n, d], n)"], {}, "n is free on the left side"),
    (["Y[n, d] = X[n, d]"], {"sizes": {"K": "7/2"}}, "size K = 7/2 is not a positive whole number"),
    (["Y[n, d] = X[n, d]", "Y[n, d] = X[n, d]"], {}, "statement 2"),
    (["Y[n, d] = exp(X[n, d], 2)"], {}, "exp() takes 1 argument, got 2"),
    (["Y[n, d] = X[n, d] ^ 2"], {}, "not allowed (+ - * / **)"),
    (["Y[n, d] = X[n, d] * eps"], {}, "undeclared name eps"),
    (["Y[n, d] = X[n, d*d]"], {}, "is not affine"),
])
def test_errors_are_one_line_and_say_where(forward, extra, message):
    with pytest.raises(LayergradError) as info:
        _layer(forward, **extra)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_declaration_errors():
    with pytest.raises(LayergradError, match="unknown key 'forwards'"):
        define({"name": "t", "forwards": []})
    with pytest.raises(LayergradError, match="not valid TOML"):
        define("name = \n")
    with pytest.raises(LayergradError, match="no definition file"):
        define("missing.toml")
    with pytest.raises(LayergradError, match="X is declared but no statement reads it"):
        define({"name": "t", "inputs": {"X": ["N"], "Z": ["N"]}, "forward": ["Y[n] = Z[n]"]})


def test_derived_size_that_is_not_whole_is_refused_at_run_time():
    defn = define(EXAMPLES[[p.stem for p in EXAMPLES].index("avgpool")])
    module = generated(defn)
    with pytest.raises(LayergradError, match=r"size Ho = .* is not a positive whole number"):
        module.avgpool_forward(np.zeros((1, 1, 5, 4)))


def test_every_step_is_checked_and_fast():
    for path in EXAMPLES:
        layer = derive(define(path))
        assert [d.title for d in layer.derivations]
        for d in layer.derivations:
            assert d.verify() == [], d.title
            assert all(s.proof for s in d.steps)
            # the chain rule is an equation of the graph, not a bare assumption
            for a in d.assumptions:
                if a.name.startswith("chain rule"):
                    assert a.statement.is_Equality


def _gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _window_mean(x, k, s):
    n, c, h, w = x.shape
    ho, wo = 1 + (h - k) // s, 1 + (w - k) // s
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, s * i:s * i + k, s * j:s * j + k].mean(axis=(2, 3))
    return out


def _depthwise(x, w, b, s=1, p=1):
    n, c, h, wd = x.shape
    _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = 1 + (h + 2 * p - kh) // s, 1 + (wd + 2 * p - kw) // s
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = (xp[:, :, s * i:s * i + kh, s * j:s * j + kw] * w).sum(axis=(2, 3)) + b
    return out


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


REFERENCES = {
    "rmsnorm": lambda X, g: g * X / np.sqrt((X**2).mean(axis=1, keepdims=True) + 1e-5),
    "gelu_tanh": lambda X: 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X**3))),
    "gelu_erf": _gelu_erf,
    "silu": lambda X: X / (1 + np.exp(-X)),
    "softplus": lambda X: np.log1p(np.exp(X)),
    "elu": lambda X: np.where(X > 0, X, np.expm1(X)),
    "leaky_relu": lambda X: np.where(X > 0, X, 0.01 * X),
    "l2norm": lambda X: X / np.sqrt((X**2).sum(axis=1, keepdims=True) + 1e-12),
    "huber": lambda X, T: np.mean(np.where(np.abs(X - T) <= 1, 0.5 * (X - T) ** 2, np.abs(X - T) - 0.5)),
    "bce_logits": lambda X, T: np.mean(-T * np.log(1 / (1 + np.exp(-X))) - (1 - T) * np.log(1 - 1 / (1 + np.exp(-X)))),
    "attention": lambda Q, K, V: _softmax(Q @ K.T / np.sqrt(Q.shape[1])) @ V,
    "depthwise_conv": _depthwise,
    "avgpool": lambda X: _window_mean(X, 2, 2),
    "instancenorm": lambda X, gamma, beta: (
        gamma[None, :, None, None] * (X - X.mean(axis=(2, 3), keepdims=True))
        / np.sqrt(X.var(axis=(2, 3), keepdims=True) + 1e-5) + beta[None, :, None, None]),
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_an_independent_numpy_implementation_and_passes_the_checks(path):
    defn = define(path)
    module = generated(defn)
    args = sample(defn, seed=3)
    out, _ = getattr(module, f"{defn.name}_forward")(*args)
    np.testing.assert_allclose(out, REFERENCES[defn.name](*args), rtol=1e-10, atol=1e-12)
    verdicts = check(module, defn)
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_the_checker_catches_a_wrong_backward():
    defn = define(EXAMPLES[[p.stem for p in EXAMPLES].index("rmsnorm")])
    module = generated(defn)
    right = module.rmsnorm_backward
    module.rmsnorm_backward = lambda dout, cache: (right(dout, cache)[0] * 1.01, right(dout, cache)[1])
    verdicts = check(module, defn)
    failed = {v.name for v in verdicts if not v.passed}
    assert failed == {"rmsnorm_backward dX (finite differences)", "rmsnorm_backward dX (derived)"}


def test_stable_forms_do_not_overflow():
    softplus = generated(define(EXAMPLES[[p.stem for p in EXAMPLES].index("softplus")]))
    x = np.array([[-1000.0, 0.0, 1000.0]])
    out, cache = softplus.softplus_forward(x)
    np.testing.assert_allclose(out, [[0.0, math.log(2), 1000.0]])
    np.testing.assert_allclose(softplus.softplus_backward(np.ones_like(x), cache), [[0.0, 0.5, 1.0]])
    attention = generated(define(EXAMPLES[[p.stem for p in EXAMPLES].index("attention")]))
    q = np.full((2, 3), 100.0)
    k = np.arange(12.0).reshape(4, 3) * 10
    out, cache = attention.attention_forward(q, k, np.eye(4))
    assert np.isfinite(out).all()
    assert all(np.isfinite(g).all() for g in attention.attention_backward(np.ones((2, 4)), cache))


def test_scalar_output_backward_defaults_to_one():
    defn = define(EXAMPLES[[p.stem for p in EXAMPLES].index("bce_logits")])
    module = generated(defn)
    args = sample(defn)
    _, cache = module.bce_logits_forward(*args)
    np.testing.assert_allclose(module.bce_logits_backward(cache), module.bce_logits_backward(1.0, cache))


def test_shape_errors_are_clear():
    module = generated(define(EXAMPLES[[p.stem for p in EXAMPLES].index("rmsnorm")]))
    with pytest.raises(LayergradError, match="g must have shape"):
        module.rmsnorm_forward(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(LayergradError, match="must be a floating-point array"):
        module.rmsnorm_forward(np.full((2, 3), "a"), np.zeros(3))


def test_all_examples_are_tested():
    assert len(glob.glob(str(EXAMPLES[0].parent / "*.toml"))) >= 13
    assert {p.stem for p in EXAMPLES} <= set(REFERENCES)


ODD = {
    "strided": {"inputs": {"X": ["N", "D"]}, "sizes": {"Dh": "D/2"}, "outputs": {"Y": ["N", "Dh"]},
                "forward": ["Y[n, i] = X[n, 2*i]"]},
    "shifted": {"inputs": {"X": ["N", "D"]}, "outputs": {"Y": ["N", "D"]},
                "forward": ["Y[n, i] = X[n, i + 1] - X[n, i]"]},  # reads past the end: zero
    "reflected": {"inputs": {"X": ["N", "D"]}, "outputs": {"Y": ["N", "D"]},
                  "forward": ["Y[n, i] = X[n, 3 - i] * X[n, i]"]},  # a negative step, partly outside
    "transposed": {"inputs": {"X": ["N", "D"]}, "forward": ["Y[d, n] = X[n, d] * X[n, d]"]},
    "two_layers": {"inputs": {"X": ["N", "D"]}, "params": {"Wa": ["D", "M"], "Va": ["M", "K"]},
                   "forward": ["H[n, m] = tanh(sum(X[n, d] * Wa[d, m], d))", "Y[n, k] = sum(H[n, m] * Va[m, k], m)"]},
    "scalar_param": {"inputs": {"X": ["N", "D"]}, "params": {"a": []},
                     "forward": ["Y[n, d] = where(X[n, d] > 0, X[n, d], a * X[n, d])"]},
    "data_only_branch": {"inputs": {"X": ["N", "D"]}, "data": {"M": ["N", "D"]},
                         "forward": ["T[n] = sum(M[n, d], d)", "Y[n, d] = X[n, d] * T[n]"]},
    "dilated": {"inputs": {"X": ["N", "H"]}, "params": {"K": ["R"]}, "constants": {"Dl": 2},
                "sizes": {"Ho": "H - Dl*(R - 1)"}, "outputs": {"Y": ["N", "Ho"]},
                "forward": ["Y[n, i] = sum(K[r] * X[n, i + Dl*r], r)"]},
    "max_and_sum": {"inputs": {"X": ["N", "D"]}, "forward": ["Y[n] = max(X[n, d], d) + sum(X[n, d], d)"]},
    "reused": {"inputs": {"X": ["N", "D"]},
               "forward": ["A[n, d] = exp(X[n, d])", "B[n, d] = A[n, d] * X[n, d]", "Y[n, d] = A[n, d] + B[n, d]"]},
}


@pytest.mark.parametrize("name", ODD)
def test_unusual_definitions_derive_generate_and_check(name):
    defn = define({"name": name, **ODD[name]})
    verdicts = check(generated(defn), defn)
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_every_example_makes_a_sheet():
    from worksheets.defined import sheet
    from worksheets.formats import render

    for path in EXAMPLES:
        text = render(sheet(define(path)), "md", "solution")
        assert "## Question 1" in text and "Answer" in text, path.stem


def test_text_of_a_definition_cannot_escape_the_generated_docstrings():
    import ast as python_ast

    from numeric.defined_code import module_source

    defn = define({"name": "t", "summary": 'x"""\nimport os\nos.system("echo hacked")\n"""',
                   "inputs": {"X": ["N"]}, "forward": ['Y[n] = X[n]  # """ + __import__("os") \\']})
    tree = python_ast.parse(module_source([defn]))
    calls = [n for n in python_ast.walk(tree) if isinstance(n, python_ast.Import) and n.names[0].name == "os"]
    assert calls == []
    assert all(isinstance(v.passed, bool) and v.passed for v in check(generated(defn), defn))


def test_sizes_are_distinct_so_that_a_transposed_gradient_fails():
    from numeric.defined_check import sizes_for

    defn = define(EXAMPLES[[p.stem for p in EXAMPLES].index("rmsnorm")])
    sizes = sizes_for(defn)
    assert sizes["N"] != sizes["D"]
    module = generated(define(EXAMPLES[[p.stem for p in EXAMPLES].index("silu")]))
    right = module.silu_backward
    module.silu_backward = lambda dout, cache: right(dout.T.T, cache).T.reshape(right(dout, cache).shape)
    defn = define(EXAMPLES[[p.stem for p in EXAMPLES].index("silu")])
    assert not all(v.passed for v in check(module, defn))


def test_a_weighted_variance_is_recognised_and_its_weight_kept():
    import sympy as sp

    from derive.index import normalize

    layer = derive(define({"name": "wnorm", "inputs": {"X": ["N", "D"]}, "constants": {"eps": 1e-5}, "forward": [
        "mu[n] = mean(X[n, k], k)", "v[n] = mean(2*(X[n, k] - mu[n])**2, k)",
        "Y[n, d] = (X[n, d] - mu[n]) / sqrt(v[n] + eps)"]}))
    closed = layer.closed_forms["X"]
    assert [s.rule for s in closed.steps][-3:] == ["substitute the centered input", "apply Σ x̂ = 0", "factor"]
    named = {str(e.base): e.base for e in closed.result.atoms(sp.Indexed)}
    dY, xhat, s = named["dY"], named["xhat"], named["s"]
    n, d = closed.start.variables[0].indices
    k, D = sp.Symbol("k", integer=True), layer.definition.symbols["D"]

    def expected(weight):
        return (D * dY[n, d] - sp.Sum(dY[n, k], (k, 0, D - 1))
                - weight * xhat[n, d] * sp.Sum(dY[n, k] * xhat[n, k], (k, 0, D - 1))) / (D * s[n])

    assert normalize(closed.result - expected(2)) == ()  # the 2 of the variance in front of Σ dY·x̂
    assert normalize(closed.result - expected(1)) != ()
    # the generated code (from the staged derivation) agrees with finite differences
    assert all(v.passed for v in check(generated(layer.definition), layer.definition, seed=0))
