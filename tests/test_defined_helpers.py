"""The run-time helpers of generated defined layers: the error function to float64 accuracy
without SciPy, and sigmoid / softplus that neither overflow nor lose their tails."""

import math
import tracemalloc

import numpy as np
import pytest

from numeric.defined_code import HELPERS

HELPER = {"np": np, "LayergradError": ValueError}
exec(HELPERS, HELPER)


def test_erf_matches_math_erf_to_a_few_ulps_everywhere():
    x = np.concatenate([np.linspace(-9, 9, 100_001), [0.0, -0.0, 1e-300, -1e-12, 2.0, -2.0, 6.0, 1.9999999999]])
    reference = np.array([math.erf(v) for v in x])
    got = HELPER["_erf"](x)
    assert got.dtype == np.float64
    assert np.all(np.abs(got - reference) <= 2e-15 * np.maximum(np.abs(reference), 1e-300))


def test_erf_special_values_and_dtypes():
    erf = HELPER["_erf"]
    got = erf(np.array([np.inf, -np.inf, np.nan]))
    assert got[0] == 1.0 and got[1] == -1.0 and np.isnan(got[2])
    assert erf(np.float64(0.5)) == pytest.approx(math.erf(0.5), rel=1e-15)
    assert erf(np.float64(3.0)) == pytest.approx(math.erf(3.0), rel=1e-15)
    single = erf(np.linspace(-3, 3, 7, dtype=np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, [math.erf(v) for v in np.linspace(-3, 3, 7)], rtol=1e-6)


def test_sigmoid_and_softplus_keep_their_tails_and_do_not_overflow():
    u = np.array([-800.0, -40.0, -1.0, 0.0, 40.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sigmoid, softplus = HELPER["_sigmoid"](u), HELPER["_softplus"](u)
    np.testing.assert_allclose(sigmoid[1:], [1 / (1 + math.exp(40)), 1 / (1 + math.e), 0.5, 1.0, 1.0], rtol=1e-15)
    assert sigmoid[0] == 0.0
    expected = [math.log1p(math.exp(-40)), math.log1p(math.exp(-1)), math.log(2), 40, 800]
    np.testing.assert_allclose(softplus[1:], expected, rtol=1e-15)
    assert HELPER["_sigmoid"](np.float64(2.0)) == pytest.approx(1 / (1 + math.exp(-2)), rel=1e-15)


def test_sigmoid_and_softplus_to_a_few_ulps_on_every_range():
    u = np.linspace(-60, 60, 48_001)
    sigmoid = np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in u])
    softplus = np.array([max(v, 0) + math.log1p(math.exp(-abs(v))) for v in u])
    np.testing.assert_allclose(HELPER["_sigmoid"](u), sigmoid, rtol=4e-15, atol=0)
    np.testing.assert_allclose(HELPER["_softplus"](u), softplus, rtol=4e-15, atol=0)
    for f in ("_sigmoid", "_softplus"):
        special = HELPER[f](np.array([np.nan, np.inf, -np.inf]))
        assert np.isnan(special[0]) and special[2] == 0.0 and special[1] == (1.0 if f == "_sigmoid" else np.inf)
        assert HELPER[f](np.ones((2, 3), dtype=np.float32)).dtype == np.float32


mpmath = pytest.importorskip("mpmath")  # SymPy's own dependency: an independent high-precision reference
mpmath.mp.dps = 40


def _sigmoid_exact(v):
    return 1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))


def test_sigmoid_to_a_few_ulps_in_both_far_tails_and_zero_only_below_the_smallest_normal():
    u = np.concatenate([-np.geomspace(1e-300, 745, 2000), np.geomspace(1e-300, 745, 2000), [0.0]])
    got = HELPER["_sigmoid"](u)
    exact = np.array([float(_sigmoid_exact(v)) for v in u])
    normal = exact >= np.finfo(np.float64).tiny
    assert np.all(np.abs(got[normal] - exact[normal]) <= 4e-16 * exact[normal])
    assert np.all(got[~normal] <= exact[~normal]) and np.any(~normal)  # below the smallest normal: 0


