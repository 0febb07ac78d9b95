r"""Numerical derivatives: central differences and complex step, batched over a leading axis.

For a loss :math:`\ell(x) = \langle G, f(x)\rangle` with a fixed upstream gradient :math:`G`:

* central differences, :math:`\partial_k \ell \approx (\ell(x + h e_k) - \ell(x - h e_k)) / 2h`,
  error :math:`\tfrac{h^2}{6}\ell''' + \varepsilon\,\sum|G \odot f| / h`, best near
  :math:`h = \varepsilon^{1/3}` times the spread of :math:`x`;
* complex step, :math:`\partial_k \ell = \operatorname{Im} \ell(x + i h e_k) / h + O(h^2)`,
  with no subtraction and hence no cancellation: machine precision at :math:`h = 10^{-20}`,
  valid only where :math:`f` is analytic (no ``abs``, comparisons on :math:`x`, or
  ``np.var``, which conjugates).

All perturbed inputs are stacked along a new leading axis and :class:`Evaluator` pushes them
through ``f`` in one call when ``f`` maps a stack to the stack of its outputs, which it
probes on the first two points; otherwise it loops. Each estimate carries its rounding-noise
level and, for central differences, the entries whose one-sided slopes disagree (a kink
between :math:`x - h` and :math:`x + h`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from derive.errors import LayergradError

from .points import require_float64

__all__ = ["EPS", "Estimate", "Evaluator", "directional", "estimate_gradient", "numerical_gradient", "scale_of", "step"]

EPS = float(np.finfo(np.float64).eps)
"""Unit roundoff of float64, the dtype every numerical check runs in."""

_CHUNK = 1 << 22
"""Entries per stacked call (about 32 MB of float64), bounding the memory of a batch."""


def scale_of(x: np.ndarray) -> float:
    """The spread of ``x`` (root-mean-square distance from its mean), the unit of the step: the
    scale on which a function of ``x`` varies, whatever offset ``x`` sits at (its root-mean-square
    size when all entries are equal, 1 when they are all zero)."""
    flat = np.ravel(x)
    n = flat.size
    if not n:
        return 1.0
    centered = flat - flat.sum() / n
    for v in (centered, flat):
        size = math.sqrt(abs(float(np.vdot(v, v).real)) / n)
        if size > 0:
            return size
    return 1.0


def step(x: np.ndarray, method: str) -> float:
    r"""The step: :math:`\varepsilon^{1/3}` (central) or :math:`10^{-20}` (complex) times the spread of ``x``."""
    if method == "complex":
        return 1e-20 * scale_of(x)
    return EPS ** (1 / 3) * scale_of(x)


class Evaluator:
    """``f`` at many points: one call over a leading axis where ``f`` broadcasts over it, else a loop.

    ``batched=None`` probes: the stack of the first two points must give the stack of their
    outputs (same shape, equal to rounding). ``calls`` counts the calls made to ``f``."""

    def __init__(self, f: Callable[[np.ndarray], np.ndarray], batched: bool | None = None,
                 name: str = "the forward pass"):
        self.f, self.batched, self.name, self.calls = f, batched, name, 0

    def one(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        return require_float64(self.name, self.f(x))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points)
        if len(points) == 0:
            raise ValueError("no points to evaluate")
        singles: list[np.ndarray] = []
        if self.batched is None:
            singles = [self.one(p) for p in points[:2]]
            self.batched = len(points) > 1 and self._stacks(points[:2], singles)
        if not self.batched:
            rest = [self.one(p) for p in points[len(singles):]]
            return np.stack(singles + rest)
        size = max(2, _CHUNK // max(1, points[0].size))
        return np.concatenate([self._stacked(points[a:a + size]) for a in range(0, len(points), size)])

    def _stacked(self, points: np.ndarray) -> np.ndarray:
        self.calls += 1
        return require_float64(self.name, self.f(points))

    def _stacks(self, points: np.ndarray, singles: list[np.ndarray]) -> bool:
        try:
            with np.errstate(all="ignore"):
                stacked = np.asarray(self._stacked(points))
        except Exception:  # f does not take a stack: loop instead
            return False
        expected = np.stack(singles)
        if stacked.shape != expected.shape or stacked.dtype != expected.dtype:
            return False
        size = float(np.max(np.abs(expected))) if expected.size else 0.0
        return bool(np.allclose(stacked, expected, rtol=64 * EPS, atol=64 * EPS * size))


@dataclass(frozen=True)
class Estimate:
    """A numerical derivative with what is needed to judge it."""

    value: np.ndarray
    noise: float
    """Absolute rounding-noise level of each entry (differences below it are meaningless)."""
    kinks: np.ndarray
    """Entries whose one-sided slopes disagree: a kink lies within the step."""
    method: str
    h: float
    calls: int
    batched: bool


def _perturbed(x: np.ndarray, indices: np.ndarray, delta: complex | float) -> np.ndarray:
    dtype = np.complex128 if isinstance(delta, complex) else np.float64
    points = np.empty((len(indices), *x.shape), dtype=dtype)
    points[...] = x
    flat = points.reshape(len(indices), -1)
    flat[np.arange(len(indices)), indices] += delta
    return points


def _losses(ys: np.ndarray, dout: np.ndarray) -> np.ndarray:
    if ys.shape[1:] != dout.shape:
        raise ValueError(f"output has shape {ys.shape[1:]}, the upstream gradient {dout.shape}")
    return ys.reshape(len(ys), -1) @ dout.reshape(-1)


def _estimate_gradient(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dout: np.ndarray,
    h: float | None = None,
    *,
    method: str = "central",
    batched: bool | None = None,
) -> Estimate:
    r""":math:`\nabla_x \langle \text{dout}, f(x)\rangle` by central differences or complex step.

    ``x`` must be float64 (the checks widen their inputs first); it is not modified."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise LayergradError(f"finite differences need float64 inputs, got {x.dtype}: widen x first "
                             "(float32 rounding divided by the step swamps the derivative)")
    dout = np.asarray(dout, dtype=np.float64)
    h = step(x, method) if h is None else h
    evaluate = Evaluator(f, batched)
    indices = np.arange(x.size)
    with np.errstate(invalid="ignore", over="ignore"):  # inf or nan outputs give nan estimates, which fail the check
        if method == "complex":
            ys = evaluate(_perturbed(x, indices, 1j * h))
            value = _losses(ys.imag, dout) / h
            noise = EPS * float(np.max(np.abs(ys.imag).reshape(len(ys), -1) @ np.abs(dout).reshape(-1))) / h
            kinks = np.zeros(x.shape, dtype=bool)
        elif method == "central":
            ys = evaluate(np.concatenate([_perturbed(x, indices, h), _perturbed(x, indices, -h)]))
            center = evaluate.one(x)
            plus, minus = np.split(_losses(ys, dout), 2)
            middle = float(np.sum(center * dout))
            value = (plus - minus) / (2 * h)
            # rounding of the loss: of its terms, and of the inputs it is computed from (ε Σ|x_k ∂_k ℓ|)
            noise = EPS * (float(np.sum(np.abs(center * dout))) + float(np.sum(np.abs(x.reshape(-1) * value)))) / h
            curvature = np.abs(plus - 2 * middle + minus) / h
            kinks = _kinks(evaluate, x, dout, h, middle, curvature,
                           curvature > 1e-3 * float(np.max(np.abs(value), initial=0.0)) + 4 * noise)
        else:
            raise ValueError(f"unknown method {method!r}; expected 'central' or 'complex'")
    return Estimate(value.reshape(x.shape), noise, kinks.reshape(x.shape), method, h,
                    evaluate.calls, bool(evaluate.batched))


