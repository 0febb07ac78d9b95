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
        hh, ww = param["pool_height"], param["pool_width"]  # the fast cache holds M as the offset of its 1
        fast_mask = (np.arange(hh * ww) == fast_cache[2][..., None]).reshape(cache[2].shape)
        assert np.array_equal(cache[2], fast_mask)  # the same masks: the same tie rule
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_and_overlapping_windows_route_to_the_first_maximum(fast, dtype):
    """The tiled path (stride = window, written once per entry) and the general scatter agree with
    the brute force, ties included, in either dtype."""
    x = np.zeros((1, 2, 4, 4), dtype=dtype)  # all ties: every window's first entry takes the gradient
    x[0, 1] = np.arange(16).reshape(4, 4)[::-1]
    for param in ({"pool_height": 2, "pool_width": 2, "stride": 2}, {"pool_height": 2, "pool_width": 2, "stride": 1}):
        out, cache = fast.max_pool_forward_fast(x, param)
        dout = np.arange(1, out.size + 1, dtype=dtype).reshape(out.shape)
        dx = fast.max_pool_backward_fast(dout, cache)
        assert out.dtype == dx.dtype == dtype
        expected = np.zeros_like(x)
        s = param["stride"]
        for c in range(2):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    window = x[0, c, s * i:s * i + 2, s * j:s * j + 2]
                    k, m = divmod(int(window.argmax()), 2)
                    expected[0, c, s * i + k, s * j + m] += dout[0, c, i, j]
        np.testing.assert_array_equal(dx, expected)
