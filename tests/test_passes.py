"""Element-wise rewrites with fewer passes (numeric.codegen.passes): each an identity, checked
symbolically and at random points and ties, and the generated layers' values unchanged."""

import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.define import Where, define
from numeric.codegen import lowering
from numeric.codegen.passes import (
    array_operations,
    collected,
    complementary_steps,
    constants_in_sums,
    merged_wheres,
)
from numeric.defined_check import generated, module_source

LAYERS = Path(__file__).resolve().parents[1] / "examples" / "layers"
alpha, delta = sp.symbols("alpha delta", real=True)
_n = sp.Symbol("n", integer=True)
x, y = sp.IndexedBase("X", real=True)[_n], sp.IndexedBase("Y", real=True)[_n]


@pytest.mark.parametrize("slope", [sp.Rational(1, 100), sp.Rational(5, 2), -sp.Rational(3, 10)])
def test_complementary_steps_are_one_sign_with_the_same_values(slope):
    v = (1 - alpha) * x
    before = (alpha * sp.Heaviside(-v) + sp.Heaviside(v)) * y
    after = complementary_steps(before)
    assert not after.has(sp.Heaviside) and len(after.atoms(sp.sign)) == 2  # sign(1 - alpha), sign(x)
    assert sp.simplify((before - after).rewrite(sp.sign).subs(alpha, slope)) == 0
    tiny = sp.Rational(1, 10**300)
    for xv in (-sp.Rational(5, 2), -tiny, 0, tiny, sp.Rational(3, 10), 4):  # exact: θ(0) = 1/2 at the tie
        point = {x: xv, y: sp.Rational(17, 10), alpha: slope}
        assert after.subs(point) == before.subs(point)


def test_steps_with_another_value_at_zero_are_left_alone():
    """θ(u, 0) + θ(-u, 0) is 0 at u = 0, not 1: no pair to collect."""
    lone = 2 * sp.Heaviside(x, 0) + sp.Heaviside(-x, 0)
    assert complementary_steps(lone) == lone
    single = alpha * sp.Heaviside(x) * y
    assert complementary_steps(single) == single


def test_selections_on_one_condition_merge_into_one():
    c = sp.Abs(x) <= delta
    before = y * Where(c, 0, delta * sp.sign(x)) / 7 + y * Where(c, x, 0) / 7
    after = merged_wheres(before)
    assert len(after.atoms(Where)) == 1
    as_piecewise = {w: sp.Piecewise((w.args[1], w.args[0]), (w.args[2], True)) for w in before.atoms(Where)}
    merged = {w: sp.Piecewise((w.args[1], w.args[0]), (w.args[2], True)) for w in after.atoms(Where)}
    points = [{x: xv, y: 0.9, delta: 1.5} for xv in (-3, -1.5, -0.2, 0, 1.5, 2)]  # |x| = delta included
    for p in points:
        assert float(before.xreplace(as_piecewise).subs(p)) == pytest.approx(float(after.xreplace(merged).subs(p)))
    other = y * Where(x > 0, 1, 0) + Where(x > 1, x, 0)  # two conditions: nothing to merge
    assert len(merged_wheres(other).atoms(Where)) == 2


def test_a_constant_factor_joins_the_constants_of_a_sums_terms():
    z = sp.IndexedBase("Z", real=True)[_n]
    before = sp.Mul(sp.Rational(1, 2), sp.Add(1 + alpha, (1 - alpha) * sp.sign(x), evaluate=False), y, evaluate=False)
    after = constants_in_sums(before)
    assert sp.expand(after - before) == 0
    assert after.as_independent(sp.Indexed, as_Add=False)[0] == 1  # no constant left outside the sum
    plain = sp.Mul(3, sp.Add(x, z, evaluate=False), y, evaluate=False)  # 3·X + 3·Z would be a pass more
    assert constants_in_sums(plain) == plain
    negated = sp.Mul(alpha, sp.Add(2 * x, -z, evaluate=False), y, evaluate=False)  # -Z is a subtraction, free
    assert constants_in_sums(negated) == negated


