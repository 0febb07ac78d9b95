"""The validation layer: numerical derivatives, tolerances, and checks that cannot be fooled."""

from __future__ import annotations

import numpy as np
import pytest

from derive.errors import LayergradError
from numeric.gradcheck import (
    SAFETY,
    Tolerance,
    Verdict,
    away_from_kinks,
    check_jvp,
    check_projections,
    check_second_order,
    check_vjp,
    estimate_gradient,
    numerical_gradient,
    rel_error,
    without_ties,
)

EPS = np.finfo(float).eps
GAMMA = np.array([0.5, -1.2, 2.0, 0.7, 1.1])
BETA = np.array([0.1, 0.2, -0.3, 0.0, 1.0])


def batchnorm(x: np.ndarray) -> np.ndarray:
    """Train-mode batch normalization over axis 0 (the variance as mean(xc·xc): analytic)."""
    xc = x - x.mean(axis=0)
    return GAMMA * xc / np.sqrt((xc * xc).mean(axis=0) + 1e-5) + BETA


def batchnorm_backward(dout: np.ndarray, x: np.ndarray, *, full: bool = True) -> np.ndarray:
    """The closed form; ``full=False`` drops the Z·Σ(dY·Z) term (a classic mistake)."""
    n = len(x)
    xc = x - x.mean(axis=0)
    std = np.sqrt((xc * xc).mean(axis=0) + 1e-5)
    z = xc / std
    inner = n * dout - dout.sum(axis=0) - (z * (dout * z).sum(axis=0) if full else 0)
    return GAMMA / (n * std) * inner


@pytest.fixture
def x() -> np.ndarray:
    return 5 * np.random.default_rng(0).standard_normal((4, 5)) + 12


def test_batched_differences_equal_the_loop_and_use_one_call() -> None:
    x = np.random.default_rng(1).standard_normal((6, 7))
    dout = np.random.default_rng(2).standard_normal(x.shape)
    batched = estimate_gradient(np.tanh, x, dout, method="central")
    looped = estimate_gradient(np.tanh, x, dout, method="central", batched=False)
    assert batched.batched and not looped.batched
    assert batched.calls <= 5 < looped.calls == 2 * x.size + 1
    np.testing.assert_allclose(batched.value, looped.value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batched.value, dout / np.cosh(x) ** 2, rtol=1e-8)


def test_a_function_that_reduces_over_the_leading_axis_falls_back_to_the_loop(x: np.ndarray) -> None:
    dout = np.random.default_rng(3).standard_normal(x.shape)
    estimate = estimate_gradient(batchnorm, x, dout, method="central")
    assert not estimate.batched
    np.testing.assert_allclose(estimate.value, batchnorm_backward(dout, x), rtol=1e-6, atol=1e-9)


def test_complex_step_reaches_machine_precision_where_central_differences_cannot(x: np.ndarray) -> None:
    dout = np.random.default_rng(4).standard_normal(x.shape)
    exact = batchnorm_backward(dout, x)
    complex_error = rel_error(numerical_gradient(batchnorm, x, dout, method="complex"), exact)
    central_error = rel_error(numerical_gradient(batchnorm, x, dout, method="central"), exact)
    assert complex_error < 1e-13 < central_error


def test_auto_falls_back_to_central_differences_when_the_forward_is_not_analytic(x: np.ndarray) -> None:
    def bn_with_var(x: np.ndarray) -> np.ndarray:  # np.var conjugates: not analytic
        return GAMMA * (x - x.mean(axis=0)) / np.sqrt(np.var(x, axis=0) + 1e-5) + BETA

    dout = np.random.default_rng(5).standard_normal(x.shape)
    raw = numerical_gradient(bn_with_var, x, dout, method="complex")
    assert rel_error(raw, batchnorm_backward(dout, x)) > 1e-3  # the complex step alone would be fooled
    verdict = check_vjp("bn", bn_with_var, x, dout, batchnorm_backward(dout, x))
    assert verdict.passed and verdict.method.startswith("central differences")
    assert "complex step not applicable" in verdict.method and not verdict.warnings


