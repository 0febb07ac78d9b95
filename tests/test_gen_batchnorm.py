"""Generated normalization layers: finite differences, the seed notebook's numbers, modes, dtypes
and bad input."""

import types

import numpy as np
import pytest

from derive import LayergradError
from numeric.export import module_source
from numeric.gradcheck import check_vjp

FAMILY = ("batchnorm", "layernorm", "spatial_batchnorm", "groupnorm")


@pytest.fixture(scope="module")
def layers():
    module = types.ModuleType("normalization_layers")
    exec(compile(module_source("cs231n", "keep", layers=FAMILY), module.__name__, "exec"), module.__dict__)
    return module


def cases(m, rng):
    """(forward, backward passes, x, gamma, beta, extra args, param) for each layer and mode."""
    x2 = 5 * rng.standard_normal((5, 3)) + 12
    x4 = 2 * rng.standard_normal((2, 3, 3, 2)) - 4
    x6 = rng.standard_normal((2, 6, 2, 3)) + 3
    trained = {"mode": "train"}
    m.batchnorm_forward(rng.standard_normal((7, 3)) * 2 + 1, np.ones(3), np.zeros(3), trained)
    trained_spatial = {"mode": "train", "momentum": 0.5}
    m.spatial_batchnorm_forward(rng.standard_normal((3, 3, 2, 2)), np.ones(3), np.zeros(3), trained_spatial)
    bn = (m.batchnorm_backward, m.batchnorm_backward_alt)
    return {
        "batchnorm train": (m.batchnorm_forward, bn, x2, (), {"mode": "train"}, 3),
        "batchnorm test": (m.batchnorm_forward, bn, x2, (), {**trained, "mode": "test"}, 3),
        "layernorm": (m.layernorm_forward, (m.layernorm_backward,), x2, (), {}, 3),
        "spatial train": (m.spatial_batchnorm_forward, (m.spatial_batchnorm_backward,), x4, (),
                          {"mode": "train", "eps": 1e-3}, 3),
        "spatial test": (m.spatial_batchnorm_forward, (m.spatial_batchnorm_backward,), x4, (),
                         {**trained_spatial, "mode": "test"}, 3),
        "groupnorm": (m.spatial_groupnorm_forward, (m.spatial_groupnorm_backward,), x6, (3,), {}, (1, 6, 1, 1)),
    }


@pytest.mark.parametrize("case", ["batchnorm train", "batchnorm test", "layernorm", "spatial train",
                                  "spatial test", "groupnorm"])
def test_every_backward_passes_finite_differences_with_a_random_upstream_gradient(layers, case):
    rng = np.random.default_rng(1)
    forward, backwards, x, extra, param, shape = cases(layers, rng)[case]
    gamma, beta = rng.standard_normal(shape) + 1, rng.standard_normal(shape)

    def run(xx, g, b):
        return forward(xx, g, b, *extra, dict(param))[0]

    dout = rng.standard_normal(run(x, gamma, beta).shape)
    _, cache = forward(x, gamma, beta, *extra, dict(param))
    for backward in backwards:
        dx, dgamma, dbeta = backward(dout, cache)
        verdicts = [
            check_vjp(f"{backward.__name__} dx", lambda xx: run(xx, gamma, beta), x, dout, dx),
            check_vjp(f"{backward.__name__} dgamma", lambda g: run(x, g, beta), gamma, dout, dgamma),
            check_vjp(f"{backward.__name__} dbeta", lambda b: run(x, gamma, b), beta, dout, dbeta),
        ]
        for v in verdicts:
            assert v.passed and not v.warnings, v.line()


def test_a_wrong_backward_fails_the_same_check(layers):
    """The check above can fail: drop the Z·Σ(dY·Z) term of the closed form."""
    rng = np.random.default_rng(2)
    x, gamma, beta = rng.standard_normal((5, 3)) + 2, rng.standard_normal(3), rng.standard_normal(3)
    dout = rng.standard_normal(x.shape)
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    n = x.shape[0]
    wrong = gamma / (n * cache["s"]) * (n * dout - dout.sum(axis=0))
    verdict = check_vjp("wrong", lambda xx: layers.batchnorm_forward(xx, gamma, beta, {"mode": "train"})[0],
                        x, dout, wrong)
    assert not verdict.passed


