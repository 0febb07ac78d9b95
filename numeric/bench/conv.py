r"""Convolution and max-pooling rows: the exported fast functions against an im2col written by
hand, literal loops (small sizes only) and PyTorch's CPU kernels when torch is installed.

Convolution (cross-correlation, stride :math:`S`, zero padding :math:`P`):

.. math:: \mathrm{out}_{nfij} = b_f + \sum_{c,k,l} \mathrm{xpad}_{n,c,Si+k,Sj+l}\, w_{fckl},

:math:`2 N F H' W' C\,HH\,WW` floating-point operations forward and twice that again backward
(:math:`dw` and :math:`dx`), compared with the matrix-multiply throughput measured in the same
rounds. The im2col buffer it implies, :math:`N H' W' \times C\,HH\,WW` entries, bounds the peak
memory of the generated forward. Max pooling reads :math:`x` once and writes the output once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .common import exported, missing, torch_or_reason
from .core import Goal, Row, Unavailable, Work

__all__ = ["CASES", "im2col_backward", "im2col_forward", "loops_forward", "pool_backward", "pool_forward", "rows"]

Contenders = dict[str, Callable[[], object] | Unavailable]


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _tiling(shape: tuple, kernel: tuple, stride: int, pad: int) -> tuple:
    """``shape`` with its height and width grown to the next sizes whose windows tile the padded
    input: the generated layer (like the course's) rejects an output size that is not a whole
    number, where PyTorch would silently drop the last rows (so stride 2 runs on 33×33, not 32×32)."""
    n, c, *spatial = shape
    grown = [size + (-(size + 2 * pad - k)) % stride for size, k in zip(spatial, kernel[2:])]
    return (n, c, *grown)


def im2col_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> tuple:
    """Convolution by hand: copy every window into a row of a matrix, then one matrix multiply."""
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    ho, wo = _out_size(h, hh, stride, pad), _out_size(wd, ww, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :ho, :wo]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * hh * ww)
    out = cols @ w.reshape(f, -1).T + b
    return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2), (x.shape, w, cols, stride, pad)


def im2col_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dw = colsᵀ-contraction with dout, db = Σ dout, dx by scattering the column gradients back."""
    (n, c, h, wd), w, cols, stride, pad = cache
    f, _, hh, ww = w.shape
    ho, wo = dout.shape[2:]
    flat = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (flat.T @ cols).reshape(w.shape)
    db = flat.sum(axis=0)
    dcols = (flat @ w.reshape(f, -1)).reshape(n, ho, wo, c, hh, ww)
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dout.dtype)
    for k in range(hh):
        for l in range(ww):
            dxp[:, :, k:k + stride * ho:stride, l:l + stride * wo:stride] += dcols[..., k, l].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, db


def loops_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """The formula, one loop per index: what a first implementation looks like."""
    n_, c_, h, wd = x.shape
    f_, _, hh, ww = w.shape
    ho, wo = _out_size(h, hh, stride, pad), _out_size(wd, ww, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_, f_, ho, wo), x.dtype)
    for n in range(n_):
        for f in range(f_):
            for i in range(ho):
                for j in range(wo):
                    total = b[f]
                    for c in range(c_):
                        for k in range(hh):
                            for l in range(ww):
                                total += xp[n, c, stride * i + k, stride * j + l] * w[f, c, k, l]
                    out[n, f, i, j] = total
    return out


def pool_forward(x: np.ndarray, size: int) -> np.ndarray:
    """Max pooling by hand for windows that tile the input (size × size, stride = size)."""
    n, c, h, wd = x.shape
    return x.reshape(n, c, h // size, size, wd // size, size).max(axis=(3, 5))


def _conv_setup(shape: tuple, kernel: tuple, stride: int, dtype: str, backward: bool, loops: bool) -> Contenders:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kernel).astype(dtype)
    b = rng.standard_normal(kernel[0]).astype(dtype)
    pad = 1
    out, _ = im2col_forward(x, w, b, stride, pad)
    dout = rng.standard_normal(out.shape).astype(dtype)
    contenders: Contenders = {}
    if backward:
        contenders["hand-written im2col"] = lambda: im2col_backward(dout, im2col_forward(x, w, b, stride, pad)[1])
    else:
        contenders["hand-written im2col"] = lambda: im2col_forward(x, w, b, stride, pad)
    module = exported("keep")
    param = {"stride": stride, "pad": pad}
    names = ("conv_forward_fast", "conv_backward_fast") if backward else ("conv_forward_fast",)
    if absent := missing(module, *names):
        contenders["generated"] = absent
    elif backward:
        contenders["generated"] = lambda: module.conv_backward_fast(dout, module.conv_forward_fast(x, w, b, param)[1])
    else:
        contenders["generated"] = lambda: module.conv_forward_fast(x, w, b, param)
    if loops:
        contenders["literal loops"] = lambda: loops_forward(x, w, b, stride, pad)
    torch = torch_or_reason()
    if isinstance(torch, Unavailable):
        contenders["PyTorch"] = torch
    else:
        contenders["PyTorch"] = _torch_conv(torch, x, w, b, dout, stride, pad, backward)
    return contenders


def _torch_conv(torch, x, w, b, dout, stride, pad, backward) -> Callable[[], object]:
    conv2d = torch.nn.functional.conv2d
    tx, tw, tb, tdout = (torch.from_numpy(a) for a in (x, w, b, dout))
    if not backward:
        def forward() -> object:
            with torch.no_grad():
                return conv2d(tx, tw, tb, stride=stride, padding=pad)
        return forward
    for t in (tx, tw, tb):
        t.requires_grad_(True)

    def both() -> None:
        tx.grad = tw.grad = tb.grad = None
        conv2d(tx, tw, tb, stride=stride, padding=pad).backward(tdout)

    return both