def test_a_sum_loss_is_blind_to_a_wrong_batchnorm_gradient_and_says_so(x: np.ndarray) -> None:
    ones = np.ones_like(x)
    blind = check_vjp("bn", batchnorm, x, ones, batchnorm_backward(ones, x, full=False))
    assert blind.passed  # Σ BN(x) is constant: any gradient with zero column sums passes
    assert any("plain sum loss" in w for w in blind.warnings)
    assert any("constant in x" in w for w in blind.warnings)
    rng = np.random.default_rng(6)
    dout = rng.standard_normal(x.shape)
    caught = check_vjp("bn", batchnorm, x, dout, batchnorm_backward(dout, x, full=False))
    assert not caught.passed and not caught.warnings
    random_upstream = check_vjp("bn", batchnorm, x, None, batchnorm_backward(rng.standard_normal(x.shape), x))
    assert not random_upstream.passed  # None draws its own random G, which the analytic one was not made with


def test_verdict_names_method_tolerance_and_the_worst_entry(x: np.ndarray) -> None:
    dout = np.random.default_rng(7).standard_normal(x.shape)
    analytic = batchnorm_backward(dout, x)
    analytic[2, 3] += 0.5
    verdict = check_vjp("bn", batchnorm, x, dout, analytic)
    assert not verdict.passed and verdict.where == (2, 3)
    assert verdict.method.startswith("complex step") and verdict.tolerance < 1e-10
    assert "backward gives" in verdict.detail
    good = check_vjp("bn", batchnorm, x, dout, batchnorm_backward(dout, x), method="central")
    assert good.passed and good.error < good.tolerance < 1e-6


def test_tolerance_follows_step_and_dtype() -> None:
    eta = 1e-5
    central = Tolerance.derived("central", eta, 1.0, 0.0)
    assert central.rtol == pytest.approx(SAFETY * (eta**2 + EPS / eta))
    assert Tolerance.derived("complex", 1e-20, 1.0, 0.0).rtol == pytest.approx(SAFETY * EPS)
    single = Tolerance.derived("central", eta, 1.0, 0.0, np.float32)
    assert single.rtol > 1e4 * central.rtol
    tol = Tolerance(1e-6, 1e-9, "")
    errors = tol.errors(np.array([1.0, 1e-10, 1.0]), np.array([1.0 + 1e-7, -1e-10, 1.1]))
    assert errors[0] <= 1e-6 and errors[1] <= 1e-6 and errors[2] > 1e-6  # a floor for rounding-level entries


def test_an_error_just_beyond_the_derived_tolerance_fails(x: np.ndarray) -> None:
    dout = np.random.default_rng(8).standard_normal(x.shape)
    exact = batchnorm_backward(dout, x)
    assert not check_vjp("bn", batchnorm, x, dout, exact * (1 + 1e-5), method="central").passed
    assert check_vjp("bn", batchnorm, x, dout, exact * (1 + 1e-11), method="central").passed
    assert not check_vjp("bn", batchnorm, x, dout, exact * (1 + 1e-11), method="complex").passed


def test_float32_inputs_are_checked_in_float64_and_float32_outputs_are_refused() -> None:
    x32 = np.random.default_rng(9).standard_normal((3, 4)).astype(np.float32)
    dout = np.random.default_rng(10).standard_normal(x32.shape)
    assert check_vjp("tanh", np.tanh, x32, dout, dout / np.cosh(x32.astype(float)) ** 2).passed
    with pytest.raises(LayergradError, match="float32"):
        check_vjp("tanh32", lambda z: np.tanh(z).astype(np.float32), x32, dout, dout)
    with pytest.raises(LayergradError, match="floating-point"):
        check_vjp("ints", np.tanh, np.arange(4), np.ones(4), np.ones(4))