def test_staged_and_closed_form_agree_as_in_the_notebook(layers):
    rng = np.random.default_rng(3)
    x = 5 * rng.standard_normal((100, 500)) + 12
    gamma, beta, dout = rng.standard_normal(500), rng.standard_normal(500), rng.standard_normal((100, 500))
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    staged, closed = layers.batchnorm_backward(dout, cache), layers.batchnorm_backward_alt(dout, cache)
    for a, b in zip(staged, closed):
        assert np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))) < 1e-9


def notebook_batch(seed=7):
    np.random.seed(seed)
    N, D1, D2, D3 = 200, 50, 60, 3
    W1, W2 = np.random.randn(D1, D2), np.random.randn(D2, D3)
    return W1, W2, lambda: np.maximum(0, np.random.randn(N, D1).dot(W1)).dot(W2)


def test_train_mode_means_and_stds_are_beta_and_gamma(layers):
    _, _, batch = notebook_batch()
    a = batch()
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out, _ = layers.batchnorm_forward(a, gamma, beta, {"mode": "train"})
    assert np.allclose(out.mean(axis=0), beta, rtol=0, atol=1e-12)
    expected_std = gamma * np.sqrt(a.var(axis=0) / (a.var(axis=0) + 1e-5))  # ε shrinks σ slightly
    assert np.allclose(out.std(axis=0), expected_std, rtol=1e-12)
    assert np.all(np.abs(out.std(axis=0) - gamma) < 1e-6 * gamma)


def test_test_mode_reproduces_the_notebooks_seeded_output(layers):
    """Seed 004, cell [6]: 50 training batches, then one test batch; the notebook prints
    means [-0.00967681 0.01315673 0.00748036], stds [1.07009997 1.01651564 0.88995918] and an
    absolute error of 4.34e-09 against its expected_a_norm."""
    _, _, batch = notebook_batch()
    bn_param, gamma, beta = {"mode": "train"}, np.ones(3), np.zeros(3)
    for _ in range(50):
        layers.batchnorm_forward(batch(), gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a_norm, _ = layers.batchnorm_forward(batch(), gamma, beta, bn_param)
    expected = np.array([[-7.37859885e-01, 2.10050591e+00, -3.24286480e-01],
                         [2.02781031e+00, 1.92492178e-01, 1.54852388e+00],
                         [5.44242949e-01, 1.07389911e+00, 8.06464618e-01],
                         [-2.25599789e-02, 7.64501325e-01, -3.03045313e-01],
                         [-9.74592587e-01, 6.01731799e-01, -6.57200019e-03]])
    assert np.max(np.abs(a_norm[:5] - expected)) < 5e-9
    assert np.allclose(a_norm.mean(axis=0), [-0.00967681, 0.01315673, 0.00748036], atol=5e-9)
    assert np.allclose(a_norm.std(axis=0), [1.07009997, 1.01651564, 0.88995918], atol=5e-9)


def test_the_fc_net_expected_output_needs_batch_statistics(layers):
    """Seed 004, cell [8]: the notebook's expected_bn_forward_output was computed with the
    layers left in train mode; it matches with batch statistics (error 5.00e-08, as printed)
    and not with running statistics."""
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    weights = [(np.linspace(-0.7, 0.3, num=D * H1).reshape(D, H1), np.linspace(-0.1, 0.9, num=H1)),
               (np.linspace(-0.3, 0.4, num=H1 * H2).reshape(H1, H2), np.linspace(-0.9, 0.1, num=H2))]
    W3, b3 = np.linspace(-0.3, 0.4, num=H2 * C).reshape(H2, C), np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    expected = np.array([[0.28397701, 0.46532063, 0.64666426, 0.82800788, 1.0093515, 1.19069513, 1.37203875,
                          1.55338238, 1.734726, 1.91606962],
                         [-0.9, -0.78888889, -0.67777778, -0.56666667, -0.45555556, -0.34444444, -0.23333333,
                          -0.12222222, -0.01111111, 0.1]])
    errors = {}
    for mode in ("train", "test"):
        h = X
        for W, b in weights:
            param = {"mode": mode, "running_mean": np.zeros(W.shape[1]), "running_var": np.ones(W.shape[1])}
            h, _ = layers.batchnorm_forward(h @ W + b, np.ones(W.shape[1]), np.zeros(W.shape[1]), param)
            h = np.maximum(0, h)
        scores = h @ W3 + b3
        errors[mode] = np.max(np.abs(scores - expected) / np.maximum(1e-8, np.abs(scores) + np.abs(expected)))
    assert errors["train"] < 5.1e-8 and errors["test"] > 1e-2


def test_running_statistics_follow_the_course_convention(layers):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 4)) * 3 + 2
    param = {"mode": "train", "momentum": 0.75}
    layers.batchnorm_forward(x, np.ones(4), np.zeros(4), param)
    assert np.allclose(param["running_mean"], 0.25 * x.mean(axis=0), rtol=1e-14)
    assert np.allclose(param["running_var"], 0.25 * x.var(axis=0), rtol=1e-14)  # biased, from zeros
    y = rng.standard_normal((6, 4))
    layers.batchnorm_forward(y, np.ones(4), np.zeros(4), param)
    assert np.allclose(param["running_mean"], 0.75 * 0.25 * x.mean(axis=0) + 0.25 * y.mean(axis=0), rtol=1e-14)
    x4 = rng.standard_normal((2, 4, 3, 3))
    spatial = {"mode": "train"}
    layers.spatial_batchnorm_forward(x4, np.ones(4), np.zeros(4), spatial)
    assert spatial["running_mean"].shape == (4,)
    assert np.allclose(spatial["running_var"], 0.1 * x4.var(axis=(0, 2, 3)), rtol=1e-13)


