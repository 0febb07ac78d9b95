"""Generated convolution: shapes from the derived formula, gradients, loops, errors, export."""

import itertools
import types

import numpy as np
import pytest
import sympy as sp

from derive import LayergradError, conv
from numeric.checks.conv import CONV_CASES, check_conv
from numeric.export import module_source


def load(teaching_loops: bool = False) -> types.ModuleType:
    module = types.ModuleType(f"layers_loops_{teaching_loops}")
    source = module_source("cs231n", "keep", teaching_loops=teaching_loops)
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def fast():
    return load()


@pytest.fixture(scope="module")
def loops():
    return load(teaching_loops=True)


def _arrays(rng, x_shape, w_shape, dtype=np.float64):
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype))


def test_output_shape_follows_the_derived_formula_on_a_grid(fast):
    s = conv.symbols()
    formula = conv.output_size(True).result.rhs
    rng = np.random.default_rng(0)
    accepted = rejected = 0
    for size, kernel, stride, pad, dilation in itertools.product(range(1, 8), (1, 2, 3), (1, 2, 3), (0, 1, 2), (1, 2)):
        value = formula.subs({s["H"]: size, s["HH"]: kernel, s["S"]: stride, s["P"]: pad, s["d"]: dilation})
        x, w, b = _arrays(rng, (1, 1, size, size + 1), (1, 1, kernel, kernel))
        param = {"stride": stride, "pad": pad, "dilation": dilation}
        width = formula.subs({s["H"]: size + 1, s["HH"]: kernel, s["S"]: stride, s["P"]: pad, s["d"]: dilation})
        # independently: the windows' start rows, counted; they tile when the last one ends on the last row
        span, padded = dilation * (kernel - 1) + 1, size + 2 * pad
        starts = range(0, padded - span + 1, stride)
        tiles = bool(starts) and starts[-1] + span == padded
        assert (value.is_integer and value >= 1) == tiles and (not tiles or value == len(starts))
        if value.is_integer and value >= 1 and width.is_integer:
            out, _ = fast.conv_forward_fast(x, w, b, param)
            assert out.shape == (1, 1, int(value), int(width)), (size, kernel, stride, pad, dilation)
            accepted += 1
        else:
            with pytest.raises(LayergradError, match=r"not an integer|larger than the padded input"):
                fast.conv_forward_fast(x, w, b, param)
            rejected += 1
    assert accepted > 50 and rejected > 50


def test_forward_matches_the_definition_entry_by_entry(fast):
    """Against the derived definition evaluated by SymPy on a tiny case (stride 2, pad 1, dilation 2)."""
    rng = np.random.default_rng(1)
    x, w, b = _arrays(rng, (1, 2, 5, 7), (2, 2, 2, 2))
    param = {"stride": 2, "pad": 1, "dilation": 2}
    out, _ = fast.conv_forward_fast(x, w, b, param)
    s = conv.symbols()
    definition = conv.forward(True).steps[1].after  # b[f] + Σ x[n, c, S·i + d·k − P, …]·w[f, c, k, l]
    values = {s["S"]: 2, s["P"]: 1, s["d"]: 2, s["C"]: 2, s["HH"]: 2, s["WW"]: 2}
    entry = definition.subs(values).doit()

    def lookup(e):
        array = {"x": x, "w": w, "b": b}[e.base.name]
        index = tuple(int(i) for i in e.indices)
        inside = all(0 <= i < n for i, n in zip(index, array.shape))
        return sp.Float(array[index]) if inside else sp.S.Zero

    for n_, f_, i_, j_ in itertools.product(range(1), range(2), range(out.shape[2]), range(out.shape[3])):
        at = entry.subs({s["n"]: n_, s["f"]: f_, s["i"]: i_, s["j"]: j_})
        value = at.replace(lambda e: isinstance(e, sp.Indexed), lookup)
        assert abs(float(value) - out[n_, f_, i_, j_]) < 1e-12


def test_fast_passes_every_gradient_check(fast):
    verdicts = check_conv(fast.conv_forward_fast, fast.conv_backward_fast, dilation=True)
    assert len(verdicts) == 4 * (len(CONV_CASES) + 1) + 2
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_dilated_strided_and_odd_cases_pass_every_gradient_check(fast):
    cases = (((2, 2, 9, 9), (3, 2, 2, 3), {"stride": 2, "pad": 1, "dilation": 2}),
             ((1, 3, 12, 9), (2, 3, 3, 2), {"stride": 3, "pad": 2, "dilation": 3}),
             ((1, 1, 7, 5), (1, 1, 3, 1), {"stride": 2, "pad": 0, "dilation": 2}))
    verdicts = check_conv(fast.conv_forward_fast, fast.conv_backward_fast, cases=cases, dilation=False)
    assert len(verdicts) >= 4 * len(cases)
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_a_wrong_gradient_fails_the_check(fast):
    def backward(dout, cache):
        dx, dw, db = fast.conv_backward_fast(dout, cache)
        return dx, dw[:, :, ::-1, ::-1], db  # the classic mistake: the filter gradient flipped

    failed = [v for v in check_conv(fast.conv_forward_fast, backward) if not v.passed]
    assert failed and all(" dw, " in v.name and v.mistake == "dw-flipped" for v in failed)


