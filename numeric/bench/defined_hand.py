r"""Hand-written NumPy for the element-wise defined layers and the depthwise convolution: forward
then backward, each the code a careful person writes (the forward's values reused, no power where a
product does, BLAS where it pays), so the defined rows show how much of a ratio to PyTorch is
NumPy's own floor.

Each function takes the layer's arguments and the upstream gradient :math:`\bar Y` (for a loss,
the scalar :math:`\bar L`) and returns the forward's value and the gradients of the
differentiated arguments:

* leaky ReLU: :math:`Y = \max(X, \alpha X)`, :math:`\bar X = \bar Y (\alpha + (1 - \alpha)[X > 0])`
  (no ``np.where``: on signs in random order it mispredicts a branch per entry);
* ELU: :math:`Y = \mathrm{where}(X > 0, X, \alpha(e^X - 1))`,
  :math:`\bar X = \bar Y \, \mathrm{where}(X > 0, 1, Y + \alpha)`;
* softplus: :math:`Y = \max(X, 0) + \log(1 + e^{-|X|})`, :math:`\bar X = \bar Y \sigma(X)`;
* SiLU: :math:`Y = X\sigma(X)`, :math:`\bar X = \bar Y (\sigma + Y(1 - \sigma))`;
* GELU (tanh): :math:`Y = \tfrac12 X(1 + t)`, :math:`t = \tanh(c(X + kX^3))`,
  :math:`\bar X = \bar Y\,(\tfrac12(1 + t) + \tfrac12 X(1 - t^2)\,c\,(1 + 3kX^2))`;
* Huber: :math:`R = X - T`, :math:`m = \min(|R|, \delta)`, :math:`L = \mathrm{mean}(m(|R| - m/2))`
  (:math:`R^2/2` where :math:`|R| \le \delta`, :math:`\delta(|R| - \delta/2)` beyond),
  :math:`\bar X = \bar L\,\mathrm{clip}(R, -\delta, \delta)/(ND)`;
* binary cross-entropy with logits: :math:`L = \mathrm{mean}(\max(X, 0) - TX + \log(1 + e^{-|X|}))`,
  :math:`\bar X = \bar L(\sigma(X) - T)/(ND)`.

At a kink (:math:`X = 0`) these take one side; the generated code may take the mean of both.

Depthwise convolution (stride 1, zero padding :math:`P`),
:math:`Y_{ncij} = b_c + \sum_{k,l} W_{ckl} X_{n,c,i+k-P,j+l-P}`, as matrix products (BLAS): per
channel, the rows of the padded image :math:`\tilde X` (all images' rows one after another) read
:math:`K_H` at a time, :math:`A_{c,r,(k,j')} = \tilde X_{c,r+k,j'}` (a copy, :math:`K_H` times the
image), times a banded Toeplitz matrix :math:`T_{c,(k,j'),j} = W_{c,k,j'-j}`; a row
:math:`r = n H_p + i` with :math:`i \ge H_o` straddles two images and is dropped.
:math:`\bar W_{ckl} = \sum_j (A_c^\top D_c)_{(k, j + l), j}` (:math:`D` the upstream rows in the
layout of :math:`A`'s rows, zero in the dropped ones), and :math:`\bar X` is the same product as
the forward on the upstream zero-padded by :math:`K - 1 - P` with the kernel turned by 180°.
Ten times the multiply-adds of the direct sum, but at BLAS speed instead of one memory pass per
kernel offset.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["HAND"]

_C = 0.7978845608028654
_K = 0.044715


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def leaky_relu(x: np.ndarray, dout: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.maximum(x, alpha * x)
    return y, [dout * (alpha + (1 - alpha) * (x > 0))]


def elu(x: np.ndarray, dout: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    positive = x > 0
    y = np.where(positive, x, alpha * np.expm1(x))
    return y, [dout * np.where(positive, 1.0, y + alpha)]


def softplus(x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return y, [dout * _sigmoid(x)]


def silu(x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    s = _sigmoid(x)
    y = x * s
    return y, [dout * (s + y * (1 - s))]


def gelu_tanh(x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    t = np.tanh(_C * (x + _K * x * x * x))
    y = 0.5 * x * (1 + t)
    return y, [dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _C * (1 + 3 * _K * x * x))]


def huber(x: np.ndarray, t: np.ndarray, dout: float, delta: float = 1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    r = x - t
    a = np.abs(r)
    m = np.minimum(a, delta)
    y = (m * (a - 0.5 * m)).mean()  # R²/2 where |R| ≤ δ, δ(|R| - δ/2) beyond
    return y, [np.clip(r, -delta, delta) * (dout / r.size)]


def bce_logits(x: np.ndarray, t: np.ndarray, dout: float) -> tuple[np.ndarray, list[np.ndarray]]:
    y = (np.maximum(x, 0) - t * x + np.log1p(np.exp(-np.abs(x)))).mean()
    return y, [(_sigmoid(x) - t) * (dout / x.size)]


def _toeplitz(w: np.ndarray, width: int, out: int) -> np.ndarray:
    """T[c, (k, j + l), j] = w[c, k, l]: a row of width entries times T is the row's correlation
    with the kernel, for each of out outputs."""
    channels, kh, kw = w.shape
    t = np.zeros((channels, kh, width, out), dtype=w.dtype)
    j = np.arange(out)
    for k in range(kh):
        for l in range(kw):
            t[:, k, j + l, j] = w[:, k, l, None]
    return t.reshape(channels, kh * width, out)


def _rows(padded: np.ndarray, kh: int) -> np.ndarray:
    """A[c, r, (k, j)] = padded[c, r + k, j] over all images' rows (C, N·Hp - kh + 1, kh·Wp), a copy."""
    channels, images, height, width = padded.shape
    s = padded.itemsize
    view = np.lib.stride_tricks.as_strided(padded, (channels, images * height - kh + 1, kh * width),
                                           (padded.strides[0], width * s, s), writeable=False)
    return np.ascontiguousarray(view)


