"""Windowed defined layers (depthwise convolution, average pooling) at the shapes that stress the
window helpers: stride 2, padding 0 and 2, non-square kernels, a kernel larger than the input,
float32 kept end to end, an infinite entry where a padded row's extra entries are read. Each is
compared with NumPy written here (windows of a padded copy, a scatter over the kernel offsets) and
with finite differences of its own forward pass; and the helpers' reading of a view's kernel
offsets from its strides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from derive.define import define
from derive.errors import LayergradError
from numeric.defined_check import check, generated
from numeric.defined_code import HELPERS

LAYERS = Path(__file__).resolve().parents[1] / "examples" / "layers"


def _windows(x, kh, kw, s, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return xp, sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]


def _depthwise(x, w, b, dout, s, p):
    """Forward and (dX, dW, db) of the depthwise convolution, written out."""
    kh, kw = w.shape[1:]
    xp, win = _windows(x, kh, kw, s, p)
    y = np.einsum("nchwkl,ckl->nchw", win, w) + b[:, None, None]
    ho, wo = y.shape[2:]
    dxp = np.zeros_like(xp)
    for k in range(kh):
        for l in range(kw):
            dxp[:, :, k:k + s * (ho - 1) + 1:s, l:l + s * (wo - 1) + 1:s] += w[None, :, k, l, None, None] * dout
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return y, (dx, np.einsum("nchw,nchwkl->ckl", dout, win), dout.sum(axis=(0, 2, 3)))


def _avgpool(x, dout, k, s):
    _, win = _windows(x, k, k, s, 0)
    dx = np.zeros_like(x)
    ho, wo = dout.shape[2:]
    for a in range(k):
        for c in range(k):
            dx[:, :, a:a + s * (ho - 1) + 1:s, c:c + s * (wo - 1) + 1:s] += dout / (k * k)
    return win.mean(axis=(4, 5)), dx


@pytest.fixture(scope="module")
def depthwise():
    defn = define(LAYERS / "depthwise_conv.toml")
    return defn, generated(defn)


@pytest.fixture(scope="module")
def avgpool():
    defn = define(LAYERS / "avgpool.toml")
    return defn, generated(defn)


def _tolerance(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


# (X shape, kernel shape, S, P): stride 2, padding 0 and 2, non-square kernels, a kernel larger
# than the input (read past both ends), one output row
DEPTHWISE_CASES = [
    ((2, 3, 7, 6), (3, 3), 1, 1),
    ((2, 3, 9, 9), (3, 3), 2, 1),
    ((2, 3, 8, 7), (3, 2), 1, 0),
    ((2, 3, 6, 8), (2, 4), 2, 2),
    ((1, 2, 2, 2), (5, 4), 1, 2),
    ((2, 2, 3, 10), (3, 1), 1, 0),
    ((2, 4, 5, 5), (1, 5), 2, 2),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, kernel, s, p", DEPTHWISE_CASES)
def test_depthwise_matches_windows_of_a_padded_copy(depthwise, shape, kernel, s, p, dtype):
    _, module = depthwise
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((shape[1], *kernel)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    y, cache = module.depthwise_conv_forward(x, w, b, S=s, P=p)
    dout = rng.standard_normal(y.shape).astype(dtype)
    want_y, want_grads = _depthwise(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                    dout.astype(np.float64), s, p)
    grads = module.depthwise_conv_backward(dout, cache)
    assert y.dtype == dtype and all(g.dtype == dtype for g in grads)
    assert np.allclose(y, want_y, **_tolerance(dtype))
    for got, want in zip(grads, want_grads):
        assert got.shape == want.shape and np.allclose(got, want, **_tolerance(dtype))


@pytest.mark.parametrize("s, p", [(2, 0), (1, 2), (2, 2)])
def test_depthwise_passes_finite_differences_with_other_strides_and_padding(s, p, tmp_path):
    text = (LAYERS / "depthwise_conv.toml").read_text().replace("S = 1, P = 1", f"S = {s}, P = {p}")
    assert f"S = {s}, P = {p}" in text
    defn = define(text)
    verdicts = check(generated(defn), defn)
    assert verdicts and all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, k, s", [((2, 3, 8, 6), 2, 2), ((2, 3, 7, 9), 3, 1), ((2, 2, 9, 7), 3, 2),
                                         ((1, 2, 8, 8), 2, 3), ((2, 2, 3, 3), 3, 1)])
def test_avgpool_matches_window_means(avgpool, shape, k, s, dtype):
    _, module = avgpool
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    y, cache = module.avgpool_forward(x, K=k, S=s)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = module.avgpool_backward(dout, cache)
    want_y, want_dx = _avgpool(x.astype(np.float64), dout.astype(np.float64), k, s)
    assert y.dtype == dtype and dx.dtype == dtype
    assert np.allclose(y, want_y, **_tolerance(dtype)) and np.allclose(dx, want_dx, **_tolerance(dtype))


def test_avgpool_matches_pytorch_without_padding(avgpool):
    torch = pytest.importorskip("torch")
    _, module = avgpool
    x = np.random.default_rng(9).standard_normal((2, 3, 8, 8))
    t = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.avg_pool2d(t, 2, 2)  # count_include_pad moot: no padding
    want.backward(torch.ones_like(want))
    y, cache = module.avgpool_forward(x)
    assert np.allclose(y, want.detach().numpy()) and np.allclose(module.avgpool_backward(np.ones(y.shape), cache),
                                                                  t.grad.numpy())


def test_an_infinite_input_reaches_only_the_gradients_that_read_it(depthwise):
    # the extra entries between a padded image's rows are read with zeros beside them; an
    # infinite entry there must not turn a gradient it does not touch into NaN (0 * inf)
    _, module = depthwise
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((2, 3, 3)), rng.standard_normal(2)
    x[0, 0, 2, 0] = np.inf
    y, cache = module.depthwise_conv_forward(x, w, b)
    dout = rng.standard_normal(y.shape)
    with np.errstate(invalid="ignore"):
        want_y, want_grads = _depthwise(x, w, b, dout, 1, 1)
    grads = module.depthwise_conv_backward(dout, cache)
    for got, want in zip((y, *grads), (want_y, *want_grads)):
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        assert np.allclose(got[finite], want[finite])
    assert np.isfinite(grads[1][0, :, 2]).all()  # the column read only past the row's end


def test_a_box_sum_with_overlapping_windows_and_shifts_past_both_ends():
    defn = define({"name": "box", "inputs": {"X": ["N", "L"]}, "outputs": {"Y": ["N", "L"]}, "ranges": {"k": 5},
                   "forward": ["Y[n, i] = sum(X[n, i + k - 2] * X[n, i - k + 3], k)"]})
    module = generated(defn)
    x = np.random.default_rng(11).standard_normal((3, 7))
    xp = np.pad(x, ((0, 0), (4, 4)))
    want = sum(xp[:, 4 + k - 2:4 + k - 2 + 7] * xp[:, 4 - k + 3:4 - k + 3 + 7] for k in range(5))
    y, _ = module.box_forward(x)
    assert np.allclose(y, want)
    verdicts = check(module, defn)
    assert verdicts and all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


@pytest.fixture(scope="module")
def helpers():
    namespace = {"np": np, "LayergradError": LayergradError}
    exec(HELPERS, namespace)
    return namespace


def test_the_kernel_offsets_are_read_from_a_views_strides(helpers):
    read, offsets = helpers["_read"], helpers["_offsets"]
    x = np.zeros((2, 3, 8, 8))
    overlapping = read(x, (2, -1, [(1, 8), (1, 3)]), (3, -1, [(1, 8), (1, 3)]))  # n c i k j l
    assert overlapping.shape == (2, 3, 8, 3, 8, 3) and sorted(offsets(overlapping)) == [3, 5]
    strided = read(x, (2, 0, [(2, 4), (1, 3)]), (3, 0, [(1, 5), (2, 2)]))  # n c i k j l, l of stride 2
    assert sorted(offsets(strided)) == [3, 5]
    assert offsets(read(x, (2, 0, [(2, 4), (1, 2)]), (3, 0, [(2, 4), (1, 2)]))) == []  # side by side
    assert offsets(x) == [] and offsets(x.transpose(2, 0, 3, 1)) == []
    assert offsets(np.broadcast_to(np.zeros(4), (5, 4))) == [0]  # a broadcast axis reads again


def test_a_read_pads_once_for_every_axis(helpers):
    read = helpers["_read"]
    x = np.arange(12.0).reshape(3, 4)
    view = read(x, (0, -2, [(1, 3), (2, 2)]), (1, 3, [(-1, 4)]))  # rows -2 + i + 2k, columns 3 - j
    want = np.pad(x, ((2, 0), (0, 0)))
    rows = (np.arange(3)[:, None] + 2 * np.arange(2)[None, :])  # into the padded copy
    assert view.shape == (3, 2, 4) and not view.flags.writeable
    assert np.array_equal(view, want[rows][:, :, ::-1])


def test_a_unit_stride_scatter_is_read_as_one_gather_over_the_kernel_offsets(helpers):
    # dX of a depthwise convolution: dX[n, c, h, w] = sum W[c, k, l] dY[n, c, h + 1 - k, w + 1 - l]
    gather, offsets = helpers["_gather"], helpers["_offsets"]
    w, dy = np.ones((3, 3, 2)), np.ones((2, 3, 6, 5))
    deltas = [("g", -1, [(1, "e", 6), (1, "b", 3)], 6), ("h", -1, [(1, "f", 5), (1, "c", 2)], 5)]
    spec, (same_w, view) = gather(["abc", "daef"], "dagh", [w, dy], deltas)
    assert spec == "abc,dagbhc->dagh" and same_w is w
    assert view.shape == (2, 3, 6, 3, 5, 2) and sorted(offsets(view)) == [3, 5]  # one padded copy, read once
    assert gather(["abcd", "befg"], "aehi", [np.ones((2, 4, 6, 5)), np.ones((4, 3, 3, 2))],
                  [("h", -1, [(1, "c", 6), (1, "f", 3)], 6), ("i", -1, [(1, "d", 5), (1, "g", 2)], 5)]) is None


def test_buffers_kept_between_calls_never_show_in_a_result(depthwise, avgpool):
    # the scratch of the products, the zero-row copy of dY (dWt) and the padded copy of dY (dX)
    # are buffers kept between calls: a later call (same shapes, other values; other padding
    # with the same padded size; an infinite entry, then none) must leave earlier results as they
    # were, and the zeros around the written entries must stay zeros
    _, module = depthwise
    rng = np.random.default_rng(12)
    runs = []
    f64, f32, odd = np.float64, np.float32, (2, 3, 8, 7)
    for shape, kernel, s, p, dtype in [(odd, (3, 3), 1, 1, f64), (odd, (3, 3), 1, 1, f64), (odd, (3, 3), 1, 2, f64),
                                       (odd, (3, 3), 1, 0, f64), (odd, (3, 3), 1, 1, f32),
                                       ((3, 3, 9, 9), (3, 3), 2, 1, f64), (odd, (1, 1), 1, 0, f64),
                                       (odd, (3, 3), 1, 1, f64)]:
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal((shape[1], *kernel)).astype(dtype)
        b = rng.standard_normal(shape[1]).astype(dtype)
        y, cache = module.depthwise_conv_forward(x, w, b, S=s, P=p)
        dout = rng.standard_normal(y.shape).astype(dtype)
        if len(runs) == 1:
            dout[0, 1, 0, 0] = np.inf  # where a padded copy's zeros sit next to it
        with np.errstate(invalid="ignore"):
            grads = module.depthwise_conv_backward(dout, cache)
            want = _depthwise(*(a.astype(np.float64) for a in (x, w, b, dout)), s, p)
        runs.append(((y, *grads), [c.copy() for c in (y, *grads)], (want[0], *want[1]), dtype))
    for got, kept, (want_y, *want_grads), dtype in runs:
        assert all(np.array_equal(g, k, equal_nan=True) for g, k in zip(got, kept))  # not written since
        for g, w in zip(got, (want_y, *want_grads)):
            finite = np.isfinite(w)
            assert np.array_equal(finite, np.isfinite(g)) and np.allclose(g[finite], w[finite], **_tolerance(dtype))
    assert all(np.isfinite(g).all() for g in runs[2][0])  # the infinite entry of the run before is gone
    _, pool = avgpool
    x = rng.standard_normal((2, 3, 8, 8))
    y, cache = pool.avgpool_forward(x, K=3, S=1)
    first = pool.avgpool_backward(np.ones(y.shape), cache)
    kept = first.copy()
    pool.avgpool_backward(2 * np.ones(y.shape), cache)
    assert np.array_equal(first, kept) and np.allclose(first, _avgpool(x, np.ones(y.shape), 3, 1)[1])


def test_a_non_contiguous_input_reads_like_its_copy(depthwise):
    _, module = depthwise
    rng = np.random.default_rng(13)
    base = rng.standard_normal((7, 9, 3, 2))
    x = base.transpose(3, 2, 1, 0)[:, :, ::2]  # (2, 3, 5, 7), no axis of stride 1
    w, b = rng.standard_normal((3, 3, 3)), rng.standard_normal(3)
    for s, p in [(1, 1), (2, 2), (1, 0)]:
        y, cache = module.depthwise_conv_forward(x, w, b, S=s, P=p)
        dout = np.asfortranarray(rng.standard_normal(y.shape))
        want_y, want_grads = _depthwise(np.ascontiguousarray(x), w, b, np.ascontiguousarray(dout), s, p)
        assert np.allclose(y, want_y)
        for got, want in zip(module.depthwise_conv_backward(dout, cache), want_grads):
            assert np.allclose(got, want)


def test_kept_buffers_are_per_key_shape_dtype_and_thread_and_bounded(helpers):
    import threading

    kept = helpers["_kept"]
    a = kept("k", (3, 4), np.float64, zero=True)
    assert not a.any() and kept("k", (3, 4), np.float64) is a
    assert kept("k", (3, 4), np.float32) is not a and kept("k", (4, 3), np.float64) is not a
    assert kept("other", (3, 4), np.float64) is not a
    other = []
    thread = threading.Thread(target=lambda: other.append(kept("k", (3, 4), np.float64)))
    thread.start()
    thread.join()
    assert other[0] is not a
    for n in range(8):  # eight more: the first is dropped
        kept(n, (2,), np.float64)
    assert kept("k", (3, 4), np.float64) is not a
    big = kept("big", ((1 << 24) + 1,), np.float32)  # over 64 MiB: not kept
    assert kept("big", ((1 << 24) + 1,), np.float32) is not big


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_plain_factors_of_a_window_sum_get_two_zero_row_copies(helpers, dtype):
    # sum over n, i, j of A·B·X[n, c, i + k - 1, j + l - 1]: A and B each copied with zero rows
    # between their rows (buffers kept between calls, one per factor), twice over
    einsum, read = helpers["_einsum"], helpers["_read"]
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    window = read(x, (2, -1, [(1, 6), (1, 3)]), (3, -1, [(1, 5), (1, 3)]))  # n c i k j l
    for _ in range(2):
        a, b = (rng.standard_normal((2, 3, 6, 5)).astype(dtype) for _ in range(2))
        got = einsum("ncij,ncij,ncikjl->ckl", a, b, window)
        want = np.einsum("ncij,ncij,ncikjl->ckl", a.astype(np.float64), b.astype(np.float64), window.astype(np.float64))
        assert got.dtype == dtype and np.allclose(got, want, **_tolerance(dtype))
