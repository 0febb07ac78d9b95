"""Generated dropout modules: course API, notebook numbers to the last digit, clear errors."""

import types

import numpy as np
import pytest

from derive import LayergradError
from numeric.codegen.module import MARKER, is_untouched
from numeric.export import module_source


def load(convention: str, draw: str | None = None) -> types.ModuleType:
    module = types.ModuleType(f"layers_{convention}")
    exec(compile(module_source("cs231n", convention, draw=draw), module.__name__, "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module", params=["keep", "drop"])
def layers(request):
    return load(request.param)


def test_the_module_is_marked_hashed_and_documents_its_convention(layers):
    source = module_source("cs231n", layers.DROPOUT_CONVENTION)
    assert source.startswith(MARKER) and is_untouched(source)
    assert not is_untouched(source.replace("dx = dout*mask", "dx = dout"))
    word = {"keep": "KEEP probability", "drop": "DROP rate"}[layers.DROPOUT_CONVENTION]
    assert word in layers.__doc__ and word in layers.dropout_forward.__doc__


def test_the_arithmetic_lines_come_from_the_derivations():
    keep, drop = module_source("cs231n", "keep"), module_source("cs231n", "drop")
    assert "keep = np.random.rand(*x.shape) < p" in keep and "mask = keep/p_x" in keep and "out = mask*x" in keep
    # the drop rate's default draw is CS231n 2017's and CS182's rand >= p; cs6353's rand < 1 - p on request
    assert "keep = np.random.rand(*x.shape) >= p" in drop and "mask = keep/(1 - p_x)" in drop
    assert 'DROPOUT_DRAW = "rand >= p"' in drop and 'DROPOUT_DRAW = "rand < p"' in keep
    lt = module_source("cs231n", "drop", draw="lt")
    assert "keep = np.random.rand(*x.shape) < (1 - p)" in lt and 'DROPOUT_DRAW = "rand < 1 - p"' in lt
    assert "--dropout-draw lt" in lt and "--dropout-draw" not in drop
    assert "dx = dout*mask" in keep and "dx = dout*mask" in drop


def test_the_default_drop_rate_draw_gives_the_cs231n_2017_numbers():
    """rand >= p, the default for the drop rate: CS231n 2017's published check at seed 231."""
    layers = load("drop")
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    out, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.3})
    assert (out == 0).mean() == 0.300876
    assert abs(out.mean() - 9.98526577052) < 1e-11


def test_seeded_outputs_match_the_dropout_notebook():
    """Seed 000 (p is the drop rate, drawn as rand < 1 - p): the printed numbers of its forward
    and backward checks. (With the default draw rand >= p they differ: the same law, other
    seeded numbers.)"""
    layers = load("drop", draw="lt")
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    out, _ = load("drop").dropout_forward(x, {"mode": "train", "p": 0.75})
    assert (out == 0).mean() != 0.749784
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    printed = {0.75: (10.014059116977283, 0.749784), 0.6: (9.977917658761159, 0.600796),
               0.3: (9.987811912159426, 0.30074)}
    for p, (mean, zeros) in printed.items():
        out, _ = layers.dropout_forward(x, {"mode": "train", "p": p})
        assert (out == 0).mean() == zeros  # the same mask, entry for entry
        assert abs(out.mean() - mean) <= 4e-15 * mean  # summation order may differ by an ulp or two
        test_out, _ = layers.dropout_forward(x, {"mode": "test", "p": p})
        assert test_out is x or np.array_equal(test_out, x)

    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    param = {"mode": "train", "p": 0.8, "seed": 123}
    _, cache = layers.dropout_forward(x, param)
    dx = layers.dropout_backward(dout, cache)
    dx_num = notebook_gradient(lambda xx: layers.dropout_forward(xx, param)[0], x, dout)
    error = np.max(np.abs(dx - dx_num) / np.maximum(1e-8, np.abs(dx) + np.abs(dx_num)))
    assert error == 1.8929028107279455e-11