def test_layer_and_group_norm_normalize_the_right_values(layers):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8)) * 4 + 3
    out, _ = layers.layernorm_forward(x, np.ones(8), np.zeros(8), {})
    assert np.allclose(out.mean(axis=1), 0, atol=1e-12) and np.allclose(out.var(axis=1), 1, atol=1e-5)
    x4 = rng.standard_normal((2, 6, 3, 3)) * 2 + 1
    out, _ = layers.spatial_groupnorm_forward(x4, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 3, {})
    grouped = out.reshape(2, 3, -1)
    assert np.allclose(grouped.mean(axis=2), 0, atol=1e-12) and np.allclose(grouped.var(axis=2), 1, atol=1e-4)
    assert not np.allclose(out.reshape(2, 6, -1).mean(axis=2), 0, atol=1e-3)  # per group, not per channel


def test_float32_stays_float32_and_close_to_float64(layers):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((64, 16)) * 3 + 100).astype(np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    param = {"mode": "train"}
    out, cache = layers.batchnorm_forward(x, gamma, beta, param)
    out64, cache64 = layers.batchnorm_forward(x.astype(np.float64), gamma, beta, {"mode": "train"})
    assert out.dtype == np.float32 and param["running_mean"].dtype == np.float32
    assert np.max(np.abs(out - out64)) < 1e-4
    for got, want in zip(layers.batchnorm_backward_alt(dout, cache), layers.batchnorm_backward_alt(dout, cache64)):
        assert got.dtype == np.float32 and np.max(np.abs(got - want)) < 1e-3 * np.max(np.abs(want))


def test_float32_statistics_of_a_large_batch_add_up_in_float64(layers):
    """Summing 65,536 float32 rows of mean 1e4 row after row (what NumPy does along axis 0) is
    off by units; the generated forward's reductions add up in float64 and return float32."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((65536, 4)) * 3 + 1e4).astype(np.float32)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    out, cache = layers.batchnorm_forward(x, ones, zeros, {"mode": "train"})
    ref, ref_cache = layers.batchnorm_forward(x.astype(np.float64), ones, zeros, {"mode": "train"})
    assert out.dtype == np.float32 and np.max(np.abs(out - ref)) < 5e-4  # ulp(1e4)/2 / σ
    assert np.max(np.abs(x.mean(axis=0) - x.astype(np.float64).mean(axis=0))) > 1e-1  # the naive float32 mean
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx, _, _ = layers.batchnorm_backward_alt(dout, cache)
    dx64, _, _ = layers.batchnorm_backward_alt(dout.astype(np.float64), ref_cache)
    assert dx.dtype == np.float32 and np.max(np.abs(dx - dx64)) < 1e-5 * np.max(np.abs(dx64))


def test_the_centered_form_keeps_its_digits_when_the_mean_is_large(layers):
    """The variance is a mean of squares of centered values: shifting the input by 1e4 leaves
    Z unchanged to ~1e-11, where the power-sum form E[x²] − E[x]² would lose about 7 digits."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((200, 5))
    shifted, _ = layers.batchnorm_forward(x + 1e4, np.ones(5), np.zeros(5), {"mode": "train"})
    plain, _ = layers.batchnorm_forward(x, np.ones(5), np.zeros(5), {"mode": "train"})
    assert np.max(np.abs(shifted - plain)) < 1e-10
    power_sum = ((x + 1e4) ** 2).mean(axis=0) - (x + 1e4).mean(axis=0) ** 2
    assert np.max(np.abs(power_sum - x.var(axis=0))) > 1e-8  # what the other form would do


def test_the_generated_code_is_vectorized_and_shares_its_reductions():
    source = module_source("cs231n", "keep", layers=("batchnorm",))
    alt = source[source.index("def batchnorm_backward_alt"):]
    train = alt[alt.index('if mode == "train"'):alt.index("else:")]
    assert train.count("np.einsum('aj,aj->j', dout, z)") == 1  # shared by dgamma and dx
    assert "dout.sum(axis=0)" in alt and " for " not in alt.split('"""')[2]
    forward = source[source.index("def batchnorm_forward"):source.index("def batchnorm_backward")]
    assert "xc = x - mu" in forward and "np.einsum('aj,aj->j', xc, xc, dtype=wide)" in forward


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: m.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train", "eps": 0}),
         "eps = 0; expected a number > 0"),
        (lambda m, x: m.batchnorm_forward(x, np.ones(4), np.zeros(3), {"mode": "train"}),
         "gamma has shape (4,), expected (3,)"),
        (lambda m, x: m.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"}),
         "mode is 'eval'; expected 'train' or 'test'"),
        (lambda m, x: m.batchnorm_forward(x, np.ones(3), np.zeros(3), {}), "bn_param['mode'] is missing"),
        (lambda m, x: m.batchnorm_forward(x[:1], np.ones(3), np.zeros(3), {"mode": "train"}),
         "output would be beta"),
        (lambda m, x: m.layernorm_forward(x, np.ones(3), np.zeros(3), {"eps": -1.0}), "eps = -1.0"),
        (lambda m, x: m.spatial_groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones((1, 6, 1, 1)),
                                                  np.zeros((1, 6, 1, 1)), 4, {}), "G = 4 groups must"),
        (lambda m, x: m.spatial_groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones(6), np.zeros(6), 3, {}),
         "gamma has shape (6,), expected (1, 6, 1, 1)"),
        (lambda m, x: m.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"}), "expected 4 axes"),
        (lambda m, x: m.batchnorm_forward(x.astype(str), np.ones(3), np.zeros(3), {"mode": "train"}),
         "x must be a floating-point array"),
        (lambda m, x: m.batchnorm_backward(np.ones((2, 3)), m.batchnorm_forward(x, np.ones(3), np.zeros(3),
                                                                                {"mode": "train"})[1]),
         "dout has shape (2, 3), expected (4, 3)"),
    ],
)
def test_bad_input_is_a_clear_error(layers, call, message):
    x = np.arange(12.0).reshape(4, 3) ** 1.5
    with pytest.raises(LayergradError) as info:
        call(layers, x)
    assert message in str(info.value)