def _correlate(padded: np.ndarray, w: np.ndarray, a: np.ndarray | None = None) -> np.ndarray:
    """out[n, c, i, j] = sum_kl w[c, k, l] padded[c, n, i + k, j + l] (stride 1), as A @ T."""
    channels, images, height, width = padded.shape
    kh, kw = w.shape[1:]
    a = _rows(padded, kh) if a is None else a
    out = np.empty((channels, images * height, width - kw + 1), dtype=padded.dtype)
    np.matmul(a, _toeplitz(w, width, width - kw + 1), out=out[:, :a.shape[1]])
    return out.reshape(channels, images, height, -1)[:, :, :height - kh + 1].transpose(1, 0, 2, 3)


def depthwise_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray,
                   pad: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    n, c, h, wd = x.shape
    kh, kw = w.shape[1:]
    qh, qw = kh - 1 - pad, kw - 1 - pad  # the upstream's padding for dX
    if pad < 0 or qh < 0 or qw < 0:
        raise ValueError("hand-written depthwise convolution: 0 <= P <= K - 1")
    padded = np.zeros((c, n, h + 2 * pad, wd + 2 * pad), dtype=x.dtype)
    padded[:, :, pad:pad + h, pad:pad + wd] = x.transpose(1, 0, 2, 3)
    a = _rows(padded, kh)
    y = _correlate(padded, w, a) + b[:, None, None]
    ho, wo = y.shape[2:]
    hp, wp = padded.shape[2:]
    up = np.zeros((c, n, ho + 2 * qh, wo + 2 * qw), dtype=x.dtype)
    up[:, :, qh:qh + ho, qw:qw + wo] = dout.transpose(1, 0, 2, 3)
    if qh == pad:  # "same" rows: the padded upstream read from row qh is D, zero in the dropped rows
        d = np.lib.stride_tricks.as_strided(up[:, 0, qh, qw:], (c, a.shape[1], wo),
                                            (up.strides[0], up.strides[2], up.strides[3]), writeable=False)
    else:
        rows = np.zeros((c, n, hp, wo), dtype=x.dtype)
        rows[:, :, :ho] = dout.transpose(1, 0, 2, 3)
        d = rows.reshape(c, n * hp, wo)[:, :a.shape[1]]
    g = np.matmul(a.transpose(0, 2, 1), d)  # (C, kh·Wp, Wo)
    s = g.itemsize
    dw = np.lib.stride_tricks.as_strided(g, (c, kh, kw, wo), (g.strides[0], wp * wo * s, wo * s, (wo + 1) * s),
                                         writeable=False).sum(axis=-1)
    dx = np.ascontiguousarray(_correlate(up, w[:, ::-1, ::-1]))
    return y, [dx, dw, dout.sum(axis=(0, 2, 3))]


HAND: dict[str, Callable[..., tuple[np.ndarray, list[np.ndarray]]]] = {
    "leaky_relu": leaky_relu, "elu": elu, "softplus": softplus, "silu": silu, "gelu_tanh": gelu_tanh,
    "huber": huber, "bce_logits": bce_logits, "depthwise_conv": depthwise_conv,
}
"""Layer name → hand-written forward + backward ``(*arguments, dout) → (value, gradients)``."""