def test_teaching_loops_are_literal_and_agree(fast, loops):
    source = module_source("cs231n", "keep", teaching_loops=True)
    assert "for c in range(C):" in source and "dxpad[n, c, dilation*k + i*stride" in source
    assert "return conv_forward_fast(x, w, b, conv_param)" in module_source("cs231n", "keep")
    rng = np.random.default_rng(2)
    dilated = ((1, 2, 6, 7), (2, 2, 2, 3), {"stride": 1, "pad": 2, "dilation": 2})
    for x_shape, w_shape, param in [CONV_CASES[1], dilated]:
        x, w, b = _arrays(rng, x_shape, w_shape)
        out, cache = loops.conv_forward_naive(x, w, b, param)
        expected, fast_cache = fast.conv_forward_fast(x, w, b, param)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
        dout = rng.standard_normal(out.shape)
        for got, want in zip(loops.conv_backward_naive(dout, cache), fast.conv_backward_fast(dout, fast_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    small = ((1, 2, 4, 5), (2, 2, 2, 2), {"stride": 1, "pad": 1})
    verdicts = check_conv(loops.conv_forward_naive, loops.conv_backward_naive, cases=(small,))
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def test_dtypes_are_kept(fast):
    rng = np.random.default_rng(3)
    x, w, b = _arrays(rng, (1, 2, 5, 5), (2, 2, 3, 3), np.float32)
    out, cache = fast.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in fast.conv_backward_fast(out, cache))
    mixed, _ = fast.conv_forward_fast(x, w.astype(np.float64), b, {"stride": 1, "pad": 1})
    assert mixed.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_block_and_scatter_path_agrees_with_the_loops(fast, loops, dtype):
    """Blocks of the whole batch or one example's band of rows, the scatter as a 0/1 matrix (small
    inputs) or as strided adds: the same gradients as the literal loops (float64), in the input's
    dtype (float32 all the way)."""
    rng = np.random.default_rng(5)
    cases = [((2, 3, 4, 4), (3, 3, 4, 4), {"stride": 2, "pad": 1}),  # the course's size: 0/1 matrix, one block
             ((3, 2, 6, 7), (2, 2, 2, 3), {"stride": 1, "pad": 2, "dilation": 2}),
             ((2, 4, 40, 40), (3, 4, 3, 3), {"stride": 1, "pad": 1}),  # one example per block, full convolution
             ((2, 2, 40, 40), (5, 2, 3, 3), {"stride": 1, "pad": 1})]  # F > 2C: strided adds
    tolerance = 1e-4 if dtype == np.float32 else 1e-11
    plans = []
    for x_shape, w_shape, param in cases:
        x, w, b = _arrays(rng, x_shape, w_shape, dtype)
        out, cache = fast.conv_forward_fast(x, w, b, param)
        dout = rng.standard_normal(out.shape).astype(dtype)
        grads = fast.conv_backward_fast(dout, cache)
        assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
        expected, loop_cache = loops.conv_forward_naive(*(a.astype(np.float64) for a in (x, w, b)), param)
        np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
        for got, want in zip(grads, loops.conv_backward_naive(dout.astype(np.float64), loop_cache)):
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
        hp, wp = x_shape[2] + 2 * param["pad"], x_shape[3] + 2 * param["pad"]
        plans.append(fast._col2im_plan(*w_shape[2:], *out.shape[2:], hp, wp, param["stride"],
                                       param.get("dilation", 1), dtype) is not None)
    assert plans == [True, True, False, False]  # both scatter paths ran
    assert fast._dx_as_full_convolution(1, 1, 3, 4) and not fast._dx_as_full_convolution(1, 1, 5, 2)


def test_blocks_are_the_batch_when_small_else_bands_of_one_example(fast):
    assert fast._conv_blocks(2, 4, 3 * 16 * 4 * 8) == (2, 4)  # 6 kB in all: one batched block
    row = 32 * 9 * 64 * 4  # one output row's windows of the (32, 64, 64) float32 example: 72 kB
    examples, rows = fast._conv_blocks(16, 64, row)
    assert examples == 1 and 1 <= rows < 64 and rows * row <= 524288 < (rows + 1) * row
    assert fast._conv_blocks(16, 33, 32 * 9 * 33 * 4) == (1, 33)  # stride 2: one example's 1.25 MB, whole
    assert fast._conv_blocks(8, 17, 10**7) == (1, 1)  # a row larger than the budget: one row at a time


BANDS = [  # (x, w, conv_param): heights the bands do not divide, strides, paddings, one output row
    ((2, 3, 11, 9), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
    ((2, 3, 13, 9), (4, 3, 3, 3), {"stride": 2, "pad": 1}),  # windows overlap across band boundaries
    ((1, 2, 10, 8), (3, 2, 3, 2), {"stride": 1, "pad": 0}),
    ((1, 2, 7, 7), (3, 2, 3, 3), {"stride": 2, "pad": 2}),
    ((2, 2, 3, 7), (2, 2, 3, 3), {"stride": 1, "pad": 0}),  # one output row
    ((1, 2, 10, 10), (2, 2, 2, 2), {"stride": 3, "pad": 1, "dilation": 2}),
    ((2, 2, 5, 6), (3, 2, 3, 3), {"stride": 1, "pad": 3}),  # dx read from dout's padding: pad > HH − 1
    ((1, 3, 6, 5), (2, 3, 2, 3), {"stride": 1, "pad": 1}),  # an even kernel height, pad ≠ (HH − 1)/2
    ((2, 3, 5, 5), (4, 3, 1, 1), {"stride": 1, "pad": 0}),  # a 1×1 kernel: dout_pad is dout
]


@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, param", BANDS)
def test_bands_of_rows_agree_with_the_loops(fast, loops, monkeypatch, x_shape, w_shape, param, rows, dtype):
    """Forced into bands of 1, 2 or 3 output rows (the last band shorter when the rows do not divide
    the height), forward and backward equal the literal loops evaluated in float64."""
    monkeypatch.setattr(fast, "_conv_blocks", lambda N, H_out, row_bytes: (1, min(rows, H_out)))
    rng = np.random.default_rng(rows)
    x, w, b = _arrays(rng, x_shape, w_shape, dtype)
    out, cache = fast.conv_forward_fast(x, w, b, param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = fast.conv_backward_fast(dout, cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    expected, loop_cache = loops.conv_forward_naive(*(a.astype(np.float64) for a in (x, w, b)), param)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
    for got, want in zip(grads, loops.conv_backward_naive(dout.astype(np.float64), loop_cache)):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


FULL = [  # (x, w, conv_param) at stride 1: dx as the full convolution when F ≤ 2C
    ((2, 4, 40, 40), (3, 4, 3, 3), {"stride": 1, "pad": 1}),
    ((2, 3, 21, 17), (6, 3, 3, 3), {"stride": 1, "pad": 2}),  # F = 2C, the largest that takes it
    ((1, 5, 12, 30), (1, 5, 5, 3), {"stride": 1, "pad": 0}),  # one filter, a 5×3 kernel, no padding
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("x_shape, w_shape, param", FULL)
def test_full_convolution_and_scatter_give_the_same_dx(fast, loops, monkeypatch, x_shape, w_shape, param, dtype):
    """At stride 1 the input gradient as the full convolution of the padded dout with the flipped
    filter equals the scatter form within rounding, and both equal the literal loops; complex
    inputs (the complex-step checks) take the same path."""
    rng = np.random.default_rng(11)
    x, w, b = (a.astype(dtype) for a in _arrays(rng, x_shape, w_shape))
    if dtype == np.complex128:
        x = x + 1j * rng.standard_normal(x.shape)
    out, cache = fast.conv_forward_fast(x, w, b, param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    hp, wp = x_shape[2] + 2 * param["pad"], x_shape[3] + 2 * param["pad"]
    assert fast._col2im_plan(*w_shape[2:], *out.shape[2:], hp, wp, 1, 1, dtype) is None
    assert fast._dx_as_full_convolution(1, 1, w_shape[0], x_shape[1])
    full = fast.conv_backward_fast(dout, cache)
    monkeypatch.setattr(fast, "_dx_as_full_convolution", lambda stride, dilation, F, C: False)
    scatter = fast.conv_backward_fast(dout, cache)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    for got, want in zip(full, scatter):
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    _, loop_cache = loops.conv_forward_naive(x.astype(complex), w.astype(complex), b.astype(complex), param)
    for got, want in zip(full, loops.conv_backward_naive(dout.astype(complex), loop_cache)):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_the_full_convolution_is_taken_only_where_it_is_faster(fast):
    assert fast._dx_as_full_convolution(1, 1, 64, 32)  # the benchmark's layer: F = 2C
    assert not fast._dx_as_full_convolution(1, 1, 16, 3)  # F > 2C: dout's windows too many to copy
    assert not fast._dx_as_full_convolution(2, 1, 4, 4)  # strided: the scatter
    assert not fast._dx_as_full_convolution(1, 2, 4, 4)  # dilated: the derivation is for d = 1


def test_matches_pytorch_when_installed(fast):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, w, b = _arrays(rng, (2, 3, 11, 11), (4, 3, 3, 2))
    param = {"stride": 2, "pad": 2, "dilation": 2}
    out, cache = fast.conv_forward_fast(x, w, b, param)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = torch.nn.functional.conv2d(xt, wt, bt, stride=2, padding=2, dilation=2)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    for got, t in zip(fast.conv_backward_fast(dout, cache), (xt, wt, bt)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-11, atol=1e-11)


BAD = [
    ((2, 3, 5, 5), (4, 2, 3, 3), 4, {"stride": 1, "pad": 1}, "channel mismatch: x has C = 3 channels"),
    ((2, 3, 5, 5), (4, 3, 3, 3), 3, {"stride": 1, "pad": 1}, r"b has shape \(3,\); expected \(F,\) = \(4,\)"),
    ((2, 3, 5, 5), (4, 3, 3, 3), 4, {"stride": 0, "pad": 1},
     r"conv_param\['stride'\] must be a positive integer, got 0"),
    ((2, 3, 5, 5), (4, 3, 3, 3), 4, {"stride": 1.5, "pad": 1}, "must be a positive integer, got 1.5"),
    ((2, 3, 5, 5), (4, 3, 3, 3), 4, {"stride": 1, "pad": -1}, r"conv_param\['pad'\] must be an integer ≥ 0, got -1"),
    ((2, 3, 5, 5), (4, 3, 3, 3), 4, {"stride": 1}, r"conv_param\['pad'\] is missing"),
    ((1, 1, 3, 3), (1, 1, 5, 5), 1, {"stride": 1, "pad": 0},
     "kernel is larger than the padded input along the height: it spans 5 .* padded input has 3"),
    ((1, 1, 32, 32), (1, 1, 3, 3), 1, {"stride": 2, "pad": 1},
     r"output height 1 \+ .*/stride = 1 \+ 31/2 is not an integer \(size=32, kernel=3, pad=1, stride=2"),
    ((2, 3, 5), (4, 3, 3, 3), 4, {"stride": 1, "pad": 1}, r"x must have shape \(N, C, H, W\), got shape \(2, 3, 5\)"),
]


@pytest.mark.parametrize("x_shape, w_shape, f, param, message", BAD)
def test_bad_input_is_a_clear_error(fast, x_shape, w_shape, f, param, message):
    x, w, b = np.ones(x_shape), np.ones(w_shape), np.ones(f)
    with pytest.raises(LayergradError, match=message):
        fast.conv_forward_fast(x, w, b, param)


def test_bad_types_and_upstream_shapes(fast):
    with pytest.raises(LayergradError, match="x must be a floating-point array, got dtype <U1"):
        fast.conv_forward_fast(np.full((1, 1, 3, 3), "a"), np.ones((1, 1, 1, 1)), np.ones(1),
                               {"stride": 1, "pad": 0})
    with pytest.raises(LayergradError, match="conv_param must be a dict"):
        fast.conv_forward_fast(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), np.ones(1), [1, 0])
    _, cache = fast.conv_forward_fast(np.ones((1, 1, 3, 3)), np.ones((2, 1, 1, 1)), np.ones(2),
                                      {"stride": 1, "pad": 0})
    with pytest.raises(LayergradError, match=r"dout has shape \(1, 1, 3, 3\); expected the forward output's shape"):
        fast.conv_backward_fast(np.ones((1, 1, 3, 3)), cache)


def test_the_checker_names_a_flipped_kernel_and_a_missing_bias(fast):
    def flipped(x, w, b, param):
        return fast.conv_forward_fast(x, w[:, :, ::-1, ::-1], b, param)

    def unbiased(x, w, b, param):
        return fast.conv_forward_fast(x, w, 0 * b, param)

    for forward, mistake in ((flipped, "kernel-flipped"), (unbiased, "bias-missing")):
        verdicts = check_conv(forward, fast.conv_backward_fast, cases=CONV_CASES[:1])
        shapes = [v for v in verdicts if "conv_forward_fast, x" in v.name]
        assert shapes and all(not v.passed and v.mistake == mistake for v in shapes)
