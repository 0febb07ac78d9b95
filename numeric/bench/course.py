r"""Rows at the sizes the course's own test cells use (affine 2×(4×5×6) → 3, ReLU 3×4, losses
50×10, normalization 4×5, dropout 4×5, pooling 3×2×8×8, convolution 2×3×4×4): the generated
functions against the hand-written NumPy of the other suites. At these sizes a call costs a few
microseconds, so the ratio measures the argument checks as much as the arithmetic; the goal is
that the checks cost no more than a third of a hand-written call. Where the course's function does
more than the arithmetic — batch norm's forward keeps the running averages, dropout's backward
unpacks its cache and reads the mode — the hand-written contender does it too, as the course's
own solution would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import batchnorm as norm
from . import conv, dropout, fc
from .common import exported
from .core import Goal, Row

__all__ = ["hand_batchnorm_forward", "hand_dropout_backward", "rows"]


def hand_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict) -> tuple:
    """The course's batchnorm_forward in train mode, by hand: the normalization over the batch and
    the running averages :math:`r \\leftarrow m\\,r + (1 - m)\\,\\mu` (likewise for
    :math:`\\sigma^2`)."""
    momentum, eps, d = bn_param.get("momentum", 0.9), bn_param.get("eps", norm.EPS), x.shape[1]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc * xc).mean(axis=0)
    std = np.sqrt(var + eps)
    z = xc / std
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros(d)) + (1 - momentum) * mu
    bn_param["running_var"] = momentum * bn_param.get("running_var", np.zeros(d)) + (1 - momentum) * var
    return gamma * z + beta, (xc, std, z, gamma, (0,))


def hand_dropout_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """The course's dropout_backward by hand: the mask in train mode, dout itself in test mode."""
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def _pairs() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """(generated, hand-written) per function, on the course's test sizes."""
    m, rng = exported("keep"), np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((120, 3)), rng.standard_normal(3)
    d3, xr, dr = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    s, y = rng.standard_normal((50, 10)), rng.integers(0, 10, 50)
    xb, g, be, db = rng.standard_normal((4, 5)), np.ones(5), np.zeros(5), rng.standard_normal((4, 5))
    xp, pp = rng.standard_normal((3, 2, 8, 8)), {"pool_height": 2, "pool_width": 2, "stride": 2}
    xc, wc, bc = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((3, 3, 4, 4)), rng.standard_normal(3)
    cp, train, drop = {"stride": 2, "pad": 1}, {"mode": "train"}, {"mode": "train", "p": 0.5}
    hand_train = {"mode": "train"}
    _, ac = m.affine_forward(x, w, b)
    _, rc = m.relu_forward(xr)
    _, bcache = m.batchnorm_forward(xb, g, be, dict(train))
    hb = norm.hand_forward(xb, g, be, (0,))[1]
    _, lcache = m.layernorm_forward(xb, g, be, {})
    hl = norm.hand_forward(xb, g, be, (1,))[1]
    _, pc = m.max_pool_forward_fast(xp, pp)
    po = conv.pool_forward(xp, 2)
    dpo = rng.standard_normal(po.shape)
    _, cc = m.conv_forward_fast(xc, wc, bc, cp)
    co, hc = conv.im2col_forward(xc, wc, bc, 2, 1)
    dco = rng.standard_normal(co.shape)
    _, dc = m.dropout_forward(xb, drop)
    return {
        "affine_forward": (lambda: m.affine_forward(x, w, b), lambda: fc.affine(x, w, b)),
        "affine_backward": (lambda: m.affine_backward(d3, ac), lambda: fc.affine_grads(d3, x, w)),
        "relu_forward": (lambda: m.relu_forward(xr), lambda: fc.relu(xr)),
        "relu_backward": (lambda: m.relu_backward(dr, rc), lambda: fc.relu_grad(dr, xr)),
        "softmax_loss": (lambda: m.softmax_loss(s, y), lambda: fc.softmax_loss(s, y)),
        "svm_loss": (lambda: m.svm_loss(s, y), lambda: fc.svm_loss(s, y)),
        "batchnorm_forward": (lambda: m.batchnorm_forward(xb, g, be, train),
                              lambda: hand_batchnorm_forward(xb, g, be, hand_train)),
        "batchnorm_backward_alt": (lambda: m.batchnorm_backward_alt(db, bcache), lambda: norm.hand_backward(db, hb)),
        "layernorm_forward": (lambda: m.layernorm_forward(xb, g, be, {}), lambda: norm.hand_forward(xb, g, be, (1,))),
        "layernorm_backward": (lambda: m.layernorm_backward(db, lcache), lambda: norm.hand_backward(db, hl)),
        "dropout_forward": (lambda: m.dropout_forward(xb, drop), lambda: dropout.hand_forward(xb, 0.5)),
        "dropout_backward": (lambda: m.dropout_backward(db, dc), lambda: hand_dropout_backward(db, dc)),
        "max_pool_forward_fast": (lambda: m.max_pool_forward_fast(xp, pp), lambda: conv.pool_forward(xp, 2)),
        "max_pool_backward_fast": (lambda: m.max_pool_backward_fast(dpo, pc),
                                   lambda: conv.pool_backward(dpo, xp, po, 2)),
        "conv_forward_fast": (lambda: m.conv_forward_fast(xc, wc, bc, cp),
                              lambda: conv.im2col_forward(xc, wc, bc, 2, 1)),
        "conv_backward_fast": (lambda: m.conv_backward_fast(dco, cc), lambda: conv.im2col_backward(dco, hc)),
    }


NAMES = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss", "svm_loss",
         "batchnorm_forward", "batchnorm_backward_alt", "layernorm_forward", "layernorm_backward",
         "dropout_forward", "dropout_backward", "max_pool_forward_fast", "max_pool_backward_fast",
         "conv_forward_fast", "conv_backward_fast")


def _setup(name: str) -> dict[str, Callable[[], object]]:
    generated, hand = _pairs()[name]
    return {"generated": generated, "hand-written": hand}


def rows(quick: bool) -> list[Row]:
    return [Row(name=name, group="course sizes", size="course test", dtype="float64",
                contenders=("generated", "hand-written"), reference="hand-written",
                setup=lambda name=name: _setup(name), goals=(Goal("generated/hand-written", max=1.3),),
                memory=False)
            for name in NAMES]
