"""Sums over array supports: shifts and flips of sums under zero padding."""

import sympy as sp

from derive.derivation import Derivation
from derive.index import IN_RANGE, ZERO_OUTSIDE, multiply_out, normalize
from derive.support import normalize_on_support, shapes_assumption, sum_over_support, support_prover

a, i, k = sp.symbols("a i k", integer=True)
HH, Hp = sp.symbols("HH Hp", integer=True, positive=True)
dout, w = sp.IndexedBase("dout"), sp.IndexedBase("w")
SHAPES = {dout: [(0, Hp - 1)], w: [(0, HH - 1)]}

TRANSPOSE = sp.Sum(dout[i] * w[a - i], (i, 0, Hp - 1))
OVER_FILTER = sp.Sum(dout[a - k] * w[k], (k, 0, HH - 1))
FLIPPED = sp.Sum(dout[a + k - HH + 1] * w[HH - 1 - k], (k, 0, HH - 1))


def test_reindexing_over_another_support_is_equal():
    assert normalize_on_support(TRANSPOSE - OVER_FILTER, SHAPES) == ()


def test_flipping_the_filter_is_equal():
    assert normalize_on_support(TRANSPOSE - FLIPPED, SHAPES) == ()


def test_the_plain_normal_form_cannot_see_it():
    assert normalize(TRANSPOSE - OVER_FILTER, zero_outside=SHAPES) != ()


def test_a_range_that_is_not_a_support_is_left_alone():
    too_long = sp.Sum(dout[a - k] * w[k], (k, 0, HH))
    assert normalize_on_support(TRANSPOSE - too_long, SHAPES) != ()
    (term,) = multiply_out(too_long)
    assert sum_over_support([term], SHAPES) == (term,)


def test_a_wrong_flip_is_not_equal():
    unshifted = sp.Sum(dout[a + k] * w[HH - 1 - k], (k, 0, HH - 1))
    assert normalize_on_support(TRANSPOSE - unshifted, SHAPES) != ()


def test_the_canonical_support_is_chosen_by_array_name():
    (term,) = sum_over_support(multiply_out(OVER_FILTER), SHAPES)
    (dummy,) = term.dummies
    assert term.limits == ((dummy, 0, Hp - 1),)
    assert term.factor == dout[dummy] * w[a - dummy]


def test_prover_in_a_derivation():
    d = Derivation("flip", TRANSPOSE, [IN_RANGE, ZERO_OUTSIDE, shapes_assumption(SHAPES)])
    d.step(FLIPPED, "flip", "reflect the sum", by=support_prover(SHAPES))
    assert d.verify() == []
    assert "dout is Hp" in d.assumption("array shapes").why
