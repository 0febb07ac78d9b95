r"""Dropout rows: the exported ``dropout_forward`` / ``dropout_backward`` (keep convention) against
the hand-written NumPy a course notebook asks for,

.. math:: M = [U < q]/q,\quad H = M \odot Y, \qquad \partial L/\partial Y = \partial L/\partial H \odot M,

in train mode. The rate is set against the memory-copy bandwidth: the forward must read
:math:`Y` and write :math:`H` and the mask, the backward reads :math:`\partial L/\partial H` and
the mask and writes :math:`\partial L/\partial Y`. (The forward also draws one uniform number
per entry, which costs more than moving the bytes.)
"""

from __future__ import annotations

import numpy as np

from .common import exported
from .core import Goal, Row, Work

__all__ = ["rows"]

P = 0.5


def hand_forward(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout as written by hand (p = keep probability), keeping x's dtype."""
    mask = (np.random.rand(*x.shape) < p) / p
    return (x * mask).astype(x.dtype, copy=False), mask


def hand_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return (dout * mask).astype(dout.dtype, copy=False)


def _data(shape: tuple[int, int], dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _forward(shape: tuple[int, int], dtype: str) -> dict:
    module = exported("keep")
    x, _ = _data(shape, dtype)
    param = {"mode": "train", "p": P}
    return {"generated": lambda: module.dropout_forward(x, param), "hand-written": lambda: hand_forward(x, P)}


def _backward(shape: tuple[int, int], dtype: str) -> dict:
    module = exported("keep")
    x, dout = _data(shape, dtype)
    _, cache = module.dropout_forward(x, {"mode": "train", "p": P})
    mask = cache[1]
    return {"generated": lambda: module.dropout_backward(dout, cache),
            "hand-written": lambda: hand_backward(dout, mask)}


def rows(quick: bool) -> list[Row]:
    cases = [((256, 512), "float64")] if quick else [
        ((100, 500), "float64"), ((4096, 1024), "float64"), ((4096, 1024), "float32")]
    out = []
    for shape, dtype in cases:
        n, item = shape[0] * shape[1], np.dtype(dtype).itemsize
        common = {"group": "dropout", "size": f"{shape[0]}×{shape[1]}", "dtype": dtype,
                  "contenders": ("generated", "hand-written"), "reference": "hand-written",
                  "goals": (Goal("generated/hand-written", max=1.10),)}
        out += [
            Row(name="dropout forward", setup=lambda s=shape, d=dtype: _forward(s, d),
                work=Work(n * (2 * item + 8), "B", limit="memory copy"), **common),
            Row(name="dropout backward", setup=lambda s=shape, d=dtype: _backward(s, d),
                work=Work(n * (2 * item + 8), "B", limit="memory copy"), **common),
        ]
    return out