def _directional(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    v: np.ndarray,
    *,
    method: str = "central",
    h: float | None = None,
) -> Estimate:
    r"""The Jacobian–vector product :math:`J v = \lim (f(x + h v) - f(x - h v)) / 2h` (or
    :math:`\operatorname{Im} f(x + i h v)/h`), a forward-mode derivative from two (one) calls."""
    x, v = np.asarray(x), np.asarray(v, dtype=np.float64)
    h = (step(x, method) / scale_of(v)) if h is None else h
    evaluate = Evaluator(f, batched=False)
    with np.errstate(invalid="ignore", over="ignore"):  # inf or nan outputs give nan estimates, which fail the check
        if method == "complex":
            y = evaluate.one(x + 1j * h * v)
            value = y.imag / h
            noise = EPS * float(np.max(np.abs(y.imag), initial=0.0)) / h
        else:
            plus, minus = evaluate.one(x + h * v), evaluate.one(x - h * v)
            value = (plus - minus) / (2 * h)
            noise = EPS * float(np.max(np.abs(plus), initial=0.0)) / h
    return Estimate(np.asarray(value), noise, np.zeros(np.shape(value), dtype=bool), method, h,
                    evaluate.calls, False)


def _kinks(evaluate: Evaluator, x: np.ndarray, dout: np.ndarray, h: float, middle: float, curvature: np.ndarray,
           candidates: np.ndarray) -> np.ndarray:
    r"""Which candidate entries have a kink within the step. Where :math:`\ell` is smooth the
    one-sided slopes differ by :math:`h|\ell''|`, which halves with the step; across a kink they
    differ by the jump of the slope, which does not (or vanishes once the kink is outside)."""
    indices = np.flatnonzero(candidates)
    if not len(indices):
        return candidates
    half = evaluate(np.concatenate([_perturbed(x, indices, h / 2), _perturbed(x, indices, -h / 2)]))
    plus, minus = np.split(_losses(half, dout), 2)
    ratio = np.abs(plus - 2 * middle + minus) / (h / 2) / curvature[indices]
    kinks = np.zeros(candidates.shape, dtype=bool)
    kinks[indices] = np.abs(ratio - 0.5) > 0.1
    return kinks


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float | None = None, **options
) -> np.ndarray:
    r""":math:`\nabla_x \langle \text{dout}, f(x)\rangle` as an array (see :func:`estimate_gradient`)."""
    return estimate_gradient(f, x, dout, h, **options).value


def _quiet(function: Callable) -> Callable:
    """``function`` with NumPy's complex-to-real casting warnings silenced: a forward that drops
    the imaginary part is detected by its results, not by a warning on the terminal."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return function(*args, **kwargs)
    wrapped.__doc__, wrapped.__name__ = function.__doc__, function.__name__.lstrip("_")
    return wrapped


estimate_gradient = _quiet(_estimate_gradient)
directional = _quiet(_directional)
