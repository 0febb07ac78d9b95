"""Generated max pooling: gradients, the tie rule, loops, tiling errors."""

import types

import numpy as np
import pytest

from derive import LayergradError
from numeric.checks.conv import POOL_CASES, check_maxpool
from numeric.export import module_source


def load(teaching_loops: bool) -> types.ModuleType:
    module = types.ModuleType(f"pool_loops_{teaching_loops}")
    source = module_source("cs231n", "keep", teaching_loops=teaching_loops)
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def fast():
    return load(False)


@pytest.fixture(scope="module")
def loops():
    return load(True)


def test_fast_passes_every_check(fast):
    verdicts = check_maxpool(fast.max_pool_forward_fast, fast.max_pool_backward_fast)
    assert len(verdicts) == 2 * len(POOL_CASES) + 3
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_routing_to_every_tied_entry_fails_the_tie_rule(fast):
    def backward(dout, cache):
        x, param, _ = cache
        out, _ = fast.max_pool_forward_fast(x, param)
        up = np.repeat(np.repeat(out, 2, axis=2), 2, axis=3)
        return np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3) * (x == up)

    failed = [v for v in check_maxpool(fast.max_pool_forward_fast, backward, cases=POOL_CASES[:1]) if not v.passed]
    assert [v.name for v in failed] == ["max_pool_backward_fast tie rule: the first largest entry takes the gradient"]
    assert failed[0].mistake == "ties-all-routed"


