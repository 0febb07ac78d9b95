"""Every derived gradient against plain ``sympy.diff`` of the forward definition, entry by entry,
at small concrete sizes.

The forward pass is written out from the layer's own definition with concrete sizes (SymPy
writes out every sum); ``L = Σ dY ⊙ Y`` is differentiated by ``sympy.diff`` with respect to
every entry of every input. The engine's result, with its names (Z, s, the masks) written out
by their definitions, is instantiated at that entry. Both are evaluated at the same random
values (:mod:`derive.concrete`); the index engine takes no part in the reference."""

import itertools
import random

import pytest
import sympy as sp

from derive import affine, dropout, relu, softmax
from derive import batchnorm as bn
from derive.concrete import value
from derive.derivation import unfold
from derive.graph import Adjoint


def entries(base, ranges):
    return [base[idx] for idx in itertools.product(*(range(lo, hi + 1) for lo, hi in ranges))]


def compare(derived, free, loss, inputs, sizes, definitions=(), extra=None, draws=2):
    """For every entry of ``inputs`` (``base[concrete indices]``): ``derived`` at that entry
    (``free`` lists its free indices in order) equals ``diff(loss, entry)``."""
    loss = sp.sympify(unfold(loss, definitions)).xreplace(sizes).doit()
    derived = unfold(derived, definitions).xreplace(sizes)
    rng = random.Random(1)
    for _ in range(draws):
        table = dict(extra or {})
        state = rng.random()
        for entry in inputs:
            at = derived.xreplace(dict(zip(free, entry.indices)) if isinstance(entry, sp.Indexed) else {})
            ours = value(at.xreplace(table), sizes, entries=table, rng=random.Random(state))
            reference = value(sp.diff(loss, entry).xreplace(table), sizes, entries=table, rng=random.Random(state))
            assert abs(ours - reference) < 1e-9 * (1 + abs(reference)), (entry, ours, reference)


def upstream_loss(out, g, ranges):
    return sp.Add(*(g[e.indices] * unfold_entry(out, e.indices) for e in entries(g, ranges)))


def unfold_entry(definition, indices):
    lhs, rhs = definition.lhs, definition.rhs
    return rhs.xreplace(dict(zip(lhs.indices, indices)))


# normalization family ---------------------------------------------------------------------------

SIZES = {"batchnorm": (3, 2), "layernorm": (2, 3), "spatial_batchnorm": (2, 2, 2, 1), "groupnorm": (1, 2, 2, 1, 2)}


@pytest.mark.parametrize("name", list(bn.FAMILIES))
def test_normalization_gradients_x_gamma_beta(name):
    f = bn.family(name)
    sizes = {a.size: n for a, n in zip(f.axes, SIZES[name])}
    defs = bn.definitions(f)
    written = [defs[k] for k in ("affine", "normalize", "mean", "variance", "scale")]
    ranges = [(1, n) for n in SIZES[name]]
    dY = Adjoint(bn.Y.label)
    y = defs["affine"].statement
    loss = sp.Add(*(dY[e.indices] * unfold(unfold_entry(y, e.indices), written) for e in entries(bn.Y, ranges)))
    param_ranges = [(1, n) for a, n in zip(f.axes, SIZES[name]) if a.index in f.param_indices]
    cases = [(bn.closed_form(f).result, f.layout, entries(bn.X, ranges)),
             (bn.stage(f, "gamma").result, f.param_indices, entries(bn.GAMMA, param_ranges)),
             (bn.stage(f, "beta").result, f.param_indices, entries(bn.BETA, param_ranges))]
    for derived, free, inputs in cases:
        compare(derived, free, loss, inputs, sizes, written, draws=1)


# affine, relu, dropout ----------------------------------------------------------------------------

def test_affine_gradients():
    s = affine.symbols()
    sizes = {s["N"]: 2, s["D"]: 3, s["M"]: 2}
    ranges = [(0, 1), (0, 1)]
    loss = upstream_loss(affine.LAYER.statement, s["G"], ranges).xreplace(sizes).doit()
    i, j, k = s["i"], s["j"], s["k"]
    for wrt, free, shape in (("X", (i, k), [(0, 1), (0, 2)]), ("W", (k, j), [(0, 2), (0, 1)]),
                             ("b", (j,), [(0, 1)])):
        derived = affine.backward(wrt).steps[-2].after  # the index form the matrix form is proved equal to
        compare(derived, free, loss, entries(s[wrt], shape), sizes)


def test_relu_gradient():
    s = relu.symbols()
    sizes = {relu.N: 2, relu.M: 3}
    ranges = [(0, 1), (0, 2)]
    loss = upstream_loss(relu.LAYER.statement, s["G"], ranges)
    derived = unfold(relu.backward().steps[-2].after, [relu.MASK])
    x_values = {e: sp.Float(v) for e, v in zip(entries(s["X"], ranges), (-1.3, 0.7, 2.1, -0.4, 0.9, -2.2))}
    compare(derived, (s["i"], s["j"]), loss, entries(s["X"], ranges), sizes, extra=x_values)


@pytest.mark.parametrize("variant", dropout.VARIANTS)
def test_dropout_gradient(variant):
    s = dropout.symbols()
    sizes = {dropout.n: 2, dropout.m: 2}
    ranges = [(1, 2), (1, 2)]
    layer = dropout._layer_assumption(variant)
    loss = upstream_loss(layer.statement, s["G"], ranges)
    d = dropout.backward(variant, "keep")
    derived = d.steps[-2].after
    mask = dropout._scaled_mask(dropout.Convention.KEEP)
    compare(derived, (s["i"], s["j"]), loss, entries(s["Y"], ranges), sizes, [mask])


# losses ------------------------------------------------------------------------------------------

def labelled(labels):
    return {softmax.y[n]: sp.Integer(v) for n, v in enumerate(labels)}


@pytest.mark.parametrize("labels", [(0, 2), (1, 1, 0)])
def test_softmax_gradient(labels):
    sizes = {softmax.N: len(labels), softmax.C: 3}
    defs = [softmax.ONE_HOT, softmax.SOFTMAX]
    loss = unfold(softmax.CROSS_ENTROPY.statement.rhs, defs).xreplace(sizes).doit().xreplace(labelled(labels))
    derived = unfold(softmax.gradient().result, defs).xreplace(labelled(labels))
    ranges = [(0, len(labels) - 1), (0, 2)]
    compare(derived.doit(), (softmax.a, softmax.b), loss.doit(), entries(softmax.s, ranges), sizes,
            extra=labelled(labels))