def _conv_row(case: str, stride: int, dtype: str, backward: bool) -> Row:
    """``case`` is ``"small"`` or ``"large"`` (the sizes the convolution goals name) or ``"quick"``."""
    shape, kernel = CASES[case]
    shape = _tiling(shape, kernel, stride, 1)
    n, c, h, wd = shape
    f, _, hh, ww = kernel
    ho, wo = _out_size(h, hh, stride, 1), _out_size(wd, ww, stride, 1)
    flops = 2.0 * n * f * ho * wo * c * hh * ww * (3 if backward else 1)
    im2col = n * ho * wo * c * hh * ww * np.dtype(dtype).itemsize
    loops = not backward and (case == "quick" or (case == "small" and dtype == "float64"))
    goals: tuple[Goal, ...] = ()
    if case == "small" and loops and stride == 1:
        goals += (Goal("literal loops/generated", min=500),)
    if case == "large" and stride == 1 and dtype == "float64":
        goals += (Goal("generated/PyTorch", max=1.5 if backward else 1.25),)
    if case == "large" and stride == 1 and dtype == "float32" and backward:
        goals += (Goal("generated/PyTorch", max=1.3),)
    if not backward:
        goals += (Goal("peak/im2col", max=1.5),)
    contenders = ("generated", "hand-written im2col", "PyTorch") + (("literal loops",) if loops else ())
    return Row(
        name="conv forward+backward" if backward else "conv forward", group="conv",
        size=f"x{shape} w{kernel} S{stride} P1".replace(" ", ""), dtype=dtype, contenders=contenders,
        reference="hand-written im2col",
        setup=lambda: _conv_setup(shape, kernel, stride, dtype, backward, loops),
        goals=goals, work=Work(flops, "flop", limit=f"{dtype} matmul"), buffer=("im2col", im2col),
        rounds=3 if loops and case != "quick" else None,
    )


def pool_backward(dout: np.ndarray, x: np.ndarray, out: np.ndarray, size: int) -> np.ndarray:
    """Route each output's gradient to the maximum of its window (inputs without ties)."""
    n, c, h, wd = x.shape
    windows = x.reshape(n, c, h // size, size, wd // size, size)
    mask = windows == out[:, :, :, None, :, None]
    return (mask * dout[:, :, :, None, :, None]).reshape(x.shape)


def _pool_setup(shape: tuple, dtype: str, backward: bool) -> Contenders:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(pool_forward(x, 2).shape).astype(dtype)
    contenders: Contenders = {}
    if backward:
        contenders["hand-written reshape"] = lambda: pool_backward(dout, x, pool_forward(x, 2), 2)
    else:
        contenders["hand-written reshape"] = lambda: pool_forward(x, 2)
    module = exported("keep")
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    names = ("max_pool_forward_fast", "max_pool_backward_fast") if backward else ("max_pool_forward_fast",)
    if absent := missing(module, *names):
        contenders["generated"] = absent
    elif backward:
        contenders["generated"] = lambda: module.max_pool_backward_fast(
            dout, module.max_pool_forward_fast(x, param)[1])
    else:
        contenders["generated"] = lambda: module.max_pool_forward_fast(x, param)
    torch = torch_or_reason()
    if isinstance(torch, Unavailable):
        contenders["PyTorch"] = torch
    else:
        pool = torch.nn.functional.max_pool2d
        tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)
        if backward:
            tx.requires_grad_(True)

            def both() -> None:
                tx.grad = None
                pool(tx, 2, 2).backward(tdout)

            contenders["PyTorch"] = both
        else:
            contenders["PyTorch"] = lambda: pool(tx, 2, 2)
    return contenders


def _pool_row(shape: tuple, dtype: str, backward: bool) -> Row:
    n = int(np.prod(shape))
    item = np.dtype(dtype).itemsize
    return Row(
        name="max pool forward+backward" if backward else "max pool forward", group="maxpool",
        size=f"x{shape} 2×2 S2".replace(" ", ""), dtype=dtype,
        contenders=("generated", "hand-written reshape", "PyTorch"), reference="hand-written reshape",
        setup=lambda: _pool_setup(shape, dtype, backward),
        goals=(Goal("generated/PyTorch", max=1.0),) if backward else (),
        work=Work((n + n // 4) * item * (2 if backward else 1), "B", limit="memory copy"),
    )


CASES = {
    "small": ((8, 3, 32, 32), (16, 3, 3, 3)),
    "large": ((16, 32, 64, 64), (64, 32, 3, 3)),
    "quick": ((2, 3, 16, 16), (4, 3, 3, 3)),
}
"""(x shape, w shape): the two sizes the convolution goals are stated at, and a quick one."""


def rows(quick: bool) -> list[Row]:
    if quick:
        conv = [_conv_row("quick", 1, "float64", False), _conv_row("quick", 2, "float32", True)]
        return conv + [_pool_row(CASES["quick"][0], "float64", backward) for backward in (False, True)]
    conv = [_conv_row(case, stride, dtype, backward)
            for backward in (False, True) for case in ("small", "large")
            for stride in (1, 2) for dtype in ("float64", "float32")]
    pools = [_pool_row(CASES[case][0], dtype, backward)
             for case in ("small", "large") for backward in (False, True) for dtype in ("float64", "float32")]
    return conv + pools
