r"""ReLU: ``relu_forward(x)`` and ``relu_backward(dout, cache)``.

:math:`H = \max(0, X)`, :math:`dX = G \odot [X > 0]`. Inputs are kept at least :data:`MARGIN`
away from the kink at 0, where the derivative is not defined (the notebooks' x (3, 4) and
(10, 10)).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..gradcheck import Verdict, away_from_kinks
from .compare import Case, Gradient, Spec, Wrong, entry, frozen
from .spec import Context, Mistake, guarded

__all__ = ["CHECKS", "KINK", "MARGIN"]

KINK = "relu-grad-at-zero"
"""The named warning for a ReLU gradient that passes dout where x = 0."""

MARGIN = 1e-3
"""Smallest distance of an input from the kink at 0 (far beyond the step of the differences)."""


def _inputs(shape: tuple[int, ...], dout: bool = False):
    def make(rng: np.random.Generator) -> dict:
        arrays = {"x": away_from_kinks(rng.standard_normal(shape), MARGIN)}
        if dout:
            arrays["dout"] = rng.standard_normal(shape)
        return frozen(**arrays)
    return make


def _forward(fns, i):
    out, _ = fns("relu_forward")(i["x"])
    return {"out": out}


def _backward(fns, i):
    _, cache = fns("relu_forward")(i["x"])
    return {"dx": fns("relu_backward")(i["dout"], cache)}


def _gradients(fns, i):
    forward, backward = fns("relu_forward"), fns("relu_backward")
    cache = forward(i["x"])[1]
    dx = backward(i["dout"], cache)

    def vjp(g: np.ndarray) -> np.ndarray:
        return np.asarray(backward(g, cache))

    return [Gradient("dx", lambda v: forward(v)[0], i["x"], i["dout"], np.asarray(dx), vjp)]


FORWARD = Spec(
    "relu_forward",
    (Case("x (2, 3)", _inputs((2, 3))), Case("x (3, 4) (the notebooks')", _inputs((3, 4)))),
    _forward,
    wrongs=(
        Wrong("relu-leaky", "negative inputs leak through (a small slope times x): ReLU sets them to 0",
              lambda i: {"out": np.maximum(0.01 * i["x"], i["x"])}),
        Wrong("relu-negative-part", "it keeps the negative part, np.minimum(0, x); ReLU is np.maximum(0, x)",
              lambda i: {"out": np.minimum(0, i["x"])}),
        Wrong("relu-abs", "negative inputs come out positive (|x|): ReLU sets them to 0",
              lambda i: {"out": np.abs(i["x"])}),
    ),
)

BACKWARD = Spec(
    "relu_backward",
    (Case("x (2, 3)", _inputs((2, 3), dout=True)), Case("x (10, 10) (the notebooks')", _inputs((10, 10), dout=True))),
    _backward,
    _gradients,
    wrongs=(
        Wrong("relu-grad-no-dout", "dx is the mask [x > 0] alone: multiply it by dout",
              lambda i: {"dx": (i["x"] > 0).astype(float)}),
        Wrong("relu-grad-dout-sign", "dx is masked by the sign of dout; the mask must come from the input, x > 0",
              lambda i: {"dx": i["dout"] * (i["dout"] > 0)}),
        Wrong("relu-grad-times-x", "dx multiplies dout by x; the derivative of max(0, x) is the indicator [x > 0]",
              lambda i: {"dx": i["dout"] * i["x"]}),
        Wrong("relu-grad-unmasked", "dx = dout everywhere: zero it where x <= 0", lambda i: {"dx": i["dout"]}),
        Wrong("relu-grad-output-mask", "dx is masked where the input is negative, the opposite of [x > 0]",
              lambda i: {"dx": i["dout"] * (i["x"] < 0)}),
    ),
    needs=("relu_forward",),
    forward=_forward,
    extra=lambda ctx: guarded("relu_backward at x = 0", lambda: _at_the_kink(ctx)),
)


def _at_the_kink(ctx: Context) -> list[Verdict]:
    """At x = 0 the derivative of max(0, x) is not defined; the course and PyTorch take 0. Passing
    dout there (the derivative from the right) is the other convention: a named warning, a failure
    only with ``strict``; anything else at 0 fails."""
    rng = ctx.rng("relu_backward", "kink")
    x = away_from_kinks(rng.standard_normal((4, 5)), MARGIN)
    x[::2, ::2] = 0.0
    dout = rng.standard_normal(x.shape)
    forward, backward = ctx.fn("relu_forward"), ctx.fn("relu_backward")
    dx = np.asarray(backward(dout.copy(), forward(frozen(x=x)["x"])[1]))
    name = "relu_backward at x = 0 (the kink)"
    if dx.shape != x.shape:
        return [Verdict(name, False, np.inf, 0.0, "exact", detail=f"dx has shape {dx.shape}, expected {x.shape}")]
    zero = x == 0
    if np.array_equal(dx[zero], np.zeros(int(zero.sum()))):
        return [Verdict(name, True, 0.0, 0.0, "exact", detail="dx = 0 where x = 0 (the course's and PyTorch's)")]
    words = (f"{KINK}: relu_backward passes dout where x = 0 (the mask is x >= 0); the course and PyTorch give 0 "
             "there (mask x > 0). Both are subgradients, but the notebooks' numbers will differ")
    if np.array_equal(dx[zero], dout[zero]):
        strict = bool(ctx.options.get("strict"))
        return [Verdict(name, not strict, 0.0, 0.0, "exact", detail="dx = dout where x = 0",
                        mistake=KINK if strict else "", diagnosis=words if strict else "",
                        warnings=() if strict else (words,))]
    return [Verdict(name, False, float(np.max(np.abs(dx[zero]))), 0.0, "exact", mistake="relu-grad-at-zero-wrong",
                    diagnosis="where x = 0, dx must be 0 (the course's convention, mask x > 0) or dout (mask x >= 0)")]


CHECKS = entry("relu", FORWARD, BACKWARD)
CHECKS = replace(CHECKS, mistakes=(
    *CHECKS.mistakes,
    Mistake(KINK, "relu_backward passes dout at x = 0 (only with --strict; else a warning)"),
    Mistake("relu-grad-at-zero-wrong", "relu_backward gives neither 0 nor dout at x = 0")))