def test_kinks_are_avoided_and_detected_rather_than_reported_as_wrong_gradients() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 5))
    x[0, 0], x[1, 1] = 0.0, -1e-9
    dout = rng.standard_normal(x.shape)

    def relu(z: np.ndarray) -> np.ndarray:
        return np.maximum(0, z)

    at_kinks = check_vjp("relu", relu, x, dout, dout * (x > 0), method="central")
    assert at_kinks.passed and any("kink" in w for w in at_kinks.warnings)
    moved = away_from_kinks(x, 1e-3)
    assert np.min(np.abs(moved)) >= 1e-3 and np.array_equal(moved[2:], x[2:])
    clean = check_vjp("relu", relu, moved, dout, dout * (moved > 0), method="central")
    assert clean.passed and not clean.warnings


def test_without_ties_separates_every_pair_and_moves_little() -> None:
    x = np.array([[1.0, 1.0, 0.5], [1.0, 2.0, 0.5]])
    y = without_ties(x, 1e-3)
    gaps = np.diff(np.sort(y.reshape(-1)))
    assert gaps.min() >= 1e-3 - 1e-15 and np.max(y - x) <= 3e-3 and np.all(y >= x)


def test_jvp_check_locates_the_wrong_output_entry(x: np.ndarray) -> None:
    def wrong_vjp(g: np.ndarray) -> np.ndarray:
        grad = batchnorm_backward(g, x)
        return grad + (g[1, 2] * 0.3 if g.shape == x.shape else 0)  # row (1, 2) of the Jacobian is off

    rng = np.random.default_rng(13)
    assert check_jvp("bn", batchnorm, x, lambda g: batchnorm_backward(g, x), rng=rng).passed
    null = (x - x.mean(axis=0)) / x.std(axis=0)  # BN ignores scaling a column: J v = 0 up to rounding
    assert check_jvp("bn", batchnorm, x, lambda g: batchnorm_backward(g, x), v=null, rng=rng).passed
    verdict = check_jvp("bn", batchnorm, x, wrong_vjp, rng=rng)
    assert not verdict.passed and verdict.where == (1, 2)


def test_second_order_check_passes_the_closed_form_and_catches_a_missing_term(x: np.ndarray) -> None:
    dout = np.random.default_rng(12).standard_normal(x.shape)
    good = check_second_order("bn", batchnorm, x, lambda z: batchnorm_backward(dout, z), dout)
    assert [v.passed for v in good] == [True, True]
    bad = check_second_order("bn", batchnorm, x, lambda z: batchnorm_backward(dout, z, full=False), dout)
    assert not bad[0].passed and not bad[1].passed


def test_verdict_round_trips_through_json_ready_dicts() -> None:
    verdict = Verdict("f", False, np.inf, 1e-7, "central", (1, 2), "detail", "key", "words", ("note",))
    data = verdict.to_dict()
    assert data["error"] is None and data["where"] == [1, 2]
    assert Verdict.from_dict(data) == verdict


def test_random_projections_catch_a_wrong_gradient_of_a_large_input_in_a_few_calls() -> None:
    rng = np.random.default_rng(14)
    x = rng.standard_normal((300, 200))
    dout = rng.standard_normal(x.shape)
    calls = []

    def f(z: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.sin(z)

    assert check_projections("sin", f, x, dout, dout * np.cos(x), rng=rng).passed
    wrong = dout * np.cos(x)
    wrong[123, 45] += 1e-3
    assert not check_projections("sin", f, x, dout, wrong, rng=rng).passed
    assert len(calls) < 30


def test_a_conjugating_forward_does_not_fool_the_complex_step_into_passing_a_wrong_gradient(x: np.ndarray) -> None:
    """np.var conjugates, so the complex step of a batch norm written with it holds the variance
    constant — exactly the gradient that forgets the variance's term. Auto must not use it."""
    def bn_with_var(z: np.ndarray) -> np.ndarray:
        return GAMMA * (z - z.mean(axis=0)) / np.sqrt(np.var(z, axis=0) + 1e-5) + BETA

    dout = np.random.default_rng(15).standard_normal(x.shape)
    wrong = batchnorm_backward(dout, x, full=False)
    assert check_vjp("bn", bn_with_var, x, dout, wrong, method="complex").passed  # the trap
    for check in (check_vjp, check_projections):
        verdict = check("bn", bn_with_var, x, dout, wrong)
        assert not verdict.passed and "complex step not applicable" in verdict.method
