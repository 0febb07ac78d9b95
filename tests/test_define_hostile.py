"""Defined layers under attack: definitions whose derivation would go wrong if a step were
unsound, each either derived correctly — the gradient equal to plain SymPy's at concrete sizes,
independently of the index engine and of the generated code — or refused in one line that
names what and where. Also: the closed form of normalizing definitions, and the mutation audit
of defined layers."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.audit import audit, summary
from derive.define import define
from derive.defined import derive
from derive.defined_concrete import plain_sympy_agrees
from derive.errors import LayergradError
from derive.graph import Adjoint

LAYERS = Path(__file__).resolve().parent.parent / "examples" / "layers"


def _table(forward, inputs=None, **extra):
    return {"name": "t", "inputs": inputs or {"X": ["N", "D"]}, "forward": forward, **extra}


DERIVED = {
    "shift past the end": _table(["Y[n, d] = X[n, d + 1] * X[n, d]"]),
    "shift before the start": _table(["Y[n, d] = X[n, d - 2] + 3 * X[n, d]"]),
    "negative slope": _table(["Y[n, d] = X[n, -d] * X[n, d]"]),
    "stride leaves gaps": _table(["Y[n, i] = X[n, 2*i]**2"], {"X": ["N", "H"]}, ranges={"i": "I"},
                                 outputs={"Y": ["N", "I"]}),
    "stride, both sides": _table(["Y[n, i] = X[n, 2*i + 1] - X[n, 2*i - 1]"], {"X": ["N", "H"]},
                                 ranges={"i": "I"}, outputs={"Y": ["N", "I"]}),
    "diagonal read": _table(["Y[i] = X[i, i] * X[i, i]"], {"X": ["D", "D"]}),
    "diagonal times row": _table(["Y[i, j] = X[i, i] * X[i, j]"], {"X": ["D", "D"]}),
    "trace as loss": _table(["L = sum(X[i, i], i)"], {"X": ["D", "D"]}),
    "affine diagonal": _table(["Y[n, i] = sum(X[n, i + k, i + k], k)"], {"X": ["N", "H", "H"]},
                              ranges={"k": "K", "i": "I"}, outputs={"Y": ["N", "I"]}),
    "neighbour products": _table(["Y[n] = sum(X[n, k] * X[n, k + 1], k)"]),
    "same dummy reused inside": _table(["Y[n] = sum(X[n, k] * sum(X[n, k], k), k)"]),
    "constant index": _table(["Y[n] = X[n, 0] * X[n, 1]"]),
    "integer constant as index": _table(["Y[n] = X[n, P]"], constants={"P": 1}),
    "shifted intermediate": _table(["H[n, d] = X[n, d]**2", "Y[n, d] = H[n, d + 1] + H[n, d]"]),
    "shifted parameter": _table(["Y[n, d] = X[n, d] * w[d + 1] + w[d - 1]"], params={"w": ["D"]}),
    "division by a reduction of the input": _table(["Y[n, d] = X[n, d] / sum(X[n, k]**2, k)"]),
    "where on a reduction": _table(["Y[n, d] = where(sum(X[n, k], k) > 0, X[n, d], -X[n, d]**2)"]),
    "L as an intermediate": _table(["L[n] = X[n]**2", "Y = sum(L[n], n)"], {"X": ["N"]}),
    "scalar intermediate": _table(["L = sum(X[n], n)", "Y[n] = X[n] * L"], {"X": ["N"]}),
    "the mean taken twice": _table(["Y[n, d] = X[n, d] - mean(X[n, k], k)"]),
    "centre that is not the mean": _table(["Y[n, d] = (X[n, d] - sum(X[n, k], k)/(D + 1)) / "
                                           "sqrt(mean((X[n, k] - sum(X[n, l], l)/(D + 1))**2, k) + eps)"],
                                          constants={"eps": 1e-5}),
    "root over the other axis": _table(["Y[n, d] = X[n, d] / sqrt(mean(X[k, d]**2, k) + eps)"],
                                       constants={"eps": 1e-5}),
    "root of a parameter": _table(["Y[n, d] = X[n, d] * w[d] / sqrt(sum(w[k]**2, k) + eps)"],
                                  params={"w": ["D"]}, constants={"eps": 1e-5}),
    "normalized, then squared": _table(["Y[n, d] = X[n, d]**2 / sqrt(mean(X[n, k]**2, k) + eps)"],
                                       constants={"eps": 1e-5}),
}


@functools.cache
def _derived(name):
    return derive(define(DERIVED[name]))


@pytest.mark.parametrize("name", list(DERIVED))
def test_hostile_definitions_derive_what_plain_sympy_computes(name):
    layer = _derived(name)
    for array in layer.definition.differentiated:
        assert plain_sympy_agrees(layer, array), array


def test_a_huge_literal_size_is_derived_symbolically():
    layer = derive(define(_table(["Y[n, d] = X[n, d]**2"], {"X": ["N", 10**11]})))
    n, d = layer.gradient("X").entry.indices
    assert layer.gradient("X").derivation.result == 2 * sp.IndexedBase("X", real=True)[n, d] * \
        Adjoint("Y")[n, d]


REFUSED = {
    "reduction over a free index": (["Y[n, d] = sum(X[n, d], d)"], {}, "column 24: d is free on the left side"),
    "division by its own mean": (["Y[n, d] = X[n, d] / mean(X[n, d], d)"], {}, "column 35: d is free on the left"),
    "an index on axes of two sizes": (["Y[n, d] = X[n, d] * W[n, d]"], {"inputs": {"X": ["N", "D"], "W": ["D", "N"]}},
                                      "index n is used on W, axis 0 of size D, but on X, axis 0 it runs over N"),
    "one dummy over two sizes": (["Y[n, d] = X[n, d] / sqrt(mean(X[n, k]**2, k)) "
                                  "+ X[n, d] / sqrt(mean(X[k, d]**2, k))"], {},
                                 "index k is used on X, axis 0 of size N, but on X, axis 1 it runs over D"),
    "shadowing sum": (["Y[n] = sum[n]"], {"inputs": {"sum": ["N"]}}, "'sum' cannot be used as a name"),
    "a size as an index": (["Y[N, d] = X[N, d]"], {}, "column 1: N is a size, not an index"),
    "a constant as an index": (["Y[n] = sum(X[n, k], k)"], {"constants": {"k": 2}}, "column 21: k is a constant"),
    "a float constant in an index": (["Y[n, d] = X[n, d + P]"], {"constants": {"P": 1.5}},
                                     "column 20: P is a constant; an index expression holds"),
    "a data value as an index": (["Y[n] = X[n, I[n]]"], {"data": {"I": ["N"]}}, "'I[n]' is not an index expression"),
    "an index only in an offset": (["Y[n, d] = sum(X[n, d + k], k) + X[n, d]"], {},
                                   "the range of k cannot be read off"),
    "a range read off nowhere": (["Y[n, d] = X[n, d + P] - X[n, P]"], {"constants": {"P": 1}},
                                 "the range of d cannot be read off the right side"),
    "redefining an input": (["X[n, d] = X[n, d]**2"], {}, "X is already an input"),
    "a chained comparison": (["Y[n, d] = where(0 < X[n, d] < 1, X[n, d], 0)"], {}, "one comparison"),
    "a reduction of a constant": (["Y[n, d] = X[n, d] - mean(X[n, k] * 0 + 1, k)"], {},
                                  "the expression does not depend on k"),
    "a negative size": (["Y[n, d] = X[n, d]"], {"inputs": {"X": ["N", -3]}}, "a size must be a positive whole number"),
    "a zero size": (["Y[n, d] = X[n, d]"], {"inputs": {"X": ["N", 0]}}, "a size must be a positive whole number"),
    "a derived size that is not whole": (["Y[n, d] = X[n, d]"], {"sizes": {"K": "7/2"}}, "is not a positive whole"),
    "a gradient's name taken": (["Y[n] = X[n] * dX[n]"], {"inputs": {"X": ["N"], "dX": ["N"]}},
                                "'dX' cannot be used next to 'X'"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_hostile_definitions_refused_in_one_line(name):
    forward, extra, message = REFUSED[name]
    with pytest.raises(LayergradError) as info:
        derive(define({"name": "t", "inputs": {"X": ["N", "D"]}, "forward": forward, **extra}))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_output_that_ignores_the_inputs_is_refused():
    with pytest.raises(LayergradError, match="the output Y does not depend on X"):
        derive(define(_table(["H[n] = X[n]**2", "Y[n] = M[n] * 2"], {"X": ["N"]}, data={"M": ["N"]})))


def test_ties_and_boundaries_follow_the_declared_conventions():
    from numeric.defined_check import generated

    top = generated(define(_table(["Y[n] = max(X[n, d], d)"], name="top")))
    _, cache = top.top_forward(np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]))
    first = top.top_backward(np.ones(2), cache)
    assert np.array_equal(first, [[0, 1, 0, 0], [1, 0, 0, 0]])  # the first maximum, row-major
    step = generated(define(_table(["Y[n, d] = where(X[n, d] >= 0, X[n, d]**2 + X[n, d], -X[n, d])"], name="step")))
    _, cache = step.step_forward(np.array([[0.0, 1.0, -1.0]]))
    assert np.array_equal(step.step_backward(np.ones((1, 3)), cache), [[1, 3, -1]])  # at 0: the branch chosen
    layer = derive(define(_table(["Y[n, d] = maximum(X[n, d], 2*X[n, d])"])))
    assert any("θ(0) = 1/2" in note for note in layer.gradient("X").derivation.notes)
    split = generated(define(_table(["Y[n, d] = maximum(X[n, d], 2*X[n, d])"], name="split")))
    _, cache = split.split_forward(np.array([[0.0, 1.0, -1.0]]))
    assert np.array_equal(split.split_backward(np.ones((1, 3)), cache), [[1.5, 2, 1]])  # a subgradient at the tie


# -- the closed form of normalizing definitions ------------------------------------------------

def _closed(layer, name="X"):
    closed = layer.closed_forms.get(name, layer.gradient(name).derivation)
    return closed if closed.steps[-1].rule == "factor" else None


@pytest.mark.parametrize(("path", "centred"), [
    ("rmsnorm.toml", False), ("l2norm.toml", False), ("instancenorm.toml", True),
    ("builtin/layernorm.toml", True), ("builtin/batchnorm.toml", True),
])
def test_normalizing_definitions_end_in_the_closed_form(path, centred):
    layer = derive(define(LAYERS / path))
    closed = _closed(layer)
    assert closed is not None  # built, so every step was checked
    rules = [s.rule for s in closed.steps]
    expected = ["name the square root", "substitute the centered input" if centred else
                "substitute the normalized input", *(["apply Σ x̂ = 0"] if centred else []), "factor"]
    assert rules[-len(expected):] == expected
    result = closed.result
    assert not result.has(layer.definition.arrays["X"])  # in s and x̂ only
    names = {str(e.base) for e in result.atoms(sp.Indexed)}
    assert {"xhat", "s", "dY"} <= names


def test_the_closed_form_agrees_with_plain_sympy():
    from derive.concrete import agree
    from derive.derivation import unfold

    layer = derive(define(LAYERS / "rmsnorm.toml"))
    d = layer.gradient("X").derivation
    before = next(s.after for s in d.steps if s.rule == "collect")
    assert agree(unfold(d.result, d.assumptions), before, {sp.Symbol("D", integer=True, positive=True): 4})


@pytest.mark.parametrize("name", ["centre that is not the mean", "the mean taken twice", "division by a reduction of "
                                  "the input"])
def test_no_closed_form_where_the_layer_does_not_normalize(name):
    assert _closed(_derived(name)) is None


def test_recognition_reads_the_expression_not_the_name():
    text = (LAYERS / "builtin" / "layernorm.toml").read_text().replace('name = "layernorm"', 'name = "mystery"')
    assert _closed(derive(define(text))) is not None


# -- the mutation audit of defined layers --------------------------------------------------------

@pytest.mark.parametrize("path", ["rmsnorm.toml", "builtin/affine.toml", "avgpool.toml"])
def test_defined_derivations_every_mutant_refused(path):
    layer = derive(define(LAYERS / path))
    totals = summary(audit(d) for d in layer.derivations)
    assert totals["bare"] == 0 and totals["survived"] == 0 and totals["mutants"] >= 2 * totals["steps"]


def test_the_audit_command_takes_defined_layers(capsys, monkeypatch):
    from derive import audit as audit_module
    from layergrad.cli import main

    assert main(["derive", "--audit", "--define", str(LAYERS / "rmsnorm.toml")]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm: 3 derivations" in out and "0 survived" in out and "(100 %)" in out
    monkeypatch.setattr(audit_module.Derivation, "accepts", lambda self, number, after: True)
    assert main(["derive", "--audit", "--define", str(LAYERS / "builtin" / "relu.toml")]) == 1
    assert "SURVIVED" in capsys.readouterr().out
