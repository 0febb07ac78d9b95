"""Property-based tests of the index engine: random index expressions at concrete sizes.

Random sums of products of array entries with Kronecker deltas, affine indices (offsets and a
stride), reciprocals and square roots, over small declared shapes. Plain SymPy evaluates them
at concrete sizes with random entries (:mod:`derive.concrete`), independently of the engine:
the normal form keeps every value, and whenever the engine says two expressions are equal (or
a step follows), they are. Bounded and derandomized, so they cannot flake."""

import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.concrete import agree
from derive.index import index_prover, normalize, to_expr

K = sp.Symbol("K", integer=True, positive=True)
S = sp.Symbol("S", integer=True, positive=True)
i, k, l = sp.symbols("i k l", integer=True)
x, y, z = sp.IndexedBase("x"), sp.IndexedBase("y"), sp.IndexedBase("z")
SIZES = {K: 3, S: 2}
SHAPES = {x: [(0, K - 1)], y: [(0, K - 1)], z: [(0, K - 1), (0, K - 1)]}

PROPERTY = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

index = st.sampled_from([i, k, l, k + 1, i - k, S * l + k, l - 1])
small = st.sampled_from([i, k, l])
entry = st.one_of(
    st.builds(lambda e: x[e], index),
    st.builds(lambda e: y[e], index),
    st.builds(lambda a, b: z[a, b], small, index),
)
factor = st.one_of(
    entry,
    st.builds(lambda a, b: sp.KroneckerDelta(a, b), small, index),
    st.builds(lambda e: 1 / (1 + e**2), entry),
    st.builds(lambda e: sp.sqrt(1 + e**2), entry),
)


@st.composite
def terms(draw):
    body = sp.Integer(draw(st.integers(-2, 2)) or 1) * sp.Mul(*draw(st.lists(factor, min_size=1, max_size=3)))
    extra = draw(st.sampled_from([(), (k,), (l,), (k, l)]))
    for dummy in (k, l):  # i is the one free index; k and l are always summed
        if dummy in extra or body.has(dummy):
            body = sp.Sum(body, (dummy, 0, K - 1))
    return body


expressions = st.builds(lambda ts: sp.Add(*ts), st.lists(terms(), min_size=1, max_size=3))


@PROPERTY
@given(expressions)
def test_the_normal_form_keeps_the_value(expr):
    assert agree(expr, to_expr(normalize(expr)), SIZES) is not False


@PROPERTY
@given(expressions)
def test_the_normal_form_under_zero_outside_keeps_the_value_where_arrays_are_zero_outside(expr):
    back = to_expr(normalize(expr, zero_outside=SHAPES))
    assert agree(expr, back, SIZES, shapes=SHAPES) is not False


@PROPERTY
@given(expressions, expressions)
def test_what_the_engine_calls_equal_is_equal(a, b):
    for prover, shapes in ((index_prover(), None), (index_prover(zero_outside=SHAPES), SHAPES)):
        if prover(a, b):
            assert agree(a, b, SIZES, shapes=shapes) is not False


@PROPERTY
@given(expressions)
def test_a_renamed_or_reordered_expression_is_proved_equal_and_is(expr):
    m = sp.Symbol("m", integer=True)
    renamed = expr.replace(lambda e: isinstance(e, sp.Sum) and k in e.variables, lambda e: e.xreplace({k: m}))
    renamed = sp.Add(*reversed(sp.Add.make_args(renamed)), evaluate=False)
    assert index_prover()(expr, renamed)
    assert agree(expr, renamed, SIZES)


@PROPERTY
@given(expressions, st.sampled_from(["sign", "factor"]))
def test_a_wrong_step_is_refused(expr, how):
    wrong = -expr if how == "sign" else 2 * expr
    if agree(expr, wrong, SIZES) is False:  # a non-zero expression
        assert not index_prover()(expr, wrong)
        assert not index_prover(zero_outside=SHAPES)(expr, wrong) or agree(expr, wrong, SIZES, shapes=SHAPES)


def test_known_identities_are_proved_and_hold_at_concrete_sizes():
    from derive.support import normalize_on_support

    a = sp.Symbol("a", integer=True)
    HH, Hp = sp.symbols("HH Hp", integer=True, positive=True)
    dout, w = sp.IndexedBase("dout"), sp.IndexedBase("w")
    shapes = {dout: [(0, Hp - 1)], w: [(0, HH - 1)]}
    transpose = sp.Sum(dout[i] * w[a - i], (i, 0, Hp - 1))
    over_filter = sp.Sum(dout[a - k] * w[k], (k, 0, HH - 1))
    flipped = sp.Sum(dout[a + k - HH + 1] * w[HH - 1 - k], (k, 0, HH - 1))
    for other in (over_filter, flipped):
        assert normalize_on_support(transpose - other, shapes) == ()
        assert agree(transpose, other, {HH: 2, Hp: 3}, shapes=shapes)
    # the false statements of a delta without a witness: refused, and false at concrete sizes
    lone = sp.Sum(sp.KroneckerDelta(k, a - S * i), (k, 0, K - 1))
    assert not index_prover(zero_outside=SHAPES)(lone, 1)
    assert agree(lone.xreplace({a: 7}), 1, {K: 3, S: 2}) is False  # a − S·i = 5 lies outside 0 … 2