def test_the_course_leniencies_integers_and_test_mode_before_training():
    """What the course's code accepts is accepted: integer γ and β (the CS231n spatial batch norm
    cell passes np.asarray([3, 4, 5])) and integer or boolean inputs, computed in float64 as NumPy
    would; test mode before any training uses zero running statistics, as the course's
    bn_param.get('running_mean', np.zeros(D)) does (out = γ·x/√ε + β), and stores them."""
    from numeric.course import layers

    rng = np.random.default_rng(0)
    x = 4 * rng.standard_normal((2, 3, 4, 5)) + 10
    floats, _ = layers.spatial_batchnorm_forward(x, np.array([3.0, 4, 5]), np.array([6.0, 7, 8]), {"mode": "train"})
    ints, _ = layers.spatial_batchnorm_forward(x, np.asarray([3, 4, 5]), np.asarray([6, 7, 8]), {"mode": "train"})
    assert ints.dtype == np.float64 and np.array_equal(ints, floats)
    counts = rng.integers(0, 5, size=(6, 3))
    out, _ = layers.batchnorm_forward(counts, np.ones(3), np.zeros(3), {"mode": "train"})
    assert np.array_equal(out, layers.batchnorm_forward(counts.astype(float), np.ones(3), np.zeros(3),
                                                        {"mode": "train"})[0])
    flags = counts > 2
    assert np.array_equal(layers.relu_forward(flags)[0], flags.astype(float))
    param = {"mode": "test"}
    fresh, _ = layers.batchnorm_forward(x[:, :, 0, 0], np.full(3, 2.0), np.ones(3), param)
    assert np.allclose(fresh, 2 * x[:, :, 0, 0] / np.sqrt(1e-5) + 1, rtol=1e-12)
    assert not param["running_mean"].any() and not param["running_var"].any()
    w, b = rng.integers(-2, 3, size=(2, 3, 3, 3)), np.zeros(2, dtype=int)
    conv, _ = layers.conv_forward_fast(counts.reshape(1, 3, 3, 2).repeat(3, axis=3)[:, :, :, :3], w, b,
                                       {"stride": 1, "pad": 1})
    assert conv.dtype == np.float64
    with pytest.raises(LayergradError, match="x must be a floating-point array"):
        layers.affine_forward(np.array([["a", "b"]]), np.ones((2, 2)), np.zeros(2))