def test_forward_takes_the_window_maximum(fast):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))
    out, _ = fast.max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    expected = np.array([[[[x[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(3)] for i in range(3)]
                          for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(out, expected)


def fast_mask(cache, param):
    """M from the fast cache: M[n, c, i, j, k, l] = pick_k[k, n, c, i, j]·pick_l[l, n, c, S·i + k, j]."""
    _, _, (pick_k, pick_l) = cache
    s = param["stride"]
    hh, n, c, ho, wo = pick_k.shape
    mask = np.zeros((n, c, ho, wo, hh, pick_l.shape[0]), dtype=bool)
    for a, b, i, j in np.ndindex(n, c, ho, wo):
        for k in range(hh):
            mask[a, b, i, j, k] = pick_k[k, a, b, i, j] & pick_l[:, a, b, s * i + k, j]
    return mask


def test_loops_agree_with_the_fast_code(fast, loops):
    rng = np.random.default_rng(1)
    for shape, param in POOL_CASES:
        x = rng.standard_normal(shape)
        x[0, 0, :2, :2] = 0.0  # a tie inside the first window
        out, cache = loops.max_pool_forward_naive(x, param)
        expected, fast_cache = fast.max_pool_forward_fast(x, param)
        np.testing.assert_array_equal(out, expected)
        dout = rng.standard_normal(out.shape)
        np.testing.assert_allclose(loops.max_pool_backward_naive(dout, cache),
                                   fast.max_pool_backward_fast(dout, fast_cache), rtol=1e-14, atol=1e-15)
        assert np.array_equal(cache[2], fast_mask(fast_cache, param))  # the same masks: the same tie rule
    assert "best_k, best_l = k, l" in module_source("cs231n", "keep", teaching_loops=True)


@pytest.mark.parametrize("shape, param, message", [
    ((1, 1, 5, 5), {"pool_height": 2, "pool_width": 2, "stride": 2},
     r"pool windows do not tile the input: output height 1 \+ \(size - window\)/stride = 1 \+ 3/2 is not an integer"),
    ((1, 1, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 0},
     r"pool_param\['stride'\] must be a positive integer"),
    ((1, 1, 4, 4), {"pool_height": 2, "stride": 2}, r"pool_param\['pool_width'\] is missing"),
    ((1, 1, 4, 4), {"pool_height": 5, "pool_width": 2, "stride": 1},
     r"pool window \(5\) is larger than the input height"),
])
def test_bad_input_is_a_clear_error(fast, shape, param, message):
    with pytest.raises(LayergradError, match=message):
        fast.max_pool_forward_fast(np.ones(shape), param)


def brute_force(x, dout, param):
    """dx with each window's gradient at its first maximum in row-major order (numpy.argmax)."""
    hh, ww, s = param["pool_height"], param["pool_width"], param["stride"]
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        k, m = divmod(int(x[n, c, s * i:s * i + hh, s * j:s * j + ww].argmax()), ww)
        dx[n, c, s * i + k, s * j + m] += dout[n, c, i, j]
    return dx


PATHS = [  # (x's height and width, pool_param): every branch of the two passes
    ((4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),  # tiled, two offsets: bools, written once
    ((6, 6), {"pool_height": 3, "pool_width": 3, "stride": 3}),  # tiled, three offsets: uint8, written once
    ((4, 4), {"pool_height": 2, "pool_width": 2, "stride": 1}),  # overlapping: added
    ((7, 7), {"pool_height": 3, "pool_width": 3, "stride": 2}),  # overlapping, three offsets
    ((7, 7), {"pool_height": 1, "pool_width": 1, "stride": 3}),  # rows and columns between windows
    ((5, 6), {"pool_height": 2, "pool_width": 3, "stride": 3}),  # tiled along the width only
    ((40, 40), {"pool_height": 2, "pool_width": 2, "stride": 2}),  # over 1024 windows: a product per offset
    ((42, 42), {"pool_height": 3, "pool_width": 3, "stride": 3}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size, param", PATHS)
def test_every_path_routes_to_the_first_maximum(fast, dtype, size, param):
    """Ties everywhere (all zeros, repeated values) and a descending ramp: on every path the
    gradient goes to the first maximum in row-major order, in the input's dtype."""
    rng = np.random.default_rng(3)
    x = np.zeros((2, 3, *size), dtype=dtype)  # channel 0: all ties
    x[0, 1] = np.arange(np.prod(size)).reshape(size)[::-1]
    x[1, 1] = rng.integers(0, 2, size)  # many ties between 0 and 1
    x[:, 2] = rng.standard_normal((2, *size))
    out, cache = fast.max_pool_forward_fast(x, param)
    dout = np.arange(1, out.size + 1, dtype=dtype).reshape(out.shape)
    dx = fast.max_pool_backward_fast(dout, cache)
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(dx, brute_force(x, dout, param))


@pytest.mark.parametrize("param", [p for _, p in PATHS[:4] if p["stride"] != 3])
def test_a_nan_makes_its_window_nan_and_its_gradient_goes_to_one_entry(fast, param):
    """The documented NaN behaviour: the window's output is NaN (as np.maximum and PyTorch give);
    its gradient is neither lost nor duplicated."""
    size = {2: 6, 3: 7}[param["pool_height"]]
    x = np.random.default_rng(4).standard_normal((1, 1, size, size))
    x[0, 0, 1, 1] = np.nan
    out, cache = fast.max_pool_forward_fast(x, param)
    dx = fast.max_pool_backward_fast(np.ones_like(out), cache)
    hh, s = param["pool_height"], param["stride"]
    for i, j in np.ndindex(*out.shape[2:]):
        holds_nan = s * i <= 1 < s * i + hh and s * j <= 1 < s * j + hh
        assert np.isnan(out[0, 0, i, j]) == holds_nan
    assert not np.isnan(dx).any()
    assert dx.sum() == out.size  # every window's gradient once


def test_the_per_shape_plan_never_skips_a_check(fast):
    """The sizes are cached per (shape, dtype, settings); a cached shape still rejects bad settings
    (True equals 1 as a dict key, so the cache must not accept it) and keys on the dtype."""
    x = np.random.default_rng(5).standard_normal((2, 3, 8, 8))
    good = {"pool_height": 2, "pool_width": 2, "stride": 2}
    assert fast.max_pool_forward_fast(x, good)[0].shape == (2, 3, 4, 4)
    assert fast.max_pool_forward_fast(x, {"pool_height": 4, "pool_width": 4, "stride": 4})[0].shape == (2, 3, 2, 2)
    with pytest.raises(LayergradError, match=r"pool_param\['pool_height'\] must be a positive integer, got True"):
        fast.max_pool_forward_fast(x, {"pool_height": True, "pool_width": 2, "stride": 2})
    fast.max_pool_forward_fast(x, {"pool_height": 1, "pool_width": 1, "stride": 1})
    with pytest.raises(LayergradError, match=r"pool_param\['stride'\] must be a positive integer, got True"):
        fast.max_pool_forward_fast(x, {"pool_height": 1, "pool_width": 1, "stride": True})
    with pytest.raises(LayergradError, match=r"pool_param\['stride'\] is missing"):
        fast.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2})
    with pytest.raises(LayergradError, match="pool_param must be a dict"):
        fast.max_pool_forward_fast(x, [2, 2, 2])
    assert fast.max_pool_forward_fast(x.astype(np.float32), good)[0].dtype == np.float32
    assert fast.max_pool_forward_fast(np.arange(384).reshape(2, 3, 8, 8), good)[0].dtype == np.float64
    with pytest.raises(LayergradError, match="x must be a floating-point array, got dtype complex128"):
        fast.max_pool_forward_fast(x.astype(complex), good)
