"""One-line definitions of built-in layers give the curated layers' values and gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from derive.define import define
from numeric.defined_check import generated
from numeric.export import generated_module

FOLDER = Path(__file__).resolve().parent.parent / "examples" / "layers" / "builtin"


@pytest.fixture(scope="module")
def curated():
    return generated_module("keep", layers=("affine", "relu", "softmax", "batchnorm", "layernorm", "conv",
                                            "maxpool"))


def _defined(name):
    return generated(define(FOLDER / f"{name}.toml"))


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


rng = np.random.default_rng(7)


def test_relu(curated):
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    m = _defined("relu")
    out, cache = m.relu_forward(x)
    ref, ref_cache = curated.relu_forward(x)
    _close(out, ref)
    _close(m.relu_backward(g, cache), curated.relu_backward(g, ref_cache))


def test_affine(curated):
    x, w, b, g = (rng.standard_normal(s) for s in ((4, 5), (5, 3), (3,), (4, 3)))
    m = _defined("affine")
    out, cache = m.affine_forward(x, w, b)
    ref, ref_cache = curated.affine_forward(x, w, b)
    _close(out, ref)
    for mine, theirs in zip(m.affine_backward(g, cache), curated.affine_backward(g, ref_cache)):
        _close(mine, theirs)


def test_softmax_cross_entropy(curated):
    s, y = rng.standard_normal((6, 4)) * 30, rng.integers(0, 4, 6)
    m = _defined("softmax_ce")
    loss, cache = m.softmax_ce_forward(s, np.eye(4)[y])
    ref, dref = curated.softmax_loss(s, y)
    _close(loss, ref)
    _close(m.softmax_ce_backward(cache), dref)


@pytest.mark.parametrize("name", ["batchnorm", "layernorm"])
def test_normalization(curated, name):
    x, gamma, beta, g = (rng.standard_normal(s) for s in ((6, 4), (4,), (4,), (6, 4)))
    m = _defined(name)
    out, cache = getattr(m, f"{name}_forward")(x, gamma, beta)
    param = {"mode": "train", "eps": 1e-5} if name == "batchnorm" else {"eps": 1e-5}
    ref, ref_cache = getattr(curated, f"{name}_forward")(x, gamma, beta, param)
    _close(out, ref)
    for mine, theirs in zip(getattr(m, f"{name}_backward")(g, cache),
                            getattr(curated, f"{name}_backward")(g, ref_cache)):
        _close(mine, theirs)


def test_convolution_with_stride_and_padding(curated):
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    m = _defined("conv")
    out, cache = m.conv_forward(x, w, b)
    ref, ref_cache = curated.conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    _close(out, ref)
    g = rng.standard_normal(out.shape)
    for mine, theirs in zip(m.conv_backward(g, cache), curated.conv_backward_fast(g, ref_cache)):
        _close(mine, theirs)


def test_max_pooling(curated):
    x = rng.standard_normal((2, 3, 6, 4))
    m = _defined("maxpool")
    out, cache = m.maxpool_forward(x)
    ref, ref_cache = curated.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    _close(out, ref)
    g = rng.standard_normal(out.shape)
    _close(m.maxpool_backward(g, cache), curated.max_pool_backward_fast(g, ref_cache))


def test_max_pooling_ties_go_to_the_first_maximum(curated):
    x = np.zeros((1, 1, 2, 2))
    m = _defined("maxpool")
    _, cache = m.maxpool_forward(x)
    np.testing.assert_array_equal(m.maxpool_backward(np.ones((1, 1, 1, 1)), cache), [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_softmax_cross_entropy_gradient_is_proved_equal_to_the_curated_one():
    import sympy as sp

    from derive import softmax
    from derive.defined import derive
    from derive.derivation import unfold
    from derive.index import index_prover

    defn = define(FOLDER / "softmax_ce.toml")
    gradient = derive(defn).gradient("S")
    n, c = gradient.entry.indices
    names = {defn.arrays["S"]: softmax.s, defn.arrays["Y"]: softmax.Y, sp.Symbol("dL", real=True): 1,
             defn.symbols["N"]: softmax.N, defn.symbols["C"]: softmax.C}
    mine = gradient.derivation.result.xreplace(names).xreplace({n: softmax.a, c: softmax.b})
    prover = index_prover(nested_sums=True)
    assert prover(mine, softmax.gradient().result, lambda e: unfold(e, [softmax.SOFTMAX]))
    assert not prover(mine, softmax.gradient().result * 2, lambda e: unfold(e, [softmax.SOFTMAX]))


@pytest.mark.parametrize("name", ["layernorm", "batchnorm"])
def test_normalization_gradients_equal_the_curated_derivations_symbolically(name):
    """Plain SymPy at concrete sizes: the defined closed form of ∂L/∂X and the gradients of γ and
    β equal the curated closed form and stages, their definitions written out."""
    from derive import batchnorm as bn
    from derive.defined import derive
    from derive.defined_concrete import agrees_with_curated

    family = bn.family(name)
    layer = derive(define(FOLDER / f"{name}.toml"))
    table = layer.definition.symbols
    symbols = {family.axes[0].size: table["N"], family.axes[1].size: table["D"], bn.EPS: table["eps"]}
    written = [a for a in bn.definitions(family).values() if a.is_equation]
    curated = {"X": bn.closed_form(family), "gamma": bn.stage(family, "gamma"), "beta": bn.stage(family, "beta")}
    for array, derivation in curated.items():
        assert agrees_with_curated(layer, array, derivation, symbols, written, draws=1, indices=(1,)), array
    wrong = {**symbols, bn.EPS: 2 * table["eps"]}  # the comparison can fail
    assert not agrees_with_curated(layer, "X", curated["X"], wrong, written, draws=1, indices=(1,))