def _inputs(kind, layout, dtype, rng):
    """x, dout in the given memory layout ("C", "F" or a strided view), with γ and β."""
    shape = {"batchnorm": (6, 5), "layernorm": (6, 5), "spatial_batchnorm": (3, 4, 2, 3),
             "groupnorm": (3, 4, 2, 3)}[kind]
    big = (3 * rng.standard_normal((2 * shape[0], *shape[1:])) + 2).astype(dtype)
    x = big[::2] if layout == "strided" else np.asarray(big[: shape[0]], order=layout)
    dout = rng.standard_normal(shape).astype(dtype)
    dout = np.asfortranarray(dout) if layout == "F" else dout
    param_shape = (1, shape[1], 1, 1) if kind == "groupnorm" else (shape[1],)
    return x, dout, rng.standard_normal(param_shape).astype(dtype), rng.standard_normal(param_shape).astype(dtype)


def _passes(m, kind):
    return {"batchnorm": (lambda x, g, b: m.batchnorm_forward(x, g, b, {"mode": "train"}), m.batchnorm_backward_alt),
            "layernorm": (lambda x, g, b: m.layernorm_forward(x, g, b, {}), m.layernorm_backward),
            "spatial_batchnorm": (lambda x, g, b: m.spatial_batchnorm_forward(x, g, b, {"mode": "train"}),
                                  m.spatial_batchnorm_backward),
            "groupnorm": (lambda x, g, b: m.spatial_groupnorm_forward(x, g, b, 2, {}), m.spatial_groupnorm_backward),
            }[kind]


