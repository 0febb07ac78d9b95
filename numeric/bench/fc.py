r"""Rows for the layers of a fully connected network: the exported ``affine``, ``relu``,
``softmax_loss`` and ``svm_loss`` against the NumPy a course notebook asks for.

Affine forward :math:`H = XW + b` costs :math:`2NDM` floating-point operations and its backward
(:math:`dX = dH\,W^\top`, :math:`dW = X^\top dH`) twice that, compared with the float64
matrix-multiply throughput; ReLU reads and writes each entry once, compared with the
memory-copy bandwidth. Sizes: a CIFAR-10-sized batch (100 examples of 3,072 features into 500
hidden units) and scores for 10 classes; ``--quick`` shrinks them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .common import exported, missing
from .core import Goal, Row, Unavailable, Work

__all__ = ["HAND", "rows"]


def affine(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1) @ w + b


def affine_grads(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), flat.T @ dout, dout.sum(axis=0)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu_grad(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    return dout * (x > 0)


def softmax_loss(s: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(s) and its gradient, with the row maximum subtracted."""
    n = s.shape[0]
    shifted = s - s.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean(), dx / n


def svm_loss(s: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean multiclass hinge loss with margin 1 and its gradient."""
    n = s.shape[0]
    margins = np.maximum(0, s - s[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    dx = (margins > 0).astype(s.dtype)
    dx[np.arange(n), y] -= dx.sum(axis=1)
    return margins.sum() / n, dx / n


HAND = {"affine": affine, "affine_grads": affine_grads, "relu": relu, "relu_grad": relu_grad,
        "softmax_loss": softmax_loss, "svm_loss": svm_loss}
"""The hand-written baselines, by name."""

Contenders = dict[str, Callable[[], object] | Unavailable]


def _affine(n: int, d: int, m: int, backward: bool) -> Contenders:
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)) / np.sqrt(d), rng.standard_normal(m)
    dout = rng.standard_normal((n, m))
    out: Contenders = {"hand-written": (lambda: affine_grads(dout, x, w)) if backward else (lambda: affine(x, w, b))}
    module = exported("keep")
    if absent := missing(module, "affine_forward", "affine_backward"):
        out["generated"] = absent
    elif backward:
        _, cache = module.affine_forward(x, w, b)
        out["generated"] = lambda: module.affine_backward(dout, cache)
    else:
        out["generated"] = lambda: module.affine_forward(x, w, b)
    return out


def _relu(shape: tuple[int, int], backward: bool) -> Contenders:
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    out: Contenders = {"hand-written": (lambda: relu_grad(dout, x)) if backward else (lambda: relu(x))}
    module = exported("keep")
    if absent := missing(module, "relu_forward", "relu_backward"):
        out["generated"] = absent
    elif backward:
        _, cache = module.relu_forward(x)
        out["generated"] = lambda: module.relu_backward(dout, cache)
    else:
        out["generated"] = lambda: module.relu_forward(x)
    return out


def _loss(name: str, n: int, classes: int) -> Contenders:
    rng = np.random.default_rng(0)
    s, y = rng.standard_normal((n, classes)), rng.integers(0, classes, n)
    hand = HAND[name]
    out: Contenders = {"hand-written": lambda: hand(s, y)}
    module = exported("keep")
    out["generated"] = missing(module, name) or (lambda: getattr(module, name)(s, y))
    return out


def rows(quick: bool) -> list[Row]:
    n, d, m = (20, 768, 100) if quick else (100, 3072, 500)
    relu_shape = (100, 500) if quick else (4096, 1024)
    classes = 10
    pair = {"contenders": ("generated", "hand-written"), "reference": "hand-written",
            "goals": (Goal("generated/hand-written", max=1.10),)}
    out = [
        Row(name="affine forward", group="affine", size=f"{n}×{d} → {m}", dtype="float64",
            setup=lambda: _affine(n, d, m, False), work=Work(2.0 * n * d * m, "flop", limit="float64 matmul"), **pair),
        Row(name="affine backward", group="affine", size=f"{n}×{d} → {m}", dtype="float64",
            setup=lambda: _affine(n, d, m, True), work=Work(4.0 * n * d * m, "flop", limit="float64 matmul"), **pair),
    ]
    cells = relu_shape[0] * relu_shape[1]
    out += [
        Row(name=f"relu {'backward' if backward else 'forward'}", group="relu",
            size=f"{relu_shape[0]}×{relu_shape[1]}", dtype="float64",
            setup=lambda backward=backward: _relu(relu_shape, backward),
            work=Work(8.0 * cells * (3 if backward else 2), "B", limit="memory copy"), **pair)
        for backward in (False, True)
    ]
    out += [
        Row(name=name, group=name.split("_")[0], size=f"{n if quick else 4096}×{classes}", dtype="float64",
            setup=lambda name=name: _loss(name, n if quick else 4096, classes), **pair)
        for name in ("softmax_loss", "svm_loss")
    ]
    return out
