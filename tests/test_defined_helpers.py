"""The run-time helpers of generated defined layers: the error function to float64 accuracy
without SciPy, and sigmoid / softplus that neither overflow nor lose their tails."""

import math

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
    assert np.all(np.abs(got - reference) <= 8e-15 * np.maximum(np.abs(reference), 1e-300))


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
