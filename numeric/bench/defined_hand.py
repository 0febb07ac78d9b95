r"""Hand-written NumPy for the element-wise defined layers: forward then backward, each the short
code a careful person writes (the forward's values reused, no power where a product does), so the
defined rows show how much of a ratio to PyTorch is NumPy's own floor.

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


HAND: dict[str, Callable[..., tuple[np.ndarray, list[np.ndarray]]]] = {
    "leaky_relu": leaky_relu, "elu": elu, "softplus": softplus, "silu": silu, "gelu_tanh": gelu_tanh,
    "huber": huber, "bce_logits": bce_logits,
}
"""Layer name → hand-written forward + backward ``(*arguments, dout) → (value, gradients)``."""