def test_sigmoid_and_softplus_in_float32_stay_float32_and_within_a_few_of_its_ulps():
    u = np.concatenate([-np.geomspace(1e-30, 87, 500), np.geomspace(1e-30, 87, 500)]).astype(np.float32)
    s, p = HELPER["_sigmoid"](u), HELPER["_softplus"](u)
    assert s.dtype == p.dtype == np.float32
    exact_s = np.array([float(_sigmoid_exact(v)) for v in u])
    exact_p = np.array([float(mpmath.log1p(mpmath.exp(mpmath.mpf(float(v))))) for v in u])
    assert np.all(np.abs(s - exact_s) <= 4 * 6e-8 * exact_s)
    assert np.all(np.abs(p - exact_p) <= 4 * 6e-8 * exact_p)


def test_softplus_to_a_few_ulps_in_both_far_tails():
    u = np.concatenate([-np.geomspace(1e-12, 740, 1500), np.geomspace(1e-12, 1e6, 1500)])
    got = HELPER["_softplus"](u)
    exact = np.array([float(mpmath.log1p(mpmath.exp(mpmath.mpf(float(v))))) for v in u])
    assert np.all(np.abs(got - exact) <= 4e-16 * exact)


def test_erf_in_blocks_matches_erf_in_one_piece_on_any_shape():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 40_000)) * 3  # more than one block of 65536 entries
    got = HELPER["_erf"](x)
    assert got.shape == x.shape
    assert np.array_equal(got[:, ::997], HELPER["_erf"](np.ascontiguousarray(x[:, ::997])))
    strided = HELPER["_erf"](x.T)  # a transposed view: read in its own order
    assert np.array_equal(strided, got.T)
    exact = np.array([float(mpmath.erf(v)) for v in x.ravel()[:3000]])
    assert np.all(np.abs(got.ravel()[:3000] - exact) <= 2e-15 * np.abs(exact))


def test_where_picks_exactly_what_np_where_picks():
    rng = np.random.default_rng(9)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, -1.5])
    a = np.concatenate([special, rng.standard_normal(5000)])  # above the size where it picks bits
    b = np.concatenate([special[::-1], rng.standard_normal(5000)])
    c = rng.random(a.size) < 0.5
    for x, y in [(a, b), (a, 0), (0.5, b), (a.astype(np.float32), b.astype(np.float32)), (a[:, None], b[None, :5])]:
        cond = c if np.ndim(x) < 2 else c[:, None]
        got, expected = HELPER["_where"](cond, x, y), np.where(cond, x, y)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got.view(f"i{got.itemsize}"), expected.view(f"i{got.itemsize}"))  # bit for bit
    assert HELPER["_where"](c, 1, 0).dtype == np.where(c, 1, 0).dtype  # not floating: np.where itself
    small = HELPER["_where"](c[:20], a[:20], b[:20])  # a small array: np.where itself
    assert np.array_equal(small, np.where(c[:20], a[:20], b[:20]), equal_nan=True)


def test_where_allocates_only_the_array_it_returns():
    """No second array the size of the result (it would be freed and faulted in again each call)."""
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((2, 256, 1024))
    c = rng.random(a.shape) < 0.5
    tracemalloc.start()
    try:
        got = HELPER["_where"](c, a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, np.where(c, a, b))
    assert got.nbytes <= peak < 1.1 * got.nbytes


def test_where_writes_over_the_branch_it_is_given():
    rng = np.random.default_rng(11)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, -1.5])
    a = np.concatenate([special, rng.standard_normal(5000)])
    b = np.concatenate([special[::-1], rng.standard_normal(5000)])
    c = rng.random(a.size) < 0.5
    expected = np.where(c, a, b).view(np.int64)
    for which in ("a", "b"):
        x, y = a.copy(), b.copy()
        out = x if which == "a" else y
        got = HELPER["_where"](c, x, y, out=out)
        assert np.shares_memory(got, out) and np.array_equal(got.view(np.int64), expected)  # bit for bit
    y = b.copy()
    got = HELPER["_where"](c, 1.5, y, out=y)  # a scalar branch
    assert np.shares_memory(got, y) and np.array_equal(got, np.where(c, 1.5, b), equal_nan=True)
    narrow, wide = a.astype(np.float32), b.copy()  # the result is float64: a float32 buffer cannot hold it
    got = HELPER["_where"](c, narrow, wide, out=narrow)
    assert got.dtype == np.float64 and not np.shares_memory(got, narrow)
    assert np.array_equal(got, np.where(c, narrow, wide), equal_nan=True)
    other = np.empty_like(a)  # neither branch: not written
    got = HELPER["_where"](c, a, b, out=other)
    assert not np.shares_memory(got, other)