def _modules(name, monkeypatch):
    defn = define(LAYERS / f"{name}.toml")
    new = generated(defn)
    with monkeypatch.context() as m:
        m.setattr(lowering, "fewer_passes", lambda e: e)
        m.setattr(lowering, "constants_in_sums", lambda e: e)
        old = generated(defn)
    return new, old


@pytest.mark.parametrize("name,kink", [("leaky_relu", 0.0), ("huber", 1.0), ("elu", 0.0)])
def test_generated_layers_compute_what_they_computed_before_the_rewrites(name, kink, monkeypatch):
    new, old = _modules(name, monkeypatch)
    rng = np.random.default_rng(5)
    X = 2 * rng.standard_normal((64, 96))
    args = [X] if name != "huber" else [X, rng.standard_normal((64, 96))]
    X[0, :8] = kink * np.array([1, -1, 1, -1, 1, -1, 1, -1]) + (args[1][0, :8] if name == "huber" else 0)
    X[1, :3] = [0.0, -0.0, 5e-324]
    outs = [getattr(m, f"{name}_forward")(*args) for m in (new, old)]
    dout = rng.standard_normal(np.shape(outs[0][0])) if np.ndim(outs[0][0]) else 0.8
    grads = [getattr(m, f"{name}_backward")(dout, cache) for m, (_, cache) in zip((new, old), outs)]
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_allclose(grads[0], grads[1], rtol=4e-15, atol=0)  # a few roundings


def test_the_rewrites_leave_one_step_and_one_selection_in_the_backward_pass():
    def backward(name):
        source = module_source([define(LAYERS / f"{name}.toml")])
        return source[source.index(f"def {name}_backward"):]

    assert backward("leaky_relu").count("np.sign(") == 2 and "np.sign(X)" in backward("leaky_relu")
    assert backward("leaky_relu").count("out=dX)") == 2  # + the constant, × dY: the ½ rides on the constants
    assert backward("huber").count("_where(") == 1
    assert backward("elu").count("_where(") == 1
    assert "dR = _where((_r1 <= delta), R, dR, out=dR)" in backward("huber")  # in its branch's buffer


def test_a_sum_of_an_element_wise_value_sums_one_buffer():
    """Huber's loss: both branches of the selection computed in buffers, the selection written over
    one, and that buffer summed (no array allocated per operation)."""
    source = module_source([define(LAYERS / "huber.toml")])
    forward = source[source.index("def huber_forward"):source.index("def huber_backward")]
    (select,) = [line for line in forward.splitlines() if "_where(" in line]
    assert re.fullmatch(r"    (_r\d+) = _where\(\(_r1 <= delta\), \1, _s\d+, out=\1\)", select)
    assert re.search(r"= _r\d+\.sum\(axis=\(0, 1\)\)\n", forward)


def test_array_operations_count_the_passes_over_the_data():
    assert array_operations((x + 1) * y) == 2  # X + 1, then × Y
    assert array_operations(x**3) == 2  # X·X·X
    assert array_operations(-x * y) == 1  # the −1 is a subtraction wherever the product goes
    assert array_operations(sp.tanh(2 * x) + 3 * alpha) == 3  # 2X, tanh, + the constant
    assert array_operations(alpha * delta) == 0  # scalars only


def test_collecting_in_the_functions_of_arrays_takes_fewer_passes_for_gelu():
    t = sp.tanh(sp.Float("0.0356774081363001") * x**3 + sp.Float("0.797884560802865") * x)
    derivative = sp.expand(sp.diff(sp.Float("0.5") * x * (1 + t), x.base[_n]) * y)  # as the chain rule leaves it
    gathered = collected(derivative)
    assert array_operations(gathered) < array_operations(sp.factor_terms(derivative))
    for xv in (-2.5, -0.3, 0.0, 0.7, 3.1):
        point = {x: xv, y: 1.3}
        assert float(gathered.subs(point)) == pytest.approx(float(derivative.subs(point)), rel=1e-14)
    assert collected(x * y + 1) is None  # no function of an array: nothing to collect


def test_gelus_backward_makes_fewer_passes():
    source = module_source([define(LAYERS / "gelu_tanh.toml")])
    backward = source[source.index("def gelu_tanh_backward"):]
    assert sum(line.strip().startswith(("np.", "_s", "dX = np.")) for line in backward.splitlines()) <= 16