@pytest.mark.parametrize("kind", ["batchnorm", "layernorm", "spatial_batchnorm", "groupnorm"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_buffers_reused_in_place_are_the_code_s_own(layers, kind, layout, dtype):
    """Z is computed in the centered input's memory and ∂L/∂X in G's: the caller's x, dout and
    the cache are never written, whatever their layout, and a second backward call agrees."""
    rng = np.random.default_rng(11)
    x, dout, gamma, beta = _inputs(kind, layout, dtype, rng)
    forward, backward = _passes(layers, kind)
    saved = [a.copy() for a in (x, dout, gamma, beta)]
    out, cache = forward(x, gamma, beta)
    z_before = cache["z"].copy()
    first = backward(dout, cache)
    second = backward(dout, cache)
    for a, b in zip((x, dout, gamma, beta), saved):
        assert np.array_equal(a, b)
    assert np.array_equal(cache["z"], z_before) and not np.shares_memory(cache["z"], x)
    assert out.dtype == dtype and all(g.dtype == dtype for g in first)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    ref_out, ref_cache = forward(x.astype(np.float64, order="C"), gamma.astype(np.float64), beta.astype(np.float64))
    ref = backward(dout.astype(np.float64, order="C"), ref_cache)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out, ref_out, rtol=tolerance, atol=tolerance)
    for got, want in zip(first, ref):
        np.testing.assert_allclose(got, want, rtol=tolerance * 10, atol=tolerance * 10 * np.abs(want).max())


def test_layer_norm_matches_the_hand_written_closed_form_and_complex_data_is_not_conjugated(layers):
    """Against the bench's hand-written NumPy (float64), and for complex data against the same
    formulas with plain (unconjugated) squares and products: np.vecdot conjugates its first
    argument, which the generated code must undo."""
    from numeric.bench.batchnorm import hand_backward, hand_forward

    rng = np.random.default_rng(12)
    x, dout = 3 * rng.standard_normal((7, 9)) + 1, rng.standard_normal((7, 9))
    gamma, beta = rng.standard_normal(9), rng.standard_normal(9)
    out, cache = layers.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    ref_out, ref_cache = hand_forward(x, gamma, beta, (1,))
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for got, want in zip(layers.layernorm_backward(dout, cache), hand_backward(dout, ref_cache)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    xz = x + 1j * rng.standard_normal(x.shape)
    mu = xz.mean(axis=1, keepdims=True)
    z = (xz - mu) / np.sqrt(((xz - mu) * (xz - mu)).mean(axis=1, keepdims=True) + 1e-5)
    out, cache = layers.layernorm_forward(xz, gamma, beta, {"eps": 1e-5})
    np.testing.assert_allclose(out, gamma * z + beta, rtol=1e-12, atol=1e-12)
    dz = dout + 1j * rng.standard_normal(x.shape)
    g, d = dz * gamma, x.shape[1]
    s = np.sqrt(((xz - mu) * (xz - mu)).mean(axis=1, keepdims=True) + 1e-5)
    dx = (d * g - g.sum(axis=1, keepdims=True) - z * (g * z).sum(axis=1, keepdims=True)) / (d * s)
    np.testing.assert_allclose(layers.layernorm_backward(dz, cache)[0], dx, rtol=1e-11, atol=1e-11)


def test_the_closed_forms_are_one_pass_per_term():
    source = module_source("cs231n", "keep", layers=("layernorm", "batchnorm"))
    ln = source[source.index("def layernorm_backward"):]
    assert "g = dout*gamma" in ln and "np.vecdot(g.conj(), z)" in ln
    assert "dx = np.divide(g, s[:, None], out=g if g.dtype == s.dtype else None)" in ln
    assert "einsum('a,ia,ia->i'" not in ln and "gamma/s[:, None]" not in ln  # no outer product of γ and 1/s
    forward = source[source.index("def layernorm_forward"):source.index("def layernorm_backward")]
    assert "z = np.divide(xc, s[:, None], out=xc if xc.dtype == s.dtype else None)" in forward
    assert "np.vecdot(xc.conj(), xc, dtype=wide)" in forward
