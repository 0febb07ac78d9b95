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

from derive import affine, conv, dropout, pool, relu, softmax, svm
from derive import batchnorm as bn
from derive.concrete import value
from derive.derivation import unfold
from derive.graph import Adjoint


def entries(base, ranges):
    return [base[idx] for idx in itertools.product(*(range(lo, hi + 1) for lo, hi in ranges))]


def compare(derived, free, loss, inputs, sizes, definitions=(), extra=None, draws=2, shapes=None):
    """For every entry of ``inputs`` (``base[concrete indices]``): ``derived`` at that entry
    (``free`` lists its free indices in order) equals ``diff(loss, entry)``; with ``shapes``,
    an array read outside its shape is zero in ``derived`` (``loss`` never reads outside)."""
    loss = sp.sympify(unfold(loss, definitions)).xreplace(sizes).doit()
    derived = unfold(derived, definitions).xreplace(sizes)
    rng = random.Random(1)
    for _ in range(draws):
        table = dict(extra or {})
        state = rng.random()
        for entry in inputs:
            at = derived.xreplace(dict(zip(free, entry.indices)) if isinstance(entry, sp.Indexed) else {})
            ours = value(at.xreplace(table), sizes, entries=table, rng=random.Random(state), shapes=shapes)
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


@pytest.mark.parametrize("labels", [(0, 2), (1, 1, 0)])
def test_svm_gradient(labels):
    sizes = {softmax.N: len(labels), softmax.C: 3}
    defs = [svm.MARGIN, svm.VIOLATING]
    one_hot = {softmax.Y[r, col]: sp.Integer(int(col == label)) for r, label in enumerate(labels) for col in range(3)}
    loss = unfold(svm.HINGE.statement.rhs, defs).xreplace(sizes).doit().xreplace(one_hot)
    derived = unfold(svm.gradient().result, defs)
    ranges = [(0, len(labels) - 1), (0, 2)]
    compare(derived, (softmax.a, softmax.b), loss, entries(softmax.s, ranges), sizes, extra=one_hot)


# windowed layers: every read of the input written out with plain Python indices ------------------

CONV = conv.symbols()


def padded_input(x, h, w):
    """The input read at any position: zero outside its h × w plane (the reference's own padding)."""
    return lambda *at: x[at] if 0 <= at[2] < h and 0 <= at[3] < w else 0


def check_convolution(stride, pad, dilation, h, w, change=lambda derived: derived):
    """dw, db and dx (through dxpad: the scatter form, and for d = 1 the contracted form), each
    passed through ``change``, against the convolution written out term by term: N = 1,
    C = F = 2, 2 × 2 filters."""
    s = CONV
    x, wt, b, dout = s["x"], s["w"], s["b"], s["dout"]
    out_h, out_w = 1 + (h + 2 * pad - dilation - 1) // stride, 1 + (w + 2 * pad - dilation - 1) // stride
    sizes = {s["N"]: 1, s["C"]: 2, s["H"]: h, s["W"]: w, s["F"]: 2, s["HH"]: 2, s["WW"]: 2, s["S"]: stride,
             s["P"]: pad, s["d"]: dilation, s["H_out"]: out_h, s["W_out"]: out_w}
    read = padded_input(x, h, w)
    def out(f, i, j):
        return b[f] + sum(read(0, c, stride * i + dilation * k - pad, stride * j + dilation * l - pad) * wt[f, c, k, l]
                          for c in range(2) for k in range(2) for l in range(2))

    loss = sum(dout[0, f, i, j] * out(f, i, j) for f in range(2) for i in range(out_h) for j in range(out_w))
    shapes = {x: [(0, s["N"] - 1), (0, s["C"] - 1), (0, s["H"] - 1), (0, s["W"] - 1)],
              wt: [(0, s["F"] - 1), (0, s["C"] - 1), (0, s["HH"] - 1), (0, s["WW"] - 1)]}
    at_input = {s["a"]: s["u"] + s["P"], s["b_index"]: s["v"] + s["P"]}  # dx = dxpad cropped
    x_entries = entries(x, [(0, 0), (0, 1), (0, h - 1), (0, w - 1)])
    cases = [(conv.backward_w(True).result, ("f", "c", "k", "l"), entries(wt, [(0, 1)] * 4)),
             (conv.backward_b().result, ("f",), entries(b, [(0, 1)])),
             (conv.backward_xpad(True).result.xreplace(at_input), ("n", "c", "u", "v"), x_entries)]
    if dilation == 1:
        cases.append((conv.backward_xpad(False).result.xreplace(at_input), ("n", "c", "u", "v"), x_entries))
    for derived, free, inputs in cases:
        compare(change(unfold(derived, [conv._window(), conv._padding()])), [s[name] for name in free], loss,
                inputs, sizes, draws=1, shapes=shapes)


@pytest.mark.parametrize("stride, pad, dilation, h, w", [(1, 1, 1, 4, 3), (2, 1, 1, 4, 4), (1, 0, 2, 4, 3),
                                                          (2, 2, 1, 3, 4)])
def test_convolution_gradients(stride, pad, dilation, h, w):
    check_convolution(stride, pad, dilation, h, w)


def test_convolution_crosscheck_catches_a_flipped_filter():
    """Read the filter the other way round (a convolution where the layer correlates) and the
    comparison fails: it can tell."""
    s = CONV

    def flipped(derived):
        return derived.replace(lambda e: isinstance(e, sp.Indexed) and e.base == s["w"],
                               lambda e: s["w"][e.indices[0], e.indices[1], 1 - e.indices[2], 1 - e.indices[3]])

    with pytest.raises(AssertionError):
        check_convolution(1, 1, 1, 3, 3, change=flipped)


@pytest.mark.parametrize("stride, window, h, w", [(2, 2, 4, 4), (1, 2, 3, 3), (1, 3, 4, 3)])
def test_max_pooling_gradient(stride, window, h, w):
    """dx against ∂/∂x of Σ dout · max(window) by plain SymPy (Max differentiated at distinct
    values), with the argmax indicator M filled in from the same values."""
    s = pool.symbols()
    x, dout, mask = s["x"], s["dout"], s["M"]
    out_h, out_w = 1 + (h - window) // stride, 1 + (w - window) // stride
    sizes = {s["N"]: 1, s["C"]: 1, s["H"]: h, s["W"]: w, s["HH"]: window, s["WW"]: window, s["S"]: stride,
             s["H_out"]: out_h, s["W_out"]: out_w}
    rng = random.Random(7)
    values = {x[0, 0, r, q]: sp.Float(v) for (r, q), v in
              zip(itertools.product(range(h), range(w)), rng.sample(range(1, 1000), h * w))}
    table = dict(values)
    loss = 0
    for i, j in itertools.product(range(out_h), range(out_w)):
        window_entries = [x[0, 0, stride * i + k, stride * j + l] for k in range(window) for l in range(window)]
        loss += dout[0, 0, i, j] * sp.Max(*window_entries)
        first = max(range(len(window_entries)), key=lambda q: (values[window_entries[q]], -q))
        for q in range(len(window_entries)):
            table[mask[0, 0, i, j, q // window, q % window]] = sp.Integer(int(q == first))
    compare(pool.backward().result, (s["n"], s["c"], s["u"], s["v"]), loss,
            entries(x, [(0, 0), (0, 0), (0, h - 1), (0, w - 1)]), sizes, extra=table, draws=1, shapes=pool.SHAPES)