def notebook_gradient(f, x, df, h=1e-5):
    """The course notebooks' eval_numerical_gradient_array, line for line."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def test_keep_convention_uses_p_as_the_keep_probability():
    layers = load("keep")
    x = np.ones((400, 500))
    np.random.seed(0)
    out, (_, mask) = layers.dropout_forward(x, {"mode": "train", "p": 0.8})
    assert abs((out == 0).mean() - 0.2) < 6 * np.sqrt(0.16 / x.size)
    assert set(np.unique(mask)) == {0.0, 1 / 0.8}


def test_dtype_is_kept_and_test_mode_gradient_is_the_identity(layers):
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    assert out.dtype == np.float32
    assert layers.dropout_backward(np.ones_like(x), cache).dtype == np.float32
    dout = np.arange(20.0).reshape(4, 5)
    _, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.5})
    assert np.array_equal(layers.dropout_backward(dout, cache), dout)


@pytest.mark.parametrize(
    "param, message",
    [
        ({"mode": "train"}, "'p'\\] is missing"),
        ({"p": 0.5}, "'mode'\\] is missing"),
        ({"p": 0.5, "mode": "eval"}, "expected 'train' or 'test'"),
        ({"p": "half", "mode": "train"}, "must be a number"),
        ({"p": 1.5, "mode": "train"}, "is outside"),
        ([0.5], "must be a dict"),
    ],
)
def test_bad_parameters_are_clear_errors(layers, param, message):
    with pytest.raises(LayergradError, match=message):
        layers.dropout_forward(np.ones(3), param)


def test_a_backward_call_with_a_foreign_cache_or_dout_is_a_clear_error(layers):
    _, cache = layers.dropout_forward(np.ones((2, 3)), {"p": 0.5, "mode": "train"})
    with pytest.raises(LayergradError, match="cache must be the"):
        layers.dropout_backward(np.ones((2, 3)), (1, 2, 3))
    with pytest.raises(LayergradError, match=r"dout has shape \(3, 2\), expected \(2, 3\)"):
        layers.dropout_backward(np.ones((3, 2)), cache)


def test_the_range_of_p_depends_on_the_convention():
    keep, drop = load("keep"), load("drop")
    with pytest.raises(LayergradError, match=r"outside \(0, 1\]: in this module p is the KEEP probability"):
        keep.dropout_forward(np.ones(3), {"p": 0.0, "mode": "train"})
    with pytest.raises(LayergradError, match=r"outside \[0, 1\): in this module p is the DROP rate"):
        drop.dropout_forward(np.ones(3), {"p": 1.0, "mode": "train"})
    assert np.array_equal(drop.dropout_forward(np.ones(3), {"p": 0.0, "mode": "train"})[0], np.ones(3))


def test_non_numeric_input_is_refused(layers):
    with pytest.raises(LayergradError, match="floating-point array"):
        layers.dropout_forward(np.array(["a", "b"]), {"p": 0.5, "mode": "train"})


def test_unknown_api_is_refused():
    with pytest.raises(LayergradError, match="unknown API"):
        module_source("pytorch", "keep")


def test_dropout_backward_fast_path_keeps_its_refusals_and_leniency(layers):
    x = np.random.default_rng(2).standard_normal((3, 4))
    _, cache = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 1})
    mask = cache[1]
    dout = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(layers.dropout_backward(dout.tolist(), cache), dout * mask)  # a list is an array
    ints = layers.dropout_backward(np.arange(12).reshape(3, 4), cache)
    assert ints.dtype == np.float64 and np.array_equal(ints, dout * mask)
    view = np.arange(24.0).reshape(3, 8)[:, ::2]  # non-contiguous
    assert np.array_equal(layers.dropout_backward(view, cache), view * mask)
    for bad in (np.full((3, 4), "a"), np.full((3, 4), None)):
        with pytest.raises(LayergradError, match="floating-point"):
            layers.dropout_backward(bad, cache)
    for broadcastable in (np.ones((1, 4)), np.ones(4), np.ones((1, 3, 4))):  # NumPy would broadcast these
        with pytest.raises(LayergradError, match=r"dout has shape .*, expected \(3, 4\)"):
            layers.dropout_backward(broadcastable, cache)
    for foreign in ((cache[0],), ({"p": 0.5}, mask), ("train", mask), None):
        with pytest.raises(LayergradError, match="cache must be the"):
            layers.dropout_backward(dout, foreign)
    cache[0]["mode"] = "test"  # the mode is read again, as the course's code reads it
    assert layers.dropout_backward(dout, cache) is dout
    _, test_cache = layers.dropout_forward(x, {"p": 0.5, "mode": "test"})
    test_cache[0]["mode"] = "train"  # no mask was drawn: the forward pass was the identity
    assert layers.dropout_backward(dout, test_cache) is dout


def test_float32_dropout_stays_float32_and_draws_the_float64_mask(layers):
    x64 = np.random.default_rng(3).standard_normal((50, 40))
    param = {"p": 0.3, "mode": "train", "seed": 5}
    out64, (_, mask64) = layers.dropout_forward(x64, dict(param))
    out32, (_, mask32) = layers.dropout_forward(x64.astype(np.float32), dict(param))
    assert out32.dtype == mask32.dtype == np.float32
    assert np.array_equal(mask32 != 0, mask64 != 0)  # the same draw, compared with p itself
    np.testing.assert_allclose(out32, out64, rtol=3e-7, atol=0)
    dx = layers.dropout_backward(np.ones((50, 40), np.float32), (param, mask32))
    assert dx.dtype == np.float32 and np.array_equal(dx, mask32)
